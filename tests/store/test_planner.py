"""The outbox lookups of the accept path, of the program rules and of the reconcile pass
read in proportion to what they look up, not to the size of the outbox
(ledger/store/planner.py).

Measured as SQLite's own count of virtual-machine steps (a progress handler called every
step), which is exact and independent of the machine's speed: the same lookup over an
outbox five times larger must take about the same number of steps. The same statements
written without `not_by_index` are measured too, to show that the hazard is real: SQLite,
with no statistics, then takes the status index and reads every confirmed row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, select, text

from ledger.core.records import Kind
from ledger.relayer.lookups import _PROJECT_KNOWN, _PROJECTS_KNOWN, LIVE
from ledger.relayer.outbox import _LOG_ROWS, _OUTBOX_ROWS
from ledger.relayer.reconcile import CONFIRMED_ROW
from ledger.relayer.rules_common import pending_rows
from ledger.store.db import Database
from ledger.store.models import OutboxRecord
from ledger.store.planner import prefer_indexes
from tests.factories import fresh_database_url

ANCHOR = int(Kind.PROJECT_ANCHOR)


def _hex(n: int) -> str:
    return "0x" + os.urandom(32).hex() if n < 0 else f"0x{n:064x}"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Callable[[int], Database]]:
    """A migrated SQLite database whose outbox grows to the size asked, every row a
    confirmed need anchor in some block."""
    db = Database(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    db.migrate()
    held = [0]

    def grow(size: int) -> Database:
        rows = [
            {
                "rid": _hex(-1),
                "ref": _hex(-1),
                "kind": ANCHOR,
                "signer": "0x" + "ab" * 20,
                "data": b"\x00" * 300,
                "block": 10 + i // 200,
            }
            for i in range(held[0], size)
        ]
        with db.write() as session:
            session.execute(
                text(
                    "INSERT INTO outbox (record_id, kind, signer, record_bytes, status, ref_id,"
                    " attempts, block_number, block_hash) VALUES (:rid, :kind, :signer, :data,"
                    " 'confirmed', :ref, 0, :block, :rid)"
                ),
                rows,
            )
        held[0] = size
        return db

    yield grow
    db.engine.dispose()


def _steps(db: Database, statement: Any, params: dict[str, Any]) -> int:
    """SQLite's virtual-machine steps to run `statement` to its end."""
    counted = [0]
    with db.read() as session:
        raw = session.connection().connection.driver_connection
        assert raw is not None

        def tick() -> int:
            counted[0] += 1
            return 0

        raw.set_progress_handler(tick, 1)
        try:
            session.execute(statement, params).all()
        finally:
            raw.set_progress_handler(None, 1)
    return counted[0]


def _ids(n: int) -> list[str]:
    return [_hex(-1) for _ in range(n)]


#: The accept path's lookups and the reconcile pass's reads, each with its parameters.
STATEMENTS: dict[str, tuple[Any, Callable[[], dict[str, Any]]]] = {
    "projects known (an accept batch)": (_PROJECTS_KNOWN, lambda: {"pids": _ids(32)}),
    "project known (one record)": (_PROJECT_KNOWN, lambda: {"pid": _hex(-1)}),
    "reconcile: blocks since the mark": (
        select(OutboxRecord.block_number, OutboxRecord.block_hash)
        .where(CONFIRMED_ROW, OutboxRecord.block_number > 10_000)
        .distinct(),
        dict,
    ),
    # a program kind's check, over an outbox of another kind (as it is: mostly deliveries)
    "live rows of one kind, not indexed yet": (pending_rows(Kind.GRIEVANCE), dict),
    "reconcile: confirmed, not placed": (
        select(OutboxRecord.id).where(CONFIRMED_ROW, OutboxRecord.block_number.is_(None)),
        dict,
    ),
}

#: The first of them as it was written before: the status condition free to pick its index.
AS_BEFORE: Select[Any] = select(OutboxRecord.ref_id).where(
    OutboxRecord.kind == ANCHOR,
    OutboxRecord.ref_id.in_(_ids(32)),
    OutboxRecord.status.in_(LIVE),
)


@pytest.mark.parametrize("name", list(STATEMENTS))
def test_a_lookup_costs_the_same_in_an_outbox_five_times_larger(
    outbox: Callable[[int], Database], name: str
) -> None:
    statement, params = STATEMENTS[name]
    small = _steps(outbox(2_000), statement, params())
    large = _steps(outbox(10_000), statement, params())
    assert large <= small * 1.5 + 50, (name, small, large)


def test_the_status_index_would_read_every_confirmed_row(
    outbox: Callable[[int], Database],
) -> None:
    small = _steps(outbox(2_000), AS_BEFORE, {})
    large = _steps(outbox(10_000), AS_BEFORE, {})
    assert large > small * 3, (small, large)


@pytest.mark.postgres
def test_postgres_before_its_statistics_takes_the_same_ways_in(tmp_path: Path) -> None:
    """PostgreSQL plans by its statistics, which a new outbox lacks until ANALYZE: it then
    guesses, but no statement can take the status index (`not_by_index`) or the partial
    index on the kind, but the rules' live rows of one kind, which take it."""
    urls = fresh_database_url("postgres", tmp_path)
    url = next(urls)
    db = Database(url)
    try:
        db.migrate()
        with db.write() as session:
            session.execute(
                text(
                    "INSERT INTO outbox (record_id, kind, signer, record_bytes, status, ref_id,"
                    " attempts, block_number, block_hash, created_at, updated_at)"
                    " SELECT '0x' || lpad(to_hex(g), 64, '0'), :kind, '0x' || repeat('ab', 20),"
                    " '\\x00', 'confirmed', '0x' || lpad(to_hex(g + 100000000), 64, '0'), 0,"
                    " 10 + g / 200, '0x00', now(), now() FROM generate_series(1, 20000) g"
                ),
                {"kind": ANCHOR},
            )

        def plan(statement: Any, params: dict[str, Any], *, by_index: bool = False) -> str:
            compiled = statement.compile(
                db.engine, compile_kwargs={"literal_binds": True, "render_postcompile": True}
            )
            with db.write() as session:
                if by_index:
                    prefer_indexes(session)
                rows = session.execute(text(f"EXPLAIN {compiled}"), params).all()
            return "\n".join(str(r[0]) for r in rows)

        # The accept batch's lookups: guessed without statistics, some read whole tables;
        # in the outbox writer's transaction (`prefer_indexes`) none does.
        batch = {"rids": _ids(32), "pids": _ids(32)}
        accept = [_PROJECTS_KNOWN, _OUTBOX_ROWS, _LOG_ROWS]
        guessed = [plan(q.params(**batch), {}) for q in accept]
        assert any("Seq Scan" in shown for shown in guessed), guessed
        for q in accept:
            shown = plan(q.params(**batch), {}, by_index=True)
            assert "Seq Scan" not in shown, shown

        for name, (statement, params) in STATEMENTS.items():
            shown = plan(statement.params(**params()), {})
            if name == "live rows of one kind, not indexed yet":
                assert "ix_outbox_live_kind" in shown, shown
            else:
                assert "ix_outbox_live_kind" not in shown, (name, shown)
                assert "ix_outbox_status" not in shown, (name, shown)
    finally:
        db.engine.dispose()
        urls.close()
