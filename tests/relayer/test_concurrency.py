"""200 submissions at once from 4 signers through a real HTTP server while the relayer and
the indexer run: every record confirmed once, and each relayer account's mined nonces are
contiguous (no gap, no duplicate)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from api.app import create_app
from ledger.app import LedgerService
from ledger.core.records import ProjectAnchor, ProjectKind, SignedRecord, new_id
from tests.conftest import COUNTY_A, COUNTY_B, ChainEnv, free_port
from tests.service.helpers import Stack, appended_ids, need, sender_nonces, service_for, stack


@pytest.fixture
def svc(env: ChainEnv, database_url: str) -> Iterator[LedgerService]:
    s = service_for(env.settings, database_url)
    yield s
    s.close()


def supply(signer: str) -> ProjectAnchor:
    pid = new_id(signer)
    return ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, 1),
        project_id=pid,
        project_kind=ProjectKind.SUPPLY,
        county=COUNTY_A,
        category=5,
        title="农技服务 farm services",
        content_hash=new_id(),
        version=1,
    )


class Server:
    def __init__(self, svc: LedgerService) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def pump(st: Stack, stop: threading.Event, errors: list[BaseException]) -> None:
    while not stop.is_set():
        try:
            if not st.step():
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            return


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
    stop, errors = threading.Event(), []  # type: ignore[var-annotated]
    worker = threading.Thread(target=pump, args=(st, stop, errors), daemon=True)
    with Server(svc) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        worker.start()

        def post(signed: SignedRecord) -> int:
            return http.post("/api/v1/records", json={"records": [signed.to_json()]}).status_code

        try:
            with ThreadPoolExecutor(32) as pool:
                codes = list(pool.map(post, records))
            assert codes == [202] * len(records)
            ids = ["0x" + r.id.hex() for r in records]
            deadline = time.monotonic() + 180
            while True:
                assert not errors, errors
                got = http.get("/api/v1/records/status", params={"ids": ids}).json()
                if all(s["status"] == "confirmed" for s in got):
                    break
                assert time.monotonic() < deadline, {s["status"] for s in got}
                time.sleep(0.2)
        finally:
            stop.set()
            worker.join(60)
    assert not errors, errors
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
