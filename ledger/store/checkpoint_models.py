"""Tables of signed log checkpoints: the operator's notes and the witnesses' cosignatures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import HEX32, Base


class CheckpointRow(Base):
    """One C2SP checkpoint the operator signed: origin, size, root and the signed note."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(200), index=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[str] = mapped_column(HEX32)
    block_number: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CosignatureRow(Base):
    """A witness's cosignature line on one checkpoint."""

    __tablename__ = "checkpoint_cosignatures"

    checkpoint_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("checkpoints.id", ondelete="CASCADE"), primary_key=True
    )
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WitnessProgress(Base):
    """The latest size each witness cosigned: the old size of the next add-checkpoint."""

    __tablename__ = "witness_progress"

    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
