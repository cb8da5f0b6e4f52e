"""The audit's database diff: the read model the replayed chain implies (`expected_rows`),
compared column by column with what the database holds (read the `ledger.audit.rows` way:
plain SQL on table names, every value type-checked), then the stored batch lines against their
signed roots (`batch_lines`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.audit.batch_lines import check_batch_lines
from ledger.audit.codes import DB_ROW_EXTRA, DB_ROW_MISSING, DB_TABLE_MISSING, INTEGRITY
from ledger.audit.expected_rows import OPTIONAL_TABLES, TABLES, expected_rows
from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, Progress, to_hex
from ledger.audit.rows import (
    Invalid,
    Row,
    TableSpec,
    check_value,
    compare,
    is_int,
    present_columns,
    report_invalid,
    row_fail,
    split_rows,
)
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import leaf_hash

__all__ = ["diff_database", "indexed_cutoff"]


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
    return check_batch_lines(engine, replay, report)
