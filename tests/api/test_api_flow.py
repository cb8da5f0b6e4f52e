"""Through the HTTP API on a real anvil and real databases: a record's whole life (need,
commitment, delivery, receipt) up to the public queries, duplicates, and a rebuild from the
chain alone that equals the live read model row for row."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.records import SignedRecord
from ledger.indexer.rebuild import digest
from ledger.store.models import OutboxRecord
from tests.factories import (
    Chain,
    ChainEnv,
    Stack,
    body,
    leaf_count,
    matched,
    rebuilt,
)


def commit_deliver_confirm(
    http: TestClient,
    st: Stack,
    flow: Chain,
    match: tuple[str, str],
    quantities: tuple[int, int, int],
) -> tuple[SignedRecord, SignedRecord, SignedRecord]:
    """A commitment on the matched need, a delivery and its receipt of the given quantities,
    each posted to /api/v1/records and settled on chain before the next."""
    nid, mid = match
    committed, delivered, confirmed = quantities
    c = flow.commit(nid, mid, committed)
    d = flow.deliver(c, delivered)
    rc = flow.confirm(d, confirmed)
    for signed in (c, d, rc):
        assert http.post("/api/v1/records", json=body(signed)).status_code == 202
        st.settle()
    return c, d, rc


def test_record_life_through_the_api(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    # A need anchored straight through the API (the library's own route does the same).
    n = flow.need()
    r = http.post("/api/v1/records", json=body(n))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"][0]["status"] == "queued"
    st.settle(["0x" + n.id.hex()])
    assert http.get(f"/api/v1/public/record/0x{n.id.hex()}").status_code == 200

    nid, mid = matched(st, env.actors.county_a, env.actors.org_a)
    c, d, rc = commit_deliver_confirm(http, st, flow, (nid, mid), (100, 60, 55))

    ids = ["0x" + s.id.hex() for s in flow.records]
    status = http.get("/api/v1/records/status", params={"ids": ids}).json()
    assert [s["status"] for s in status] == ["confirmed"] * 4
    # The relayer's tx hashes are the chain's: each receipt carries the record's event.
    for s in status:
        rcpt = env.w3.eth.get_transaction_receipt(s["tx_hash"])
        assert rcpt["status"] == 1
        assert rcpt["blockNumber"] == s["block_number"]
        events = env.ledger.contract.events.RecordAppended().process_receipt(rcpt)
        assert s["leaf_index"] in [int(e["args"]["index"]) for e in events]

    cid = "0x" + c.id.hex()
    commits = http.get("/api/v1/public/commitments", params={"project": nid}).json()
    deliveries = http.get("/api/v1/public/deliveries", params={"commitment": cid}).json()
    receipts = http.get("/api/v1/public/receipts", params={"project": nid}).json()
    got = {i["record_id"]: i for i in commits["items"] + deliveries["items"] + receipts["items"]}
    assert set(got) == {cid, "0x" + d.id.hex(), "0x" + rc.id.hex()}
    by_id = {s["record_id"]: s for s in status}
    for rid, item in got.items():
        assert item["chain"]["tx_hash"] == by_id[rid]["tx_hash"]
        assert item["chain"]["leaf_index"] == by_id[rid]["leaf_index"]
    one = http.get(f"/api/v1/public/record/{cid}").json()
    assert one["chain"]["tx_hash"] == by_id[cid]["tx_hash"]
    commit_row = next(i for i in commits["items"] if i["record_id"] == cid)
    assert (commit_row["quantity"], commit_row["delivered"], commit_row["confirmed"]) == (
        100,
        60,
        55,
    )
    totals = http.get("/api/v1/public/totals/county").json()
    assert totals, "totals by county are empty after a confirmed flow"


def test_same_record_twice_is_one_record(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    n = flow.need()
    first = http.post("/api/v1/records", json=body(n)).json()["accepted"][0]
    again = http.post("/api/v1/records", json=body(n)).json()["accepted"][0]
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    st.settle()
    after = http.post("/api/v1/records", json=body(n))
    assert after.status_code == 202
    assert after.json()["accepted"][0] == {**first, "status": "confirmed", "duplicate": True}
    rid = "0x" + n.id.hex()
    with svc.db.read() as s:
        assert s.query(OutboxRecord).filter_by(record_id=rid).count() == 1
    st.settle()
    assert leaf_count(svc, rid) == 1
    assert env.ledger.record_kind(n.id) == 1


def test_rebuild_from_chain_equals_live_read_model(
    env: ChainEnv,
    svc: LedgerService,
    st: Stack,
    http: TestClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_b)
    commit_deliver_confirm(
        http, st, flow, matched(st, env.actors.county_a, env.actors.org_b), (50, 20, 20)
    )
    with rebuilt(svc, tmp_path_factory.mktemp("rebuild")) as fresh:
        live, again = digest(svc.db), digest(fresh)
        assert live.counts["log_entries"] >= 4
        assert live == again, live.differences(again)
