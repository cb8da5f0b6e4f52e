"""A project's anchors in the read model, as the other queries need them: its first version
(who anchored it, of which kind, for which county) and the title of its latest version."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.store.models import ProjectAnchorRow
from ledger.store.queries.orgs import chunks


def first_anchor(session: Session, project_id: str) -> ProjectAnchorRow | None:
    """The project's first anchored version (its author, kind and county), or None."""
    return session.scalars(
        select(ProjectAnchorRow)
        .where(ProjectAnchorRow.project_id == project_id)
        .order_by(ProjectAnchorRow.version)
        .limit(1)
    ).first()


def anchor_titles(session: Session, project_ids: Iterable[str]) -> dict[str, str]:
    """Project id → the title of its latest anchored version (500 ids a query)."""
    out: dict[str, str] = {}
    for chunk in chunks(sorted(set(project_ids)), 500):
        rows = session.execute(
            select(ProjectAnchorRow.project_id, ProjectAnchorRow.title)
            .where(ProjectAnchorRow.project_id.in_(chunk))
            .order_by(ProjectAnchorRow.version)
        ).tuples()
        for pid, title in rows:  # the latest version wins
            out[pid] = title
    return out
