"""The contract's program records on a real anvil (docs/programs.md): each kind accepted
when right, and refused with its named error when it is signed by the wrong role or county,
replayed, malformed, or would over-commit a fund."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractCustomError

from ledger.core.errors import RecordError
from ledger.core.fields import ResourceKind
from ledger.core.lines import new_id
from ledger.core.program_kinds import (
    CommitmentSource,
    FollowUpRound,
    Fund,
    Grievance,
    GrievanceAnswer,
    Pairing,
    PairingAcceptance,
)
from ledger.core.records import Kind, Record, sha256
from ledger.evm.contract import SUBMIT_RECORD_SELECTOR, revert_error
from ledger.evm.deploy import send_transaction
from tests.conftest import COUNTY_A, COUNTY_B, ChainEnv
from tests.evm.test_contract import Book, appended, batch, commitment, need, open_commitment
from tests.factories import follow_up, fund_contribution


@pytest.fixture
def rate(env: ChainEnv) -> int:
    env.ledger.set_follow_up_rate(env.actors.admin, 2_500)
    return 2_500


def pairing(by: LocalAccount, county: int = COUNTY_A, **kw: Any) -> Pairing:
    fields: dict[str, Any] = {
        "id": new_id(by.address),
        "county": county,
        "start_date": 20260101,
        "end_date": 20281231,
        "categories": 0b1000000001,
        "funds_target": 10_000_000,
        "projects_target": 3,
        "hours_target": 500,
        "designated": True,
        "terms_hash": sha256(b"terms"),
    }
    fields.update(kw)
    return Pairing(**fields)


def acceptance(by: LocalAccount, p: Pairing, county: int | None = None) -> PairingAcceptance:
    return PairingAcceptance(
        id=new_id(by.address), pairing_id=p.id, county=p.county if county is None else county
    )


def fund(by: LocalAccount, pledged: int = 1_000, **kw: Any) -> Fund:
    fields: dict[str, Any] = {
        "id": new_id(by.address),
        "name": "某某公司乡村振兴专项基金",
        "sponsor_kind": 1,
        "sponsor_hash": sha256("salt|某某公司".encode()),
        "sponsor_public": True,
        "pledged": pledged,
        "purpose_hash": sha256(b"purpose"),
    }
    fields.update(kw)
    return Fund(**fields)


def source(by: LocalAccount, cid: bytes, **kw: Any) -> CommitmentSource:
    fields: dict[str, Any] = {
        "id": new_id(by.address),
        "commitment_id": cid,
        "pairing_id": bytes(32),
        "fund_id": bytes(32),
        "fund_amount": 0,
    }
    fields.update(kw)
    return CommitmentSource(**fields)


def round_of(
    env: ChainEnv, by: LocalAccount, batch_id: bytes, rate: int, **kw: Any
) -> FollowUpRound:
    fields: dict[str, Any] = {
        "id": new_id(by.address),
        "batch_id": batch_id,
        "county": COUNTY_A,
        "seed_block": env.w3.eth.block_number + 5,
        "rate_bps": rate,
    }
    fields.update(kw)
    return FollowUpRound(**fields)


def grievance(by: LocalAccount, project_id: bytes, record_id: bytes = bytes(32)) -> Grievance:
    return Grievance(
        id=new_id(by.address),
        project_id=project_id,
        record_id=record_id,
        grievance_hash=sha256(b"text"),
        filed_at=1_767_225_600,
    )


def answer(by: LocalAccount, grievance_id: bytes, outcome: int = 1) -> GrievanceAnswer:
    return GrievanceAnswer(
        id=new_id(by.address), grievance_id=grievance_id, outcome=outcome, answer_hash=sha256(b"a")
    )


def funds_commitment(
    book: Book, env: ChainEnv, quantity: int, org: LocalAccount | None = None
) -> Any:
    """A need of county A and a commitment of `quantity` fen against it by org A (or `org`)."""
    n = need(env.actors.county_a)
    book.submit(n, env.actors.county_a)
    who = org or env.actors.org_a
    c = commitment(who, n.project_id, quantity, ResourceKind.FUNDS)
    book.submit(c, who)
    return c


def _submitted(book: Book, record: Record, who: LocalAccount) -> None:
    signed = book.sign(record, who)
    (event,) = appended(book.ledger, book.submit(signed))
    assert event["args"]["kind"] == int(record.KIND)
    assert bytes(event["args"]["record"]) == signed.canonical_bytes()
    assert book.ledger.record_kind(record.id) == int(record.KIND)


def test_every_program_kind_accepted(env: ChainEnv, book: Book, rate: int) -> None:
    a = env.actors
    c = funds_commitment(book, env, 500)  # by org A, in county A
    n = need(a.county_a)
    book.submit(n, a.county_a)
    p = pairing(a.org_a)
    f = fund(a.org_a, pledged=800)
    b = batch(a.org_a, [c.id], [40], line_count=8)
    book.submit(b, a.org_a)
    r = round_of(env, a.county_a, b.id, rate, seed_block=env.w3.eth.block_number + 50)
    g = grievance(a.county_a, n.project_id, b.id)
    steps: list[tuple[Record, LocalAccount]] = [
        (p, a.org_a),
        (acceptance(a.county_a, p), a.county_a),
        (f, a.org_a),
        (fund_contribution(a.org_a.address, f.id, 300, evidence=b"slip"), a.org_a),
        (source(a.org_a, c.id, pairing_id=p.id, fund_id=f.id, fund_amount=500), a.org_a),
        (r, a.county_a),
        (follow_up(a.county_a, r.id, 7), a.county_a),
        (follow_up(a.county_a, r.id, 2, outcome=2, quantity=3), a.county_a),
        (g, a.county_a),
        (answer(a.county_a, g.id, 2), a.county_a),
    ]
    for record, who in steps:
        _submitted(book, record, who)
    assert env.ledger.fund_totals(f.id) == (800, 500)
    assert {int(rec.KIND) for rec, _ in steps} | {int(Kind.DELIVERY_BATCH)} >= {
        int(k) for k in Kind if k >= Kind.PAIRING
    }


def test_pairing_refusals(env: ChainEnv, book: Book) -> None:
    a = env.actors
    assert book.refused(pairing(a.county_a), a.county_a) == "MissingRole"
    assert book.refused(pairing(a.org_a, county=12), a.org_a) == "InvalidCountyCode"
    bad_period = pairing(a.org_a, start_date=20270101, end_date=20261231)
    assert book.refused(bad_period, a.org_a) == "InvalidPeriod"
    assert book.refused(pairing(a.org_a, start_date=20261301), a.org_a) == "InvalidPeriod"
    assert book.refused(pairing(a.org_a, categories=0), a.org_a) == "InvalidCategories"
    assert book.refused(pairing(a.org_a, categories=1 << 10), a.org_a) == "InvalidCategories"
    p = pairing(a.org_a, county=COUNTY_B)
    book.submit(p, a.org_a)
    assert book.refused(acceptance(a.org_b, p), a.org_b) == "MissingRole"
    assert book.refused(acceptance(a.county_a, p), a.county_a) == "WrongCounty"
    assert book.refused(acceptance(a.county_b, p, county=COUNTY_A), a.county_b) == "WrongCounty"
    unknown = acceptance(a.county_a, pairing(a.org_a))
    assert book.refused(unknown, a.county_a) == "UnknownPairing"
    book.submit(acceptance(a.county_b, p), a.county_b)
    assert book.refused(acceptance(a.county_b, p), a.county_b) == "PairingAlreadyAccepted"
    # a replay: the same signed acceptance again
    assert book.refused(book.signed[-1]) == "RecordIdUsed"


def test_a_commitment_cites_only_its_own_accepted_pairing_in_its_county(
    env: ChainEnv, book: Book
) -> None:
    a = env.actors
    _, c = open_commitment(book, env)  # county A
    p = pairing(a.org_a)
    book.submit(p, a.org_a)
    assert book.refused(source(a.org_a, c.id, pairing_id=p.id), a.org_a) == "PairingNotAccepted"
    book.submit(acceptance(a.county_a, p), a.county_a)
    other = pairing(a.org_b)
    book.submit(other, a.org_b)
    book.submit(acceptance(a.county_a, other), a.county_a)
    assert book.refused(source(a.org_a, c.id, pairing_id=other.id), a.org_a) == "NotPairingParty"
    in_b = pairing(a.org_a, county=COUNTY_B)
    book.submit(in_b, a.org_a)
    book.submit(acceptance(a.county_b, in_b), a.county_b)
    code = book.refused(source(a.org_a, c.id, pairing_id=in_b.id), a.org_a)
    assert code == "PairingCountyMismatch"
    assert book.refused(source(a.org_b, c.id, pairing_id=p.id), a.org_b) == "NotCommitmentOwner"
    assert book.refused(source(a.org_a, c.id), a.org_a) == "EmptySource"
    book.submit(source(a.org_a, c.id, pairing_id=p.id), a.org_a)
    assert book.refused(source(a.org_a, c.id, pairing_id=p.id), a.org_a) == (
        "CommitmentAlreadySourced"
    )


def test_a_fund_is_never_over_committed(env: ChainEnv, book: Book) -> None:
    a = env.actors
    f = fund(a.org_a, pledged=150)
    assert book.refused(fund(a.org_a, name=""), a.org_a) == "InvalidFundName"
    assert book.refused(fund(a.org_a, sponsor_kind=3), a.org_a) == "InvalidSponsorKind"
    assert book.refused(fund(a.org_a, pledged=0), a.org_a) == "InvalidQuantity"
    assert book.refused(fund(a.county_a), a.county_a) == "MissingRole"
    book.submit(f, a.org_a)
    c1, c2, c3 = (funds_commitment(book, env, 100) for _ in range(3))
    over_sum = source(a.org_a, c1.id, fund_id=f.id, fund_amount=101)
    assert book.refused(over_sum, a.org_a) == "InvalidQuantity"  # more than the commitment
    no_amount = source(a.org_a, c1.id, fund_id=f.id)
    assert book.refused(no_amount, a.org_a) == "EmptySource"
    book.submit(source(a.org_a, c1.id, fund_id=f.id, fund_amount=100), a.org_a)
    assert book.refused(source(a.org_a, c2.id, fund_id=f.id, fund_amount=51), a.org_a) == (
        "FundOverCommitted"
    )
    book.submit(source(a.org_a, c2.id, fund_id=f.id, fund_amount=50), a.org_a)  # to the fen
    assert env.ledger.fund_totals(f.id) == (150, 150)
    assert book.refused(source(a.org_a, c3.id, fund_id=f.id, fund_amount=1), a.org_a) == (
        "FundOverCommitted"
    )
    # another organization's commitment cannot draw on the fund, nor its owner record into it
    cb = funds_commitment(book, env, 100, org=a.org_b)
    assert book.refused(source(a.org_b, cb.id, fund_id=f.id, fund_amount=1), a.org_b) == (
        "NotFundOwner"
    )
    contribution = fund_contribution(a.org_b.address, f.id, 10, evidence=b"")
    assert book.refused(contribution, a.org_b) == "NotFundOwner"
    unknown = dataclasses.replace(contribution, id=new_id(a.org_b.address), fund_id=sha256(b"x"))
    assert book.refused(unknown, a.org_b) == "UnknownFund"


def test_follow_up_round_and_result_refusals(env: ChainEnv, book: Book, rate: int) -> None:
    a = env.actors
    _, c = open_commitment(book, env)
    b = batch(a.org_a, [c.id], [10], line_count=4)
    book.submit(b, a.org_a)
    assert book.refused(round_of(env, a.org_a, b.id, rate), a.org_a) == "MissingRole"
    wrong = round_of(env, a.county_b, b.id, rate)
    assert book.refused(wrong, a.county_b) == "WrongCounty"  # signs for county A
    assert book.refused(round_of(env, a.county_a, c.id, rate), a.county_a) == "UnknownBatch"
    assert book.refused(round_of(env, a.county_a, b.id, rate + 1), a.county_a) == (
        "WrongFollowUpRate"
    )
    past = round_of(env, a.county_a, b.id, rate, seed_block=env.w3.eth.block_number)
    assert book.refused(past, a.county_a) == "SeedBlockNotFuture"
    r = round_of(env, a.county_a, b.id, rate)
    book.submit(r, a.county_a)
    again = round_of(env, a.county_a, b.id, rate)
    assert book.refused(again, a.county_a) == "FollowUpRoundExists"
    assert book.refused(follow_up(a.county_b, r.id, 0), a.county_b) == "WrongCounty"
    assert book.refused(follow_up(a.county_a, r.id, 4), a.county_a) == "LineOutOfRange"
    assert book.refused(follow_up(a.county_a, r.id, 0, outcome=5), a.county_a) == "InvalidOutcome"
    part_without = follow_up(a.county_a, r.id, 0, outcome=2)
    assert book.refused(part_without, a.county_a) == "InvalidOutcome"
    full_with = follow_up(a.county_a, r.id, 0, quantity=3)
    assert book.refused(full_with, a.county_a) == "InvalidOutcome"
    unknown = follow_up(a.county_a, sha256(b"no round"), 0)
    assert book.refused(unknown, a.county_a) == "UnknownFollowUpRound"
    book.submit(follow_up(a.county_a, r.id, 0, outcome=3), a.county_a)
    assert book.refused(follow_up(a.county_a, r.id, 0), a.county_a) == "FollowUpRepeated"


def test_follow_ups_are_off_until_the_admin_sets_a_rate(env: ChainEnv, book: Book) -> None:
    a = env.actors
    env.ledger.set_follow_up_rate(a.admin, 0)
    _, c = open_commitment(book, env)
    b = batch(a.org_a, [c.id], [10], line_count=4)
    book.submit(b, a.org_a)
    assert book.refused(round_of(env, a.county_a, b.id, 0), a.county_a) == "WrongFollowUpRate"
    with pytest.raises(RecordError) as info:
        env.ledger.set_follow_up_rate(a.admin, 10_001)
    assert info.value.code == "InvalidRate"
    # only the admin sets it
    fn = env.ledger.contract.functions.setFollowUpRate(100)
    with pytest.raises(ContractCustomError) as raised:
        send_transaction(env.w3, a.org_a, dict(fn.build_transaction({"from": a.org_a.address})))
    assert revert_error(env.ledger.abi, raised.value).code == "AccessControlUnauthorizedAccount"
    assert env.ledger.follow_up_rate() == 0


def test_grievance_refusals(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, c = open_commitment(book, env)
    assert book.refused(grievance(a.org_a, n.project_id), a.org_a) == "MissingRole"
    assert book.refused(grievance(a.county_b, n.project_id), a.county_b) == "WrongCounty"
    assert book.refused(grievance(a.county_a, c.id), a.county_a) == "UnknownNeed"
    bad_record = grievance(a.county_a, n.project_id, sha256(b"nothing"))
    assert book.refused(bad_record, a.county_a) == "UnknownRecord"
    g = grievance(a.county_a, n.project_id, c.id)
    book.submit(g, a.county_a)
    assert book.refused(answer(a.county_b, g.id), a.county_b) == "WrongCounty"
    assert book.refused(answer(a.county_a, g.id, 4), a.county_a) == "InvalidOutcome"
    assert book.refused(answer(a.county_a, sha256(b"none")), a.county_a) == "UnknownGrievance"
    book.submit(answer(a.county_a, g.id, 3), a.county_a)
    assert book.refused(answer(a.county_a, g.id), a.county_a) == "GrievanceAlreadyAnswered"


def test_submit_record_refuses_non_canonical_fields(env: ChainEnv, book: Book) -> None:
    """`submitRecord` takes only the canonical encoding: the right length, every member in
    its type's range, and only kinds without a typed function of their own."""
    a = env.actors
    n = need(a.county_a)
    book.submit(n, a.county_a)
    c = commitment(a.org_a, n.project_id, 10, ResourceKind.GOODS)
    signed = book.sign(c, a.org_a)
    fields = c.abi_encoded()

    def refused(kind: int, data: bytes) -> str:
        call = SUBMIT_RECORD_SELECTOR + abi_encode(
            ["uint8", "bytes", "bytes"], [kind, data, signed.signature]
        )
        with pytest.raises(RecordError) as info:
            env.ledger.check_calldata(call)
        return info.value.code

    assert refused(int(Kind.COMMITMENT), fields[:-32]) == "MalformedFields"
    assert refused(int(Kind.COMMITMENT), fields + bytes(32)) == "MalformedFields"
    high = bytearray(fields)
    high[3 * 32] = 1  # the high byte of the uint8 resourceKind word
    assert refused(int(Kind.COMMITMENT), bytes(high)) == "MalformedFields"
    for kind in (int(Kind.PROJECT_ANCHOR), int(Kind.DELIVERY_BATCH), int(Kind.FUND), 0, 16):
        assert refused(kind, fields) == "UnknownKind"
    book.submit(signed)  # the canonical encoding goes in
