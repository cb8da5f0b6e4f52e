"""Named divergence states shared by the indexer, the relayer, the checkpointer, the recovery
command and `/readyz`: raised where a disagreement is found, stored in the `alarms` table,
kept as evidence once resolved.

`history_rewritten` (the chain's log contradicts a checkpoint this operator signed) and
`index_diverged` (the read model's log differs from the contract's) make `/readyz` answer
`not_ready`; while `history_rewritten` is active the indexer does not index the new history
and the relayer does not send, until the operator runs `bangfu recover --accept-new-history`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.store.alarm_models import Alarm
from ledger.store.checkpoint_models import CheckpointRow

HISTORY_REWRITTEN = "history_rewritten"
INDEX_DIVERGED = "index_diverged"
RECORD_CONFLICT = "record_conflict"
WITNESS_REFUSED = "witness_refused"
#: Alarms that make the ledger not ready: its read model cannot be served as the truth.
NOT_READY = frozenset({HISTORY_REWRITTEN, INDEX_DIVERGED})


def raise_alarm(session: Session, code: str, source: str, message: str, **detail: Any) -> Alarm:
    """Raises `code` (or refreshes the active one of the same code and source)."""
    alarm = session.scalars(
        select(Alarm).where(Alarm.code == code, Alarm.source == source, Alarm.resolved_at.is_(None))
    ).first()
    text = json.dumps(detail, sort_keys=True, default=str)
    if alarm is None:
        alarm = Alarm(code=code, source=source, message=message, detail=text)
        session.add(alarm)
    else:
        alarm.message, alarm.detail = message, text
    session.flush()
    return alarm


def resolve(session: Session, code: str, resolution: str, *, source: str | None = None) -> int:
    """Marks the active alarms of `code` resolved (kept as evidence); returns how many."""
    q = select(Alarm).where(Alarm.code == code, Alarm.resolved_at.is_(None))
    if source is not None:
        q = q.where(Alarm.source == source)
    n = 0
    for alarm in session.scalars(q):
        alarm.resolved_at = datetime.now(UTC)
        alarm.resolution = resolution
        n += 1
    session.flush()
    return n


def active(session: Session, code: str | None = None) -> list[Alarm]:
    q = select(Alarm).where(Alarm.resolved_at.is_(None)).order_by(Alarm.id)
    if code is not None:
        q = q.where(Alarm.code == code)
    return list(session.scalars(q))


def is_active(session: Session, code: str) -> bool:
    return bool(
        session.scalar(
            select(Alarm.id).where(Alarm.code == code, Alarm.resolved_at.is_(None)).limit(1)
        )
    )


def detail(alarm: Alarm) -> dict[str, Any]:
    try:
        value = json.loads(alarm.detail or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def as_dict(alarm: Alarm) -> dict[str, Any]:
    return {
        "code": alarm.code,
        "source": alarm.source,
        "message": alarm.message,
        "raised_at": alarm.raised_at.isoformat() if alarm.raised_at else None,
        **detail(alarm),
    }


def superseded_checkpoint(session: Session) -> int:
    """The newest checkpoint id that an accepted new history superseded (0 if none): older
    checkpoints stay stored as evidence but no longer bind the log."""
    best = 0
    for alarm in session.scalars(
        select(Alarm).where(Alarm.code == HISTORY_REWRITTEN, Alarm.resolved_at.is_not(None))
    ):
        best = max(best, int(detail(alarm).get("superseded_checkpoint_id") or 0))
    return best


def binding_checkpoints(session: Session) -> list[CheckpointRow]:
    """The operator's signed checkpoints that the log must stay consistent with, oldest first."""
    return list(
        session.scalars(
            select(CheckpointRow)
            .where(CheckpointRow.id > superseded_checkpoint(session))
            .order_by(CheckpointRow.id)
        )
    )


def binding_checkpoint(session: Session) -> CheckpointRow | None:
    """The newest binding checkpoint (the one a new checkpoint must be consistent with)."""
    return session.scalars(
        select(CheckpointRow)
        .where(CheckpointRow.id > superseded_checkpoint(session))
        .order_by(CheckpointRow.id.desc())
        .limit(1)
    ).first()
