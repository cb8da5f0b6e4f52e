"""Special funds (专项基金) in a snapshot: each fund opened before the cut-off, the money it
received, and the commitments of the snapshot that draw on it, for the report's fund section
and for IATI (a fund is a funding source of the activities whose commitments draw on it).

The sponsor's name is carried only when the Fund records the sponsor's consent
(`sponsorPublic`) and its off-chain details are registered; otherwise the sponsor is named
by kind alone (企业 company / 个人 individual).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.store.fund_models import FundContributionRow, FundDetail, FundDrawRow, FundRow
from ledger.store.queries.fund import pro_rata

__all__ = ["SPONSOR_KIND_NAMES", "FundDraw", "FundState", "load_funds", "pro_rata"]

SPONSOR_KIND_NAMES: dict[int, tuple[str, str]] = {1: ("企业", "company"), 2: ("个人", "individual")}


@dataclass
class FundDraw:
    """One commitment's draw on a fund (its CommitmentSource)."""

    record_id: str
    commitment_id: str
    fund_id: str
    amount: int
    block_time: int


@dataclass
class FundState:
    """A fund at the cut-off: pledged and contributed fen, and its draws in the snapshot."""

    fund_id: str
    name: str
    org: str
    sponsor_kind: int
    #: only with the sponsor's consent
    sponsor_name: str | None
    pledged: int
    block_time: int
    contributed: int = 0
    contribution_ids: list[str] = field(default_factory=list)
    draws: list[FundDraw] = field(default_factory=list)

    @property
    def sponsor_text(self) -> str:
        zh, en = SPONSOR_KIND_NAMES.get(self.sponsor_kind, ("出资方", "sponsor"))
        return f"{zh} {en}" + (f"：{self.sponsor_name}" if self.sponsor_name else "（未公开名称）")

    @property
    def committed(self) -> int:
        return sum(d.amount for d in self.draws)


def load_funds(
    session: Session, cutoff: int, commitment_ids: Iterable[str], *, all_funds: bool = True
) -> dict[str, FundState]:
    """The funds opened before `cutoff` (with `all_funds`, every one; else only those a
    commitment of `commitment_ids` draws on), their contributions and the draws of those
    commitments before the cut-off."""
    wanted = set(commitment_ids)
    funds: dict[str, FundState] = {}
    consented: set[str] = set()
    for row in session.scalars(
        select(FundRow).where(FundRow.block_time < cutoff).order_by(FundRow.leaf_index)
    ):
        funds[row.record_id] = FundState(
            row.record_id,
            row.name,
            row.org,
            int(row.sponsor_kind),
            None,
            int(row.pledged),
            int(row.block_time or 0),
        )
        if row.sponsor_public:
            consented.add(row.record_id)
    if not funds:
        return funds
    for d in session.scalars(
        select(FundDrawRow).where(FundDrawRow.block_time < cutoff).order_by(FundDrawRow.leaf_index)
    ):
        fund = funds.get(d.fund_id)
        if fund is not None and d.commitment_id in wanted:
            fund.draws.append(
                FundDraw(
                    d.record_id, d.commitment_id, d.fund_id, int(d.fund_amount), int(d.block_time)
                )
            )
    for c in session.scalars(
        select(FundContributionRow).where(FundContributionRow.block_time < cutoff)
    ):
        fund = funds.get(c.fund_id)
        if fund is not None:
            fund.contributed += int(c.amount)
            fund.contribution_ids.append(c.record_id)
    if consented:
        for detail in session.scalars(
            select(FundDetail).where(FundDetail.fund_id.in_(sorted(consented)))
        ):
            funds[detail.fund_id].sponsor_name = detail.sponsor_name
    if not all_funds:
        funds = {k: f for k, f in funds.items() if f.draws}
    return funds
