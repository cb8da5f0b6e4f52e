#!/usr/bin/env python3
"""Where the time of one single-record `POST /api/v1/records` goes.

    .venv/bin/python scripts/profile_accept.py [--requests 200] [--database-url postgresql://…]
        [--html profile.html]

A private anvil with the contract deployed and a county registered, the read model indexed,
then `--requests` POSTs of one signed need anchor each, one after the other, through the
real ASGI app (FastAPI's TestClient: routing, pydantic, the handler, the outbox commit),
profiled with pyinstrument. Prints the mean and p50 per request and pyinstrument's tree
(docs/bench-api.md has the result).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_api import COUNTY, ORG_CODE, chain_settings, need, seed
from benchkit import deploy_registered, scratch
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from pyinstrument import Profiler

from api.app import create_app
from api.routers.submit import submit_records
from api.schemas import SubmissionIn
from ledger.app import LedgerService
from ledger.evm.contract import LedgerContract
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.indexer.worker import Indexer


@contextmanager
def registered_ledger(
    prefix: str, database_url: str | None
) -> Iterator[tuple[LedgerContract, list[LocalAccount], LedgerService]]:
    """A private anvil (its folder a new temporary one named `prefix`…) with the contract
    deployed, the county and the organization registered, and the service on a migrated read
    model; the service is closed when the body finishes, the chain stopped in any case."""
    with scratch(prefix) as tmp:
        settings, _env = chain_settings(tmp, database_url)
        chain = LocalChain(load_localchain(settings), settings)
        chain.up()
        try:
            ledger, accts = deploy_registered(settings, chain, COUNTY, ORG_CODE)
            service = LedgerService(settings)
            service.db.migrate()
            yield ledger, accts, service
            service.close()
        finally:
            chain.down()


def profile_indexer(n: int, database_url: str | None) -> None:
    """Seeds `n` records on chain, then times and profiles one indexer catching up."""
    with registered_ledger("profile-indexer-", database_url) as (ledger, accts, service):
        Indexer(service.db, ledger).run_until_synced()
        seed(ledger, accts[1].key, accts[3].key, accts[6], n)
        profiler = Profiler(interval=0.0005)
        t = time.perf_counter()
        profiler.start()
        Indexer(service.db, ledger).run_until_synced()
        profiler.stop()
        took = time.perf_counter() - t
        print(f"indexed {n} leaves in {took:.2f} s: {n / took:.0f} leaves/s "
              f"({service.db.engine.dialect.name})")  # fmt: skip
        print(profiler.output_text(unicode=True, color=False, show_all=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--html", type=Path, default=None, help="also write pyinstrument's HTML")
    ap.add_argument("--indexer", type=int, default=0, metavar="N",
                    help="instead: seed N records (needs, commitments, deliveries) straight "
                    "on chain and profile the indexer indexing them (leaves/s)")  # fmt: skip
    args = ap.parse_args()
    if args.indexer:
        profile_indexer(args.indexer, args.database_url)
        return
    with registered_ledger("profile-accept-", args.database_url) as (ledger, accts, service):
        Indexer(service.db, ledger).run_once()
        county = accts[1]
        domain = ledger.deployment.domain
        with TestClient(create_app(service)) as http:
            warm = [need(county.key, domain) for _ in range(30)]
            for r in warm:
                resp = http.post("/api/v1/records", json={"records": [r.to_json()]})
                assert resp.status_code == 202
            bodies = [
                {"records": [need(county.key, domain).to_json()]} for _ in range(args.requests)
            ]
            ms: list[float] = []
            for body in bodies:
                t = time.perf_counter()
                assert http.post("/api/v1/records", json=body).status_code == 202
                ms.append((time.perf_counter() - t) * 1000)
        # The handler's own work (body parse, record parse and signature recovery), awaited
        # one after the other on one event loop: the local rules and the outbox commit run
        # on the outbox's writer thread, which the profile of this thread does not show.
        raws = [
            json.dumps({"records": [need(county.key, domain).to_json()]})
            for _ in range(args.requests)
        ]
        direct: list[float] = []

        async def one_by_one() -> None:
            for raw in raws:
                t = time.perf_counter()
                await submit_records(SubmissionIn.model_validate_json(raw), service)
                direct.append((time.perf_counter() - t) * 1000)

        profiler = Profiler(interval=0.0002)
        profiler.start()
        asyncio.run(one_by_one())
        profiler.stop()
        print(
            f"{args.requests} POSTs of one record through the ASGI app, "
            f"{service.db.engine.dialect.name}: mean {statistics.mean(ms):.2f} ms, "
            f"p50 {statistics.median(ms):.2f} ms, p90 {sorted(ms)[int(len(ms) * 0.9)]:.2f} ms"
        )
        print(
            f"the handler alone, awaited (the writer thread included): "
            f"mean {statistics.mean(direct):.2f} ms, "
            f"p50 {statistics.median(direct):.2f} ms"
        )
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
