"""Totals: committed, delivered and confirmed per group, resource kind and unit.

`aggregate` is the one totals query; the public API, the portal's pages and CSV downloads
fold its rows, and the periodic report groups its snapshot with `tally`, by the same rule.
Funds are counted in fen and services in hours whatever a commitment's unit text says, so
they fold across unit texts; goods never do: 10 kg of rice and 5 boxes of books stay two
totals, one per unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.core.fields import BEIJING, ResourceKind
from ledger.store.aggregates import Triple, counters
from ledger.store.models import (
    CommitmentRow,
    CommitmentTotal,
    DeliveryRow,
    GroupTotal,
    LogEntry,
    ReceiptRow,
)
from ledger.store.queries.lists import Filters, apply_filters, category_label
from ledger.store.queries.orgs import org_codes
from ledger.store.sums import exact_sum, joined

#: What totals can be grouped by; `need` is the project a commitment answers, `match` the
#: library match (点单/接单) it was made under.
GROUPS: dict[str, Any] = {
    "county": CommitmentRow.county,
    "category": CommitmentRow.category,
    "org": CommitmentRow.org,
    "need": CommitmentRow.need_id,
    "match": CommitmentRow.match_id,
}
PUBLIC_GROUPS = ("county", "category", "org")
#: The groups the maintained totals answer (their columns in `CommitmentTotal`).
MAINTAINED: dict[str | None, Any] = {
    None: None,
    "county": CommitmentTotal.county,
    "category": CommitmentTotal.category,
    "org": CommitmentTotal.org,
}


@dataclass(frozen=True)
class Total:
    """One row of the aggregate: a group's value (None when ungrouped), kind, unit, sums."""

    key: Any
    resource_kind: int
    unit: str
    amounts: Triple


def aggregate(
    session: Session, by: str | None, f: Filters | None = None, *where: Any
) -> list[Total]:
    """Sums per group (`GROUPS`, or None for all), resource kind and unit, over the
    commitments matching `f` and the extra SQL conditions `where`."""
    if by is not None and by not in GROUPS:
        raise LedgerError(f"totals cannot be grouped by {by!r}", code="bad_group")
    if by in MAINTAINED and not where and _maintained_answers(session, f):
        return _maintained(session, by, f)
    key = GROUPS[by] if by is not None else None
    cols: list[Any] = [CommitmentRow.resource_kind, CommitmentRow.unit]
    group = [key, *cols] if key is not None else cols
    stmt = select(
        *group,
        func.count(),
        *exact_sum(CommitmentRow.quantity),
        *exact_sum(CommitmentRow.delivered),
        *exact_sum(CommitmentRow.confirmed),
    ).where(*where)
    if f is not None:
        if f.since is not None or f.until is not None:  # only time filters need the log entry
            stmt = stmt.join(LogEntry, LogEntry.record_id == CommitmentRow.record_id)
        stmt = apply_filters(stmt, CommitmentRow, f)
    return _totals(session, stmt, key, group)


def _totals(session: Session, stmt: Any, key: Any, group: list[Any]) -> list[Total]:
    """The rows of a totals `stmt` selecting `group` (the group's key when `key` is not
    None, then resource kind and unit), the count of commitments and the halves of the
    committed, delivered and confirmed sums; grouped and ordered by `group`. A group that
    counts no commitments (maintained totals whose commitments a reorg took away) is left
    out."""
    stmt = stmt.group_by(*group).order_by(*group)
    out = []
    for row in session.execute(stmt).all():
        k = row[0] if key is not None else None
        rk, unit, n, *halves = row[1:] if key is not None else row
        if not n:
            continue
        committed, delivered, confirmed = (joined(*halves[i : i + 2]) for i in (0, 2, 4))
        out.append(Total(k, int(rk), unit, Triple(committed, delivered, confirmed, int(n))))
    return out


def _maintained_answers(session: Session, f: Filters | None) -> bool:
    """Whether the maintained totals can answer `f`: narrowed by county, category or
    organization only, and filled (rows written around the indexer, as some tests and tools
    do, leave them empty: then the commitments are summed as before)."""
    if f is not None and (
        f.project is not None
        or f.commitment is not None
        or f.since is not None
        or f.until is not None
    ):
        return False
    if session.scalar(select(CommitmentTotal.county).limit(1)) is not None:
        return True
    return session.scalar(select(CommitmentRow.record_id).limit(1)) is None


def _grouped(session: Session, by: str | None) -> list[Total]:
    """An unfiltered `aggregate` read from the per-grouping totals: a few rows per group."""
    t = GroupTotal
    stmt = select(t).where(t.dimension == (by or "all"), t.commitments > 0)
    out = []
    for row in session.scalars(stmt):
        k: Any = None
        if by in ("county", "category"):
            k = int(row.member)
        elif by == "org":
            k = row.member
        out.append(Total(k, int(row.resource_kind), row.unit, counters(row)))
    out.sort(
        key=lambda x: (x.key, x.resource_kind, x.unit)
        if x.key is not None
        else (x.resource_kind, x.unit)
    )
    return out


def _maintained(session: Session, by: str | None, f: Filters | None) -> list[Total]:
    """`aggregate` read from the maintained totals: the per-grouping rows when nothing
    narrows it, else a sum over the fine rows the filter selects."""
    if f is None or (f.county is None and f.category is None and f.org is None):
        return _grouped(session, by)
    key = MAINTAINED[by]
    cols: list[Any] = [CommitmentTotal.resource_kind, CommitmentTotal.unit]
    group = [key, *cols] if key is not None else cols
    t = CommitmentTotal
    stmt = select(
        *group,
        func.sum(t.commitments),
        func.sum(t.committed_hi),
        func.sum(t.committed_lo),
        func.sum(t.delivered_hi),
        func.sum(t.delivered_lo),
        func.sum(t.confirmed_hi),
        func.sum(t.confirmed_lo),
    )
    if f is not None:
        stmt = apply_filters(stmt, CommitmentTotal, f)
    return _totals(session, stmt, key, group)


def tally(items: Iterable[tuple[Any, int, str, Triple]]) -> list[Total]:
    """The aggregate's grouping over amounts already in memory, such as the report's
    snapshot at its cut-off (where the running columns `aggregate` sums would include
    later deliveries): per group, resource kind and unit, sorted the same way."""
    out: dict[tuple[Any, int, str], Triple] = defaultdict(Triple)
    for key, rk, unit, amounts in items:
        out[(key, rk, unit)].add(amounts)
    return [Total(k, rk, unit, t) for (k, rk, unit), t in sorted(out.items())]


def public(
    session: Session, by: str, f: Filters, *, codes: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The public totals: per county, category or organization, resource kind and unit
    (funds in fen, goods in their units, services in hours). `codes`: the address → credit
    code map if the caller holds it for this read model (`org_codes`)."""
    if by not in PUBLIC_GROUPS:
        raise LedgerError("totals can be grouped by county, category or org", code="bad_group")
    if codes is None:
        codes = org_codes(session) if by == "org" else {}
    out = []
    for t in aggregate(session, by, f):
        item: dict[str, Any] = {
            by: category_label(t.key) if by == "category" else t.key,
            "resource_kind": t.resource_kind,
            "unit": t.unit,
            "commitments": t.amounts.commitments,
            "committed": t.amounts.committed,
            "delivered": t.amounts.delivered,
            "confirmed": t.amounts.confirmed,
        }
        if by == "org":
            item["org_code"] = codes.get(t.key)
        out.append(item)
    return out


def fold(rows: Iterable[Total], resource_kind: int) -> dict[Any, Triple]:
    """Per group, the sums of funds or of services (one measure each, fen or hours)."""
    if resource_kind == ResourceKind.GOODS:
        raise LedgerError("goods are totalled per unit; use fold_goods", code="bad_group")
    out: dict[Any, Triple] = defaultdict(Triple)
    for t in rows:
        if t.resource_kind == resource_kind:
            out[t.key].add(t.amounts)
    return dict(out)


def fold_goods(rows: Iterable[Total]) -> dict[tuple[Any, str], Triple]:
    """Per group and unit, the sums of goods."""
    out: dict[tuple[Any, str], Triple] = defaultdict(Triple)
    for t in rows:
        if t.resource_kind == ResourceKind.GOODS:
            out[(t.key, t.unit)].add(t.amounts)
    return dict(out)


def count_by(rows: Iterable[Total]) -> dict[Any, int]:
    """Per group, the number of commitments of every kind."""
    out: dict[Any, int] = defaultdict(int)
    for t in rows:
        out[t.key] += t.amounts.commitments
    return dict(out)


def totals_by(session: Session, by: str, resource_kind: int, *where: Any) -> dict[Any, Triple]:
    """Funds or services per group over the commitments matching `where`."""
    return fold(aggregate(session, by, None, *where), resource_kind)


def goods_by(session: Session, by: str, *where: Any) -> dict[tuple[Any, str], Triple]:
    """Goods per group and unit over the commitments matching `where`."""
    return fold_goods(aggregate(session, by, None, *where))


@dataclass
class GrandTotals:
    """Everything committed: funds in fen, services in hours, goods per unit."""

    funds: Triple = field(default_factory=Triple)
    services: Triple = field(default_factory=Triple)
    goods: dict[str, Triple] = field(default_factory=dict)


def grand_totals(session: Session) -> GrandTotals:
    rows = aggregate(session, None)
    return GrandTotals(
        fold(rows, ResourceKind.FUNDS).get(None, Triple()),
        fold(rows, ResourceKind.SERVICE).get(None, Triple()),
        {unit: t for (_, unit), t in sorted(fold_goods(rows).items())},
    )


DAY = 86_400
#: Beijing is UTC+8 all year: a Beijing calendar day is the UTC day of (time + 8 h).
BEIJING_OFFSET = int(BEIJING.utcoffset(None).total_seconds())


def _day(n: int) -> str:
    """The Beijing date of day number `n` (days since 1970-01-01 in Beijing time)."""
    return datetime.fromtimestamp(n * DAY, UTC).strftime("%Y-%m-%d")


def series_over_time(
    session: Session, resource_kind: int, max_points: int = 90, *where: Any
) -> list[tuple[str, Triple]]:
    """Cumulative committed/delivered/confirmed per Beijing calendar day (block time) for
    one kind (and, with `where`, only the commitments matching it, e.g. one unit of goods);
    per month when there are more than `max_points` days, so the page stays small."""
    per_day: dict[int, Triple] = defaultdict(Triple)
    # grouped by Beijing day number in SQL, so the page reads a few hundred rows, not every
    # record
    day = (CommitmentRow.block_time + BEIJING_OFFSET) // DAY
    committed = (
        select(day, *exact_sum(CommitmentRow.quantity))
        .where(CommitmentRow.resource_kind == resource_kind, *where)
        .group_by(day)
    )
    for d, high, low in session.execute(committed):
        per_day[int(d)].committed += joined(high, low)
    day = (LogEntry.block_time + BEIJING_OFFSET) // DAY
    for model, quantity, stage in (
        (DeliveryRow, DeliveryRow.quantity, "delivered"),
        (ReceiptRow, ReceiptRow.confirmed_quantity, "confirmed"),
    ):
        stmt = (
            select(day, *exact_sum(quantity))
            .join(LogEntry, LogEntry.record_id == model.record_id)
            .join(CommitmentRow, CommitmentRow.record_id == model.commitment_id)
            .where(CommitmentRow.resource_kind == resource_kind, *where)
            .group_by(day)
        )
        for d, high, low in session.execute(stmt):
            t = per_day[int(d)]
            setattr(t, stage, getattr(t, stage) + joined(high, low))
    running = Triple()
    out = []
    for n in sorted(per_day):
        d = per_day[n]
        running = Triple(
            running.committed + d.committed,
            running.delivered + d.delivered,
            running.confirmed + d.confirmed,
        )
        out.append((_day(n), running))
    if len(out) > max_points:
        monthly: dict[str, Triple] = {}
        for label, t in out:
            monthly[label[:7]] = t  # cumulative: the month's last day is the month's value
        out = list(monthly.items())
    return out


def log_counts(session: Session) -> dict[int, int]:
    """Log entries per record kind."""
    rows = session.execute(select(LogEntry.kind, func.count()).group_by(LogEntry.kind)).all()
    return {int(k): int(n) for k, n in rows}
