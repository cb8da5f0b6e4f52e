"""Tables of grievances (申诉): what the public filed (off chain), the contact details some
filers leave (a table of their own, never joined into a public answer), the counties' public
answer texts, and the two record kinds the county signs (registration, answer), indexed from
the chain.

A filing is off chain: its text is public and its SHA-256 (`grievance_hash`, over
`ledger.core.grievances.canonical_text`) is what the county's Grievance record anchors. The
indexed rows are derived from chain events alone (a rebuild makes the same rows); the filing
and the answer text are joined to them by hash, never by a foreign key, so a rebuilt read
model needs neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import ADDRESS, HEX32, Base, ChainLocation, created_column, entry_fk


class GrievanceFiling(Base):
    """A grievance as filed from the portal or the API: public text, no account."""

    __tablename__ = "grievance_filings"

    #: the filing number the filer is given (e.g. SS-7K2Q-9XMB), also the page's address
    filing_no: Mapped[str] = mapped_column(String(16), primary_key=True)
    grievance_hash: Mapped[str] = mapped_column(HEX32, unique=True)
    project_id: Mapped[str] = mapped_column(HEX32, index=True)
    #: a record of the project the grievance is about (a delivery, say), or 32 zero bytes
    record_id: Mapped[str] = mapped_column(HEX32)
    #: the need project's county, copied when filed so a county lists its own
    county: Mapped[int] = mapped_column(Integer, index=True)
    text: Mapped[str] = mapped_column(Text)
    #: Unix seconds, part of the hashed text and of the county's Grievance record
    filed_at: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = created_column()


class GrievanceContact(Base):
    """Contact details a filer chose to leave: for the county office to reach them, never
    public, never logged, never on chain, and kept apart from the grievance itself."""

    __tablename__ = "grievance_contacts"

    filing_no: Mapped[str] = mapped_column(
        String(16),
        ForeignKey("grievance_filings.filing_no", ondelete="CASCADE"),
        primary_key=True,
    )
    contact: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class GrievanceAnswerText(Base):
    """A county's public answer text, keyed by its SHA-256 (the GrievanceAnswer's
    `answerHash`); stored only when a county key signed an answer naming that hash."""

    __tablename__ = "grievance_answer_texts"

    answer_hash: Mapped[str] = mapped_column(HEX32, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class GrievanceRow(ChainLocation, Base):
    """A county's Grievance record (kind 14): it registered a filed grievance."""

    __tablename__ = "grievances"

    record_id: Mapped[str] = entry_fk()
    project_id: Mapped[str] = mapped_column(HEX32, index=True)
    target_id: Mapped[str] = mapped_column(HEX32)
    grievance_hash: Mapped[str] = mapped_column(HEX32, index=True)
    filed_at: Mapped[int] = mapped_column(BigInteger)
    county: Mapped[int] = mapped_column(Integer, index=True)
    signer: Mapped[str] = mapped_column(ADDRESS)
    block_time: Mapped[int] = mapped_column(BigInteger)


class GrievanceAnswerRow(ChainLocation, Base):
    """A county's GrievanceAnswer record (kind 15): outcome and the answer text's hash."""

    __tablename__ = "grievance_answers"

    record_id: Mapped[str] = entry_fk()
    grievance_id: Mapped[str] = mapped_column(HEX32, index=True)
    outcome: Mapped[int] = mapped_column(Integer)
    answer_hash: Mapped[str] = mapped_column(HEX32)
    county: Mapped[int] = mapped_column(Integer)
    signer: Mapped[str] = mapped_column(ADDRESS)
    block_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_grievance_answers_county", "county"),)
