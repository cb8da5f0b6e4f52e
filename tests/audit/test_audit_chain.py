"""Each finding the audit makes from the chain alone, produced on a real anvil.

The real AidLedger refuses every one of these records, so they are put on chain by a
`Forger` contract (tests/audit/forger/Forger.sol): one built from other sources, which emits
AidLedger's events with whatever it is told and keeps a real RFC 9162 log of what it emits.
That is the attacker the audit exists for (its bytecode check names the contract itself);
here the audit runs without `--sources`, so each test shows the one check it is about.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from ledger.audit.codes import (
    BAD_SIGNATURE,
    COMMITMENT_OVERDUE,
    EVENT_ID_MISMATCH,
    FLAG_UNANSWERED,
    HISTORICAL_ROOT_MISMATCH,
    LEAF_HASH_MISMATCH,
    LOG_INDEX_GAP,
    MALFORMED_RECORD,
    NO_CONTRACT,
    NOT_COMMITMENT_OWNER,
    OVER_CONFIRMATION,
    OVER_DELIVERY,
    PROJECT_RULE_BROKEN,
    RECEIPT_RULE_BROKEN,
    RECEIPT_SHORTFALL,
    RECORD_ID_REUSED,
    ROOT_MISMATCH,
    SIGNER_LACKS_ROLE,
    TOTALS_MISMATCH,
    UNKNOWN_COMMITMENT,
    UNKNOWN_NEED,
    UNKNOWN_RECORD,
    WRONG_COUNTY,
    WRONG_DOMAIN,
)
from ledger.audit.report import AuditReport
from ledger.config import PROJECT_ROOT
from ledger.core.aid_kinds import Flag
from ledger.core.eip712 import Domain
from ledger.core.fields import FlagReason
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord, sha256
from tests.audit.conftest import Forged, anchor
from tests.conftest import COUNTY_A, COUNTY_B


def found(report: AuditReport, code: str) -> dict[str, Any]:
    hits = [f for f in report.findings if f.code == code]
    assert hits, f"no {code} finding in {report.counts()}"
    assert report.to_json()["counts"][code] == len(hits)
    return hits[0].where


def test_an_honest_forged_ledger_passes(forged: Forged) -> None:
    """What the audit accepts: the same contract, given only valid records, has no finding."""
    need = forged.need()
    c = forged.commitment(need.project_id)
    d = forged.delivery(c.id)
    forged.receipt(d.id, 30)
    report = forged.audit()
    assert report.findings == []
    assert report.stats["records"] == 4


@pytest.mark.produces(MALFORMED_RECORD)
def test_malformed_record(forged: Forged) -> None:
    forged.send("append", new_id(forged.admin.address), 1, b"\x01\x01not a record")
    report = forged.audit()
    assert found(report, MALFORMED_RECORD)["index"] == 0
    assert report.codes() == {MALFORMED_RECORD}  # the leaf still counts in the root


@pytest.mark.produces(LEAF_HASH_MISMATCH)
def test_leaf_hash_mismatch(forged: Forged) -> None:
    signed = forged.sign(
        anchor(
            id=new_id(forged.env.actors.county_a.address),
            project_id=new_id(forged.env.actors.county_a.address),
            county=COUNTY_A,
            content_hash=sha256(b"x"),
        ),
        forged.env.actors.county_a,
    )
    forged.send("forge", 0, signed.id, 1, sha256(b"another leaf"), signed.canonical_bytes())
    assert forged.audit().codes() == {LEAF_HASH_MISMATCH}


@pytest.mark.produces(EVENT_ID_MISMATCH, LOG_INDEX_GAP)
def test_event_id_and_index(forged: Forged) -> None:
    a = forged.env.actors.county_a
    signed = forged.sign(
        anchor(id=new_id(a.address), project_id=new_id(a.address), county=COUNTY_A), a
    )
    forged.send("forge", 0, new_id(a.address), 1, signed.leaf_hash(), signed.canonical_bytes())
    assert forged.audit().codes() == {EVENT_ID_MISMATCH}
    other = forged.sign(
        anchor(id=new_id(a.address), project_id=new_id(a.address), county=COUNTY_A), a
    )
    forged.send("forge", 7, other.id, 1, other.leaf_hash(), other.canonical_bytes())
    report = forged.audit()
    assert found(report, LOG_INDEX_GAP)["index"] == 7


@pytest.mark.produces(WRONG_DOMAIN, BAD_SIGNATURE)
def test_wrong_domain_and_bad_signature(forged: Forged) -> None:
    a = forged.env.actors
    rec = anchor(id=new_id(a.county_a.address), project_id=new_id(a.county_a.address))
    forged.append(forged.sign(rec, a.county_a, Domain(forged.domain.chain_id + 1, forged.address)))
    assert WRONG_DOMAIN in forged.audit().codes()
    rec2 = anchor(
        id=new_id(a.county_b.address), project_id=new_id(a.county_b.address), county=COUNTY_B
    )
    real = forged.sign(rec2, a.county_a)
    lie = SignedRecord(rec2, forged.domain, a.county_b.address, real.signature)
    forged.append(lie)
    where = found(forged.audit(), BAD_SIGNATURE)
    assert where["record_id"] == "0x" + rec2.id.hex()


@pytest.mark.produces(RECORD_ID_REUSED, PROJECT_RULE_BROKEN)
def test_reused_id_and_project_rule(forged: Forged) -> None:
    need = forged.need()
    a = forged.env.actors.county_a
    forged.append(forged.sign(need, a))  # the same record again
    assert forged.audit().codes() == {RECORD_ID_REUSED, PROJECT_RULE_BROKEN}
    again = anchor(
        id=new_id(a.address),
        project_id=need.project_id,
        county=COUNTY_A,
        version=need.version + 2,
    )
    forged.append(forged.sign(again, a))
    assert len([f for f in forged.audit().findings if f.code == PROJECT_RULE_BROKEN]) == 2


@pytest.mark.produces(SIGNER_LACKS_ROLE, WRONG_COUNTY)
def test_roles(forged: Forged) -> None:
    stranger = forged.env.actors.stranger
    forged.need(stranger)
    report = forged.audit()
    assert found(report, SIGNER_LACKS_ROLE)
    forged.need(forged.env.actors.county_a, COUNTY_B)
    wrong = [f.where["index"] for f in forged.audit().findings if f.code == WRONG_COUNTY]
    assert wrong == [0, 1]  # the stranger is no county's office either
    # a revoked role no longer counts
    forged.send("revoke", keccak(text="ORG"), forged.env.actors.org_b.address)
    need = forged.need()
    forged.commitment(need.project_id, forged.env.actors.org_b)
    lacks = [f for f in forged.audit().findings if f.code == SIGNER_LACKS_ROLE]
    assert [f.where["index"] for f in lacks] == [0, 3]


@pytest.mark.produces(UNKNOWN_NEED, UNKNOWN_COMMITMENT, NOT_COMMITMENT_OWNER, OVER_DELIVERY)
def test_commitment_and_delivery_rules(forged: Forged) -> None:
    a = forged.env.actors
    forged.commitment(new_id(a.county_a.address))
    assert forged.audit().codes() == {UNKNOWN_NEED}
    forged.delivery(new_id(a.org_a.address))
    assert UNKNOWN_COMMITMENT in forged.audit().codes()
    need = forged.need()
    c = forged.commitment(need.project_id)
    forged.delivery(c.id, 10, a.org_b)
    assert NOT_COMMITMENT_OWNER in forged.audit().codes()
    forged.delivery(c.id, 95)
    assert OVER_DELIVERY in forged.audit().codes()


@pytest.mark.produces(RECEIPT_RULE_BROKEN, OVER_CONFIRMATION, UNKNOWN_RECORD)
def test_receipt_and_flag_rules(forged: Forged) -> None:
    a = forged.env.actors
    forged.receipt(new_id(a.org_a.address), 1)
    assert forged.audit().codes() == {RECEIPT_RULE_BROKEN}
    need = forged.need()
    c = forged.commitment(need.project_id)
    d = forged.delivery(c.id, 30)
    forged.receipt(d.id, 50)
    assert OVER_CONFIRMATION in forged.audit().codes()
    flag = Flag(
        id=new_id(a.auditor.address),
        record_id=new_id(a.org_a.address),
        reason_code=FlagReason.OTHER,
        note_hash=sha256(b""),
    )
    forged.append(forged.sign(flag, a.auditor))
    assert UNKNOWN_RECORD in forged.audit().codes()


@pytest.mark.produces(ROOT_MISMATCH)
def test_root_mismatch(forged: Forged) -> None:
    forged.need()
    forged.send("setRootOverride", sha256(b"a root of another log"))
    report = forged.audit()
    assert report.codes() == {ROOT_MISMATCH}
    forged.send("setRootOverride", bytes(32))
    assert forged.audit().findings == []


@pytest.mark.produces(HISTORICAL_ROOT_MISMATCH)
def test_historical_root_mismatch(forged: Forged) -> None:
    """logRoot() lied at one earlier block only: the head's root is right again."""
    a = forged.env.actors.county_a
    signed = forged.sign(
        anchor(id=new_id(a.address), project_id=new_id(a.address), county=COUNTY_A), a
    )
    c = forged.contract.functions
    calls = [
        c.setRootOverride(sha256(b"lie"))._encode_transaction_data(),
        c.append(signed.id, 1, signed.canonical_bytes())._encode_transaction_data(),
    ]
    forged.send("multicall", calls)
    forged.send("setRootOverride", bytes(32))
    forged.need()
    assert forged.audit().findings == []  # one getLogs range: only the head is compared
    report = forged.audit(block_range=1)
    assert report.codes() == {HISTORICAL_ROOT_MISMATCH}
    assert found(report, HISTORICAL_ROOT_MISMATCH)["size"] == 1


@pytest.mark.produces(TOTALS_MISMATCH)
def test_totals_mismatch(forged: Forged) -> None:
    need = forged.need()
    c = forged.commitment(need.project_id)
    forged.delivery(c.id, 30)
    forged.send("setTotals", c.id, 100, 30, 0)
    assert forged.audit(compare_totals=True).findings == []
    forged.send("setTotals", c.id, 100, 60, 0)
    where = found(forged.audit(compare_totals=True), TOTALS_MISMATCH)
    assert where == {"commitment": "0x" + c.id.hex()}


@pytest.mark.produces(NO_CONTRACT)
def test_no_contract(forged: Forged) -> None:
    nobody = forged.env.actors.stranger.address
    report = forged.audit(contract=nobody, sources=PROJECT_ROOT / "contracts")
    assert found(report, NO_CONTRACT)["contract"] == nobody


@pytest.mark.produces(RECEIPT_SHORTFALL, COMMITMENT_OVERDUE, FLAG_UNANSWERED)
def test_anomalies_of_a_consistent_ledger(forged: Forged) -> None:
    a = forged.env.actors
    need = forged.need()
    c = forged.commitment(need.project_id, due=1_000_000)  # due in 1970
    d = forged.delivery(c.id, 30)
    forged.receipt(d.id, 20)
    flag = Flag(
        id=new_id(a.auditor.address),
        record_id=d.id,
        reason_code=FlagReason.RECEIPT_SHORTFALL,
        note_hash=sha256(b"only 20 arrived"),
    )
    forged.append(forged.sign(flag, a.auditor))
    report = forged.audit()
    assert report.codes() == {RECEIPT_SHORTFALL, COMMITMENT_OVERDUE, FLAG_UNANSWERED}
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 2
    assert found(report, RECEIPT_SHORTFALL)["confirmed"] == 20
    assert found(report, COMMITMENT_OVERDUE)["delivered"] == 30
    # the finding reads as a person reads it: a due date in Beijing time, a reason by name
    messages = {f.code: f.message for f in report.findings}
    assert "was due at 1970-01-12 21:46 Beijing time" in messages[COMMITMENT_OVERDUE]
    assert "(receipt_shortfall)" in messages[FLAG_UNANSWERED]
    # the organization answers the flag with a new delivery on the same commitment
    forged.delivery(c.id, 70)
    assert FLAG_UNANSWERED not in forged.audit().codes()
