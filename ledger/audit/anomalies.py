"""Anomaly checks of the audit: a consistent ledger can still show aid that went wrong.

Definitions (also in docs/audit.md), all judged at the audited head block's timestamp:
- `delivery_unreceipted`: a delivery (or a single-commitment batch) older than the receipt
  window with no receipt;
- `receipt_shortfall`: a receipt confirming less than the delivery delivered;
- `commitment_overdue`: a commitment whose due date has passed, not fully delivered;
- `duplicate_beneficiary`: one beneficiary pseudonym served for one need by two or more
  organizations (needs batch lines from the database; single deliveries carry only a
  beneficiary root, which cannot be opened);
- `flag_unanswered`: an auditor's flag on a record after which the record's author wrote no
  record about the same commitment or project;
- `follow_up_not_received`, `follow_up_household_not_found`, `follow_up_part_received`: a
  county's follow-up (回访) of a sampled batch line found the aid not received, the household
  not there, or only part of the quantity received.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledger.audit.codes import (
    ANOMALY,
    FOLLOW_UP_HOUSEHOLD_NOT_FOUND,
    FOLLOW_UP_NOT_RECEIVED,
    FOLLOW_UP_PART_RECEIVED,
)
from ledger.audit.replay import Leaf, Replay, iter_leaf_subjects
from ledger.audit.report import AuditReport, to_hex
from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, Flag, Receipt
from ledger.core.display import beijing_time
from ledger.core.fields import FlagReason, FollowUpOutcome
from ledger.core.lines import DeliveryLine
from ledger.core.program_kinds import FollowUp, FollowUpRound

__all__ = ["find_anomalies"]

#: how a due date reads in a finding (Beijing time, China Standard Time)
TZ_NAME = "Beijing time"


def _reason(code: int) -> str:
    """A flag's reason code by name (`receipt_shortfall`), or its number if unknown."""
    try:
        return FlagReason(code).name.lower()
    except ValueError:
        return f"reason {code}"


def find_anomalies(
    replay: Replay,
    report: AuditReport,
    now: int,
    receipt_window: int,
    batch_lines: dict[str, list[DeliveryLine]] | None,
) -> None:
    """Adds the anomalies above, judged at `now`; `batch_lines` (from the database) or None."""
    receipts: dict[bytes, int] = {}
    delivered: dict[bytes, tuple[int, Leaf]] = {}  # delivery id → (quantity, leaf)
    commitments: dict[bytes, tuple[Commitment, Leaf]] = {}
    need_of: dict[bytes, bytes] = {}
    by_id: dict[bytes, Leaf] = {}
    for leaf in replay.leaves:
        r: Any = leaf.record.record
        by_id[r.id] = leaf
        if isinstance(r, Commitment):
            commitments[r.id] = (r, leaf)
            need_of[r.id] = r.need_id
        elif isinstance(r, Delivery):
            delivered[r.id] = (r.quantity, leaf)
        elif isinstance(r, DeliveryBatch) and len(r.commitment_ids) == 1:
            delivered[r.id] = (sum(r.quantities), leaf)
        elif isinstance(r, Receipt):
            receipts[r.delivery_id] = r.confirmed_quantity
            if r.delivery_id in delivered:
                qty = delivered[r.delivery_id][0]
                if r.confirmed_quantity < qty:
                    report.add(
                        "receipt_shortfall",
                        ANOMALY,
                        f"receipt {leaf.id_hex} confirms {r.confirmed_quantity} of {qty} delivered",
                        record_id=leaf.id_hex,
                        delivery_id=to_hex(r.delivery_id),
                        delivered=qty,
                        confirmed=r.confirmed_quantity,
                    )
    for did, (qty, leaf) in delivered.items():
        if did not in receipts and now - leaf.block_time > receipt_window:
            days = (now - leaf.block_time) // 86_400
            report.add(
                "delivery_unreceipted",
                ANOMALY,
                f"delivery {leaf.id_hex} ({qty}) has had no receipt for {days} days",
                record_id=leaf.id_hex,
                days=days,
            )
    for cid, (c, leaf) in commitments.items():
        state = replay.commitments.get(cid)
        if c.due_date and c.due_date < now and state is not None and state.delivered < c.quantity:
            report.add(
                "commitment_overdue",
                ANOMALY,
                f"commitment {leaf.id_hex} was due at {beijing_time(c.due_date)} {TZ_NAME} "
                f"and has {state.delivered} of {c.quantity} delivered",
                record_id=leaf.id_hex,
                due_date=c.due_date,
                delivered=state.delivered,
                committed=c.quantity,
            )

    if batch_lines is None:
        report.checks["duplicate_beneficiary"] = "skipped (no batch lines in the database)"
    else:
        served: dict[tuple[bytes, bytes], set[str]] = defaultdict(set)
        for batch_id, lines in batch_lines.items():
            org = (
                by_id[bytes.fromhex(batch_id[2:])].record.signer
                if bytes.fromhex(batch_id[2:]) in by_id
                else "?"
            )
            for line in lines:
                need = need_of.get(line.commitment_id)
                if need is not None:
                    served[(need, line.beneficiary)].add(org)
        for (need, who), orgs in served.items():
            if len(orgs) > 1:
                report.add(
                    "duplicate_beneficiary",
                    ANOMALY,
                    f"beneficiary {to_hex(who)[:18]}… was served for need {to_hex(need)} by "
                    f"{len(orgs)} organizations",
                    need_id=to_hex(need),
                    pseudonym=to_hex(who),
                    orgs=sorted(orgs),
                )
        report.checks["duplicate_beneficiary"] = f"checked {len(served)} (need, pseudonym) pairs"

    # A flag is answered when the flagged record's author later writes about the same subject.
    later: dict[tuple[str, bytes], int] = {}
    for leaf in replay.leaves:
        for subject in iter_leaf_subjects(leaf, replay):
            later[(leaf.record.signer, subject)] = leaf.index
    for leaf in replay.leaves:
        r = leaf.record.record
        if not isinstance(r, Flag):
            continue
        target = by_id.get(r.record_id)
        if target is None:
            continue
        author = target.record.signer
        subjects = list(iter_leaf_subjects(target, replay))
        if not any(later.get((author, s), -1) > leaf.index for s in subjects):
            report.add(
                "flag_unanswered",
                ANOMALY,
                f"flag {leaf.id_hex} on {to_hex(r.record_id)} ({_reason(r.reason_code)}) has "
                f"no later record by {author} on the same commitment or project",
                record_id=leaf.id_hex,
                target=to_hex(r.record_id),
                author=author,
            )
    _follow_up_findings(replay, report)
    report.checks["anomalies"] = "checked"


def _follow_up_findings(replay: Replay, report: AuditReport) -> None:
    """What the counties' follow-ups (回访) found on sampled lines, one finding per result
    other than "received in full", naming the round's batch and its organization."""
    rounds: dict[bytes, FollowUpRound] = {}
    signers: dict[bytes, str] = {}
    for leaf in replay.leaves:
        r: Any = leaf.record.record
        signers[r.id] = leaf.record.signer
        if isinstance(r, FollowUpRound):
            rounds[r.id] = r
        if not isinstance(r, FollowUp) or r.outcome == FollowUpOutcome.RECEIVED_IN_FULL:
            continue
        found = rounds.get(r.round_id)
        batch = found.batch_id if found is not None else bytes(32)
        where: dict[str, Any] = {
            "record_id": leaf.id_hex,
            "round_id": to_hex(r.round_id),
            "batch_id": to_hex(batch),
            "line_index": r.line_index,
            "county": found.county if found is not None else None,
            "org": signers.get(batch),
        }
        line = f"line {r.line_index} of batch {to_hex(batch)}"
        if r.outcome == FollowUpOutcome.NOT_RECEIVED:
            report.add(
                FOLLOW_UP_NOT_RECEIVED,
                ANOMALY,
                f"follow-up {leaf.id_hex}: the household on {line} did not receive the aid",
                **where,
            )
        elif r.outcome == FollowUpOutcome.HOUSEHOLD_NOT_FOUND:
            report.add(
                FOLLOW_UP_HOUSEHOLD_NOT_FOUND,
                ANOMALY,
                f"follow-up {leaf.id_hex}: no household was found for {line}",
                **where,
            )
        elif r.outcome == FollowUpOutcome.RECEIVED_IN_PART:
            report.add(
                FOLLOW_UP_PART_RECEIVED,
                ANOMALY,
                f"follow-up {leaf.id_hex}: the household on {line} received {r.quantity} only",
                received=r.quantity,
                **where,
            )
