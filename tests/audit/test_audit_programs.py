"""The audit's replay of the program records (pairings, funds, sources, follow-ups,
grievances), on a chain written by the rule-less `Forger`: each record the contract would
refuse is a finding, and the honest sequence of every program kind is none."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from ledger.audit.codes import (
    FOLLOW_UP_OUTSIDE_SAMPLE,
    FOLLOW_UP_RULE_BROKEN,
    FUND_OVER_COMMITTED,
    FUND_RULE_BROKEN,
    GRIEVANCE_RULE_BROKEN,
    PAIRING_RULE_BROKEN,
    SOURCE_RULE_BROKEN,
)
from ledger.core.aid_kinds import Commitment, DeliveryBatch
from ledger.core.fields import ResourceKind, text32
from ledger.core.lines import new_id
from ledger.core.program_kinds import (
    CommitmentSource,
    FollowUp,
    FollowUpRound,
    Fund,
    Grievance,
    GrievanceAnswer,
    Pairing,
    PairingAcceptance,
)
from ledger.core.records import sha256
from ledger.core.sample import sample_indices
from tests.audit.conftest import Forged
from tests.conftest import COUNTY_A, COUNTY_B
from tests.factories import follow_up, fund_contribution


def _put(forged: Forged, record: Any, key: LocalAccount) -> Any:
    forged.append(forged.sign(record, key))
    return record


def _pairing(forged: Forged, org: LocalAccount, county: int = COUNTY_A, **kw: Any) -> Pairing:
    fields: dict[str, Any] = {
        "id": new_id(org.address),
        "county": county,
        "start_date": 20260101,
        "end_date": 20271231,
        "categories": 0b11,
        "funds_target": 1_000_000,
        "projects_target": 2,
        "hours_target": 100,
        "designated": False,
        "terms_hash": sha256(b"terms"),
    }
    fields.update(kw)
    return _put(forged, Pairing(**fields), org)


def _accept(forged: Forged, pairing: Pairing, county: LocalAccount) -> PairingAcceptance:
    rec = PairingAcceptance(id=new_id(county.address), pairing_id=pairing.id, county=pairing.county)
    return _put(forged, rec, county)


def _fund(forged: Forged, org: LocalAccount, pledged: int = 500_000) -> Fund:
    rec = Fund(
        id=new_id(org.address),
        name="某公司乡村振兴专项基金",
        sponsor_kind=1,
        sponsor_hash=sha256(b"salt|sponsor"),
        sponsor_public=False,
        pledged=pledged,
        purpose_hash=sha256(b"purpose"),
    )
    return _put(forged, rec, org)


def _funds_commitment(forged: Forged, need_id: bytes, quantity: int) -> Commitment:
    org = forged.env.actors.org_a
    rec = Commitment(
        id=new_id(org.address),
        need_id=need_id,
        match_id=new_id(org.address),
        resource_kind=ResourceKind.FUNDS,
        quantity=quantity,
        unit=text32("元"),
        due_date=int(time.time()) + 86_400,
        terms_hash=sha256(b"terms"),
    )
    return _put(forged, rec, org)


def _source(
    forged: Forged,
    c: Commitment,
    pairing: bytes = bytes(32),
    fund: bytes = bytes(32),
    amount: int = 0,
) -> CommitmentSource:
    rec = CommitmentSource(
        id=new_id(forged.env.actors.org_a.address),
        commitment_id=c.id,
        pairing_id=pairing,
        fund_id=fund,
        fund_amount=amount,
    )
    return _put(forged, rec, forged.env.actors.org_a)


def _batch(forged: Forged, c: Commitment, lines: int = 10) -> DeliveryBatch:
    org = forged.env.actors.org_a
    rec = DeliveryBatch(
        id=new_id(org.address),
        commitment_ids=(c.id,),
        quantities=(lines,),
        line_count=lines,
        batch_root=sha256(b"root"),
        evidence_hash=sha256(b"evidence"),
    )
    return _put(forged, rec, org)


def _round(forged: Forged, batch: DeliveryBatch, county: LocalAccount, **kw: Any) -> FollowUpRound:
    fields: dict[str, Any] = {
        "id": new_id(county.address),
        "batch_id": batch.id,
        "county": COUNTY_A,
        "seed_block": forged.w3.eth.block_number + 3,
        "rate_bps": 2_000,
    }
    fields.update(kw)
    return _put(forged, FollowUpRound(**fields), county)


def _follow_up(forged: Forged, rnd: FollowUpRound, line: int, **kw: Any) -> FollowUp:
    county = forged.env.actors.county_a
    return _put(forged, follow_up(county, rnd.id, line, **kw), county)


def _sample(forged: Forged, rnd: FollowUpRound, batch: DeliveryBatch) -> list[int]:
    """The round's sample, from its seed block's hash, once that block is mined."""
    while forged.w3.eth.block_number < rnd.seed_block:
        forged.need()  # any transaction mines a block
    seed = bytes(forged.w3.eth.get_block(rnd.seed_block)["hash"])
    return sample_indices(seed, batch.id, batch.line_count, rnd.rate_bps)


def test_an_honest_run_of_every_program_kind_has_no_finding(forged: Forged) -> None:
    """What the contract accepts, the audit accepts: a pairing accepted and cited, a fund
    opened, contributed to and drawn on up to its pledge, a follow-up round with results and
    a grievance registered and answered."""
    a = forged.env.actors
    need = forged.need()
    pairing = _pairing(forged, a.org_a)
    _accept(forged, pairing, a.county_a)
    fund = _fund(forged, a.org_a, pledged=300)
    _put(forged, fund_contribution(a.org_a.address, fund.id, 100), a.org_a)
    c1 = _funds_commitment(forged, need.project_id, 200)
    _source(forged, c1, pairing=pairing.id, fund=fund.id, amount=200)
    c2 = _funds_commitment(forged, need.project_id, 100)
    _source(forged, c2, fund=fund.id, amount=100)  # exactly the pledge
    batch = _batch(forged, c1)
    rnd = _round(forged, batch, a.county_a, rate_bps=3_000)
    first, second, third = _sample(forged, rnd, batch)  # three of the ten lines
    _follow_up(forged, rnd, first)
    _follow_up(forged, rnd, second, outcome=2, quantity=1)
    _follow_up(forged, rnd, third, outcome=3)
    grievance = _put(
        forged,
        Grievance(
            id=new_id(a.county_a.address),
            project_id=need.project_id,
            record_id=batch.id,
            grievance_hash=sha256(b"grievance text"),
            filed_at=int(time.time()),
        ),
        a.county_a,
    )
    _put(
        forged,
        GrievanceAnswer(
            id=new_id(a.county_a.address),
            grievance_id=grievance.id,
            outcome=1,
            answer_hash=sha256(b"answer"),
        ),
        a.county_a,
    )
    report = forged.audit()
    integrity = [f for f in report.findings if f.severity == "integrity"]
    assert integrity == [], report.codes()
    # what the visits found is an anomaly to look into, not a broken rule
    assert report.codes() == {"follow_up_part_received", "follow_up_not_received"}


@pytest.mark.produces(PAIRING_RULE_BROKEN)
def test_pairing_rules(forged: Forged) -> None:
    a = forged.env.actors
    _pairing(forged, a.org_a, start_date=20270101, end_date=20260101)
    assert forged.audit().codes() == {PAIRING_RULE_BROKEN}
    pairing = _pairing(forged, a.org_a, county=COUNTY_B)
    _accept(forged, pairing, a.county_a)  # county A accepts county B's pairing
    report = forged.audit()
    assert {"wrong_county", PAIRING_RULE_BROKEN} <= report.codes()
    # signed by a county, not an organization
    _pairing(forged, a.county_a)
    assert "signer_lacks_role" in forged.audit().codes()


@pytest.mark.produces(FUND_RULE_BROKEN, FUND_OVER_COMMITTED, SOURCE_RULE_BROKEN)
def test_fund_and_source_rules(forged: Forged) -> None:
    a = forged.env.actors
    need = forged.need()
    fund = _fund(forged, a.org_a, pledged=150)
    # organization B draws on A's fund
    _put(forged, fund_contribution(a.org_b.address, fund.id, 10, evidence=b""), a.org_b)
    assert forged.audit().codes() == {FUND_RULE_BROKEN}
    c1 = _funds_commitment(forged, need.project_id, 100)
    _source(forged, c1, fund=fund.id, amount=100)
    c2 = _funds_commitment(forged, need.project_id, 100)
    _source(forged, c2, fund=fund.id, amount=60)  # 160 of 150 pledged
    over = [f for f in forged.audit().findings if f.code == FUND_OVER_COMMITTED]
    assert len(over) == 1 and "160" in over[0].message
    _source(forged, c2, pairing=_pairing(forged, a.org_a).id)  # twice, and not accepted
    assert SOURCE_RULE_BROKEN in forged.audit().codes()


@pytest.mark.produces(FOLLOW_UP_RULE_BROKEN)
def test_follow_up_rules(forged: Forged) -> None:
    a = forged.env.actors
    need = forged.need()
    c = _funds_commitment(forged, need.project_id, 100)
    batch = _batch(forged, c, lines=5)
    rnd = _round(forged, batch, a.county_a)
    line = _sample(forged, rnd, batch)[0]
    _follow_up(forged, rnd, line)
    assert forged.audit().findings == []
    _follow_up(forged, rnd, line)  # the same line again
    assert forged.audit().codes() == {FOLLOW_UP_RULE_BROKEN}
    _follow_up(forged, rnd, 9)  # past the batch's five lines
    _round(forged, batch, a.county_a, seed_block=1)  # a second round, with a past seed
    broken = [f.message for f in forged.audit().findings if f.code == FOLLOW_UP_RULE_BROKEN]
    # the repeat, the line past the batch, and the second round both for its past seed and
    # for being a second one
    assert len(broken) == 4
    assert any("twice" in m for m in broken) and any("second round" in m for m in broken)


@pytest.mark.produces(GRIEVANCE_RULE_BROKEN)
def test_grievance_rules(forged: Forged) -> None:
    a = forged.env.actors
    answer = GrievanceAnswer(
        id=new_id(a.county_a.address),
        grievance_id=new_id(a.county_a.address),
        outcome=1,
        answer_hash=sha256(b""),
    )
    _put(forged, answer, a.county_a)
    assert forged.audit().codes() == {GRIEVANCE_RULE_BROKEN}
    need = forged.need(a.county_b, COUNTY_B)
    grievance = Grievance(
        id=new_id(a.county_a.address),
        project_id=need.project_id,
        record_id=bytes(32),
        grievance_hash=sha256(b"text"),
        filed_at=int(time.time()),
    )
    _put(forged, grievance, a.county_a)  # county A registers county B's grievance
    assert "wrong_county" in forged.audit().codes()


@pytest.mark.produces(FOLLOW_UP_OUTSIDE_SAMPLE)
def test_a_county_cannot_choose_the_households(forged: Forged) -> None:
    """The sample is recomputed from the seed block's hash: a result for a line outside it,
    or one recorded before the seed block existed, is a finding; one inside it is not."""
    a = forged.env.actors
    need = forged.need()
    c = _funds_commitment(forged, need.project_id, 100)
    batch = _batch(forged, c, lines=20)
    rnd = _round(forged, batch, a.county_a, rate_bps=1_000)
    early = _follow_up(forged, rnd, 0)  # before the seed block: nobody knew the sample yet
    codes = [f for f in forged.audit().findings if f.code == FOLLOW_UP_OUTSIDE_SAMPLE]
    assert [f.where["record_id"] for f in codes] == ["0x" + early.id.hex()]
    sample = _sample(forged, rnd, batch)
    assert len(sample) == 2  # 10 % of 20 lines
    outside = next(i for i in range(20) if i not in sample and i != 0)
    _follow_up(forged, rnd, sample[-1] if sample[-1] != 0 else sample[0])
    _follow_up(forged, rnd, outside)
    report = forged.audit()
    found = [f for f in report.findings if f.code == FOLLOW_UP_OUTSIDE_SAMPLE]
    assert len(found) == 2 and f"line {outside} is not in the round's sample" in found[1].message
    assert report.checks["follow_up_samples"] == "2 of 3 bad"
