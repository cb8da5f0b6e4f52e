"""A project's portal page: its timeline with what the library adds — each match's
direction (点单/接单), supply project and organization by name, the title, owner and
status, what it asks for or offers, whether the stored content hashes to the anchored hash —
and, for a supply project, the regions it serves and the orders it received.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.web.amounts import Line, per_kind
from api.web.names import Place, place, project_titles, region_name
from ledger.core.fields import CATEGORIES, ProjectKind, ResourceKind, category_code
from ledger.library.matching import ZERO32
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion
from ledger.store.models import CommitmentRow, ProjectAnchorRow
from ledger.store.queries import status as project_status
from ledger.store.queries.orgs import org_names
from ledger.store.queries.timeline import Step, timeline
from ledger.store.queries.totals import aggregate, count_by


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
