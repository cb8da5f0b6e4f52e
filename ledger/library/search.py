"""Searching the libraries: filters over the project rows, free text as a case-folded,
NFC-normalized substring match, and a project as the API shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.core.fields import ProjectKind
from ledger.library.content import search_text
from ledger.library.models import LibraryProject

__all__ = ["Search", "project_json", "search"]


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
        stmt = stmt.where(LibraryProject.status == q.status)
    if q.resource_kind is not None:
        stmt = stmt.where(LibraryProject.resource_kinds.like(f"%,{q.resource_kind},%"))
    if q.owner_org is not None:
        stmt = stmt.where(LibraryProject.org_code == q.owner_org)
    if q.text:
        for word in search_text(q.text).split():
            pattern = f"%{_like_escape(word)}%"
            stmt = stmt.where(
                or_(LibraryProject.search_text.like(pattern, escape="\\")),
            )
    stmt = stmt.order_by(LibraryProject.updated_at.desc(), LibraryProject.project_id)
    return list(session.scalars(stmt.limit(min(q.limit, 200)).offset(q.offset)))


def project_json(row: LibraryProject) -> dict[str, Any]:
    """A project as the API shows it (the pending content for drafts)."""
    return {
        "project_id": row.project_id,
        "kind": "need" if row.kind == ProjectKind.NEED else "supply",
        "status": row.status,
        "version": row.version,
        "county": row.county,
        "org_code": row.org_code,
        "key_county": row.key_county,
        "origin": row.origin,
        "content": json.loads(row.draft_json),
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }
