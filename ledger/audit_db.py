"""The audit's database diff: the read model as the replayed chain says it must be, compared
row by row with what the database holds, read with plain SQL on table names.

Deliberately independent of `ledger.store.models` and the indexer: the expected rows are
rebuilt here from the replay, so a bug or a hand edit in either shows up as a named row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.merkle import MerkleTree
from ledger.records import (
    Commitment,
    Delivery,
    DeliveryBatch,
    DeliveryLine,
    Flag,
    ProjectAnchor,
    Receipt,
    RecordError,
    from_text32,
)

INTEGRITY = "integrity"
_ZERO_HEX = "0x" + "00" * 32

Row = tuple[Any, ...]
Tick = Callable[[str, int, int | None], None]

#: table → (key columns, compared columns), in the read model's own names.
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "log_entries": (
        ("leaf_index",),
        (
            "record_id",
            "kind",
            "signer",
            "leaf_hash",
            "record_bytes",
            "chain_id",
            "block_number",
            "block_hash",
            "block_time",
            "tx_hash",
            "log_index",
        ),
    ),
    "project_anchors": (
        ("record_id",),
        ("project_id", "project_kind", "county", "category", "content_hash", "version", "author"),
    ),
    "commitments": (
        ("record_id",),
        (
            "need_id",
            "match_id",
            "org",
            "county",
            "category",
            "resource_kind",
            "quantity",
            "unit",
            "due_date",
            "terms_hash",
            "delivered",
            "confirmed",
            "block_time",
        ),
    ),
    "deliveries": (
        ("record_id", "commitment_id"),
        (
            "org",
            "county",
            "category",
            "quantity",
            "delivered_at",
            "evidence_hash",
            "beneficiary_count",
            "beneficiary_root",
            "batch",
            "line_count",
            "receipted",
        ),
    ),
    "receipts": (
        ("record_id",),
        (
            "delivery_id",
            "commitment_id",
            "county",
            "category",
            "org",
            "signer",
            "confirmed_quantity",
            "note_hash",
        ),
    ),
    "flags": (("record_id",), ("target_id", "auditor", "reason_code", "note_hash")),
    "role_events": (
        ("tx_hash", "log_index"),
        ("address", "role", "granted", "county", "org_code", "block_number", "block_hash"),
    ),
}


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return value.lower()
    return value


def expected_rows(replay: Any, cutoff: int) -> dict[str, dict[Row, Row]]:
    """Every row the indexer must have written for the chain up to block `cutoff`."""
    from ledger.records import leaf_hash

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
        out["log_entries"][(leaf.index,)] = (
            rid,
            int(s.kind),
            s.signer,
            _hex(leaf.leaf_hash),
            _hex(leaf_hash(leaf.data)),
            replay.chain_id,
            leaf.block_number,
            leaf.block_hash.lower(),
            leaf.block_time,
            leaf.tx_hash.lower(),
            leaf.log_index,
        )
        if isinstance(r, ProjectAnchor):
            out["project_anchors"][(rid,)] = (
                _hex(r.project_id),
                r.project_kind,
                r.county,
                r.category,
                _hex(r.content_hash),
                r.version,
                s.signer,
            )
            anchors[_hex(r.project_id)].append((r.version, r.county, r.category))
        elif isinstance(r, Commitment):
            versions = anchors.get(_hex(r.need_id))
            county, category = (max(versions)[1:]) if versions else (0, 0)
            commits[rid] = [s.signer, county, category, 0, 0]
            out["commitments"][(rid,)] = (
                _hex(r.need_id),
                _hex(r.match_id),
                s.signer,
                county,
                category,
                r.resource_kind,
                r.quantity,
                from_text32(r.unit),
                r.due_date,
                _hex(r.terms_hash),
                0,
                0,
                leaf.block_time,
            )
        elif isinstance(r, Delivery | DeliveryBatch):
            if isinstance(r, Delivery):
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
                cid = _hex(cid_b)
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
                    _hex(r.evidence_hash),
                    count,
                    _hex(root),
                    batch,
                    lines,
                    0,
                )
                shares[rid].append(key)
        elif isinstance(r, Receipt):
            did = _hex(r.delivery_id)
            keys = shares.get(did, [])
            cid = keys[0][1] if keys else _ZERO_HEX
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
                _hex(r.note_hash),
            )
        elif isinstance(r, Flag):
            out["flags"][(rid,)] = (_hex(r.record_id), s.signer, r.reason_code, _hex(r.note_hash))
    for rid, c in commits.items():
        row = out["commitments"][(rid,)]
        out["commitments"][(rid,)] = (*row[:10], c[3], c[4], row[12])
    for ch in replay.roles:
        if ch.block_number > cutoff:
            continue
        out["role_events"][(ch.tx_hash.lower(), ch.log_index)] = (
            ch.address,
            ch.role,
            int(ch.granted),
            ch.county,
            ch.org_code,
            ch.block_number,
            ch.block_hash.lower(),
        )
    return out


def _db_rows(
    engine: Engine, table: str, keys: Sequence[str], cols: Sequence[str]
) -> dict[Row, Row]:
    names = ", ".join((*keys, *cols))
    rows: dict[Row, Row] = {}
    with engine.connect() as conn:
        for raw in conn.execute(text(f"SELECT {names} FROM {table}")):
            values = [_norm(v) for v in raw]
            key = tuple(values[: len(keys)])
            vals = values[len(keys) :]
            if table == "log_entries":
                from ledger.records import leaf_hash

                i = cols.index("record_bytes")
                vals[i] = _hex(leaf_hash(bytes(vals[i] or b"")))
            rows[key] = tuple(vals)
    return rows


def diff_database(
    engine: Engine, replay: Any, report: Any, to_block: int, tick: Tick
) -> dict[str, list[DeliveryLine]] | None:
    """Adds a finding for every missing, extra or altered read-model row; returns batch lines
    (by batch record id) when the database keeps them, for the anomaly checks."""
    insp = inspect(engine)
    cutoff = to_block
    if insp.has_table("indexer_checkpoints"):
        with engine.connect() as conn:
            last = conn.execute(
                text("SELECT last_block FROM indexer_checkpoints WHERE name = 'main'")
            ).scalar()
        if last is not None:
            cutoff = min(to_block, int(last))
    report.stats["database_indexed_to_block"] = cutoff
    expected = expected_rows(replay, cutoff)
    late_ids = {leaf.id_hex for leaf in replay.leaves if leaf.block_number > cutoff}
    total_rows = 0
    for n, (table, (keys, cols)) in enumerate(TABLES.items()):
        if not insp.has_table(table):
            report.add(
                "db_table_missing", INTEGRITY, f"the database has no table {table}", table=table
            )
            continue
        have = _db_rows(engine, table, keys, cols)
        want = expected[table]
        total_rows += len(have)
        for key, row in want.items():
            got = have.get(key)
            if got is None:
                report.add(
                    "db_row_missing",
                    INTEGRITY,
                    f"{table} {_key_text(keys, key)}: the row the chain implies is missing",
                    table=table,
                    key=dict(zip(keys, key, strict=True)),
                )
            elif got != row:
                changed = {
                    c: {"database": g, "chain": w}
                    for c, g, w in zip(cols, got, row, strict=True)
                    if g != w
                }
                report.add(
                    "db_row_altered",
                    INTEGRITY,
                    f"{table} {_key_text(keys, key)}: {', '.join(changed)} differ from the chain",
                    table=table,
                    key=dict(zip(keys, key, strict=True)),
                    columns=_jsonable(changed),
                )
        for key, got in have.items():
            if key in want:
                continue
            if table != "log_entries" and table != "role_events" and key[0] in late_ids:
                continue  # indexed after the audit's cutoff, not extra
            if table == "log_entries" and got[5] > cutoff and key[0] >= len(replay.leaves):
                continue  # the database is ahead of the audited head
            if table == "role_events" and got[5] > cutoff:
                continue
            report.add(
                "db_row_extra",
                INTEGRITY,
                f"{table} {_key_text(keys, key)}: a row that no chain event explains",
                table=table,
                key=dict(zip(keys, key, strict=True)),
            )
        tick("database", n + 1, len(TABLES))
    report.stats["database_rows"] = total_rows
    report.checks["database"] = f"diffed {len(TABLES)} tables up to block {cutoff}"
    return _batch_lines(engine, replay, report)


def _key_text(keys: Sequence[str], key: Row) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return _hex(value)
    return value


_BATCH_ID_COLS = ("batch_id", "batch_record_id", "record_id")
_INDEX_COLS = ("line_index", "idx", "position", "line_no")
_BYTES_COLS = ("line_bytes", "bytes", "data")


def _batch_lines(engine: Engine, replay: Any, report: Any) -> dict[str, list[DeliveryLine]] | None:
    """Reads `batch_lines` if the batches feature keeps one; checks each batch's root."""
    insp = inspect(engine)
    if not insp.has_table("batch_lines"):
        report.checks["batch_lines"] = "skipped (no batch_lines table)"
        return None
    cols = {c["name"] for c in insp.get_columns("batch_lines")}
    bid = next((c for c in _BATCH_ID_COLS if c in cols), None)
    idx = next((c for c in _INDEX_COLS if c in cols), None)
    raw = next((c for c in _BYTES_COLS if c in cols), None)
    if not (bid and idx and raw):
        report.checks["batch_lines"] = f"skipped (unknown columns {sorted(cols)})"
        return None
    batches = {
        leaf.id_hex: leaf.record.record
        for leaf in replay.leaves
        if isinstance(leaf.record.record, DeliveryBatch)
    }
    lines: dict[str, list[DeliveryLine]] = defaultdict(list)
    trees: dict[str, MerkleTree] = defaultdict(MerkleTree)
    with engine.connect() as conn:
        result = conn.execute(
            text(f"SELECT {bid}, {idx}, {raw} FROM batch_lines ORDER BY {bid}, {idx}")
        )
        for batch_id, _, data in result:
            key = _norm(batch_id)
            if isinstance(key, bytes):
                key = _hex(key)
            data = bytes(data)
            trees[key].append(_leaf(data))
            try:
                lines[key].append(DeliveryLine.from_bytes(data))
            except RecordError:
                report.add(
                    "batch_line_malformed",
                    INTEGRITY,
                    f"batch {key}: a stored line does not parse",
                    batch=key,
                )
    checked = pending = 0
    for key, tree in trees.items():
        batch = batches.get(key)
        if batch is None:
            pending += 1  # an upload not (yet) on chain: nothing signed to compare with
            continue
        checked += 1
        if tree.size != batch.line_count or tree.root() != batch.batch_root:
            report.add(
                "batch_lines_altered",
                INTEGRITY,
                f"batch {key}: the stored lines do not hash to the signed batch root "
                f"({tree.size} lines, signed {batch.line_count})",
                table="batch_lines",
                batch=key,
            )
    report.checks["batch_lines"] = (
        f"checked {checked} batches against their roots ({pending} not on chain)"
    )
    return dict(lines)


def _leaf(data: bytes) -> bytes:
    from ledger.records import leaf_hash

    return leaf_hash(data)
