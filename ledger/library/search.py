"""Searching the libraries: filters over the project rows, free text as a case-folded,
NFC-normalized substring match, and a project as the API shows it.

A project's `status` in every answer is the one a reader sees: the owner's anchored status
moved on by the chain's records (`ledger.store.queries.status`, by the rule of
`ledger.core.lifecycle`); `anchored_status` is what the owner's latest signed version says.
The `status` filter filters by the former.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.core.fields import ProjectKind
from ledger.core.lifecycle import stage_name
from ledger.library.content import search_text
from ledger.library.models import LibraryProject
from ledger.store.queries import status as project_status

__all__ = ["Search", "project_json", "project_one_json", "projects_json", "search"]

#: The anchored statuses of a project that 点单/接单 may still name (ledger.library.matching).
OPEN = ("published", "matched")
#: Rows read at a time while a status filter keeps those whose effective status matches.
_SCAN = project_status.CHUNK


@dataclass(frozen=True)
class Search:
    kind: ProjectKind | None = None
    county: int | None = None
    province: int | None = None
    category: int | None = None
    key_county: bool | None = None
    status: str | None = None
    resource_kind: int | None = None
    text: str | None = None
    owner_org: str | None = None
    #: only projects open to 点单/接单 (anchored published or matched, as matching asks)
    open_only: bool = False
    include_drafts: bool = False
    limit: int = 50
    offset: int = 0


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, q: Search) -> list[LibraryProject]:
    """Projects matching every given filter, newest first. Free text is a case-folded,
    NFC-normalized substring match (works for Chinese, on SQLite and PostgreSQL alike)."""
    stmt = select(LibraryProject)
    if not q.include_drafts:
        stmt = stmt.where(LibraryProject.status != "draft")
    if q.kind is not None:
        stmt = stmt.where(LibraryProject.kind == int(q.kind))
    if q.county is not None:
        stmt = stmt.where(LibraryProject.county == q.county)
    if q.province is not None:
        stmt = stmt.where(
            LibraryProject.county >= q.province * 10000,
            LibraryProject.county < (q.province + 1) * 10000,
        )
    if q.category is not None:
        stmt = stmt.where(LibraryProject.categories.like(f"%,{q.category},%"))
    if q.key_county is not None:
        stmt = stmt.where(LibraryProject.key_county.is_(q.key_county))
    if q.status is not None:
        # only these anchored statuses can read as q.status; the rule decides which do
        stmt = stmt.where(LibraryProject.status.in_(project_status.anchored_candidates(q.status)))
    if q.resource_kind is not None:
        stmt = stmt.where(LibraryProject.resource_kinds.like(f"%,{q.resource_kind},%"))
    if q.owner_org is not None:
        stmt = stmt.where(LibraryProject.org_code == q.owner_org)
    if q.open_only:
        stmt = stmt.where(LibraryProject.status.in_(OPEN))
    if q.text:
        for word in search_text(q.text).split():
            pattern = f"%{_like_escape(word)}%"
            stmt = stmt.where(
                or_(LibraryProject.search_text.like(pattern, escape="\\")),
            )
    stmt = stmt.order_by(LibraryProject.updated_at.desc(), LibraryProject.project_id)
    limit = min(q.limit, 200)
    if q.status is None or q.status in ("draft", "closed"):
        return list(session.scalars(stmt.limit(limit).offset(q.offset)))
    # the effective status is not a column: read pages of candidates, keep what the rule
    # says reads as q.status (one statement per page), skip `offset` of them
    out: list[LibraryProject] = []
    skip, at = q.offset, 0
    while len(out) < limit:
        page = list(session.scalars(stmt.limit(_SCAN).offset(at)))
        at += len(page)
        for row in project_status.filter_rows(session, page, q.status):
            if skip:
                skip -= 1
            elif len(out) < limit:
                out.append(row)
        if len(page) < _SCAN:
            break
    return out


def projects_json(session: Session, rows: list[LibraryProject]) -> list[dict[str, Any]]:
    """Projects as the API shows them, each with the status a reader sees (one statement for
    the whole page)."""
    got = project_status.effective_statuses(session, {r.project_id: r.status for r in rows})
    return [project_json(r, got[r.project_id.lower()]) for r in rows]


def project_one_json(session: Session, row: LibraryProject) -> dict[str, Any]:
    """One project as the API shows it, with the status a reader sees."""
    return projects_json(session, [row])[0]


def project_json(row: LibraryProject, status: str) -> dict[str, Any]:
    """A project as the API shows it (the pending content for drafts), `status` being the
    status a reader sees (`projects_json` and `project_one_json` look it up)."""
    shown = status
    return {
        "project_id": row.project_id,
        "kind": "need" if row.kind == ProjectKind.NEED else "supply",
        "status": shown,
        "status_label": stage_name(shown),
        "anchored_status": row.status,
        "version": row.version,
        "county": row.county,
        "org_code": row.org_code,
        "key_county": row.key_county,
        "origin": row.origin,
        "content": json.loads(row.draft_json),
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }
