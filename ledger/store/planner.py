"""What the query planners must be told: a condition that must not pick an index.

SQLite plans without statistics (nothing here runs ANALYZE), so it rates every index by
the number of values a condition names. The outbox's `status` index then looks the best
way into `status IN ('queued', 'sent', 'confirmed')`: three values, against the 32 record
ids of an accept batch. But nearly every row is confirmed, so that "index search" reads the
whole outbox, and each accepted record cost more as the outbox grew (0.10 → 0.50 ms a
record from the first 4,000 records to 32,000, in one writer thread:
docs/bench-api.md). SQLite's documented remedy is the unary `+`, which leaves the value
alone and keeps that term from choosing an index
(https://sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_). Other
databases keep statistics and plan well without it, and PostgreSQL has no unary `+` on
text, so the `+` is written for SQLite only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
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
