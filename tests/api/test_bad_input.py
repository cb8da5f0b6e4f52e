"""Bad input through the HTTP API: each refusal a 4xx problem document with a clear `code`,
never a 5xx, no forgery accepted, and nothing half-written when one record of several is bad."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.lines import new_id
from tests.factories import (
    Chain,
    ChainEnv,
    Stack,
    body,
    commitment,
    delivery,
    matched,
    need,
    outbox_size,
    receipt,
    refused,
)

#: Where signed records are posted.
URL = "/api/v1/records"


def test_malformed_bodies(env: ChainEnv, svc: LedgerService, client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    refused(client.post(URL, content=b"{not json", headers=headers), 400, "invalid_json")
    refused(client.post(URL, content=b"\xff\xfe", headers=headers), 400, "invalid_json")
    refused(client.post(URL, json={"records": "x"}), 422, "invalid_request")
    refused(client.post(URL, json={"records": []}), 422, "invalid_request")
    refused(client.post(URL, json=[1, 2]), 422, "invalid_request")
    refused(client.post(URL, json={"records": [], "extra": 1}), 422, "invalid_request")
    signed = Chain(env.domain, env.actors.county_a, env.actors.org_a).need()
    item = signed.to_json()
    refused(client.post(URL, json={"records": [{**item, "x": 1}]}), 422, "invalid_request")
    refused(client.post(URL, json={"records": [{**item, "kind": "gift"}]}), 422, "invalid_request")
    refused(client.post(URL, json={"records": [{**item, "record": []}]}), 422, "invalid_request")
    refused(client.post(URL, json={"records": [{**item, "signature": 5}]}), 422, "invalid_request")
    for bad_record in (
        {**item["record"], "county": "五"},
        {**item["record"], "county": -1},
        {**item["record"], "projectId": "0x1234"},
        {**item["record"], "surprise": True},
        {k: v for k, v in item["record"].items() if k != "category"},
    ):
        r = client.post(URL, json={"records": [{**item, "record": bad_record}]})
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["code"], r.json()
    big = {"records": [{**item, "record": {**item["record"], "pad": "x" * 2_100_000}}]}
    refused(client.post(URL, json=big), 413, "body_too_large")
    refused(
        client.post(URL, content=b"{}", headers={**headers, "content-length": "x1"}),
        400,
        "bad_content_length",
    )
    refused(client.get("/api/v1/records/status"), 422, "invalid_request")
    refused(client.get("/api/v1/public/record/0x12"), 422, "invalid_request")
    # Not a cursor's alphabet: refused by the document; the alphabet, but not one of ours: 400.
    refused(
        client.get("/api/v1/public/commitments", params={"cursor": "@@"}), 422, "invalid_request"
    )
    refused(client.get("/api/v1/public/commitments", params={"cursor": "abcd"}), 400, "bad_cursor")
    refused(client.get("/api/v1/public/totals/planet"), 422, "invalid_request")
    assert outbox_size(svc) == 0


def test_forged_signatures_are_refused(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient, flow: Chain
) -> None:
    good = flow.need().to_json()
    sig = bytes.fromhex(good["signature"][2:])
    # A flipped bit recovers some other key (or none): never the county's.
    flipped = "0x" + (sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]).hex()
    r = client.post(URL, json={"records": [{**good, "signature": flipped}]})
    assert r.status_code in (403, 422) and r.json()["code"] in ("missing_role", "bad_signature")
    r = client.post(
        URL, json={"records": [{**good, "signature": flipped, "signer": good["signer"]}]}
    )
    refused(r, 422, "bad_signature")
    refused(
        client.post(URL, json={"records": [{**good, "signature": "0x" + "00" * 65}]}),
        422,
        "bad_signature",
    )
    # Not 65 bytes of hex: the document's pattern refuses it before any signature check.
    refused(
        client.post(URL, json={"records": [{**good, "signature": "0xzz"}]}), 422, "invalid_request"
    )
    # The record changed after signing: the signature recovers to a stranger.
    tampered = {**good, "record": {**good["record"], "category": 4}}
    r = client.post(URL, json={"records": [tampered]})
    assert r.status_code == 422 and r.json()["code"] in ("record_id_not_scoped", "bad_signature")
    # Signed by a key without the role, or by the wrong county's office.
    a = env.actors
    for who, code in (
        (a.stranger, "missing_role"),
        (a.county_b, "wrong_county"),
        (a.org_a, "missing_role"),
    ):
        refused(client.post(URL, json=body(flow.sign(need(who.address), who))), 422, code)
    # Signed for another deployment (domain): recovers to someone else here.
    other = dataclasses.replace(env.domain, chain_id=env.domain.chain_id + 1)
    foreign = need(a.county_a.address).sign(a.county_a.key, other).to_json()
    refused(client.post(URL, json={"records": [foreign]}), 422, "bad_signature")
    del foreign["signer"]
    refused(client.post(URL, json={"records": [foreign]}), 422, "record_id_not_scoped")
    assert outbox_size(svc) == 0


def test_replays_and_unknown_references(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient, flow: Chain
) -> None:
    nid, mid = matched(st, env.actors.county_a, env.actors.org_a)
    c = flow.commit(nid, mid, 10)
    assert client.post(URL, json=body(c)).status_code == 202
    # The same signed record again: a duplicate answer, not a second record.
    r = client.post(URL, json=body(c))
    assert r.status_code == 202 and r.json()["accepted"][0]["duplicate"] is True
    # The same id with different content (a new signature over other fields): 409.
    twin = dataclasses.replace(c.record, quantity=11)  # type: ignore[type-var]
    refused(
        client.post(URL, json=body(twin.sign(env.actors.org_a.key, env.domain))),
        409,
        "record_id_used",
    )
    refused(client.post(URL, json=body(c, c)), 409, "duplicate_in_submission")
    st.settle()
    refused(
        client.post(URL, json=body(twin.sign(env.actors.org_a.key, env.domain))),
        409,
        "record_id_used",
    )
    r = client.post(URL, json=body(c))
    assert r.status_code == 202 and r.json()["accepted"][0] == {
        "record_id": "0x" + c.id.hex(),
        "kind": "commitment",
        "status": "confirmed",
        "duplicate": True,
    }
    # References to things that do not exist.
    refused(
        client.post(
            URL,
            json=body(flow.sign(commitment(env.actors.org_a.address, new_id()), env.actors.org_a)),
        ),
        422,
        "unknown_need",
    )
    # A real need, but a match that was never accepted.
    refused(
        client.post(URL, json=body(flow.commit(nid, "0x" + new_id().hex(), 5))),
        422,
        "no_accepted_match",
    )
    refused(
        client.post(
            URL,
            json=body(flow.sign(delivery(env.actors.org_a.address, new_id(), 1), env.actors.org_a)),
        ),
        422,
        "unknown_commitment",
    )
    refused(
        client.post(
            URL,
            json=body(
                flow.sign(receipt(env.actors.county_a.address, new_id(), 1), env.actors.county_a)
            ),
        ),
        422,
        "unknown_delivery",
    )
    refused(client.post(URL, json=body(flow.deliver(c, 11))), 422, "over_delivery")
    refused(
        client.post(
            URL, json=body(flow.sign(delivery(env.actors.org_b.address, c.id, 1), env.actors.org_b))
        ),
        422,
        "not_commitment_owner",
    )
    before = outbox_size(svc)
    # Three records where the third is bad: none is written.
    d1, d2 = flow.deliver(c, 3), flow.deliver(c, 3)
    bad = flow.deliver(c, 5)  # 3 + 3 + 5 > 10
    refused(client.post(URL, json=body(d1, d2, bad)), 422, "over_delivery")
    r = client.post(
        URL, json={"records": [d1.to_json(), d2.to_json(), {**bad.to_json(), "kind": "x"}]}
    )
    refused(r, 422, "invalid_request")
    assert outbox_size(svc) == before
    statuses = client.get(URL + "/status", params={"ids": ["0x" + d1.id.hex()]}).json()
    assert statuses[0]["status"] == "unknown"
    assert client.post(URL, json=body(d1, d2)).status_code == 202
    st.settle()
    assert env.ledger.commitment_totals(c.id)[1] == 6
