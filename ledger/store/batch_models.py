"""Tables of bulk delivery uploads: one row per upload session, one row per delivery line.

Lines are off chain; only the batch root is on chain (DESIGN §3.3), so these rows are what
a line's two-level proof (line → batch root → log root) is served from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import ADDRESS, HEX32, Base, created_column, updated_column


class BatchUpload(Base):
    """A resumable upload of one signed DeliveryBatch and its lines.

    `lines_received` advances in the same transaction as the lines it counts, so after a
    crash it still says exactly how many lines are durably held.
    """

    __tablename__ = "batch_uploads"

    upload_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[str] = mapped_column(HEX32, unique=True)
    signer: Mapped[str] = mapped_column(ADDRESS, index=True)
    record_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    line_count: Mapped[int] = mapped_column(Integer)
    lines_received: Mapped[int] = mapped_column(Integer, default=0)
    # set when the last line arrives: the RFC 9162 root of the lines and
    # JSON {commitment id: quantity}, checked against the signed record
    lines_root: Mapped[str | None] = mapped_column(HEX32)
    totals: Mapped[str | None] = mapped_column(Text)
    # receiving → accepted | refused
    status: Mapped[str] = mapped_column(String(16), default="receiving", index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class BatchLine(Base):
    """One delivery line of a batch: its exact bytes (the leaf) and their decoded fields."""

    __tablename__ = "batch_lines"

    batch_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    line_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    line_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[str] = mapped_column(HEX32)
    # No secondary indexes: they would slow the bulk insert that batches exist for, and
    # every query here goes through the (batch_id, line_index) primary key.
    commitment_id: Mapped[str] = mapped_column(HEX32)
    beneficiary: Mapped[str] = mapped_column(HEX32)
    quantity: Mapped[int] = mapped_column(BigInteger)
    item: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    delivered_at: Mapped[int] = mapped_column(BigInteger)
    evidence_hash: Mapped[str] = mapped_column(HEX32)
