"""The audit's database diff: the read model as the replayed chain says it must be, compared
column by column with what the database holds (read the `ledger.audit.rows` way: plain SQL
on table names, every value type-checked), and the stored batch lines against their signed
roots.

Deliberately independent of `ledger.store.models` and the indexer: the expected rows are
rebuilt here from the replay, so a bug or a hand edit in either shows up as a named row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.audit.codes import (
    BATCH_LINE_MALFORMED,
    BATCH_LINES_ALTERED,
    DB_ROW_EXTRA,
    DB_ROW_MISSING,
    DB_TABLE_MISSING,
    INTEGRITY,
)
from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, Progress, to_hex
from ledger.audit.rows import (
    ZERO_HEX,
    Invalid,
    Row,
    TableSpec,
    check_value,
    columns_or_skip,
    compare,
    compare_columns,
    is_int,
    iter_typed_rows,
    present_columns,
    report_invalid,
    row_fail,
    split_rows,
)
from ledger.core import records
from ledger.core.errors import RecordError
from ledger.core.fields import from_text32
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import MerkleTree, leaf_hash

__all__ = [
    "LINES",
    "LINE_COLS",
    "LINE_KEYS",
    "TABLES",
    "diff_database",
    "expected_rows",
    "indexed_cutoff",
]

#: The chain location each list row carries (schema 0010_read_model), compared with where
#: the chain says its record is; a commitment's block time was always one of its columns.
#: Nullable, as the columns were added to existing tables: a NULL where the chain says a
#: location is a differing value (db_row_altered), like any other.
LOCATION = (
    ("leaf_index", "int?"),
    ("chain_id", "int?"),
    ("block_number", "int?"),
    ("block_hash", "hex32?"),
    ("block_time", "int?"),
    ("tx_hash", "hex32?"),
    ("log_index", "int?"),
)
COMMITMENT_LOCATION = tuple(c for c in LOCATION if c[0] != "block_time")
#: The maintained totals (schema 0010_read_model): each amount in halves, hi * 2^32 + lo.
SPLIT = 1 << 32
TOTAL_AMOUNTS = ("committed", "delivered", "confirmed")
LIST_TABLES = ("project_anchors", "commitments", "deliveries", "receipts", "flags")

TABLES: dict[str, TableSpec] = {
    "log_entries": TableSpec(
        (("leaf_index", "int"),),
        (
            ("record_id", "hex32"),
            ("kind", "int"),
            ("signer", "address"),
            ("leaf_hash", "hex32"),
            ("record_bytes", "bytes"),
            ("chain_id", "int"),
            ("block_number", "int"),
            ("block_hash", "hex32"),
            ("block_time", "int"),
            ("tx_hash", "hex32"),
            ("log_index", "int"),
        ),
    ),
    "project_anchors": TableSpec(
        (("record_id", "hex32"),),
        (
            ("project_id", "hex32"),
            ("project_kind", "int"),
            ("county", "int"),
            ("category", "int"),
            ("content_hash", "hex32"),
            ("version", "int"),
            ("author", "address"),
            # the anchor's human-readable fields (migration 0007_anchor_fields)
            ("title", "text"),
            ("budget", "int"),
            ("end_date", "int"),
        ),
        LOCATION,
    ),
    "commitments": TableSpec(
        (("record_id", "hex32"),),
        (
            ("need_id", "hex32"),
            ("match_id", "hex32"),
            ("org", "address"),
            ("county", "int"),
            ("category", "int"),
            ("resource_kind", "int"),
            ("quantity", "int"),
            ("unit", "text"),
            ("due_date", "int"),
            ("terms_hash", "hex32"),
            ("delivered", "int"),
            ("confirmed", "int"),
            ("block_time", "int"),
        ),
        COMMITMENT_LOCATION,
    ),
    "deliveries": TableSpec(
        (("record_id", "hex32"), ("commitment_id", "hex32")),
        (
            ("org", "address"),
            ("county", "int"),
            ("category", "int"),
            ("quantity", "int"),
            ("delivered_at", "int"),
            ("evidence_hash", "hex32"),
            ("beneficiary_count", "int"),
            ("beneficiary_root", "hex32"),
            ("batch", "bool"),
            ("line_count", "int"),
            ("receipted", "bool"),
        ),
        LOCATION,
    ),
    "receipts": TableSpec(
        (("record_id", "hex32"),),
        (
            ("delivery_id", "hex32"),
            ("commitment_id", "hex32"),
            ("county", "int"),
            ("category", "int"),
            ("org", "address"),
            ("signer", "address"),
            ("confirmed_quantity", "int"),
            ("note_hash", "hex32"),
        ),
        LOCATION,
    ),
    "flags": TableSpec(
        (("record_id", "hex32"),),
        (
            ("target_id", "hex32"),
            ("auditor", "address"),
            ("reason_code", "int"),
            ("note_hash", "hex32"),
        ),
        LOCATION,
    ),
    "role_events": TableSpec(
        (("tx_hash", "hex32"), ("log_index", "int")),
        (
            ("address", "address"),
            ("role", "text"),
            ("granted", "bool"),
            ("county", "int?"),
            ("org_code", "text?"),
            ("chain_id", "int"),
            ("block_number", "int"),
            ("block_hash", "hex32"),
        ),
        # The names a registration event carries (schema 0008_registration_names).
        (("name", "text?"), ("org_type", "int?"), ("authority", "text?")),
    ),
    # The totals the indexer maintains, against a fresh sum of the commitments the chain
    # implies; checked when the database has the table (schema 0010_read_model).
    "commitment_totals": TableSpec(
        (
            ("county", "int"),
            ("category", "int"),
            ("org", "address"),
            ("resource_kind", "int"),
            ("unit", "text"),
        ),
        (
            ("commitments", "int"),
            *((f"{a}_{h}", "int") for a in TOTAL_AMOUNTS for h in ("hi", "lo")),
        ),
    ),
    # the same summed per one grouping (county, category, org, or all with member "")
    "group_totals": TableSpec(
        (("dimension", "text"), ("member", "text"), ("resource_kind", "int"), ("unit", "text")),
        (
            ("commitments", "int"),
            *((f"{a}_{h}", "int") for a in TOTAL_AMOUNTS for h in ("hi", "lo")),
        ),
    ),
}
#: Tables an older schema lacks without that being a finding.
OPTIONAL_TABLES = frozenset({"commitment_totals", "group_totals"})

#: batch_lines: its decoded columns are re-derived from each line's bytes.
LINE_KEYS = (("batch_id", "hex32"), ("line_index", "int"))
LINE_COLS = (
    ("leaf_hash", "hex32"),
    ("commitment_id", "hex32"),
    ("beneficiary", "hex32"),
    ("quantity", "int"),
    ("item", "text"),
    ("unit", "text"),
    ("delivered_at", "int"),
    ("evidence_hash", "hex32"),
)
LINES = TableSpec(LINE_KEYS, (("line_bytes", "bytes"),), LINE_COLS)


def expected_rows(replay: Replay, cutoff: int) -> dict[str, dict[Row, Row]]:
    """Every row the indexer must have written for the chain up to block `cutoff`, each a
    tuple over `TABLES[t].all_cols`."""
    out: dict[str, dict[Row, Row]] = {t: {} for t in TABLES}
    anchors: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # pid → (ver, cty, cat)
    commits: dict[str, list[Any]] = {}
    shares: dict[str, list[Row]] = defaultdict(list)  # delivery record id → keys
    for leaf in replay.leaves:
        if leaf.block_number > cutoff:
            break
        s = leaf.record
        r: Any = s.record
        rid = leaf.id_hex
        leaf_hex = to_hex(leaf.leaf_hash)  # the replay's SHA-256(0x00 ‖ the event's bytes)
        out["log_entries"][(leaf.index,)] = (
            rid,
            int(s.kind),
            s.signer,
            leaf_hex,
            leaf_hex,  # record_bytes, compared by their hash
            replay.chain_id,
            leaf.block_number,
            leaf.block_hash.lower(),
            leaf.block_time,
            leaf.tx_hash.lower(),
            leaf.log_index,
        )
        if isinstance(r, records.ProjectAnchor):
            out["project_anchors"][(rid,)] = (
                to_hex(r.project_id),
                r.project_kind,
                r.county,
                r.category,
                to_hex(r.content_hash),
                r.version,
                s.signer,
                r.title,
                r.budget,
                r.end_date,
            )
            anchors[to_hex(r.project_id)].append((r.version, r.county, r.category))
        elif isinstance(r, records.Commitment):
            versions = anchors.get(to_hex(r.need_id))
            county, category = (max(versions)[1:]) if versions else (0, 0)
            commits[rid] = [s.signer, county, category, 0, 0]
            out["commitments"][(rid,)] = (
                to_hex(r.need_id),
                to_hex(r.match_id),
                s.signer,
                county,
                category,
                r.resource_kind,
                r.quantity,
                from_text32(r.unit),
                r.due_date,
                to_hex(r.terms_hash),
                0,
                0,
                leaf.block_time,
            )
        elif isinstance(r, records.Delivery | records.DeliveryBatch):
            if isinstance(r, records.Delivery):
                parts = [(r.commitment_id, r.quantity)]
                at, count, root, batch, lines = (
                    r.delivered_at,
                    r.beneficiary_count,
                    r.beneficiary_root,
                    0,
                    1,
                )
            else:
                parts = list(zip(r.commitment_ids, r.quantities, strict=False))
                at, count, root, batch, lines = (
                    leaf.block_time,
                    r.line_count,
                    r.batch_root,
                    1,
                    r.line_count,
                )
            for cid_b, qty in parts:
                cid = to_hex(cid_b)
                c = commits.get(cid)
                if c is not None:
                    c[3] += qty
                key = (rid, cid)
                out["deliveries"][key] = (
                    s.signer,
                    c[1] if c else 0,
                    c[2] if c else 0,
                    qty,
                    at,
                    to_hex(r.evidence_hash),
                    count,
                    to_hex(root),
                    batch,
                    lines,
                    0,
                )
                shares[rid].append(key)
        elif isinstance(r, records.Receipt):
            did = to_hex(r.delivery_id)
            keys = shares.get(did, [])
            cid = keys[0][1] if keys else ZERO_HEX
            if keys:
                row = out["deliveries"][keys[0]]
                out["deliveries"][keys[0]] = (*row[:-1], 1)
            c = commits.get(cid)
            if c is not None:
                c[4] += r.confirmed_quantity
            out["receipts"][(rid,)] = (
                did,
                cid,
                c[1] if c else 0,
                c[2] if c else 0,
                c[0] if c else "",
                s.signer,
                r.confirmed_quantity,
                to_hex(r.note_hash),
            )
        elif isinstance(r, records.Flag):
            out["flags"][(rid,)] = (
                to_hex(r.record_id),
                s.signer,
                r.reason_code,
                to_hex(r.note_hash),
            )
    for rid, c in commits.items():
        row = out["commitments"][(rid,)]
        out["commitments"][(rid,)] = (*row[:10], c[3], c[4], row[12])
    _locations(out)
    out["commitment_totals"], out["group_totals"] = _totals(out["commitments"])
    for ch in replay.roles:
        if ch.block_number > cutoff:
            continue
        out["role_events"][(ch.tx_hash.lower(), ch.log_index)] = (
            ch.address,
            ch.role,
            int(ch.granted),
            ch.county,
            ch.org_code,
            replay.chain_id,
            ch.block_number,
            ch.block_hash.lower(),
            ch.name,
            ch.org_type,
            ch.authority,
        )
    return out


def _locations(out: dict[str, dict[Row, Row]]) -> None:
    """Each list row's expected tuple extended by its record's chain location, taken from
    the log entry the chain implies for it."""
    where: dict[str, Row] = {}
    for (index,), e in out["log_entries"].items():
        # record_id, kind, signer, leaf_hash, bytes, chain_id, number, hash, time, tx, log
        where[e[0]] = (index, e[5], e[6], e[7], e[8], e[9], e[10])
    for table in LIST_TABLES:
        for key, row in out[table].items():
            loc = where[key[0]]
            if table == "commitments":
                loc = loc[:4] + loc[5:]  # its block time is already a column
            out[table][key] = (*row, *loc)


def _totals(commitments: dict[Row, Row]) -> tuple[dict[Row, Row], dict[Row, Row]]:
    """The totals per county, category, organization, resource kind and unit, summed afresh
    from the commitments the chain implies (with their running delivered and confirmed
    amounts), in the maintained table's halves."""
    sums: dict[Row, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    groups: dict[Row, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in commitments.values():
        # need, match, org, county, category, kind, quantity, unit, due, terms, delivered,
        # confirmed, ...
        org, county, category, rk, unit = row[2], row[3], row[4], row[5], row[7]
        for t in (
            sums[(county, category, org, rk, unit)],
            groups[("county", str(county), rk, unit)],
            groups[("category", str(category), rk, unit)],
            groups[("org", org, rk, unit)],
            groups[("all", "", rk, unit)],
        ):
            t[0] += 1
            t[1] += row[6]
            t[2] += row[10]
            t[3] += row[11]

    def in_halves(table: dict[Row, list[int]]) -> dict[Row, Row]:
        out: dict[Row, Row] = {}
        for key, (n, committed, delivered, confirmed) in table.items():
            halves: list[int] = []
            for value in (committed, delivered, confirmed):
                halves.extend(divmod(value, SPLIT))
            out[key] = (n, *halves)
        return out

    return in_halves(sums), in_halves(groups)


# ------------------------------------------------------------------ the diff


def indexed_cutoff(engine: Engine, report: AuditReport, to_block: int) -> int:
    """The last block the read model says it indexed (at most `to_block`)."""
    if not inspect(engine).has_table("indexer_checkpoints"):
        return to_block
    with engine.connect() as conn:
        last = conn.execute(
            text("SELECT last_block FROM indexer_checkpoints WHERE name = 'main'")
        ).scalar()
    if last is None:
        return to_block
    value = check_value(last, "int")
    if isinstance(value, Invalid):
        report_invalid(
            report, "indexer_checkpoints", ["name"], ("main",), "last_block", "int", last
        )
        return to_block
    return min(to_block, int(value))


def _indexed_beyond(engine: Engine, to_block: int) -> bool:
    """Whether the read model holds records from blocks after `to_block`. Empty blocks the
    indexer has passed (a dev chain mines one a second) change no total, so only leaves
    count: the maintained totals can be compared whenever none lies past the audited head."""
    insp = inspect(engine)
    if not insp.has_table("log_entries"):
        return False
    with engine.connect() as conn:
        later = conn.execute(
            text("SELECT COUNT(*) FROM log_entries WHERE block_number > :b"), {"b": to_block}
        ).scalar()
    return is_int(later) and int(later) > 0


def _whole(row: Row) -> Row:
    return row


def _picker(index: list[int]) -> Callable[[Row], Row]:
    def pick(row: Row) -> Row:
        return tuple(row[i] for i in index)

    return pick


def _picked(rows: dict[Row, Row], pick: Callable[[Row], Row]) -> dict[Row, Row]:
    return {key: pick(full) for key, full in rows.items()}


def _prepare(table: str, spec: TableSpec, names: list[str]) -> Callable[[Row], Row] | None:
    """log_entries' stored record bytes are compared by their hash (the replay's leaf)."""
    if table != "log_entries" or "record_bytes" not in names:
        return None
    at = len(spec.keys) + names.index("record_bytes")

    def hashed(raw: Row) -> Row:
        data = raw[at]
        if isinstance(data, memoryview | bytearray):
            data = bytes(data)
        if type(data) is not bytes:
            return raw  # the type check reports it
        return (*raw[:at], to_hex(leaf_hash(data)), *raw[at + 1 :])

    return hashed


def diff_database(
    engine: Engine, replay: Replay, report: AuditReport, to_block: int, tick: Progress
) -> dict[str, list[DeliveryLine]] | None:
    """Adds a finding for every missing, extra or altered read-model row and every value of
    the wrong type; returns batch lines (by batch record id) for the anomaly checks."""
    insp = inspect(engine)
    cutoff = indexed_cutoff(engine, report, to_block)
    report.stats["database_indexed_to_block"] = cutoff
    expected = expected_rows(replay, cutoff)
    late_ids = {leaf.id_hex for leaf in replay.leaves if leaf.block_number > cutoff}
    total_rows = 0
    ahead = _indexed_beyond(engine, to_block)
    for n, (table, spec) in enumerate(TABLES.items()):
        # the maintained totals' own line: "commitment_totals" alone is the contract's check
        label = f"db_{table}"
        if table in OPTIONAL_TABLES and not insp.has_table(table):
            report.checks[label] = f"skipped (no {table} table)"
            continue
        if table in OPTIONAL_TABLES and ahead:
            # totals have no per-row block: they can only be compared at the indexed head
            report.checks[label] = (
                f"skipped (the database holds records after block {to_block}; audit to its head)"
            )
            continue
        if table in OPTIONAL_TABLES:
            report.checks[label] = "compared with totals summed from the replayed chain"
        if not insp.has_table(table):
            report.add(
                DB_TABLE_MISSING, INTEGRITY, f"the database has no table {table}", table=table
            )
            continue
        cols = present_columns(engine, report, table, spec)
        if not cols:
            continue
        keys = [k for k, _ in spec.keys]
        names = [c for c, _ in cols]
        index = [[c for c, _ in spec.all_cols].index(c) for c in names]
        # the columns the database has, in the expected row: all of them, mostly
        pick: Callable[[Row], Row] = (
            _whole if index == list(range(len(spec.all_cols))) else _picker(index)
        )
        want_rows = expected[table] if pick is _whole else _picked(expected[table], pick)
        same, have = split_rows(
            engine, report, table, spec.keys, cols, want_rows, _prepare(table, spec, names)
        )
        block_col = names.index("block_number") if "block_number" in names else None
        total_rows += len(same) + len(have.keys() - same)
        for key, want in want_rows.items():
            got = have.get(key)
            if got is not None:
                compare(report, table, keys, key, names, got, want)
            elif key not in same:
                row_fail(
                    DB_ROW_MISSING, report, table, keys, key, "the row the chain implies is missing"
                )
        for key, got in have.items():
            if key in want_rows:
                continue
            if table not in ("log_entries", "role_events") and key[0] in late_ids:
                continue  # indexed after the audit's cutoff, not extra
            block = got[block_col] if block_col is not None else None
            later = is_int(block) and block > cutoff
            if table == "log_entries" and later and key[0] >= len(replay.leaves):
                continue  # the database is ahead of the audited head
            if table == "role_events" and later:
                continue
            row_fail(DB_ROW_EXTRA, report, table, keys, key, "a row that no chain event explains")
        tick("database", n + 1, len(TABLES))
    report.stats["database_rows"] = total_rows
    report.checks["database"] = f"diffed {len(TABLES)} tables up to block {cutoff}"
    return _batch_lines(engine, replay, report)


# ------------------------------------------------------------------ batch lines


def _batch_lines(
    engine: Engine, replay: Replay, report: AuditReport
) -> dict[str, list[DeliveryLine]] | None:
    """Reads `batch_lines` if the batches feature keeps one: every on-chain batch's lines must
    hash to its signed root, and each line's decoded columns must be its bytes' fields."""
    cols = columns_or_skip(engine, report, "batch_lines", "batch_lines", LINES)
    if not cols or cols[0][0] != "line_bytes":
        return None  # without its keys and bytes no line can be checked
    names = [c for c, _ in cols]
    batches = {
        leaf.id_hex: leaf.record.record
        for leaf in replay.leaves
        if isinstance(leaf.record.record, records.DeliveryBatch)
    }
    lines: dict[str, list[DeliveryLine]] = defaultdict(list)
    trees: dict[str, MerkleTree] = defaultdict(MerkleTree)
    keys = [k for k, _ in LINE_KEYS]
    rows = iter_typed_rows(
        engine, report, "batch_lines", LINE_KEYS, cols, order_by="batch_id, line_index"
    )
    n_lines = 0
    for (batch_id, line_index), vals in rows:
        n_lines += 1
        data = vals[0]
        if isinstance(data, Invalid):
            trees[batch_id].append(leaf_hash(b""))  # the root can no longer match
            continue
        trees[batch_id].append(leaf_hash(data))
        try:
            line = DeliveryLine.from_bytes(data)
        except RecordError:
            report.add(
                BATCH_LINE_MALFORMED,
                INTEGRITY,
                f"batch {batch_id}: stored line {line_index} does not parse",
                table="batch_lines",
                batch=batch_id,
                line_index=line_index,
            )
            continue
        lines[batch_id].append(line)
        if len(names) > 1:
            derived = {
                "leaf_hash": to_hex(leaf_hash(data)),
                "commitment_id": to_hex(line.commitment_id),
                "beneficiary": to_hex(line.beneficiary),
                "quantity": line.quantity,
                "item": line.item,
                "unit": line.unit,
                "delivered_at": line.delivered_at,
                "evidence_hash": to_hex(line.evidence_hash),
            }
            got = dict(zip(names[1:], vals[1:], strict=True))
            compare_columns(report, "batch_lines", keys, (batch_id, line_index), got, derived)
    checked = pending = 0
    for key, tree in trees.items():
        batch = batches.get(key)
        if batch is None:
            pending += 1  # an upload not (yet) on chain: nothing signed to compare with
            continue
        checked += 1
        if tree.size != batch.line_count or tree.root() != batch.batch_root:
            report.add(
                BATCH_LINES_ALTERED,
                INTEGRITY,
                f"batch {key}: the stored lines do not hash to the signed batch root "
                f"({tree.size} lines, signed {batch.line_count})",
                table="batch_lines",
                batch=key,
            )
    report.checks["batch_lines"] = (
        f"checked {checked} batches against their roots ({pending} not on chain), "
        f"and {n_lines} lines' columns against their bytes"
    )
    return dict(lines)
