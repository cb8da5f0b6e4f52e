"""The pairing program on a real anvil and real databases: an organization proposes a
pairing (Pairing), the county accepts it (PairingAcceptance), and commitments cite it
(CommitmentSource). Accepted when right; refused with the contract's named error — by the
relayer before anything is queued, and by the contract itself — when forged, replayed,
signed by the wrong role or county, or citing a pairing it may not; indexed into the read
model, which a rebuild from the chain alone reproduces."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.core.errors import RecordError
from ledger.core.fields import ResourceKind, text32
from ledger.core.lines import new_id
from ledger.core.program_kinds import CommitmentSource, Pairing, PairingAcceptance
from ledger.core.records import SignedRecord
from ledger.store.models import OutboxRecord
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow
from ledger.store.queries import pairing as q
from ledger.store.queries.words import describe_record
from tests.factories import (
    COUNTY_A,
    COUNTY_B,
    ORG_NAME_A,
    Chain,
    ChainEnv,
    Stack,
    body,
    matched,
    outbox_size,
    refused,
)

URL = "/api/v1/records"


def proposal(org: LocalAccount, county: int = COUNTY_A, **change: Any) -> Pairing:
    return dataclasses.replace(
        Pairing(
            id=new_id(org.address),
            county=county,
            start_date=20260101,
            end_date=20281231,
            categories=0b101,  # 产业发展, 特殊群体关爱
            funds_target=50_000_000,  # ¥500,000.00
            projects_target=4,
            hours_target=1_000,
            designated=True,
            terms_hash=new_id(),
        ),
        **change,
    )


def acceptance(county: LocalAccount, pairing_id: bytes, code: int = COUNTY_A) -> PairingAcceptance:
    return PairingAcceptance(id=new_id(county.address), pairing_id=pairing_id, county=code)


def source(org: LocalAccount, commitment_id: bytes, pairing_id: bytes) -> CommitmentSource:
    return CommitmentSource(
        id=CommitmentSource.source_id(commitment_id),
        commitment_id=commitment_id,
        pairing_id=pairing_id,
    )


def sign(record: Any, key: LocalAccount, env: ChainEnv) -> SignedRecord:
    signed: SignedRecord = record.sign(key.key, env.domain)
    return signed


def funds_commitment(flow: Chain, need_id: str, match_id: str, fen: int) -> SignedRecord:
    c = flow.commit(need_id, match_id, fen)
    rec = dataclasses.replace(c.record, resource_kind=ResourceKind.FUNDS, unit=text32("fen"))  # type: ignore[type-var]
    signed: SignedRecord = rec.sign(flow.org.key, flow.domain)
    return signed


def sent_commitment(
    client: TestClient,
    env: ChainEnv,
    st: Stack,
    county: LocalAccount,
    org: LocalAccount,
    county_code: int = COUNTY_A,
) -> SignedRecord:
    """A commitment of 10 by `org` to a need of `county` (published and matched in the
    library), accepted by the API."""
    nid, mid = matched(st, county, org, county_code)
    c = Chain(env.domain, county, org, county_code=county_code).commit(nid, mid, 10)
    assert client.post(URL, json=body(c)).status_code == 202
    return c


def test_pairing_proposed_accepted_and_cited(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    a = env.actors
    p = sign(proposal(a.org_a), a.org_a, env)
    assert client.post(URL, json=body(p)).status_code == 202
    # the acceptance may follow the pairing while the pairing still waits in the outbox
    acc = sign(acceptance(a.county_a, p.id), a.county_a, env)
    assert client.post(URL, json=body(acc)).status_code == 202
    # a second acceptance (pending or on chain) is refused
    again = sign(acceptance(a.county_a, p.id), a.county_a, env)
    refused(client.post(URL, json=body(again)), 422, "pairing_already_accepted")
    st.settle()
    refused(client.post(URL, json=body(again)), 422, "pairing_already_accepted")
    with pytest.raises(RecordError) as exc:
        env.ledger.check(again)
    assert exc.value.code == "PairingAlreadyAccepted"

    # two commitments to needs of the county, one funds and one service hours, cite it
    flow = Chain(env.domain, a.county_a, a.org_a)
    nid, mid = matched(st, a.county_a, a.org_a)
    funds = funds_commitment(flow, nid, mid, 12_345_600)
    nid2, mid2 = matched(st, a.county_a, a.org_a)
    hours_rec = dataclasses.replace(
        flow.commit(nid2, mid2, 40).record,  # type: ignore[type-var]
        resource_kind=ResourceKind.SERVICE,
        unit=text32("hour"),
    )
    hours = sign(hours_rec, a.org_a, env)
    s1 = sign(source(a.org_a, funds.id, p.id), a.org_a, env)
    s2 = sign(source(a.org_a, hours.id, p.id), a.org_a, env)
    # the sources may follow their commitments while those are pending too
    assert client.post(URL, json=body(funds, hours, s1, s2)).status_code == 202
    # one source per commitment
    twice = dataclasses.replace(s1.record, id=new_id(a.org_a.address))  # type: ignore[type-var]
    refused(
        client.post(URL, json=body(sign(twice, a.org_a, env))), 422, "commitment_already_sourced"
    )
    delivered = flow.deliver(funds, 2_000_000)
    assert client.post(URL, json=body(delivered)).status_code == 202
    st.settle()

    with svc.db.read() as s:
        row = s.get(PairingRow, "0x" + p.id.hex())
        assert row is not None and row.org == a.org_a.address and row.designated
        assert s.scalar(select(PairingAcceptanceRow.pairing_id)) is not None
        cited = set(s.scalars(select(PairingCommitmentRow.commitment_id)))
        assert {"0x" + funds.id.hex(), "0x" + hours.id.hex()} <= cited
        view = q.pairing(s, "0x" + p.id.hex())
        # the acceptance and the source in words name the pairing and the commitment
        words = describe_record(s, "0x" + acc.id.hex())
        source_words = describe_record(s, "0x" + s1.id.hex())
    assert words is not None and source_words is not None
    named = {f.key: f.zh for f in words.fields}
    assert named["pairing"].startswith(ORG_NAME_A) and "结对" in named["pairing"], named
    assert "未知" not in {f.key: f.zh for f in source_words.fields}["commitment"]
    assert view is not None and view.accepted and view.categories == [1, 3]
    assert view.progress.funds_committed == 12_345_600
    assert view.progress.funds_delivered == 2_000_000
    assert view.progress.hours_committed == 40 and view.progress.projects == 2
    # ¥20,000 of ¥500,000 delivered is 4 %: behind on funds by mid-period, not on day one
    assert "funds" in view.behind(20270701)
    assert view.behind(20260101) == []
    assert view.elapsed_share(20251231) == 0 and view.elapsed_share(20290101) == 1


def test_refused_with_named_errors(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    a = env.actors
    before = outbox_size(svc)
    # wrong role: a county cannot propose, an organization cannot accept
    bad = sign(proposal(a.county_a), a.county_a, env)
    refused(client.post(URL, json=body(bad)), 422, "missing_role")
    with pytest.raises(RecordError) as exc:
        env.ledger.check(bad)
    assert exc.value.code == "MissingRole"
    for change, code in (
        ({"start_date": 0}, "invalid_period"),
        ({"end_date": 20251231}, "invalid_period"),
        ({"start_date": 20261301}, "invalid_period"),
        ({"categories": 0}, "invalid_categories"),
        ({"categories": 1 << 10}, "invalid_categories"),
        ({"county": 52232}, "invalid_county_code"),
    ):
        rec = sign(proposal(a.org_a, **change), a.org_a, env)
        refused(client.post(URL, json=body(rec)), 422, code)
        with pytest.raises(RecordError) as exc:
            env.ledger.check(rec)
        assert codes_of(exc.value.code) == code
    # forged: a record altered after signing names another signer, whose id it is not
    p = sign(proposal(a.org_a), a.org_a, env)
    forged = dataclasses.replace(p, record=dataclasses.replace(p.record, funds_target=1))
    refused(client.post(URL, json=body(forged)), 422, "bad_signature")
    assert client.post(URL, json=body(p)).status_code == 202
    # wrong county: county B's office cannot accept county A's pairing, nor name county B
    refused(
        client.post(URL, json=body(sign(acceptance(a.county_b, p.id, COUNTY_B), a.county_b, env))),
        422,
        "wrong_county",
    )
    refused(
        client.post(URL, json=body(sign(acceptance(a.county_b, p.id, COUNTY_A), a.county_b, env))),
        422,
        "wrong_county",
    )
    refused(
        client.post(URL, json=body(sign(acceptance(a.org_a, p.id), a.org_a, env))),
        422,
        "missing_role",
    )
    refused(
        client.post(
            URL, json=body(sign(acceptance(a.county_a, new_id(a.org_a.address)), a.county_a, env))
        ),
        422,
        "unknown_pairing",
    )
    st.settle()
    # replay: the same signed pairing again is a duplicate, never a second record; on chain
    # the contract refuses the used id
    r = client.post(URL, json=body(p))
    assert r.status_code == 202 and r.json()["accepted"][0]["duplicate"] is True
    with pytest.raises(RecordError) as exc:
        env.ledger.check(p)
    assert exc.value.code == "RecordIdUsed"

    # citing: not yet accepted, another organization's pairing, a need of another county
    c = sent_commitment(client, env, st, a.county_a, a.org_a)
    refused(
        client.post(URL, json=body(sign(source(a.org_a, c.id, p.id), a.org_a, env))),
        422,
        "pairing_not_accepted",
    )
    acc = sign(acceptance(a.county_a, p.id), a.county_a, env)
    assert client.post(URL, json=body(acc)).status_code == 202
    st.settle()
    with pytest.raises(RecordError) as exc:
        env.ledger.check(
            sign(CommitmentSource(id=new_id(a.org_a.address), commitment_id=c.id), a.org_a, env)
        )
    assert exc.value.code == "EmptySource"
    refused(
        client.post(
            URL,
            json=body(
                sign(CommitmentSource(id=new_id(a.org_a.address), commitment_id=c.id), a.org_a, env)
            ),
        ),
        422,
        "empty_source",
    )
    cb = sent_commitment(client, env, st, a.county_a, a.org_b)
    refused(
        client.post(URL, json=body(sign(source(a.org_b, cb.id, p.id), a.org_b, env))),
        422,
        "not_pairing_party",
    )
    refused(
        client.post(URL, json=body(sign(source(a.org_b, c.id, p.id), a.org_b, env))),
        422,
        "record_id_not_scoped",
    )
    co = sent_commitment(client, env, st, a.county_b, a.org_a, COUNTY_B)
    st.settle()
    mismatch = sign(source(a.org_a, co.id, p.id), a.org_a, env)
    refused(client.post(URL, json=body(mismatch)), 422, "pairing_county_mismatch")
    with pytest.raises(RecordError) as exc:
        env.ledger.check(mismatch)
    assert exc.value.code == "PairingCountyMismatch"
    ok = sign(source(a.org_a, c.id, p.id), a.org_a, env)
    assert client.post(URL, json=body(ok)).status_code == 202
    st.settle()
    # none of the refused records went in
    with svc.db.read() as s:
        queued = set(s.scalars(select(OutboxRecord.record_id)))
    assert {"0x" + bad.id.hex(), "0x" + mismatch.id.hex()}.isdisjoint(queued)
    assert outbox_size(svc) > before


def codes_of(name: str) -> str:
    from ledger.core.codes import canonical

    return canonical(name)
