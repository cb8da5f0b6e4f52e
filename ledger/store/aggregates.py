"""The maintained totals (`models.CommitmentTotal`): the indexer moves them in the same
transaction as the leaves that move them, and a rollback recomputes the groups it touched
from the commitments that remain. Amounts are exact: two halves, hi * 2^32 + lo."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from ledger.store.models import CommitmentRow, CommitmentTotal, GroupTotal, TotalCounters
from ledger.store.sums import SPLIT, exact_sum, joined

__all__ = [
    "GroupKey",
    "Moves",
    "Triple",
    "counters",
    "group_keys",
    "halves",
    "recompute",
    "total_key",
]

#: The groupings `GroupTotal` keeps, and "all" (key "").
BY = ("county", "category", "org", "all")

#: county, category, organization, resource kind, unit
GroupKey = tuple[int, int, str, int, str]


def halves(value: int) -> tuple[int, int]:
    """`value` as (hi, lo) with value = hi * 2^32 + lo and 0 <= lo < 2^32."""
    return value // SPLIT, value % SPLIT


def total_key(c: CommitmentRow) -> GroupKey:
    return (int(c.county), int(c.category), c.org, int(c.resource_kind), c.unit)


def group_keys(key: GroupKey) -> list[tuple[str, str, int, str]]:
    """The `GroupTotal` rows a fine group adds into: one per grouping."""
    county, category, org, rk, unit = key
    return [
        ("county", str(county), rk, unit),
        ("category", str(category), rk, unit),
        ("org", org, rk, unit),
        ("all", "", rk, unit),
    ]


@dataclass
class Triple:
    """Committed, delivered and confirmed quantities, and how many commitments they sum: a
    totals row's counters (`counters`), what an indexing pass moves, a totals query's row."""

    committed: int = 0
    delivered: int = 0
    confirmed: int = 0
    commitments: int = 0

    def add(self, other: Triple) -> None:
        self.committed += other.committed
        self.delivered += other.delivered
        self.confirmed += other.confirmed
        self.commitments += other.commitments


def counters(row: TotalCounters) -> Triple:
    """The counters of a `CommitmentTotal` or `GroupTotal` row, each amount's halves joined."""
    return Triple(
        joined(row.committed_hi, row.committed_lo),
        joined(row.delivered_hi, row.delivered_lo),
        joined(row.confirmed_hi, row.confirmed_lo),
        int(row.commitments),
    )


def _set(row: TotalCounters, t: Triple) -> None:
    row.commitments = t.commitments
    row.committed_hi, row.committed_lo = halves(t.committed)
    row.delivered_hi, row.delivered_lo = halves(t.delivered)
    row.confirmed_hi, row.confirmed_lo = halves(t.confirmed)


class Moves:
    """What one indexing pass adds to each group; `write` folds it into the table."""

    def __init__(self) -> None:
        self._deltas: dict[GroupKey, Triple] = defaultdict(Triple)

    def commitment(self, c: CommitmentRow) -> None:
        d = self._deltas[total_key(c)]
        d.commitments += 1
        d.committed += int(c.quantity)

    def delivered(self, c: CommitmentRow, quantity: int) -> None:
        self._deltas[total_key(c)].delivered += quantity

    def confirmed(self, c: CommitmentRow, quantity: int) -> None:
        self._deltas[total_key(c)].confirmed += quantity

    def write(self, session: Session) -> None:
        # One flush, then none per look-up: each `get` of a row not yet loaded would flush
        # every pending row first (a third of indexing time). The keys are distinct, so no
        # row this loop adds is looked up again before the next flush.
        session.flush()
        with session.no_autoflush:
            self._write(session)
        self._deltas.clear()

    def _write(self, session: Session) -> None:
        groups: dict[tuple[str, str, int, str], Triple] = defaultdict(Triple)
        for key, d in self._deltas.items():
            row = session.get(CommitmentTotal, key)
            if row is None:
                county, category, org, rk, unit = key
                row = CommitmentTotal(
                    county=county, category=category, org=org, resource_kind=rk, unit=unit
                )
                _set(row, Triple())
                session.add(row)
            _add(row, d)
            for g in group_keys(key):
                groups[g].add(d)
        for (by, gkey, rk, unit), d in groups.items():
            grow = session.get(GroupTotal, (by, gkey, rk, unit))
            if grow is None:
                grow = GroupTotal(dimension=by, member=gkey, resource_kind=rk, unit=unit)
                _set(grow, Triple())
                session.add(grow)
            _add(grow, d)


def _add(row: TotalCounters, d: Triple) -> None:
    t = counters(row)
    t.add(d)
    _set(row, t)


def fresh(session: Session, *where: Any) -> dict[GroupKey, tuple[int, int, int, int]]:
    """The totals summed afresh from the commitments (matching `where`): per group, the
    count and the committed, delivered and confirmed amounts."""
    group = [
        CommitmentRow.county,
        CommitmentRow.category,
        CommitmentRow.org,
        CommitmentRow.resource_kind,
        CommitmentRow.unit,
    ]
    stmt = (
        select(
            *group,
            func.count(),
            *exact_sum(CommitmentRow.quantity),
            *exact_sum(CommitmentRow.delivered),
            *exact_sum(CommitmentRow.confirmed),
        )
        .where(*where)
        .group_by(*group)
    )
    out: dict[GroupKey, tuple[int, int, int, int]] = {}
    for county, category, org, rk, unit, n, *h in session.execute(stmt):
        out[(int(county), int(category), org, int(rk), unit)] = (
            int(n),
            joined(h[0], h[1]),
            joined(h[2], h[3]),
            joined(h[4], h[5]),
        )
    return out


def recompute(session: Session, groups: Iterable[tuple[int, int, str]] | None = None) -> None:
    """The maintained totals of the (county, category, organization) `groups` (all when
    None) summed again from the commitments, as after a rollback deleted some."""
    wanted = None if groups is None else sorted(set(groups))
    if wanted is not None and not wanted:
        return
    session.flush()
    keys = (CommitmentTotal.county, CommitmentTotal.category, CommitmentTotal.org)
    ckeys = (CommitmentRow.county, CommitmentRow.category, CommitmentRow.org)
    chunks: list[list[tuple[int, int, str]] | None] = (
        [None] if wanted is None else [wanted[i : i + 200] for i in range(0, len(wanted), 200)]
    )
    for chunk in chunks:
        if chunk is None:
            session.execute(delete(CommitmentTotal))
            sums = fresh(session)
        else:
            session.execute(delete(CommitmentTotal).where(tuple_(*keys).in_(chunk)))
            sums = fresh(session, tuple_(*ckeys).in_(chunk))
        for (county, category, org, rk, unit), (n, c, d, f) in sums.items():
            row = CommitmentTotal(
                county=county, category=category, org=org, resource_kind=rk, unit=unit
            )
            _set(row, Triple(c, d, f, n))
            session.add(row)
    session.flush()
    _regroup(session)


def _regroup(session: Session) -> None:
    """`GroupTotal` summed again from the fine totals (a few rows per group)."""
    sums: dict[tuple[str, str, int, str], Triple] = defaultdict(Triple)
    for t in session.scalars(select(CommitmentTotal)):
        d = counters(t)
        for g in group_keys(total_key(t)):  # type: ignore[arg-type]
            sums[g].add(d)
    session.execute(delete(GroupTotal))
    for (by, key, rk, unit), d in sums.items():
        row = GroupTotal(dimension=by, member=key, resource_kind=rk, unit=unit)
        _set(row, d)
        session.add(row)
    session.flush()
