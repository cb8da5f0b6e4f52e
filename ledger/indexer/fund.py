"""Special funds (专项基金) in the read model: a Fund, FundContribution or CommitmentSource
that draws on a fund becomes its row (ledger.store.fund_models), with the record's chain
location (`ROWS`). Totals are summed from these rows when read, so a rollback (whose log
entries take the rows with them) and a rebuild from the chain leave the same figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.records import Kind
from ledger.evm.contract import LedgerContract
from ledger.store.fund_models import FundContributionRow, FundDrawRow, FundRow

if TYPE_CHECKING:
    from ledger.indexer.apply import ProgramRows

__all__ = ["ROWS", "totals_differences"]

#: Each fund record's row (`ledger.indexer.apply.ProgramRows`, which `LogApplier._project`
#: writes): its table, the column its signer goes in, and for a CommitmentSource the field
#: that must name a fund for the source to draw on one.
ROWS: ProgramRows = {
    Kind.FUND: (FundRow, "org", None),
    Kind.FUND_CONTRIBUTION: (FundContributionRow, "org", None),
    Kind.COMMITMENT_SOURCE: (FundDrawRow, "org", "fund_id"),
}


def totals_differences(session: Session, ledger: LedgerContract) -> list[str]:
    """Each fund whose read-model pledge or committed total (the sum of its indexed draws)
    differs from the contract's `fundTotals`, in words; empty when they all agree. One view
    call per fund (funds are few)."""
    drawn: dict[str, int] = {
        fid: int(total)
        for fid, total in session.execute(
            select(
                FundDrawRow.fund_id, func.coalesce(func.sum(FundDrawRow.fund_amount), 0)
            ).group_by(FundDrawRow.fund_id)
        )
    }
    out = []
    for row in session.scalars(select(FundRow).order_by(FundRow.leaf_index)):
        pledged, committed = ledger.fund_totals(bytes.fromhex(row.record_id[2:]))
        mine = (int(row.pledged), int(drawn.get(row.record_id, 0)))
        if mine != (int(pledged), int(committed)):
            out.append(
                f"专项基金 {row.name} ({row.record_id}): 读模型 read model pledged {mine[0]} / "
                f"committed {mine[1]} fen, 合约 contract pledged {pledged} / committed {committed}"
            )
    return out
