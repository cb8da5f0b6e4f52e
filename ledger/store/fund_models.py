"""Special funds (专项基金): the rows the indexer derives from the Fund, FundContribution and
CommitmentSource records (chain facts, deleted with their log entries on a rollback), and the
off-chain details an organization gives beside a Fund: the sponsor's name with its salt and
the purpose text, each bound to the record by the hash it signed (docs/programs.md).

Migration 0011_fund makes these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import (
    ADDRESS,
    HEX32,
    Base,
    ChainLocation,
    created_column,
    entry_fk,
    keyset,
)

__all__ = ["READ_MODEL", "FundContributionRow", "FundDetail", "FundDrawRow", "FundRow"]


class FundRow(ChainLocation, Base):
    """A fund as its Fund record opened it. The sponsor's name is not here (nor on chain)."""

    __tablename__ = "funds"

    record_id: Mapped[str] = entry_fk()
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    name: Mapped[str] = mapped_column(String(200))
    sponsor_kind: Mapped[int] = mapped_column(Integer)
    sponsor_hash: Mapped[str] = mapped_column(HEX32)
    sponsor_public: Mapped[bool] = mapped_column(Boolean)
    #: fen
    pledged: Mapped[int] = mapped_column(BigInteger)
    purpose_hash: Mapped[str] = mapped_column(HEX32)

    __table_args__ = keyset("funds", ("org",))


class FundContributionRow(ChainLocation, Base):
    """Money a fund received from its sponsor, as its organization recorded it."""

    __tablename__ = "fund_contributions"

    record_id: Mapped[str] = entry_fk()
    fund_id: Mapped[str] = mapped_column(HEX32, index=True)
    org: Mapped[str] = mapped_column(ADDRESS)
    #: fen
    amount: Mapped[int] = mapped_column(BigInteger)
    received_date: Mapped[int] = mapped_column(Integer)
    evidence_hash: Mapped[str] = mapped_column(HEX32)


class FundDrawRow(ChainLocation, Base):
    """A CommitmentSource that draws on a fund: `fund_amount` fen of it for one commitment
    (the source's pairing, if any, is the pairing program's to show)."""

    __tablename__ = "fund_draws"

    record_id: Mapped[str] = entry_fk()
    commitment_id: Mapped[str] = mapped_column(HEX32, index=True, unique=True)
    fund_id: Mapped[str] = mapped_column(HEX32, index=True)
    pairing_id: Mapped[str] = mapped_column(HEX32)
    org: Mapped[str] = mapped_column(ADDRESS)
    #: fen
    fund_amount: Mapped[int] = mapped_column(BigInteger)


class FundDetail(Base):
    """What the organization keeps off chain beside a Fund: the sponsor's name and the salt of
    `sponsorHash = SHA-256(salt ‖ name)`, and the purpose text of `purposeHash`. Accepted only
    when both hashes match the signed record; the name is shown only with the sponsor's
    consent (the record's `sponsorPublic`). Not derived from the chain, so a rollback or a
    rebuild leaves it."""

    __tablename__ = "fund_details"

    fund_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    sponsor_name: Mapped[str] = mapped_column(String(200))
    sponsor_salt: Mapped[str] = mapped_column(HEX32)
    purpose: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


#: The tables of this module the indexer derives from the chain (for the rebuild's digest).
READ_MODEL: dict[str, tuple[str, ...]] = {
    FundRow.__tablename__: (),
    FundContributionRow.__tablename__: (),
    FundDrawRow.__tablename__: (),
}
