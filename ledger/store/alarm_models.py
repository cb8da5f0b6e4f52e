"""Named divergence states (alarms) that the indexer, the relayer and the checkpointer raise
when the chain, the read model, the outbox or the signed checkpoints disagree in a way they
cannot resolve alone. `/readyz` reads them; a resolved alarm is kept as evidence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import Base


class Alarm(Base):
    """One divergence: `code` names it (history_rewritten, index_diverged, record_conflict,
    witness_refused), `detail` is JSON with both sides (sizes, roots, blocks, ids)."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(Text)
