"""Exact SQL sums of quantities, each of which may be as large as the contract allows
(2^63 − 1). SQLite's SUM stops with "integer overflow" past a 64-bit integer, so two such
commitments would turn every totals page into an error: a column is summed in two halves
(the quotient and the remainder of 2^32, each sum fitting 64 bits for billions of rows) and
the halves are joined in Python. PostgreSQL would not overflow, but runs the same query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func

SPLIT = 1 << 32


def exact_sum(column: Any) -> tuple[Any, Any]:
    """The two SQL sums whose `joined` value is SUM(column), for non-negative integers."""
    return func.sum(column // SPLIT), func.sum(column % SPLIT)


def joined(high: Any, low: Any) -> int:
    """SUM(column) from the two halves `exact_sum` selected (0 over no rows)."""
    return int(high or 0) * SPLIT + int(low or 0)
