"""Tables of the pairing program (结对帮扶, docs/programs.md): each organization's
pairing proposal, the county's acceptance of it, and each commitment that cites a pairing
through its CommitmentSource. Every row descends from its record's log entry (deleted with
it on a reorg) and is written as `ledger.indexer.pairing.ROWS` says; created by migration
0011_pairing.

Acceptance and citations are rows of their own, not flags on the pairing, so that rolling
back a reorg is the log entry's cascade and a rebuild from the chain writes the same rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import ADDRESS, HEX32, Base, ChainLocation, entry_fk

__all__ = ["PairingAcceptanceRow", "PairingCommitmentRow", "PairingRow"]


class PairingRow(ChainLocation, Base):
    """A Pairing record (kind 7): an organization proposes to pair with a county."""

    __tablename__ = "pairings"

    record_id: Mapped[str] = entry_fk()
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    county: Mapped[int] = mapped_column(Integer, index=True)
    #: YYYYMMDD, Beijing time
    start_date: Mapped[int] = mapped_column(Integer)
    end_date: Mapped[int] = mapped_column(Integer)
    #: bit (c-1) for each focus category c in 1..10
    categories: Mapped[int] = mapped_column(Integer)
    #: fen
    funds_target: Mapped[int] = mapped_column(BigInteger)
    projects_target: Mapped[int] = mapped_column(BigInteger)
    hours_target: Mapped[int] = mapped_column(BigInteger)
    designated: Mapped[bool] = mapped_column(Boolean)
    terms_hash: Mapped[str] = mapped_column(HEX32)


class PairingAcceptanceRow(ChainLocation, Base):
    """A PairingAcceptance record (kind 8): the county office accepts a pairing."""

    __tablename__ = "pairing_acceptances"

    record_id: Mapped[str] = entry_fk()
    pairing_id: Mapped[str] = mapped_column(HEX32, index=True)
    county: Mapped[int] = mapped_column(Integer)
    signer: Mapped[str] = mapped_column(ADDRESS)


class PairingCommitmentRow(ChainLocation, Base):
    """A CommitmentSource record (kind 11) that cites a pairing: the commitment serves it.
    (A source that only draws on a fund has no row here; the fund program keeps that part.)"""

    __tablename__ = "pairing_commitments"

    record_id: Mapped[str] = entry_fk()
    commitment_id: Mapped[str] = mapped_column(HEX32, unique=True)
    pairing_id: Mapped[str] = mapped_column(HEX32, index=True)
    org: Mapped[str] = mapped_column(ADDRESS)
