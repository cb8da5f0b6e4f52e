"""What the query planners must be told: a condition that must not pick an index, and on
PostgreSQL, a transaction whose lookups must go by index before statistics exist.

SQLite plans without statistics (nothing here runs ANALYZE), so it rates every index by
the number of values a condition names. The outbox's `status` index then looks the best
way into `status IN ('queued', 'sent', 'confirmed')`: three values, against the 32 record
ids of an accept batch. But nearly every row is confirmed, so that "index search" reads the
whole outbox, and each accepted record cost more as the outbox grew (0.10 → 0.50 ms a
record from the first 4,000 records to 32,000, in one writer thread:
docs/bench-api.md). SQLite's documented remedy is the unary `+`, which leaves the value
alone and keeps that term from choosing an index
(https://sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_).

PostgreSQL keeps statistics, but only once ANALYZE (or autovacuum, a minute or more
later) has run: on a new or fast-growing outbox it guesses, and it was measured taking an
index on (status, kind) for the same lookup, reading every confirmed anchor (the
benchmark's PostgreSQL server went from 1.2 to 2.0 ms of CPU a record). It has no unary `+` on text,
so there the term is written `(status || '')`, an expression no index holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class not_by_index(FunctionElement[str]):
    """A string column, as a condition's operand that must not choose an index."""

    type = String()
    inherit_cache = True

    def __init__(self, column: ColumnElement[str] | QueryableAttribute[str]) -> None:
        super().__init__(column)


@compiles(not_by_index)
def _as_is(element: not_by_index, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(not_by_index, "sqlite")
def _unary_plus(element: not_by_index, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


@compiles(not_by_index, "postgresql")
def _concatenated(element: not_by_index, compiler: SQLCompiler, **kw: Any) -> str:
    return "(" + compiler.process(element.clauses, **kw) + " || '')"


def prefer_indexes(session: Session) -> None:
    """Within the session's transaction, have PostgreSQL take an index wherever one serves
    (`SET LOCAL enable_seqscan = off`); nothing on SQLite, which plans by indexes anyway.

    For the accept path's lookups, which name a few record or project ids out of an outbox
    of many: before its first ANALYZE (autovacuum's comes a minute or more after a table
    starts to grow) PostgreSQL guesses that 32 ids match a sixth of the table and reads all
    of it. Measured on the benchmark's new database: 481 sequential scans of the outbox,
    506 of project_anchors and 447 of log_entries in 8,000 records, one per accept batch,
    none of them analyzed during the run."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
