"""Read-model queries of the household follow-up (回访): rounds, their results, the stored
lines a sample names, the batches a county may open a round on, and the confirmation rate
(lines found received in full / lines followed up) per organization or county.

What is drawn (the sample) is not stored; callers pass the indices `ledger.core.sample`
computes from the round and its seed block's hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.fields import FollowUpOutcome
from ledger.core.program_words import FOLLOW_UP_OUTCOMES
from ledger.store.batch_models import BatchLine
from ledger.store.followup_models import FollowUpRoundRow, FollowUpRow
from ledger.store.models import CommitmentRow, DeliveryRow

__all__ = [
    "OUTCOME_WORDS",
    "Confirmation",
    "confirmation",
    "confirmation_by",
    "eligible_batches",
    "lines_of",
    "results_of",
    "round_of",
    "rounds",
]

#: Each outcome in words, Chinese first: the words the record's own page uses.
OUTCOME_WORDS = FOLLOW_UP_OUTCOMES


@dataclass
class Confirmation:
    """Follow-up results counted by outcome; `rate` = received in full / followed up."""

    counts: dict[int, int] = field(default_factory=dict)

    @property
    def followed_up(self) -> int:
        return sum(self.counts.values())

    @property
    def received_in_full(self) -> int:
        return self.counts.get(FollowUpOutcome.RECEIVED_IN_FULL, 0)

    @property
    def rate(self) -> float | None:
        return self.received_in_full / self.followed_up if self.followed_up else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "followed_up": self.followed_up,
            "received_in_full": self.received_in_full,
            "received_in_part": self.counts.get(FollowUpOutcome.RECEIVED_IN_PART, 0),
            "not_received": self.counts.get(FollowUpOutcome.NOT_RECEIVED, 0),
            "household_not_found": self.counts.get(FollowUpOutcome.HOUSEHOLD_NOT_FOUND, 0),
            "confirmation_rate": self.rate,
        }


def rounds(
    session: Session, *, county: int | None = None, org: str | None = None, limit: int = 200
) -> list[FollowUpRoundRow]:
    """Follow-up rounds, newest first, of one county or organization or all."""
    q = select(FollowUpRoundRow).order_by(FollowUpRoundRow.leaf_index.desc()).limit(limit)
    if county is not None:
        q = q.where(FollowUpRoundRow.county == county)
    if org is not None:
        q = q.where(FollowUpRoundRow.org == org)
    return list(session.scalars(q))


def round_of(session: Session, round_id: str) -> FollowUpRoundRow | None:
    return session.get(FollowUpRoundRow, round_id)


def results_of(session: Session, round_ids: Iterable[str]) -> list[FollowUpRow]:
    """The results of some rounds, in chain order."""
    ids = sorted(set(round_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(FollowUpRow)
            .where(FollowUpRow.round_id.in_(ids))
            .order_by(FollowUpRow.leaf_index)
        )
    )


def lines_of(session: Session, batch_id: str, indices: Sequence[int]) -> dict[int, BatchLine]:
    """The stored lines of a batch at `indices` (those this instance holds)."""
    out: dict[int, BatchLine] = {}
    wanted = sorted(set(indices))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        for line in session.scalars(
            select(BatchLine).where(BatchLine.batch_id == batch_id, BatchLine.line_index.in_(chunk))
        ):
            out[int(line.line_index)] = line
    return out


def resource_kinds(session: Session, commitment_ids: Iterable[str]) -> dict[str, int]:
    """Commitment id → resource kind (1 funds, 2 goods, 3 service)."""
    ids = sorted(set(commitment_ids))
    if not ids:
        return {}
    return {
        cid: int(kind)
        for cid, kind in session.execute(
            select(CommitmentRow.record_id, CommitmentRow.resource_kind).where(
                CommitmentRow.record_id.in_(ids)
            )
        )
    }


def eligible_batches(session: Session, county: int, limit: int = 100) -> list[dict[str, Any]]:
    """Delivery batches of `county` alone (every commitment they serve is the county's)
    that the county has no round on yet, newest first: what it may open a round on."""
    opened = select(FollowUpRoundRow.batch_id).where(FollowUpRoundRow.county == county)
    # a batch's shares (one per commitment) agree on these: one group per batch
    batch = (
        DeliveryRow.record_id,
        DeliveryRow.org,
        DeliveryRow.line_count,
        DeliveryRow.block_time,
        DeliveryRow.leaf_index,
    )
    shares = session.execute(
        select(
            *batch,
            func.min(DeliveryRow.county),
            func.max(DeliveryRow.county),
            func.sum(DeliveryRow.quantity),
        )
        .where(DeliveryRow.batch.is_(True), DeliveryRow.record_id.not_in(opened))
        .group_by(*batch)
        .having(func.min(DeliveryRow.county) == county, func.max(DeliveryRow.county) == county)
        .order_by(DeliveryRow.leaf_index.desc())
        .limit(limit)
    ).all()
    return [
        {
            "batch_id": rid,
            "org": org,
            "line_count": int(lines),
            "block_time": int(t or 0),
            "quantity": int(qty or 0),
        }
        for rid, org, lines, t, _leaf, _lo, _hi, qty in shares
    ]


def confirmation(session: Session, *where: Any) -> Confirmation:
    """Follow-up results counted by outcome, narrowed by `where` (on FollowUpRow)."""
    rows = session.execute(
        select(FollowUpRow.outcome, func.count()).where(*where).group_by(FollowUpRow.outcome)
    ).all()
    return Confirmation({int(o): int(n) for o, n in rows})


def confirmation_by(session: Session, column: Any) -> dict[Any, Confirmation]:
    """Follow-up results counted by outcome per value of `column` (FollowUpRow.org or
    FollowUpRow.county)."""
    out: dict[Any, Confirmation] = {}
    for key, outcome, n in session.execute(
        select(column, FollowUpRow.outcome, func.count()).group_by(column, FollowUpRow.outcome)
    ):
        out.setdefault(key, Confirmation()).counts[int(outcome)] = int(n)
    return out
