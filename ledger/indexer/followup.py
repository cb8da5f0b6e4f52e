"""Events → rows for the household follow-up (回访): a FollowUpRound's row (with the
batch's line count and the sample's size, which the chain fixes) and each FollowUp's row
(with the round's batch, county and organization). Chain facts only, so a rebuild writes
the same rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.core.sample import sample_size
from ledger.indexer.rows import record_row
from ledger.store.followup_models import FollowUpRoundRow, FollowUpRow
from ledger.store.models import DeliveryRow

__all__ = ["project_followup"]


def project_followup(session: Session, signed: SignedRecord, rid: str, loc: dict[str, Any]) -> None:
    """Writes the row of a FollowUpRound or FollowUp record at chain location `loc`."""
    r: Any = signed.record
    if signed.kind == Kind.FOLLOW_UP_ROUND:
        batch_id = hex0x(r.batch_id)
        share = session.scalars(
            select(DeliveryRow).where(DeliveryRow.record_id == batch_id).limit(1)
        ).first()
        line_count = int(share.line_count) if share is not None else 0
        session.add(
            record_row(
                FollowUpRoundRow,
                r,
                record_id=rid,
                line_count=line_count,
                sample_size=sample_size(line_count, int(r.rate_bps)),
                org=share.org if share is not None else "",
                signer=signed.signer,
                **loc,
            )
        )
    elif signed.kind == Kind.FOLLOW_UP:
        found = session.get(FollowUpRoundRow, hex0x(r.round_id))
        session.add(
            record_row(
                FollowUpRow,
                r,
                record_id=rid,
                batch_id=found.batch_id if found is not None else hex0x(bytes(32)),
                county=found.county if found is not None else 0,
                org=found.org if found is not None else "",
                signer=signed.signer,
                **loc,
            )
        )
