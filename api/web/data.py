"""Read-model queries the portal's pages need beyond `ledger.queries`: chart series, project
libraries, project timelines, organization and county scorecards, and proof bundles.

Everything reads the SQL read model (a cache of the chain); the verify page then lets the
browser check what matters against the chain itself.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from ledger.core.errors import NotFoundError
from ledger.core.fields import ProjectKind, ResourceKind
from ledger.core.records import Kind
from ledger.library import projects as library
from ledger.library import regions
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    FlagRow,
    LogEntry,
    Organization,
    ProjectAnchorRow,
    ReceiptRow,
    RoleEvent,
)

# ----------------------------------------------------------------- counties


def county_name(code: int) -> str | None:
    """The county's full Chinese name from the GB/T 2260 table, or None if unknown."""
    county = regions.counties().get(int(code))
    return county.full_name if county else None


def county_short(code: int) -> str:
    """The county's own name (册亨县) for chart labels, or its code."""
    county = regions.counties().get(int(code))
    return county.name if county else str(code)


def key_counties(session: Session) -> set[int]:
    """Nationally designated key counties (重点帮扶县) as loaded into the library."""
    return {k.code for k in library.key_counties(session)}


# ----------------------------------------------------------------- totals and series


@dataclass
class Triple:
    """Committed, delivered and confirmed quantities of one resource kind."""

    committed: int = 0
    delivered: int = 0
    confirmed: int = 0
    commitments: int = 0


def totals_by(session: Session, key: str, resource_kind: int, *where: Any) -> dict[Any, Triple]:
    """Committed/delivered/confirmed of one resource kind per county, category or org."""
    col = getattr(CommitmentRow, key)
    stmt = (
        select(
            col,
            func.count(),
            func.sum(CommitmentRow.quantity),
            func.sum(CommitmentRow.delivered),
            func.sum(CommitmentRow.confirmed),
        )
        .where(CommitmentRow.resource_kind == resource_kind, *where)
        .group_by(col)
        .order_by(col)
    )
    out: dict[Any, Triple] = {}
    for k, n, c, d, f in session.execute(stmt).all():
        out[k] = Triple(int(c or 0), int(d or 0), int(f or 0), int(n))
    return out


def grand_totals(session: Session) -> dict[int, Triple]:
    """Totals per resource kind (funds in fen, goods summed across units, service hours)."""
    stmt = select(
        CommitmentRow.resource_kind,
        func.count(),
        func.sum(CommitmentRow.quantity),
        func.sum(CommitmentRow.delivered),
        func.sum(CommitmentRow.confirmed),
    ).group_by(CommitmentRow.resource_kind)
    out = {int(k): Triple() for k in ResourceKind}
    for k, n, c, d, f in session.execute(stmt).all():
        out[int(k)] = Triple(int(c or 0), int(d or 0), int(f or 0), int(n))
    return out


DAY = 86_400


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def series_over_time(
    session: Session, resource_kind: int, max_points: int = 90
) -> list[tuple[str, Triple]]:
    """Cumulative committed/delivered/confirmed per UTC day (block time) for one kind; per
    month when there are more than `max_points` days, so the page stays small."""
    per_day: dict[int, Triple] = defaultdict(Triple)
    # grouped by UTC day number in SQL, so the page reads a few hundred rows, not every record
    day = CommitmentRow.block_time // DAY
    committed = (
        select(day, func.sum(CommitmentRow.quantity))
        .where(CommitmentRow.resource_kind == resource_kind)
        .group_by(day)
    )
    for d, q in session.execute(committed):
        per_day[int(d)].committed += int(q or 0)
    day = LogEntry.block_time // DAY
    delivered = (
        select(day, func.sum(DeliveryRow.quantity))
        .join(LogEntry, LogEntry.record_id == DeliveryRow.record_id)
        .join(CommitmentRow, CommitmentRow.record_id == DeliveryRow.commitment_id)
        .where(CommitmentRow.resource_kind == resource_kind)
        .group_by(day)
    )
    for d, q in session.execute(delivered):
        per_day[int(d)].delivered += int(q or 0)
    confirmed = (
        select(day, func.sum(ReceiptRow.confirmed_quantity))
        .join(LogEntry, LogEntry.record_id == ReceiptRow.record_id)
        .join(CommitmentRow, CommitmentRow.record_id == ReceiptRow.commitment_id)
        .where(CommitmentRow.resource_kind == resource_kind)
        .group_by(day)
    )
    for d, q in session.execute(confirmed):
        per_day[int(d)].confirmed += int(q or 0)
    running = Triple()
    out = []
    for n in sorted(per_day):
        d = per_day[n]
        running = Triple(
            running.committed + d.committed,
            running.delivered + d.delivered,
            running.confirmed + d.confirmed,
        )
        out.append((_day(n * DAY), running))
    if len(out) > max_points:
        monthly: dict[str, Triple] = {}
        for label, t in out:
            monthly[label[:7]] = t  # cumulative: the month's last day is the month's value
        out = list(monthly.items())
    return out


def log_counts(session: Session) -> dict[int, int]:
    rows = session.execute(select(LogEntry.kind, func.count()).group_by(LogEntry.kind)).all()
    return {int(k): int(n) for k, n in rows}


# ----------------------------------------------------------------- organizations


def org_names(session: Session) -> dict[str, tuple[str, str | None]]:
    rows = session.execute(select(Organization.org_code, Organization.name, Organization.name_en))
    return {code: (name, en) for code, name, en in rows}


def org_addresses(session: Session) -> dict[str, str]:
    """Signing address → credit code, from the indexed role grants."""
    rows = session.execute(
        select(RoleEvent.address, RoleEvent.org_code).where(RoleEvent.org_code.is_not(None))
    ).all()
    return {a: c for a, c in rows if c}


def county_of_signers(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(RoleEvent.address, RoleEvent.county).where(RoleEvent.county.is_not(None))
    ).all()
    return {a: int(c) for a, c in rows if c}


@dataclass
class Scorecard:
    """How an organization (or everyone in a county) keeps its commitments.

    fulfilment: commitments delivered in full / all commitments;
    on_time: commitments delivered in full by their due date / commitments already due
    (due date passed) or delivered in full; confirmed: commitments whose deliveries the
    county confirmed in full / commitments with any delivery.
    """

    commitments: int = 0
    fulfilled: int = 0
    due_or_fulfilled: int = 0
    on_time: int = 0
    with_delivery: int = 0
    confirmed: int = 0

    @staticmethod
    def _rate(n: int, d: int) -> float | None:
        return n / d if d else None

    @property
    def fulfilment_rate(self) -> float | None:
        return self._rate(self.fulfilled, self.commitments)

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.on_time, self.due_or_fulfilled)

    @property
    def confirmed_rate(self) -> float | None:
        return self._rate(self.confirmed, self.with_delivery)


def scorecards(session: Session, key: Any, *where: Any) -> dict[Any, Scorecard]:
    """Scorecards per value of `key` (e.g. CommitmentRow.org) over the commitments matching
    `where`, aggregated in SQL. A commitment is fulfilled when its delivered total reaches
    its quantity; the contract refuses over-delivery, so its last delivery is the one that
    completed it, and that delivery's time decides "on time"."""
    now = int(time.time())
    last = (
        select(
            DeliveryRow.commitment_id.label("cid"), func.max(DeliveryRow.delivered_at).label("at")
        )
        .group_by(DeliveryRow.commitment_id)
        .subquery()
    )
    full = CommitmentRow.delivered >= CommitmentRow.quantity

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    stmt = (
        select(
            key if key is not None else literal(None),
            func.count(),
            count(full),
            count(or_(full, CommitmentRow.due_date <= now)),
            count(and_(full, last.c.at <= CommitmentRow.due_date)),
            count(CommitmentRow.delivered > 0),
            count(
                and_(
                    CommitmentRow.delivered > 0, CommitmentRow.confirmed >= CommitmentRow.delivered
                )
            ),
        )
        .outerjoin(last, last.c.cid == CommitmentRow.record_id)
        .where(*where)
    )
    if key is not None:
        stmt = stmt.group_by(key)
    return {
        k: Scorecard(*(int(v or 0) for v in values)) for k, *values in session.execute(stmt).all()
    }


def scorecard(session: Session, *where: Any) -> Scorecard:
    """One scorecard over the commitments matching `where`."""
    return scorecards(session, None, *where).get(None, Scorecard())


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


@dataclass
class OrgPage:
    org_code: str | None
    name: tuple[str, str | None] | None
    addresses: list[str]
    card: Scorecard
    commitments: list[CommitmentRow]
    locations: dict[str, LogEntry]


def org_page(session: Session, org: str, limit: int = 200) -> OrgPage:
    """An organization by credit code or signing address: its commitments and scorecard."""
    codes = org_addresses(session)
    if org.lower().startswith("0x"):
        addrs = [a for a in codes if a.lower() == org.lower()]
        if not addrs:
            rows = session.scalars(
                select(CommitmentRow.org).where(func.lower(CommitmentRow.org) == org.lower())
            ).first()
            addrs = [rows] if rows else []
        code = codes.get(addrs[0]) if addrs else None
        if code:
            addrs = [a for a, c in codes.items() if c == code]
    else:
        code = org.upper()
        addrs = [a for a, c in codes.items() if c == code]
    if not addrs:
        raise NotFoundError(
            f"no organization {org} is registered on this ledger; check the credit code",
            code="org_not_found",
        )
    shown = list(
        session.scalars(
            select(CommitmentRow)
            .where(CommitmentRow.org.in_(addrs))
            .order_by(CommitmentRow.block_time.desc())
            .limit(limit)
        )
    )
    card = scorecard(session, CommitmentRow.org.in_(addrs))
    return OrgPage(
        code,
        org_names(session).get(code) if code else None,
        addrs,
        card,
        shown,
        _locations(session, [c.record_id for c in shown]),
    )


def org_list(session: Session) -> list[dict[str, Any]]:
    """Every organization with commitments: code, name, counts and rates."""
    codes = org_addresses(session)
    names = org_names(session)
    by_org: dict[str, Scorecard] = defaultdict(Scorecard)
    for address, card in scorecards(session, CommitmentRow.org).items():
        total = by_org[codes.get(address, address)]
        for f in fields(Scorecard):
            setattr(total, f.name, getattr(total, f.name) + getattr(card, f.name))
    for code in set(codes.values()):
        by_org.setdefault(code, Scorecard())
    out = []
    for code, card in sorted(by_org.items()):
        name = names.get(code)
        out.append(
            {
                "org": code,
                "name": name[0] if name else "",
                "name_en": (name[1] or "") if name else "",
                "commitments": card.commitments,
                "fulfilment_rate": card.fulfilment_rate,
                "on_time_rate": card.on_time_rate,
                "confirmed_rate": card.confirmed_rate,
            }
        )
    return out


def commitment_export(
    session: Session, county: int | None, category: int | None, org: str | None
) -> list[Any]:
    """Every commitment matching the filters with its chain location, newest first, in one
    query of plain columns (the CSV download; pages use the paginated `ledger.queries`)."""
    c = CommitmentRow
    stmt = select(
        c.record_id,
        c.need_id,
        c.org,
        c.county,
        c.category,
        c.resource_kind,
        c.quantity,
        c.unit,
        c.due_date,
        c.delivered,
        c.confirmed,
        LogEntry.block_time,
        LogEntry.tx_hash,
        LogEntry.leaf_index,
    ).join(LogEntry, LogEntry.record_id == CommitmentRow.record_id)
    if county is not None:
        stmt = stmt.where(CommitmentRow.county == county)
    if category is not None:
        stmt = stmt.where(CommitmentRow.category == category)
    if org:
        if org.lower().startswith("0x"):
            stmt = stmt.where(func.lower(CommitmentRow.org) == org.lower())
        else:
            keys = select(RoleEvent.address).where(RoleEvent.org_code == org.upper())
            stmt = stmt.where(CommitmentRow.org.in_(keys))
    return list(session.execute(stmt.order_by(LogEntry.leaf_index.desc())).all())


# ----------------------------------------------------------------- projects


@dataclass
class ProjectSummary:
    project_id: str
    project_kind: int
    county: int
    category: int
    version: int
    published: int
    commitments: int = 0
    totals: dict[int, Triple] = field(default_factory=dict)
    title: str = ""
    status: str = ""


def projects(
    session: Session,
    *,
    project_kind: int | None = None,
    county: int | None = None,
    category: int | None = None,
    q: str | None = None,
    key_only: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ProjectSummary], int]:
    """Latest version of each anchored project matching the filters, newest first, and the
    number that match."""
    latest = (
        select(ProjectAnchorRow.project_id, func.max(ProjectAnchorRow.version).label("v"))
        .group_by(ProjectAnchorRow.project_id)
        .subquery()
    )
    stmt = (
        select(ProjectAnchorRow, LogEntry.block_time, LibraryProject.title, LibraryProject.status)
        .join(
            latest,
            (latest.c.project_id == ProjectAnchorRow.project_id)
            & (latest.c.v == ProjectAnchorRow.version),
        )
        .join(LogEntry, LogEntry.record_id == ProjectAnchorRow.record_id)
        .outerjoin(LibraryProject, LibraryProject.project_id == ProjectAnchorRow.project_id)
    )
    if project_kind is not None:
        stmt = stmt.where(ProjectAnchorRow.project_kind == project_kind)
    if county is not None:
        stmt = stmt.where(ProjectAnchorRow.county == county)
    if category is not None:
        stmt = stmt.where(ProjectAnchorRow.category == category)
    if key_only:
        stmt = stmt.where(ProjectAnchorRow.county.in_(sorted(key_counties(session)) or [-1]))
    if q:
        stmt = stmt.where(_search(q))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(LogEntry.leaf_index.desc()).offset(offset).limit(limit)
    ).all()
    out = [
        ProjectSummary(
            a.project_id,
            a.project_kind,
            a.county,
            a.category,
            a.version,
            int(ts),
            # the library's title, else the anchor's own (a project from another instance)
            title=title or a.title or "",
            status=status or "",
        )
        for a, ts, title, status in rows
    ]
    _attach_totals(session, out)
    return out, int(total)


def _search(q: str) -> Any:
    """Free text: words of a project's title or description (the library's normalized
    search text), a project id prefix, a county code, or part of a county's name."""
    text = q.strip().lower()
    conds: list[Any] = []
    if text.startswith("0x") and all(ch in "0123456789abcdef" for ch in text[2:]):
        conds.append(ProjectAnchorRow.project_id.startswith(text))
    if text.isdigit():
        conds.append(ProjectAnchorRow.county == int(text))
    codes = [c.code for c in regions.counties().values() if q.strip() in c.full_name]
    if codes and len(codes) < 500:
        conds.append(ProjectAnchorRow.county.in_(codes))
    words = library.search_text(q).split()
    if words:
        conds.append(
            and_(
                *(
                    LibraryProject.search_text.like(
                        "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
                        escape="\\",
                    )
                    for w in words
                )
            )
        )
    return or_(*conds) if conds else ProjectAnchorRow.project_id == "-"


def _attach_totals(session: Session, items: list[ProjectSummary]) -> None:
    by_id = {p.project_id: p for p in items}
    if not by_id:
        return
    stmt = (
        select(
            CommitmentRow.need_id,
            CommitmentRow.resource_kind,
            func.count(),
            func.sum(CommitmentRow.quantity),
            func.sum(CommitmentRow.delivered),
            func.sum(CommitmentRow.confirmed),
        )
        .where(CommitmentRow.need_id.in_(list(by_id)))
        .group_by(CommitmentRow.need_id, CommitmentRow.resource_kind)
    )
    for pid, rk, n, c, d, f in session.execute(stmt):
        p = by_id[pid]
        p.commitments += int(n)
        p.totals[int(rk)] = Triple(int(c or 0), int(d or 0), int(f or 0), int(n))


@dataclass
class Step:
    """One step of a project's timeline, in chain order."""

    stage: str  # published | matched | committed | delivered | confirmed | flagged
    record_id: str
    kind: int
    leaf_index: int
    block_time: int
    tx_hash: str
    block_number: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProjectPage:
    project_id: str
    anchor: ProjectAnchorRow
    steps: list[Step]
    commitments: list[CommitmentRow]
    title: str = ""
    status: str = ""
    content: dict[str, Any] | None = None
    #: per anchored version: does the library's stored content hash to the anchored hash?
    content_checks: dict[int, bool] = field(default_factory=dict)


def project_page(session: Session, project_id: str) -> ProjectPage:
    """A project with its timeline: published → matched → committed → deliveries → receipts,
    and any auditor flags on those records."""
    pid = project_id.lower()
    anchors = list(
        session.scalars(
            select(ProjectAnchorRow)
            .where(ProjectAnchorRow.project_id == pid)
            .order_by(ProjectAnchorRow.version)
        )
    )
    if not anchors:
        raise NotFoundError(
            f"no project {project_id} is anchored on this ledger; check the id",
            code="project_not_found",
        )
    commitments = list(session.scalars(select(CommitmentRow).where(CommitmentRow.need_id == pid)))
    cids = [c.record_id for c in commitments]
    deliveries = (
        list(session.scalars(select(DeliveryRow).where(DeliveryRow.commitment_id.in_(cids))))
        if cids
        else []
    )
    receipts = (
        list(session.scalars(select(ReceiptRow).where(ReceiptRow.commitment_id.in_(cids))))
        if cids
        else []
    )
    ids = (
        [a.record_id for a in anchors]
        + cids
        + [d.record_id for d in deliveries]
        + [r.record_id for r in receipts]
    )
    flags = list(session.scalars(select(FlagRow).where(FlagRow.target_id.in_(ids))))
    loc = _locations(session, ids + [f.record_id for f in flags])
    codes = org_addresses(session)

    def step(stage: str, record_id: str, **detail: Any) -> Step:
        e = loc[record_id]
        return Step(
            stage, record_id, e.kind, e.leaf_index, e.block_time, e.tx_hash, e.block_number, detail
        )

    steps = [
        step(
            "published",
            a.record_id,
            version=a.version,
            content_hash=a.content_hash,
            title=a.title,
            budget=int(a.budget),
            end_date=int(a.end_date),
        )
        for a in anchors
    ]
    seen_matches: set[str] = set()
    matches = {
        m.match_id: m
        for m in session.scalars(select(LibraryMatch).where(LibraryMatch.need_id == pid))
    }
    for c in commitments:
        if c.match_id not in seen_matches and int(c.match_id, 16) != 0:
            seen_matches.add(c.match_id)
            m = matches.get(c.match_id)
            steps.append(
                step(
                    "matched",
                    c.record_id,
                    match_id=c.match_id,
                    direction=m.direction if m else None,
                    supply_id=m.supply_id if m and int(m.supply_id, 16) else None,
                )
            )
        steps.append(
            step(
                "committed",
                c.record_id,
                org=codes.get(c.org, c.org),
                resource_kind=c.resource_kind,
                quantity=c.quantity,
                unit=c.unit,
                due_date=c.due_date,
            )
        )
    by_id = {c.record_id: c for c in commitments}
    for d in deliveries:
        c = by_id[d.commitment_id]
        steps.append(
            step(
                "delivered",
                d.record_id,
                resource_kind=c.resource_kind,
                unit=c.unit,
                commitment_id=d.commitment_id,
                quantity=d.quantity,
                batch=d.batch,
                line_count=d.line_count,
                beneficiary_count=d.beneficiary_count,
            )
        )
    for r in receipts:
        c = by_id[r.commitment_id]
        steps.append(
            step(
                "confirmed",
                r.record_id,
                resource_kind=c.resource_kind,
                unit=c.unit,
                delivery_id=r.delivery_id,
                quantity=r.confirmed_quantity,
            )
        )
    for f in flags:
        steps.append(step("flagged", f.record_id, target_id=f.target_id, reason=f.reason_code))
    order = {"published": 0, "matched": 1, "committed": 2, "delivered": 3, "confirmed": 4}
    steps.sort(key=lambda s: (s.leaf_index, order.get(s.stage, 5)))
    page = ProjectPage(pid, anchors[-1], steps, commitments)
    row = session.get(LibraryProject, pid)
    if row is not None:
        page.title, page.status = row.title, row.status
        anchored = {a.version: a.content_hash for a in anchors}
        for v in session.scalars(
            select(LibraryProjectVersion).where(LibraryProjectVersion.project_id == pid)
        ):
            if v.version in anchored:
                digest = "0x" + hashlib.sha256(v.content_json.encode("utf-8")).hexdigest()
                page.content_checks[v.version] = digest == anchored[v.version]
                if v.version == anchors[-1].version:
                    page.content = json.loads(v.content_json)
    return page


def _locations(session: Session, ids: list[str]) -> dict[str, LogEntry]:
    out: dict[str, LogEntry] = {}
    for chunk in _chunks(sorted(set(ids)), 500):
        for e in session.scalars(select(LogEntry).where(LogEntry.record_id.in_(chunk))):
            out[e.record_id] = e
    return out


# ----------------------------------------------------------------- counties


@dataclass
class CountyPage:
    county: int
    name: str | None
    key: bool
    by_category: dict[int, Triple]
    card: Scorecard
    needs: list[ProjectSummary]
    commitments: list[CommitmentRow]


def county_page(session: Session, county: int, limit: int = 200) -> CountyPage:
    commitments = list(
        session.scalars(
            select(CommitmentRow)
            .where(CommitmentRow.county == county)
            .order_by(CommitmentRow.block_time.desc())
            .limit(limit)
        )
    )
    needs, _ = projects(session, project_kind=ProjectKind.NEED, county=county, limit=200)
    if not commitments and not needs:
        raise NotFoundError(
            f"county {county} has no projects or commitments on this ledger yet",
            code="county_not_found",
        )
    by_category = totals_by(session, "category", ResourceKind.FUNDS, CommitmentRow.county == county)
    card = scorecard(session, CommitmentRow.county == county)
    return CountyPage(
        county,
        county_name(county),
        county in key_counties(session),
        by_category,
        card,
        needs,
        commitments,
    )


def kind_name(kind: int) -> str:
    try:
        return Kind(kind).slug
    except ValueError:
        return "unknown"
