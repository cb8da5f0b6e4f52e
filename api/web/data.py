"""Shaping for the portal's listings over `ledger.store.queries`: a library's projects with
what was committed to each (one resource kind at a time), commitments with the project's
title, the organization's registered name and the county's name beside the ids, a county's
page, and an organization's profile. The library's tables are joined here, which
`ledger.store` may not import. Names for ids and codes are `api.web.names`'s, totals per
kind `api.web.amounts`'s, a project's own page `api.web.project_page`'s.

Everything reads the SQL read model (a cache of the chain); the verify page then lets the
browser check what matters against the chain itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.web.amounts import Line, per_kind
from api.web.names import Place, county_name, key_counties, place, project_titles
from ledger.core.eip712 import Domain
from ledger.core.errors import NotFoundError
from ledger.core.fields import ProjectKind, ResourceKind
from ledger.library import content as project_content
from ledger.library import regions
from ledger.library.models import LibraryMatch, LibraryProject
from ledger.store.models import CommitmentRow, LogEntry, ProjectAnchorRow
from ledger.store.queries import status as project_status
from ledger.store.queries.orgs import Scorecard, org_codes, org_names, scorecard
from ledger.store.queries.totals import Total, Triple, aggregate, count_by, fold, totals_by
from ledger.workspace import profiles


@dataclass
class CommitmentView:
    """One commitment as its tables show it: names and titles beside the ids."""

    record_id: str
    need_id: str
    title: str
    org: str
    org_code: str | None
    org_name: str | None
    org_name_en: str | None
    county: Place
    category: int
    resource_kind: int
    unit: str
    quantity: int
    delivered: int
    confirmed: int
    due_date: int
    block_time: int


def commitment_views(session: Session, rows: Sequence[Any]) -> list[CommitmentView]:
    """Commitment rows (read-model rows or the public list's dicts) with the project's
    title, the organization's registered name and the county's name."""

    def get(r: Any, name: str) -> Any:
        return r[name] if isinstance(r, dict) else getattr(r, name)

    titles = project_titles(session, [get(r, "need_id") for r in rows])
    codes = org_codes(session)
    names = org_names(session)
    out = []
    for r in rows:
        code = codes.get(get(r, "org"))
        zh, en = names.get(code or "", (None, None))
        category = get(r, "category")
        out.append(
            CommitmentView(
                record_id=get(r, "record_id"),
                need_id=get(r, "need_id"),
                title=titles.get(get(r, "need_id"), ""),
                org=get(r, "org"),
                org_code=code,
                org_name=zh,
                org_name_en=en,
                county=place(get(r, "county")),
                category=int(category["code"] if isinstance(category, dict) else category),
                resource_kind=int(get(r, "resource_kind")),
                unit=get(r, "unit"),
                quantity=int(get(r, "quantity")),
                delivered=int(get(r, "delivered")),
                confirmed=int(get(r, "confirmed")),
                due_date=int(get(r, "due_date")),
                block_time=int(get(r, "block_time")),
            )
        )
    return out


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
    #: everything committed to it, one line per resource kind (and unit of goods)
    amounts: list[Line] = field(default_factory=list)
    #: a supply project's owner: credit code and registered name
    org_code: str | None = None
    org_name: str | None = None


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
        select(
            ProjectAnchorRow,
            LogEntry.block_time,
            LibraryProject.title,
            LibraryProject.status,
            LibraryProject.org_code,
        )
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
    names = org_names(session)
    now = project_status.effective_statuses(
        session, {a.project_id: status or "published" for a, _ts, _title, status, _code in rows}
    )
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
            status=now[a.project_id],
            org_code=code,
            org_name=names.get(code, (None, None))[0] if code else None,
        )
        for a, ts, title, status, code in rows
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
    for pid, lines in per_kind(rows).items():
        by_id[pid].amounts = lines
    # a supply project is answered through the matches that cite it (点单 / 接单)
    supply = [p.project_id for p in items if p.project_kind == ProjectKind.SUPPLY]
    if supply:
        cites: dict[str, str] = {
            match_id: supply_id
            for match_id, supply_id in session.execute(
                select(LibraryMatch.match_id, LibraryMatch.supply_id).where(
                    LibraryMatch.supply_id.in_(supply)
                )
            )
        }
        if cites:
            by_match = aggregate(session, "match", None, CommitmentRow.match_id.in_(list(cites)))
            per_supply = [Total(cites[t.key], t.resource_kind, t.unit, t.amounts) for t in by_match]
            for pid, n in count_by(per_supply).items():
                by_id[pid].commitments = n
            for pid, lines in per_kind(per_supply).items():
                by_id[pid].amounts = lines


# ----------------------------------------------------------------- counties


@dataclass
class CountyPage:
    county: int
    name: str | None
    key: bool
    by_category: dict[int, Triple]
    card: Scorecard
    needs: list[ProjectSummary]
    commitments: list[CommitmentView]
    place: Place = field(default_factory=lambda: Place(0, ""))
    #: everything committed in the county, one line per resource kind (and unit of goods)
    amounts: list[Line] = field(default_factory=list)


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
    amounts = per_kind(aggregate(session, None, None, CommitmentRow.county == county))
    return CountyPage(
        county,
        county_name(county),
        county in key_counties(session),
        by_category,
        card,
        needs,
        commitment_views(session, commitments),
        place(county),
        amounts.get(None, []),
    )


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
