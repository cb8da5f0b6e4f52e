"""The audit's database diff: the read model as the replayed chain says it must be, compared
column by column with what the database holds, read with plain SQL on table names.

Deliberately independent of `ledger.store.models` and the indexer: the expected rows are
rebuilt here from the replay, so a bug or a hand edit in either shows up as a named row.
Every stored value is first checked against its column's type (a text in an integer column,
a bad hex string, a blob that is not bytes): a value that does not fit is a
`db_value_invalid` finding, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.audit.codes import (
    BATCH_LINE_MALFORMED,
    BATCH_LINES_ALTERED,
    CHECKPOINT_BEYOND_LOG,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_MISSING,
    CHECKPOINT_NOTE_MISMATCH,
    DB_COLUMN_MISSING,
    DB_ROW_ALTERED,
    DB_ROW_EXTRA,
    DB_ROW_MISSING,
    DB_TABLE_MISSING,
    DB_VALUE_INVALID,
    INTEGRITY,
)
from ledger.core.errors import RecordError
from ledger.core.fields import from_text32
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import MerkleTree, leaf_hash
from ledger.core.records import Commitment, Delivery, DeliveryBatch, Flag, ProjectAnchor, Receipt

_ZERO_HEX = "0x" + "00" * 32

Row = tuple[Any, ...]
Tick = Callable[[str, int, int | None], None]

# ------------------------------------------------------------------ column types

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class Invalid:
    """A stored value that does not fit its column (reported once, never compared)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Invalid({self.value!r})"


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v: Any) -> Any:
    return v if type(v) is int else Invalid(v)


def _bool(v: Any) -> Any:
    if type(v) is bool:
        return int(v)
    return v if type(v) is int and v in (0, 1) else Invalid(v)


_hex32_match = _HEX32.fullmatch
_address_match = _ADDRESS.fullmatch


def _hex32(v: Any) -> Any:
    return v.lower() if type(v) is str and _hex32_match(v) else Invalid(v)


def _address(v: Any) -> Any:
    return v if type(v) is str and _address_match(v) else Invalid(v)


def _text(v: Any) -> Any:
    return v if type(v) is str else Invalid(v)


def _bytes(v: Any) -> Any:
    if type(v) is bytes:
        return v
    return bytes(v) if isinstance(v, memoryview | bytearray) else Invalid(v)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "bool": _bool,
    "hex32": _hex32,
    "address": _address,
    "text": _text,
    "bytes": _bytes,
}


def validator(typ: str) -> Callable[[Any], Any]:
    """The check of one column type: the value normalized for comparison, or `Invalid`.

    Types: int, hex32 (0x + 64 hex, compared lowercase), address (0x + 40 hex, compared as
    stored: the read model keeps checksummed addresses), text, bytes, bool (0/1 or a
    boolean); a trailing "?" allows NULL."""
    check = _CHECKS[typ.rstrip("?")]
    if not typ.endswith("?"):
        return check

    def nullable(v: Any) -> Any:
        return None if v is None else check(v)

    return nullable


def check_value(value: Any, typ: str) -> Any:
    """`value` normalized for comparison, or `Invalid(value)` when it does not fit `typ`."""
    return validator(typ)(value)


def shown(value: Any) -> Any:
    """A JSON-safe picture of a stored value for a finding."""
    if isinstance(value, Invalid):
        value = value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


# ------------------------------------------------------------------ the compared tables


@dataclass(frozen=True)
class TableSpec:
    """A read-model table: its key columns, the columns every reader serves, and columns
    compared when the table has them (added by later schema versions)."""

    keys: tuple[tuple[str, str], ...]
    cols: tuple[tuple[str, str], ...]
    optional: tuple[tuple[str, str], ...] = ()

    @property
    def all_cols(self) -> tuple[tuple[str, str], ...]:
        return self.cols + self.optional


#: table → key and compared columns with their types, in the read model's own names.
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
    ),
    "flags": TableSpec(
        (("record_id", "hex32"),),
        (
            ("target_id", "hex32"),
            ("auditor", "address"),
            ("reason_code", "int"),
            ("note_hash", "hex32"),
        ),
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
    ),
}

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


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def expected_rows(replay: Any, cutoff: int) -> dict[str, dict[Row, Row]]:
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
                r.title,
                r.budget,
                r.end_date,
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
            replay.chain_id,
            ch.block_number,
            ch.block_hash.lower(),
        )
    return out


# ------------------------------------------------------------------ reading, typed


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _key_text(keys: Sequence[str], key: Row) -> str:
    return ", ".join(f"{k}={shown(v)}" for k, v in zip(keys, key, strict=True))


def _key_json(keys: Sequence[str], key: Row) -> dict[str, Any]:
    return {k: shown(v) for k, v in zip(keys, key, strict=True)}


def _invalid(
    report: Any, table: str, keys: Sequence[str], key: Row, column: str, typ: str, value: Any
) -> None:
    report.add(
        DB_VALUE_INVALID,
        INTEGRITY,
        f"{table} {_key_text(keys, key)}: {column} holds {shown(value)!r}, not a valid "
        f"{typ.rstrip('?')}",
        table=table,
        key=_key_json(keys, key),
        column=column,
        expected_type=typ.rstrip("?"),
        found=shown(value),
    )


def iter_typed_rows(
    engine: Engine,
    report: Any,
    table: str,
    keys: Sequence[tuple[str, str]],
    cols: Sequence[tuple[str, str]],
    *,
    order_by: str | None = None,
) -> Iterator[tuple[Row, Row]]:
    """`SELECT keys, cols FROM table`, streamed, each value checked against its type. A row
    whose key does not fit is reported and left out (the row the chain implies is then
    missing); a column value that does not fit is reported and kept as `Invalid`."""
    names = [k for k, _ in keys] + [c for c, _ in cols]
    types = [t for _, t in keys] + [t for _, t in cols]
    sql = f"SELECT {', '.join(names)} FROM {table}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    nk = len(keys)
    key_names = names[:nk]
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(text(sql))
        checks = [validator(t) for t in types]
        for raw in result:
            values = [check(v) for check, v in zip(checks, raw, strict=True)]
            key = tuple(values[:nk])
            bad_key = next((i for i, v in enumerate(key) if isinstance(v, Invalid)), None)
            if bad_key is not None:
                _invalid(
                    report,
                    table,
                    key_names,
                    tuple(shown(v) for v in key),
                    names[bad_key],
                    types[bad_key],
                    raw[bad_key],
                )
                continue
            for i in range(nk, len(values)):
                if isinstance(values[i], Invalid):
                    _invalid(report, table, key_names, key, names[i], types[i], raw[i])
            yield key, tuple(values[nk:])


def typed_rows(
    engine: Engine,
    report: Any,
    table: str,
    keys: Sequence[tuple[str, str]],
    cols: Sequence[tuple[str, str]],
    *,
    order_by: str | None = None,
) -> dict[Row, Row]:
    """`iter_typed_rows` as a dict by key."""
    return dict(iter_typed_rows(engine, report, table, keys, cols, order_by=order_by))


def present_columns(
    engine: Engine, report: Any, table: str, spec: TableSpec
) -> tuple[tuple[str, str], ...]:
    """The spec's columns the table has; a missing required column is a finding."""
    have = _columns(engine, table)
    for name, _ in spec.keys + spec.cols:
        if name not in have:
            report.add(
                DB_COLUMN_MISSING,
                INTEGRITY,
                f"the database's {table} has no column {name}",
                table=table,
                column=name,
            )
    if any(name not in have for name, _ in spec.keys):
        return ()
    return tuple((n, t) for n, t in spec.all_cols if n in have)


def compare(
    report: Any,
    table: str,
    keys: Sequence[str],
    key: Row,
    cols: Sequence[str],
    got: Row,
    want: Row,
) -> None:
    """A `db_row_altered` finding naming each column whose stored value is not the chain's
    (values already reported as invalid are not compared again)."""
    if got == want:
        return
    changed = {
        c: {"database": shown(g), "chain": shown(w)}
        for c, g, w in zip(cols, got, want, strict=True)
        if not isinstance(g, Invalid) and g != w
    }
    if changed:
        report.add(
            DB_ROW_ALTERED,
            INTEGRITY,
            f"{table} {_key_text(keys, key)}: {', '.join(changed)} differ from the chain",
            table=table,
            key=_key_json(keys, key),
            columns=changed,
        )


# ------------------------------------------------------------------ the diff


def indexed_cutoff(engine: Engine, report: Any, to_block: int) -> int:
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
        _invalid(report, "indexer_checkpoints", ["name"], ("main",), "last_block", "int", last)
        return to_block
    return min(to_block, int(value))


def diff_database(
    engine: Engine, replay: Any, report: Any, to_block: int, tick: Tick
) -> dict[str, list[DeliveryLine]] | None:
    """Adds a finding for every missing, extra or altered read-model row and every value of
    the wrong type; returns batch lines (by batch record id) for the anomaly checks."""
    insp = inspect(engine)
    cutoff = indexed_cutoff(engine, report, to_block)
    report.stats["database_indexed_to_block"] = cutoff
    expected = expected_rows(replay, cutoff)
    late_ids = {leaf.id_hex for leaf in replay.leaves if leaf.block_number > cutoff}
    total_rows = 0
    for n, (table, spec) in enumerate(TABLES.items()):
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
        have = typed_rows(engine, report, table, spec.keys, cols)
        if table == "log_entries" and "record_bytes" in names:
            i = names.index("record_bytes")
            for key, vals in have.items():
                if isinstance(vals[i], bytes):
                    have[key] = (*vals[:i], _hex(leaf_hash(vals[i])), *vals[i + 1 :])
        block_col = names.index("block_number") if "block_number" in names else None
        total_rows += len(have)
        for key, full in expected[table].items():
            want = tuple(full[i] for i in index)
            got = have.get(key)
            if got is None:
                report.add(
                    DB_ROW_MISSING,
                    INTEGRITY,
                    f"{table} {_key_text(keys, key)}: the row the chain implies is missing",
                    table=table,
                    key=_key_json(keys, key),
                )
            else:
                compare(report, table, keys, key, names, got, want)
        for key, got in have.items():
            if key in expected[table]:
                continue
            if table not in ("log_entries", "role_events") and key[0] in late_ids:
                continue  # indexed after the audit's cutoff, not extra
            block = got[block_col] if block_col is not None else None
            later = _is_int(block) and block > cutoff
            if table == "log_entries" and later and key[0] >= len(replay.leaves):
                continue  # the database is ahead of the audited head
            if table == "role_events" and later:
                continue
            report.add(
                DB_ROW_EXTRA,
                INTEGRITY,
                f"{table} {_key_text(keys, key)}: a row that no chain event explains",
                table=table,
                key=_key_json(keys, key),
            )
        tick("database", n + 1, len(TABLES))
    report.stats["database_rows"] = total_rows
    report.checks["database"] = f"diffed {len(TABLES)} tables up to block {cutoff}"
    return _batch_lines(engine, replay, report)


# ------------------------------------------------------------------ batch lines


def _batch_lines(engine: Engine, replay: Any, report: Any) -> dict[str, list[DeliveryLine]] | None:
    """Reads `batch_lines` if the batches feature keeps one: every on-chain batch's lines must
    hash to its signed root, and each line's decoded columns must be its bytes' fields."""
    if not inspect(engine).has_table("batch_lines"):
        report.checks["batch_lines"] = "skipped (no batch_lines table)"
        return None
    have = _columns(engine, "batch_lines")
    missing = [c for c, _ in (*LINE_KEYS, ("line_bytes", "bytes")) if c not in have]
    for name in missing:
        report.add(
            DB_COLUMN_MISSING,
            INTEGRITY,
            f"the database's batch_lines has no column {name}",
            table="batch_lines",
            column=name,
        )
    if missing:
        return None
    cols = (("line_bytes", "bytes"), *((c, t) for c, t in LINE_COLS if c in have))
    names = [c for c, _ in cols]
    batches = {
        leaf.id_hex: leaf.record.record
        for leaf in replay.leaves
        if isinstance(leaf.record.record, DeliveryBatch)
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
                "leaf_hash": _hex(leaf_hash(data)),
                "commitment_id": _hex(line.commitment_id),
                "beneficiary": _hex(line.beneficiary),
                "quantity": line.quantity,
                "item": line.item,
                "unit": line.unit,
                "delivered_at": line.delivered_at,
                "evidence_hash": _hex(line.evidence_hash),
            }
            compare(
                report,
                "batch_lines",
                keys,
                (batch_id, line_index),
                names[1:],
                vals[1:],
                tuple(derived[c] for c in names[1:]),
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


# ------------------------------------------------------------------ checkpoints

CHECKPOINT_COLS = (
    ("origin", "text"),
    ("size", "int"),
    ("root", "hex32"),
    ("block_number", "int"),
    ("note", "text"),
)


def _note_body(note: str) -> tuple[str, int, str] | None:
    """(origin, size, 0x root) stated by a C2SP checkpoint note, or None if it has none."""
    body = note.split("\n\n", 1)[0].split("\n")
    if len(body) < 3 or not body[1].isdigit():
        return None
    try:
        root = base64.b64decode(body[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(root) != 32:
        return None
    return body[0], int(body[1]), _hex(root)


def check_checkpoints(engine: Engine, replay: Any, report: Any) -> None:
    """Operator checkpoints stored in the database: each is a root of the replayed log, its
    note states its row, and none was deleted (ids are handed out in order and never
    reused; every witness's cosigned size is a stored checkpoint)."""
    insp = inspect(engine)
    if not insp.has_table("checkpoints"):
        report.checks["checkpoints"] = "skipped (no checkpoints table)"
        return
    spec = TableSpec((("id", "int"),), CHECKPOINT_COLS)
    cols = present_columns(engine, report, "checkpoints", spec)
    if not cols:
        return
    names = [c for c, _ in cols]
    rows = typed_rows(engine, report, "checkpoints", spec.keys, cols, order_by="id")
    tree = replay.tree
    col = {c: names.index(c) for c in names}
    sizes: set[int] = set()
    for (cid,), vals in rows.items():
        size = vals[col["size"]] if "size" in col else None
        root = vals[col["root"]] if "root" in col else None
        if _is_int(size):
            sizes.add(size)
        if not _is_int(size) or not isinstance(root, str) or size < 0:
            continue
        if size > tree.size:
            report.add(
                CHECKPOINT_BEYOND_LOG,
                INTEGRITY,
                f"a signed checkpoint has {size} leaves; the chain has only "
                f"{tree.size}: the chain was rewritten or rolled back",
                size=size,
                id=cid,
            )
        elif _hex(tree.root(size)) != root:
            report.add(
                CHECKPOINT_MISMATCH,
                INTEGRITY,
                f"the signed checkpoint at size {size} has root {root}, the "
                f"chain's log {_hex(tree.root(size))}: history was rewritten",
                size=size,
                block=shown(vals[col["block_number"]]) if "block_number" in col else None,
                id=cid,
            )
        note = vals[col["note"]] if "note" in col else None
        if isinstance(note, str):
            stated = _note_body(note)
            origin = vals[col["origin"]] if "origin" in col else None
            if stated != (origin, size, root):
                report.add(
                    CHECKPOINT_NOTE_MISMATCH,
                    INTEGRITY,
                    f"checkpoint {cid}: its note states "
                    f"{'nothing readable' if stated is None else stated}, the row says "
                    f"({shown(origin)}, {size}, {root}); the API serves the note",
                    id=cid,
                    note_states=list(stated) if stated else None,
                    row=[shown(origin), size, root],
                )
    _missing_checkpoints(engine, report, sorted(k[0] for k in rows), sizes)
    report.checks["checkpoints"] = f"checked {len(rows)}"


def _missing_checkpoints(engine: Engine, report: Any, ids: list[int], sizes: set[int]) -> None:
    insp = inspect(engine)
    gone: list[int] = []
    if ids:
        present = set(ids)
        gone = [i for i in range(1, ids[-1]) if i not in present]
    if engine.dialect.name == "postgresql":
        # the id sequence remembers ids handed out after the last row left
        with engine.connect() as conn:
            try:
                last, called = conn.execute(
                    text("SELECT last_value, is_called FROM checkpoints_id_seq")
                ).one()
            except Exception:  # noqa: BLE001 - another sequence name: only this check is lost
                last, called = 0, False
        top = ids[-1] if ids else 0
        if called and _is_int(last) and last > top:
            gone += list(range(top + 1, last + 1))
    if gone:
        report.add(
            CHECKPOINT_MISSING,
            INTEGRITY,
            f"{len(gone)} signed checkpoint(s) were deleted from the database (ids "
            f"{', '.join(map(str, gone[:20]))}{'…' if len(gone) > 20 else ''})",
            ids=gone[:200],
        )
    if insp.has_table("witness_progress"):
        progress = typed_rows(
            engine, report, "witness_progress", (("witness", "text"),), (("size", "int"),)
        )
        for (witness,), (size,) in progress.items():
            if _is_int(size) and size > 0 and size not in sizes:
                report.add(
                    CHECKPOINT_MISSING,
                    INTEGRITY,
                    f"witness {witness} cosigned the checkpoint at size {size}, which is no "
                    "longer in the database",
                    witness=witness,
                    size=size,
                )
    if insp.has_table("checkpoint_cosignatures"):
        cosigned = typed_rows(
            engine,
            report,
            "checkpoint_cosignatures",
            (("checkpoint_id", "int"), ("witness", "text")),
            (),
        )
        orphans = sorted({cid for cid, _ in cosigned if cid not in set(ids)})
        if orphans:
            report.add(
                CHECKPOINT_MISSING,
                INTEGRITY,
                f"cosignatures remain for checkpoint(s) {orphans[:20]} that are gone",
                ids=orphans[:200],
            )


# ------------------------------------------------------------------ the outbox's answers

OUTBOX = TableSpec(
    (("record_id", "hex32"),),
    (
        ("status", "text"),
        ("kind", "int"),
        ("signer", "address"),
        ("record_bytes", "bytes"),
        ("tx_hash", "hex32?"),
        ("block_number", "int?"),
        ("block_hash", "hex32?"),
        ("leaf_index", "int?"),
    ),
)


def check_outbox(engine: Engine, replay: Any, report: Any, to_block: int) -> None:
    """`GET /records/status` answers from the outbox: a record it calls confirmed must be on
    chain, where and as it says (kind, signer, bytes, transaction, block, leaf index)."""
    if not inspect(engine).has_table("outbox"):
        report.checks["outbox"] = "skipped (no outbox table)"
        return
    cols = present_columns(engine, report, "outbox", OUTBOX)
    if not cols:
        return
    names = [c for c, _ in cols]
    by_id = {leaf.id_hex: leaf for leaf in replay.leaves}
    checked = 0
    for (rid,), vals in iter_typed_rows(engine, report, "outbox", OUTBOX.keys, cols):
        row = dict(zip(names, vals, strict=True))
        if row.get("status") != "confirmed":
            continue
        checked += 1
        leaf = by_id.get(rid)
        if leaf is None:
            block = row.get("block_number")
            if _is_int(block) and block > to_block:
                continue  # confirmed after the audited head
            compare(
                report, "outbox", ["record_id"], (rid,), ["status"], ("confirmed",), ("absent",)
            )
            continue
        want = {
            "status": "confirmed",
            "kind": int(leaf.record.kind),
            "signer": leaf.record.signer,
            "record_bytes": _hex(leaf_hash(leaf.data)),
            "tx_hash": leaf.tx_hash.lower(),
            "block_number": leaf.block_number,
            "block_hash": leaf.block_hash.lower(),
            "leaf_index": leaf.index,
        }
        if isinstance(row.get("record_bytes"), bytes):
            row["record_bytes"] = _hex(leaf_hash(row["record_bytes"]))
        compare(
            report,
            "outbox",
            ["record_id"],
            (rid,),
            names,
            tuple(row[c] for c in names),
            tuple(want[c] for c in names),
        )
    report.checks["outbox"] = f"checked {checked} confirmed records against the chain"
