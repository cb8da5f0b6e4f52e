"""The audit's anomalies from household follow-ups (回访): a county's result other than
"received in full" on a sampled line is a finding naming the round's batch, its
organization and the line. Judged from the records alone (no chain: the replayed leaves)."""

from __future__ import annotations

import pytest
from eth_account import Account

from ledger.audit.anomalies import find_anomalies
from ledger.audit.codes import (
    FOLLOW_UP_HOUSEHOLD_NOT_FOUND,
    FOLLOW_UP_NOT_RECEIVED,
    FOLLOW_UP_PART_RECEIVED,
)
from ledger.audit.replay import Leaf, Replay
from ledger.audit.report import AuditReport, to_hex
from ledger.core.aid_kinds import DeliveryBatch
from ledger.core.eip712 import Domain
from ledger.core.fields import FollowUpOutcome
from ledger.core.lines import new_id
from ledger.core.program_kinds import FollowUp, FollowUpRound
from ledger.core.records import SignedRecord

DOMAIN = Domain(31337, "0x" + "11" * 20)
ORG = Account.from_key(b"\x01" * 32)
COUNTY = Account.from_key(b"\x02" * 32)


def _leaf(i: int, signed: SignedRecord) -> Leaf:
    data = signed.canonical_bytes()
    return Leaf(i, signed, data, signed.leaf_hash(), 10 + i, "0x" + "00" * 32, "0x" + "00" * 32, 0)


@pytest.mark.produces(
    FOLLOW_UP_NOT_RECEIVED, FOLLOW_UP_HOUSEHOLD_NOT_FOUND, FOLLOW_UP_PART_RECEIVED
)
def test_follow_up_results_other_than_received_in_full_are_findings() -> None:
    batch = DeliveryBatch(
        id=new_id(ORG.address),
        commitment_ids=(new_id(ORG.address),),
        quantities=(300,),
        line_count=100,
        batch_root=bytes(32),
        evidence_hash=bytes(32),
    ).sign(ORG.key, DOMAIN)
    rnd = FollowUpRound(
        id=new_id(COUNTY.address), batch_id=batch.id, county=522327, seed_block=50, rate_bps=1000
    ).sign(COUNTY.key, DOMAIN)

    def result(line: int, outcome: int, quantity: int = 0) -> SignedRecord:
        return FollowUp(
            id=new_id(COUNTY.address),
            round_id=rnd.id,
            line_index=line,
            line_hash=bytes([line]) * 32,
            outcome=outcome,
            quantity=quantity,
        ).sign(COUNTY.key, DOMAIN)

    signed = [
        batch,
        rnd,
        result(3, FollowUpOutcome.RECEIVED_IN_FULL),
        result(7, FollowUpOutcome.NOT_RECEIVED),
        result(9, FollowUpOutcome.HOUSEHOLD_NOT_FOUND),
        result(11, FollowUpOutcome.RECEIVED_IN_PART, 1),
    ]
    report = AuditReport()
    replay = Replay(report, DOMAIN.chain_id, DOMAIN.verifying_contract)
    replay.leaves = [_leaf(i, s) for i, s in enumerate(signed)]
    find_anomalies(replay, report, now=10**10, receipt_window=10**12, batch_lines={})
    got = {f.code: f for f in report.findings}
    assert set(got) == {
        FOLLOW_UP_NOT_RECEIVED,
        FOLLOW_UP_HOUSEHOLD_NOT_FOUND,
        FOLLOW_UP_PART_RECEIVED,
    }
    missing = got[FOLLOW_UP_NOT_RECEIVED].where
    assert missing["line_index"] == 7 and missing["batch_id"] == to_hex(batch.id)
    assert missing["org"] == ORG.address and missing["county"] == 522327
    assert got[FOLLOW_UP_PART_RECEIVED].where["received"] == 1
    assert all(f.severity == "anomaly" for f in report.findings)
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 2
