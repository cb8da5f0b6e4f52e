"""Tables of the household follow-up (回访): the rounds counties open on delivery batches and
the results they sign, one row per record, derived from chain events alone (the indexer's
`ledger.indexer.followup`), so `bangfu rebuild` writes the same rows.

The sampled lines themselves are not stored: anyone recomputes them from the round, the
batch's line count and the seed block's hash (`ledger.core.sample`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import ADDRESS, HEX32, Base, ChainLocation, entry_fk, keyset


class FollowUpRoundRow(ChainLocation, Base):
    """A county's follow-up round on one delivery batch (kind 12, FollowUpRound)."""

    __tablename__ = "follow_up_rounds"

    record_id: Mapped[str] = entry_fk()
    batch_id: Mapped[str] = mapped_column(HEX32, index=True)
    county: Mapped[int] = mapped_column(Integer)
    seed_block: Mapped[int] = mapped_column(BigInteger)
    rate_bps: Mapped[int] = mapped_column(Integer)
    #: the batch's line count and the sample's size k, as the chain fixes them
    line_count: Mapped[int] = mapped_column(Integer)
    sample_size: Mapped[int] = mapped_column(Integer)
    #: the organization that signed the batch
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    signer: Mapped[str] = mapped_column(ADDRESS)

    __table_args__ = (
        UniqueConstraint("batch_id", "county", name="uq_follow_up_round"),
        *keyset("follow_up_rounds", ("county",)),
    )


class FollowUpRow(ChainLocation, Base):
    """A county's signed result of visiting one sampled line (kind 13, FollowUp)."""

    __tablename__ = "follow_ups"

    record_id: Mapped[str] = entry_fk()
    round_id: Mapped[str] = mapped_column(HEX32, index=True)
    batch_id: Mapped[str] = mapped_column(HEX32, index=True)
    line_index: Mapped[int] = mapped_column(Integer)
    line_hash: Mapped[str] = mapped_column(HEX32)
    #: 1 received in full, 2 received in part, 3 not received, 4 household not found
    outcome: Mapped[int] = mapped_column(Integer)
    #: what arrived, for outcome 2 only
    quantity: Mapped[int] = mapped_column(BigInteger)
    note_hash: Mapped[str] = mapped_column(HEX32)
    county: Mapped[int] = mapped_column(Integer)
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    signer: Mapped[str] = mapped_column(ADDRESS)

    __table_args__ = (
        UniqueConstraint("round_id", "line_index", name="uq_follow_up_line"),
        *keyset("follow_ups", ("county",)),
    )


__all__ = ["FollowUpRoundRow", "FollowUpRow"]
