"""200 submissions at once from 4 signers through a real HTTP server while the relayer and
the indexer run: every record confirmed once, and each relayer account's mined nonces are
contiguous (no gap, no duplicate)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from ledger.app import LedgerService
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.fields import ProjectKind
from ledger.core.records import SignedRecord
from tests.factories import (
    COUNTY_A,
    COUNTY_B,
    ChainEnv,
    LiveServer,
    Pump,
    appended_ids,
    need,
    project_anchor,
    sender_nonces,
    stack,
)


def supply(signer: str) -> ProjectAnchor:
    return project_anchor(
        signer,
        ProjectKind.SUPPLY,
        category=5,
        title="农技服务 farm services",
        budget=0,
        end_date=0,
    )


def test_200_concurrent_submissions_keep_nonces_contiguous(
    env: ChainEnv, svc: LedgerService
) -> None:
    st = stack(svc, env.actors.relayers, batch_size=10, max_inflight=4)
    a = env.actors
    signers = [
        (a.county_a, lambda who: need(who, COUNTY_A)),
        (a.county_b, lambda who: need(who, COUNTY_B)),
        (a.org_a, supply),
        (a.org_b, supply),
    ]
    records: list[SignedRecord] = [
        make(key.address).sign(key.key, env.domain) for key, make in signers for _ in range(50)
    ]
    first_block = int(env.w3.eth.block_number) + 1
    starts = {r.address: env.w3.eth.get_transaction_count(r.address) for r in a.relayers}
    pump = Pump(st, idle=0.02)
    with LiveServer(svc) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        pump.start()

        def post(signed: SignedRecord) -> int:
            return http.post("/api/v1/records", json={"records": [signed.to_json()]}).status_code

        try:
            with ThreadPoolExecutor(32) as pool:
                codes = list(pool.map(post, records))
            assert codes == [202] * len(records)
            ids = ["0x" + r.id.hex() for r in records]
            deadline = time.monotonic() + 180
            while True:
                assert not pump.errors, pump.errors
                got = http.get("/api/v1/records/status", params={"ids": ids}).json()
                if all(s["status"] == "confirmed" for s in got):
                    break
                assert time.monotonic() < deadline, {s["status"] for s in got}
                time.sleep(0.2)
        finally:
            pump.halt()
    on_chain = appended_ids(env, first_block)
    assert all(on_chain.count(i) == 1 for i in ids)
    used = 0
    for relayer in a.relayers:
        nonces = sender_nonces(env.w3, relayer.address, first_block)
        end = env.w3.eth.get_transaction_count(relayer.address)
        assert nonces == list(range(starts[relayer.address], end)), relayer.address
        used += len(nonces)
    assert used >= len(records) // 10  # batches of up to 10 records
    assert (
        sum(
            1
            for n in range(len(a.relayers))
            if sender_nonces(env.w3, a.relayers[n].address, first_block)
        )
        >= 2
    ), "only one relayer account was used"
