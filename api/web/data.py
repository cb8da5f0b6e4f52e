"""Shaping for the portal's templates over `ledger.store.queries`: county names, money
in yuan, dates and short hashes; plus what joins the project libraries' tables (titles,
free-text search, key counties, matches, stored content), which `ledger.store` may not
import: project listings, a project's page over its timeline, and a county's page.

Everything reads the SQL read model (a cache of the chain); the verify page then lets the
browser check what matters against the chain itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ledger.core.eip712 import Domain
from ledger.core.errors import NotFoundError
from ledger.core.fields import ProjectKind, ResourceKind
from ledger.core.records import Kind
from ledger.library import content as project_content
from ledger.library import key_counties as key_county_list
from ledger.library import regions
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion
from ledger.store.models import (
    CommitmentRow,
    LogEntry,
    ProjectAnchorRow,
)
from ledger.store.queries.orgs import Scorecard, scorecard
from ledger.store.queries.timeline import Step, timeline
from ledger.store.queries.totals import (
    GrandTotals,
    Triple,
    aggregate,
    count_by,
    fold,
    goods_by,
    totals_by,
)
from ledger.workspace import profiles

# ----------------------------------------------------------------- shaping


def dt(ts: int | None) -> str:
    """Unix seconds as `YYYY-MM-DD HH:MM` (UTC), or — for none."""
    if not ts:
        return "—"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M")


def date(ts: int | None) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d")


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def qty(value: int, resource_kind: int, unit: str = "") -> str:
    """A quantity as shown: funds (fen) as ¥ yuan, services in hours, goods in their unit."""
    if resource_kind == ResourceKind.FUNDS:
        return f"¥{value / 100:,.2f}"
    if resource_kind == ResourceKind.SERVICE:
        return f"{value:,} h"
    return f"{value:,} {unit}".strip()


def short(h: str | None, n: int = 10) -> str:
    return "—" if not h else (h[:n] + "…" if len(h) > n + 2 else h)


def rate_cell(rate: float | None) -> str:
    """A rate for a CSV cell: four decimals, or empty when there is nothing to rate."""
    return "" if rate is None else f"{rate:.4f}"


# ----------------------------------------------------------------- home


def home_kind(kind: str, grand: GrandTotals) -> tuple[int, str | None, str]:
    """The home page's resource: funds, services, or goods of one unit (`goods:箱`; plain
    `goods` is the unit with the most commitments), since goods of different units do not
    add up. Returns the kind, the goods unit and the choice as the form shows it."""
    if kind == "service":
        return ResourceKind.SERVICE, None, kind
    if kind == "goods" or kind.startswith("goods:"):
        units = sorted(grand.goods, key=lambda u: (-grand.goods[u].commitments, u))
        unit = kind.removeprefix("goods").removeprefix(":")
        if unit not in grand.goods:
            unit = units[0] if units else ""
        return ResourceKind.GOODS, unit, f"goods:{unit}"
    return ResourceKind.FUNDS, None, "funds"


def one_measure(session: Session, by: str, rk: int, where: Sequence[Any]) -> dict[Any, Triple]:
    """Totals per group of funds, of services, or (with a unit condition) of one unit of
    goods."""
    if rk != ResourceKind.GOODS:
        return totals_by(session, by, rk, *where)
    return {k: t for (k, _unit), t in goods_by(session, by, *where).items()}


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
    return {k.code for k in key_county_list.key_counties(session)}


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
    #: funds (fen) committed, delivered and confirmed for the project
    funds: Triple = field(default_factory=Triple)
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
    words = project_content.search_text(q).split()
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
    rows = aggregate(session, "need", None, CommitmentRow.need_id.in_(list(by_id)))
    for pid, n in count_by(rows).items():
        by_id[pid].commitments = n
    for pid, t in fold(rows, ResourceKind.FUNDS).items():
        by_id[pid].funds = t


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
    """A project's timeline with what the library adds: each match's direction (点单/接单)
    and supply project, the title and status, and whether the stored content hashes to
    the anchored hash."""
    t = timeline(session, project_id)
    pid, anchors, steps = t.project_id, t.anchors, t.steps
    matches = {
        m.match_id: m
        for m in session.scalars(select(LibraryMatch).where(LibraryMatch.need_id == pid))
    }
    for s in steps:
        if s.stage == "matched":
            m = matches.get(s.detail["match_id"])
            s.detail["direction"] = m.direction if m else None
            s.detail["supply_id"] = m.supply_id if m and int(m.supply_id, 16) else None
    page = ProjectPage(pid, anchors[-1], steps, t.commitments)
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


def org_profile(session: Session, org_code: str | None, domain: Domain) -> dict[str, Any] | None:
    """The organization page's "who is who": the chain's name, type and registering authority
    and the profile the organization signed (`profiles.public_profile`); None when the code
    was never registered by name (an organization known only by its signing address)."""
    if not org_code:
        return None
    try:
        return profiles.public_profile(session, org_code, domain)
    except NotFoundError:
        return None
