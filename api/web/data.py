"""Shaping for the portal's templates over `ledger.store.queries`: what a reader sees in
place of ids and codes — counties by name with their prefecture, organizations by their
registered name, projects by title, totals one resource kind at a time — plus what joins the
project libraries' tables (titles, free-text search, key counties, matches, stored content,
a supply project's regions, capacity and orders), which `ledger.store` may not import.
Numbers and times are formatted by `ledger.core.display` (yuan, units, Beijing time).

Everything reads the SQL read model (a cache of the chain); the verify page then lets the
browser check what matters against the chain itself.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ledger.core import display
from ledger.core.eip712 import Domain
from ledger.core.errors import NotFoundError
from ledger.core.fields import CATEGORIES, ProjectKind, ResourceKind, category_code
from ledger.library import content as project_content
from ledger.library import key_counties as key_county_list
from ledger.library import regions
from ledger.library.matching import ZERO32
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion
from ledger.store.models import (
    CommitmentRow,
    LogEntry,
    ProjectAnchorRow,
)
from ledger.store.queries import status as project_status
from ledger.store.queries.orgs import Scorecard, chunks, org_codes, org_names, scorecard
from ledger.store.queries.timeline import Step, timeline
from ledger.store.queries.totals import (
    GrandTotals,
    Total,
    Triple,
    aggregate,
    count_by,
    fold,
    fold_goods,
    goods_by,
    totals_by,
)
from ledger.workspace import profiles

# ----------------------------------------------------------------- shaping
# What a reader sees is formatted by ledger.core.display (yuan, units, Beijing time); these
# are the few portal-only shapes around it.


def iso_beijing(text: str | None) -> str:
    """An ISO timestamp (as the API answers it, UTC or naive UTC) as Beijing time."""
    if not text:
        return display.NONE
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return display.beijing_time(int(moment.timestamp()))


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


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


@dataclass(frozen=True)
class Place:
    """A county as a reader names it: 册亨县, in 黔西南布依族苗族自治州, 贵州省."""

    code: int
    name: str
    city: str = ""
    province: str = ""

    @property
    def known(self) -> bool:
        return bool(self.province)


def place(code: int) -> Place:
    """The county's names from the GB/T 2260 table (its code as the name if unknown)."""
    county = regions.counties().get(int(code))
    if county is None:
        return Place(int(code), str(code))
    city = "" if county.city in ("市辖区", "县", "省直辖县级行政区划") else county.city
    return Place(county.code, county.name, city, county.province)


def region_name(code: int) -> str:
    """A supply project's region: a province (52 → 贵州省) or a county (with its province)."""
    if code < 100:
        return regions.provinces().get(code, str(code))
    p = place(code)
    return f"{p.province}{p.city}{p.name}" if p.known else p.name


def county_options(session: Session) -> list[Place]:
    """The counties that have projects or commitments on this ledger, for filter menus."""
    codes = set(session.scalars(select(ProjectAnchorRow.county).distinct()))
    codes |= set(session.scalars(select(CommitmentRow.county).distinct()))
    return sorted((place(c) for c in codes if c), key=lambda p: (p.province, p.city, p.code))


def org_options(session: Session) -> list[tuple[str, str]]:
    """(credit code, registered name) of every organization registered by name, by name."""
    names = org_names(session)
    codes = set(org_codes(session).values())
    return sorted(((c, names.get(c, (c, None))[0]) for c in codes), key=lambda cn: cn[1])


def project_titles(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Project id → title: the library's, else the one its latest anchor carries on chain."""
    wanted = sorted(set(ids))
    out: dict[str, str] = {}
    for chunk in chunks(wanted, 500):
        for pid, _version, title in session.execute(
            select(ProjectAnchorRow.project_id, ProjectAnchorRow.version, ProjectAnchorRow.title)
            .where(ProjectAnchorRow.project_id.in_(chunk))
            .order_by(ProjectAnchorRow.version)
        ):
            if title:
                out[pid] = title
        for pid, title in session.execute(
            select(LibraryProject.project_id, LibraryProject.title).where(
                LibraryProject.project_id.in_(chunk)
            )
        ):
            if title:
                out[pid] = title
    return out


# ----------------------------------------------------------------- amounts per kind

#: One line of a total: resource kind, unit (goods only) and the three measures.
Line = tuple[int, str, Triple]


def per_kind(rows: Iterable[Total]) -> dict[Any, list[Line]]:
    """Per group, its totals one resource kind at a time (funds, services, then goods per
    unit): money, hours and goods are never added together."""
    rows = list(rows)
    out: dict[Any, list[Line]] = defaultdict(list)
    for rk in (ResourceKind.FUNDS, ResourceKind.SERVICE):
        for key, t in fold(rows, rk).items():
            out[key].append((int(rk), "", t))
    for (key, unit), t in sorted(fold_goods(rows).items(), key=lambda kv: kv[0][1]):
        out[key].append((int(ResourceKind.GOODS), unit, t))
    return dict(out)


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
    #: the owner: a county office's or an organization's registered name, and its code
    org_code: str | None = None
    owner_name: str | None = None
    #: what the project asks for (need) or offers (supply): (kind, quantity, unit, item)
    resources: list[tuple[int, int, str, str]] = field(default_factory=list)
    #: a supply project's regions served, in words
    regions: list[str] = field(default_factory=list)
    #: a supply project's categories (numbers) and period (ISO dates, as entered)
    categories: list[int] = field(default_factory=list)
    period: tuple[str, str] | None = None
    #: the needs matched or ordered to a supply project (点单 / 接单)
    orders: list[Order] = field(default_factory=list)
    #: everything committed to the project, per resource kind
    amounts: list[Line] = field(default_factory=list)


@dataclass
class Order:
    """A need matched to a supply project: who ordered it, its state, what was committed."""

    match_id: str
    direction: str  # order 点单 | take 接单
    status: str  # proposed | accepted | declined
    need_id: str
    need_title: str
    county: Place
    created: int  # unix seconds
    commitments: int = 0
    amounts: list[Line] = field(default_factory=list)
    #: taken by the project's organization without citing this supply project
    direct: bool = False


RESOURCE_KINDS = {
    "funds": ResourceKind.FUNDS,
    "goods": ResourceKind.GOODS,
    "service": ResourceKind.SERVICE,
}


def project_page(session: Session, project_id: str) -> ProjectPage:
    """A project's timeline with what the library adds: each match's direction (点单/接单),
    supply project and organization by name, the title, owner and status, what it asks for
    or offers, whether the stored content hashes to the anchored hash, and — for a supply
    project — the regions it serves and the orders it received."""
    t = timeline(session, project_id)
    pid, anchors, steps = t.project_id, t.anchors, t.steps
    matches = {
        m.match_id: m
        for m in session.scalars(select(LibraryMatch).where(LibraryMatch.need_id == pid))
    }
    names = org_names(session)
    titles = project_titles(
        session, [m.supply_id for m in matches.values() if int(m.supply_id, 16)]
    )
    for s in steps:
        if s.stage == "matched":
            m = matches.get(s.detail["match_id"])
            s.detail["direction"] = m.direction if m else None
            s.detail["supply_id"] = m.supply_id if m and int(m.supply_id, 16) else None
            s.detail["supply_title"] = titles.get(s.detail["supply_id"] or "", "")
            s.detail["org_code"] = m.org_code if m else None
            s.detail["org_name"] = names.get(m.org_code, (None, None))[0] if m else None
    page = ProjectPage(pid, anchors[-1], steps, t.commitments)
    page.status = project_status.statuses(session, [pid]).get(pid, "published")
    page.amounts = per_kind(aggregate(session, None, None, CommitmentRow.need_id == pid)).get(
        None, []
    )
    row = session.get(LibraryProject, pid)
    if row is not None:
        page.title = row.title
        page.org_code = row.org_code
        anchored = {a.version: a.content_hash for a in anchors}
        for v in session.scalars(
            select(LibraryProjectVersion).where(LibraryProjectVersion.project_id == pid)
        ):
            if v.version in anchored:
                digest = "0x" + hashlib.sha256(v.content_json.encode("utf-8")).hexdigest()
                page.content_checks[v.version] = digest == anchored[v.version]
                if v.version == anchors[-1].version:
                    page.content = json.loads(v.content_json)
    published = next((s for s in steps if s.stage == "published"), None)
    page.owner_name = published.signer_name if published else None
    if page.org_code and page.org_code in names:
        page.owner_name = names[page.org_code][0]
    if page.content:
        c = page.content
        items = c.get("resources" if page.anchor.project_kind == ProjectKind.NEED else "capacity")
        for r in items or []:
            rk = RESOURCE_KINDS.get(r.get("kind", ""), 0)
            page.resources.append(
                (int(rk), int(r.get("quantity", 0)), r.get("unit", ""), r.get("item", ""))
            )
        page.regions = [region_name(int(code)) for code in c.get("regions", [])]
        page.categories = [
            category_code(name) for name in c.get("categories", []) if name in CATEGORIES
        ]
        if c.get("period_start") and c.get("period_end"):
            page.period = (c["period_start"], c["period_end"])
    if page.anchor.project_kind == ProjectKind.SUPPLY:
        page.orders = orders_of(session, pid, page.org_code)
    return page


def orders_of(session: Session, supply_id: str, org_code: str | None = None) -> list[Order]:
    """The needs matched to one supply project (点单 by a county, or 接单 citing it), newest
    first, with what was committed under each match; with `org_code`, also the needs that
    organization took directly (接单 citing no supply project), marked `direct`."""
    cited = LibraryMatch.supply_id == supply_id
    if org_code:
        cited = or_(
            cited, and_(LibraryMatch.org_code == org_code, LibraryMatch.supply_id == ZERO32)
        )
    matches = list(
        session.scalars(select(LibraryMatch).where(cited).order_by(LibraryMatch.created_at.desc()))
    )
    if not matches:
        return []
    titles = project_titles(session, [m.need_id for m in matches])
    ids = [m.match_id for m in matches]
    rows = aggregate(session, "match", None, CommitmentRow.match_id.in_(ids))
    counts, amounts = count_by(rows), per_kind(rows)
    return [
        Order(
            m.match_id,
            m.direction,
            m.status,
            m.need_id,
            titles.get(m.need_id, ""),
            place(m.county),
            int(m.created_at.timestamp()) if m.created_at else 0,
            counts.get(m.match_id, 0),
            amounts.get(m.match_id, []),
            direct=m.supply_id != supply_id,
        )
        for m in matches
    ]


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
