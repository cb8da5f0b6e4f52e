#!/usr/bin/env python3
"""Benchmark single signed records through the API (accepted/s and confirmed/s at 1, 8, 32
and 64 concurrent clients) against the naive path (one transaction per record via web3.py),
and the latency of the public list and totals queries over a large read model. Prints
markdown tables (docs/bench-api.md has the results): the rates, each process's CPU a record,
and who held the database's one write lock for how long (`BANGFU_WRITE_LOCK_TRACE`).

    .venv/bin/python scripts/bench_api.py [--records 600] [--naive 300]
        [--query-records 100000] [--queries 300] [--database-url postgresql://...]

Everything is real: a private anvil (1 s interval mining, 300M gas limit), the API under
uvicorn, the relayer and the indexer as separate processes, SQLite (default) or PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import httpx
from benchkit import (
    cpu_seconds,
    deploy_registered,
    free_port,
    postgres_cpu_seconds,
    private_chain,
    scratch,
    stop_process,
    tree_cpu_seconds,
)
from eth_account import Account

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.aid_kinds import Commitment, Delivery, ProjectAnchor
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.indexer.worker import Indexer
from ledger.store.db import Database
from ledger.store.locktrace import LockUse, read_trace, sum_by_writer

COUNTY = 522327
ORG_CODE = "91520000MA6DKTQX0C"


def chain_settings(
    tmp: Path, database_url: str | None, poll: float = 0.05
) -> tuple[Settings, dict[str, str]]:
    return private_chain(tmp, database_url, poll_interval=poll, state_interval=600)


def need(county_key: bytes, domain: object) -> SignedRecord:
    pid = new_id(Account.from_key(county_key).address)
    rec = ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, 1),
        project_id=pid,
        project_kind=ProjectKind.NEED,
        county=COUNTY,
        category=1 + pid[25] % 10,
        title="民生保障 benchmark need",
        content_hash=new_id(),
    )
    return rec.sign(county_key, domain)  # type: ignore[arg-type]


def lock_use(trace: Path, offset: int, pids: dict[str, int]) -> dict[tuple[str, str], LockUse]:
    """The write-lock trace after `offset`, by (process, writer); a pid not among `pids` is
    an API worker process."""
    names = {v: k for k, v in pids.items()}
    return sum_by_writer(read_trace(trace, offset), lambda pid: names.get(pid, "API"))


def print_lock_use(
    rows: list[tuple[int, float, dict[tuple[str, str], LockUse]]], records: int
) -> None:
    print("\nThe database's one write lock (SQLite's, or the PostgreSQL advisory lock), by "
          "writer, from the first POST until all confirmed:\n")  # fmt: skip
    print("| clients | process: writer | transactions | held ms a record | longest hold ms "
          "| waited s | held, share of the run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for clients, seconds, use in rows:
        for (process, caller), u in sorted(use.items(), key=lambda kv: -kv[1].held):
            if u.held < 0.01 * seconds:
                continue  # the odd registration or checkpoint
            print(f"| {clients} | {process}: `{caller}` | {u.transactions:,} | "
                  f"{u.held * 1000 / records:.3f} | {u.longest * 1000:.0f} | {u.waited:.2f} | "
                  f"{u.held / seconds:.0%} |")  # fmt: skip
        total = sum(u.held for u in use.values())
        print(f"| {clients} | all writers | {sum(u.transactions for u in use.values()):,} | "
              f"{total * 1000 / records:.3f} | | | {total / seconds:.0%} |")  # fmt: skip


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def bench_api(
    base: str, records: list[SignedRecord], clients: int
) -> tuple[float, float, float, float]:
    """(accepted/s, confirmed/s, p50 and p99 ms per POST) for `records`, one POST per record from
    `clients` concurrent keep-alive connections. Each request is written as HTTP/1.1 bytes
    made before the clock starts (as a client holding signed records would have them) on
    an asyncio stream, and its answer read by its Content-Length: the lightest client that
    is still real HTTP, so that on two cores the machine's time goes to the server (aiohttp
    took 0.18 ms of CPU a POST here, this about a third of that; see docs/bench-api.md)."""
    return asyncio.run(_bench_api(base, records, clients))


def post_bytes(host: str, body: bytes) -> bytes:
    """`POST /api/v1/records` with `body`, as the bytes of an HTTP/1.1 request."""
    head = (
        f"POST /api/v1/records HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_answer(reader: asyncio.StreamReader) -> int:
    """Reads one HTTP/1.1 answer with a Content-Length; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _bench_api(
    base: str, records: list[SignedRecord], clients: int
) -> tuple[float, float, float, float]:
    ids = ["0x" + r.id.hex() for r in records]
    host, port = base.removeprefix("http://").split(":")
    requests = [post_bytes(host, json.dumps({"records": [r.to_json()]}).encode()) for r in records]
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        base, connector=conn, timeout=aiohttp.ClientTimeout(total=120)
    ) as http:
        todo = iter(requests)
        got: list[tuple[int, float]] = []

        async def client() -> None:
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                for request in todo:
                    t = time.perf_counter()
                    writer.write(request)
                    status = await read_answer(reader)
                    got.append((status, (time.perf_counter() - t) * 1000))
            finally:
                writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        accepted = time.perf_counter() - t0
        codes = {c for c, _ in got}
        assert codes == {202} and len(got) == len(records), codes
        p50 = statistics.median(ms for _, ms in got)
        p99 = statistics.quantiles([ms for _, ms in got], n=100)[98]
        # Every pending record is asked about in each round (500 ids a request, the
        # requests at once), then 0.1 s until the next: asking 500 of them a round, as this
        # did before, took 16 rounds for 8,000 records and added ~2 s to "confirmed".
        pending = set(ids)

        async def statuses(chunk: list[str]) -> list[dict[str, object]]:
            async with http.get("/api/v1/records/status", params=[("ids", i) for i in chunk]) as r:
                answer: list[dict[str, object]] = await r.json()
                return answer

        while pending:
            order = sorted(pending)
            chunks = [order[i : i + 500] for i in range(0, len(order), 500)]
            for answer in await asyncio.gather(*(statuses(c) for c in chunks)):
                pending -= {str(s["record_id"]) for s in answer if s["status"] == "confirmed"}
                bad = [s for s in answer if s["status"] in ("failed", "unknown")]
                assert not bad, bad[:2]
            if pending:
                await asyncio.sleep(0.1)
        confirmed = time.perf_counter() - t0
    return len(records) / accepted, len(records) / confirmed, p50, p99


def bench_naive(ledger: LedgerContract, records: list[SignedRecord], payer: object) -> float:
    """One transaction per record through plain web3.py: sign, send all, wait for receipts."""
    w3 = ledger.w3
    acct = payer
    nonce = w3.eth.get_transaction_count(acct.address, "pending")  # type: ignore[attr-defined]
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    t0 = time.perf_counter()
    hashes = []
    for i, r in enumerate(records):
        tx = ledger.submit_call(r).build_transaction(
            {
                "from": acct.address,  # type: ignore[attr-defined]
                "nonce": nonce + i,
                "gas": 400_000,
                "maxFeePerGas": 2 * base + 10**9,
                "maxPriorityFeePerGas": 10**9,
                "chainId": w3.eth.chain_id,
            }
        )
        signed = acct.sign_transaction(tx)  # type: ignore[attr-defined]
        hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
    for h in hashes:
        assert w3.eth.wait_for_transaction_receipt(h, timeout=600, poll_latency=0.1)["status"] == 1
    return len(records) / (time.perf_counter() - t0)


def seed(ledger: LedgerContract, county_key: bytes, org_key: bytes, payer: object, n: int,
         per_tx: int = 400) -> None:  # fmt: skip
    """n records straight to the contract in multicalls: needs, commitments and deliveries."""
    w3 = ledger.w3
    domain = ledger.deployment.domain
    org = Account.from_key(org_key).address
    recs: list[SignedRecord] = []
    needs = max(1, n // 20)
    for _ in range(needs):
        recs.append(need(county_key, domain))
    commits: list[SignedRecord] = []
    for i in range(needs * 4):
        nid = recs[i % needs].record.project_id  # type: ignore[attr-defined]
        commits.append(Commitment(
            id=new_id(org), need_id=nid, match_id=new_id(), resource_kind=ResourceKind.GOODS,
            quantity=10**9, unit=text32("斤"), due_date=1_900_000_000, terms_hash=new_id(),
        ).sign(org_key, domain))  # fmt: skip
    recs += commits
    i = 0
    while len(recs) < n:
        c = commits[i % len(commits)]
        recs.append(Delivery(
            id=new_id(org), commitment_id=c.id, quantity=1, delivered_at=1_735_689_600,
            evidence_hash=new_id(), beneficiary_count=1, beneficiary_root=new_id(),
        ).sign(org_key, domain))  # fmt: skip
        i += 1
    nonce = w3.eth.get_transaction_count(payer.address, "pending")  # type: ignore[attr-defined]
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    hashes = []
    # Needs, then commitments, then deliveries: each chunk only cites earlier chunks.
    for k in range(0, len(recs), per_tx):
        calls = [ledger.submit_calldata(r) for r in recs[k : k + per_tx]]
        tx = ledger.contract.functions.multicall(calls).build_transaction(
            {
                "from": payer.address,  # type: ignore[attr-defined]
                "nonce": nonce,
                "gas": 90_000_000,
                "maxFeePerGas": 4 * base + 10**9,
                "maxPriorityFeePerGas": 10**9,
                "chainId": w3.eth.chain_id,
            }
        )
        hashes.append(w3.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction))  # type: ignore[attr-defined]
        nonce += 1
        if len(hashes) % 3 == 0:  # stay within a block's gas so order holds
            w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=600, poll_latency=0.2)
    for h in hashes:
        assert w3.eth.wait_for_transaction_receipt(h, timeout=600, poll_latency=0.2)["status"] == 1


def latencies(base: str, paths: list[tuple[str, dict[str, object]]], n: int,
              clients: int) -> dict[str, tuple[float, float]]:  # fmt: skip
    out: dict[str, tuple[float, float]] = {}
    with httpx.Client(base_url=base, timeout=60) as http:
        for label, params in paths:
            path = label.split(" ")[0]

            def one(_: int, path: str = path, params: dict[str, object] = params) -> float:
                t = time.perf_counter()
                r = http.get(path, params=params)  # type: ignore[arg-type]
                assert r.status_code == 200, r.text[:200]
                return (time.perf_counter() - t) * 1000

            with ThreadPoolExecutor(clients) as pool:
                ms = sorted(pool.map(one, range(n)))
            out[label] = (statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))])
    return out


def process_cpu(name: str, pid: int) -> float:
    """CPU seconds of a benchmarked process so far; the API's with its uvicorn workers."""
    return tree_cpu_seconds(pid) if name == "API" else cpu_seconds(pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=600, help="records per API run")
    ap.add_argument("--naive", type=int, default=2000,
                    help="records on the naive path (at 300 its rate is mostly where the "
                    "last send falls in the 1 s block: 91-173/s measured in one hour)")  # fmt: skip
    ap.add_argument("--query-records", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300, help="requests per query kind")
    ap.add_argument("--query-clients", type=int, default=8)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--clients", default="1,8,32,64", help="client counts of the API runs")
    ap.add_argument("--no-queries", action="store_true", help="the write half only")
    ap.add_argument("--api-processes", type=int, default=1,
                    help="uvicorn worker processes (more than 1: PostgreSQL only; their "
                         "outbox writers take turns on the write lock)")  # fmt: skip
    ap.add_argument("--poll", type=float, default=Settings().poll_interval,
                    help="the workers' poll interval, BANGFU_POLL_INTERVAL (default: bangfu "
                    "run's)")  # fmt: skip
    ap.add_argument("--query-scale", type=int, default=0,
                    help="then scripts/bench_queries.py at this many leaves, seeded straight "
                    "into the read model (open loop 500/s, --query-clients closed)")  # fmt: skip
    ap.add_argument("--query-scale-database", default="both",
                    help="sqlite, postgres, both or a URL, for --query-scale")  # fmt: skip
    ap.add_argument("--keep", action="store_true",
                    help="keep the run's folder: chain, database, logs")  # fmt: skip
    args = ap.parse_args()
    with scratch("bench-api-", keep=args.keep) as tmp:
        write_half(args, tmp)
    if args.query_scale:
        import bench_queries

        print("\n".join(bench_queries.run(argparse.Namespace(
            query_leaves=args.query_scale, query_database=args.query_scale_database,
            query_rate=500.0, query_seconds=10.0, query_clients=args.query_clients,
            query_workers=0, query_seeded=False,
        ))))  # fmt: skip


def write_half(args: argparse.Namespace, tmp: Path) -> None:
    """The API runs at each client count and the naive path, in `tmp`; prints their tables
    (and, unless --no-queries, the query latencies over --query-records)."""
    settings, env = chain_settings(tmp, args.database_url, args.poll)
    # Where the database's one write lock goes: each server process appends a line per
    # write transaction (Settings.write_lock_trace), summed by writer after each run.
    trace = tmp / "write-lock.trace"
    env["BANGFU_WRITE_LOCK_TRACE"] = str(trace)
    chain = LocalChain(load_localchain(settings), settings)
    chain.up()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ledger, accts = deploy_registered(settings, chain, COUNTY, ORG_CODE)
        county, org = accts[1], accts[3]
        deployment = ledger.deployment
        Database(settings=settings).migrate()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        exe = sys.executable
        api = [exe, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--workers",
               str(args.api_processes)]  # fmt: skip
        procs.append(start(api, env, tmp / "api.log"))
        procs.append(start([exe, "-m", "ledger.cli", "indexer"], env, tmp / "indexer.log"))
        deadline = time.monotonic() + 600  # a loaded machine starts slowly
        while True:  # ready once the API answers and the county's role is indexed
            try:
                probe = need(county.key, deployment.domain)
                r = httpx.post(f"{base}/api/v1/records", json={"records": [probe.to_json()]})
                if r.status_code == 202:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API or the indexer did not come up"
            time.sleep(0.2)
        procs.append(start([exe, "-m", "ledger.cli", "relayer"], env, tmp / "relayer.log"))

        rows = []
        load = [os.getloadavg()[0]]
        # Where the CPU goes: each process's CPU seconds over a run, per record.
        pids = {"API": procs[0].pid, "relayer": procs[2].pid, "indexer": procs[1].pid,
                "anvil": chain.node_pid() or 0, "client": os.getpid()}  # fmt: skip
        cpu_rows = []
        lock_rows: list[tuple[int, float, dict[tuple[str, str], LockUse]]] = []
        for clients in (int(c) for c in args.clients.split(",")):
            recs = [need(county.key, deployment.domain) for _ in range(args.records)]
            before = {k: process_cpu(k, v) for k, v in pids.items()}
            server = postgres_cpu_seconds()
            offset = trace.stat().st_size if trace.exists() else 0
            acc, conf, p50, p99 = bench_api(base, recs, clients)
            lock_rows.append((clients, args.records / conf, lock_use(trace, offset, pids)))
            used = {
                k: (process_cpu(k, v) - before[k]) * 1000 / args.records for k, v in pids.items()
            }
            if args.database_url:  # the PostgreSQL server's processes on this machine
                used["postgres"] = (postgres_cpu_seconds() - server) * 1000 / args.records
            rows.append((clients, acc, conf, p50, p99))
            cpu_rows.append((clients, used))
            load.append(os.getloadavg()[0])
        naive_recs = [need(county.key, deployment.domain) for _ in range(args.naive)]
        naive = bench_naive(ledger, naive_recs, accts[6])
        load.append(os.getloadavg()[0])
        dialect = Database(settings=settings).engine.dialect.name
        print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, database {dialect}, 1-min load average "
              f"{min(load):.1f}–{max(load):.1f} while the write half ran")  # fmt: skip
        print(f"chain: anvil, 1 s interval mining, 300M gas limit; the relayer and the indexer "
              f"poll every {args.poll:g} s\n")  # fmt: skip
        print("| path | clients | records | accepted/s | confirmed/s | p50 ms per POST "
              "| p99 ms per POST |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for clients, acc, conf, p50, p99 in rows:
            print(f"| API → outbox → relayer multicall | {clients} | {args.records} | "
                  f"{acc:,.0f} | {conf:,.0f} | {p50:.1f} | {p99:.1f} |")  # fmt: skip
        print(f"| naive: one tx per record, web3.py | 1 | {args.naive} | – | {naive:,.0f} | – "
              "| – |")  # fmt: skip
        print("\nCPU per record (ms), by process, from the first POST until all confirmed:\n")
        names = list(cpu_rows[0][1]) if cpu_rows else list(pids)
        print("| clients | " + " | ".join(names) + " | all |")
        print("|---" * (len(names) + 2) + "|")
        for clients, used in cpu_rows:
            cells = " | ".join(f"{v:.2f}" for v in used.values())
            print(f"| {clients} | {cells} | {sum(used.values()):.2f} |")
        print_lock_use(lock_rows, args.records)
        best = max(c for _, _, c, *_ in rows)
        print(f"\nbest API confirmed/s ÷ naive: {best / naive:.1f}×\n")
        sys.stdout.flush()
        if args.no_queries:
            return

        t0 = time.perf_counter()
        seed(ledger, county.key, org.key, accts[5], args.query_records)
        seeded = time.perf_counter() - t0
        t0 = time.perf_counter()
        db = Database(settings=settings)
        indexer = Indexer(db, ledger)
        size = ledger.log_size()
        while indexer.status().log_size < size:
            time.sleep(0.5)
        indexed = time.perf_counter() - t0
        paths: list[tuple[str, dict[str, object]]] = [
            ("/api/v1/public/deliveries", {}),
            ("/api/v1/public/deliveries (county+category)", {"county": COUNTY, "category": 3}),
            ("/api/v1/public/commitments", {"limit": 100}),
            ("/api/v1/public/totals/county", {}),
            ("/api/v1/public/totals/category", {}),
            ("/api/v1/public/totals/org", {}),
        ]
        lat = latencies(base, paths, args.queries, args.query_clients)

        print(
            f"read model: {size:,} leaves (seeded by multicall in {seeded:.0f} s, "
            f"indexed by the indexer process in {indexed:.0f} s); "
            f"{args.queries} requests per query, {args.query_clients} concurrent clients\n"
        )
        print("| query | p50 ms | p99 ms |")
        print("|---|---|---|")
        for label, (p50, p99) in lat.items():
            print(f"| {label} | {p50:.1f} | {p99:.1f} |")
    finally:
        for p in procs:
            stop_process(p)
        chain.down()


if __name__ == "__main__":
    main()
