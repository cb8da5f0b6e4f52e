"""Per-need progress: what a need asked for, and what was committed, delivered and confirmed
against it, per resource kind, summed exactly from the indexed commitments; commitments
still queued in the outbox are counted as pending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.errors import LibraryError
from ledger.core.fields import ProjectKind
from ledger.core.records import Kind
from ledger.library.content import RESOURCE_KINDS, draft_of, quantities_by_kind
from ledger.library.ownership import get_project
from ledger.store.models import CommitmentRow, OutboxRecord
from ledger.store.sums import exact_sum, joined

__all__ = ["progress"]


def progress(session: Session, need_id: str) -> dict[str, Any]:
    """Asked, committed, delivered and confirmed per resource kind for one need; queued
    commitments not yet indexed are counted as pending."""
    row = get_project(session, need_id)
    if row.kind != ProjectKind.NEED:
        raise LibraryError("progress is kept for need projects", code="not_a_need")
    asked = quantities_by_kind(draft_of(row)["resources"])
    names = {v: k for k, v in RESOURCE_KINDS.items()}
    out: dict[str, dict[str, int]] = {
        k: {"asked": q, "committed": 0, "delivered": 0, "confirmed": 0} for k, q in asked.items()
    }
    rows = session.execute(
        select(
            CommitmentRow.resource_kind,
            *exact_sum(CommitmentRow.quantity),
            *exact_sum(CommitmentRow.delivered),
            *exact_sum(CommitmentRow.confirmed),
        )
        .where(CommitmentRow.need_id == row.project_id)
        .group_by(CommitmentRow.resource_kind)
    ).all()
    for kind, *halves in rows:
        committed, delivered, confirmed = (joined(*halves[i : i + 2]) for i in (0, 2, 4))
        entry = out.setdefault(
            names.get(int(kind), str(kind)),
            {"asked": 0, "committed": 0, "delivered": 0, "confirmed": 0},
        )
        entry["committed"] += committed
        entry["delivered"] += delivered
        entry["confirmed"] += confirmed
    pending = session.scalar(
        select(func.count(OutboxRecord.id)).where(
            OutboxRecord.kind == int(Kind.COMMITMENT),
            OutboxRecord.ref_id == row.project_id,
            OutboxRecord.status.in_(("queued", "sent")),
        )
    )
    return {"need_id": row.project_id, "by_resource": out, "pending_commitments": int(pending or 0)}
