"""Public query benchmark on a large read model (issue 16): seeds N leaves straight into a
fresh database (scripts/seed_read_model.py), serves it with the API under uvicorn, and
measures a mix of lists, filtered lists, totals and record look-ups:

* open loop: requests sent on a fixed schedule (`--query-rate` per second), latency counted
  from when each was due (so a stall is not hidden by the client waiting);
* closed loop: `--query-clients` clients, each sending its next request when the last one
  answered: throughput and percentiles;
* the If-None-Match path (304) for comparison.

    .venv/bin/python scripts/bench_queries.py --query-leaves 1000000 --query-database both

scripts/bench_api.py calls `run` with its own `--query-*` options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from hashlib import sha256
from pathlib import Path

import aiohttp
from benchkit import free_port, private_chain, scratch, stop_process
from seed_read_model import COUNTIES, seed

from ledger.store.db import Database

ROOT = Path(__file__).resolve().parent.parent

Request = tuple[str, str, dict[str, str]]  # label, path, params


def add_options(ap: argparse.ArgumentParser) -> None:
    """The query half's options (bench_api.py adds them to its own)."""
    g = ap.add_argument_group("public queries (scripts/bench_queries.py)")
    g.add_argument("--query-leaves", type=int, default=100_000, help="leaves to seed")
    g.add_argument("--query-database", default="sqlite",
                   help="sqlite, postgres, both, or a postgresql:// URL")  # fmt: skip
    g.add_argument("--query-rate", type=float, default=500, help="open-loop requests/s")
    g.add_argument("--query-seconds", type=float, default=10, help="seconds per loop")
    g.add_argument("--query-clients", type=int, default=50, help="closed-loop clients")
    g.add_argument("--query-seeded", action="store_true",
                   help="the --query-database URL already holds the seeded leaves")  # fmt: skip
    g.add_argument("--query-workers", type=int, default=0,
                   help="API processes (0: 2, one a core)")  # fmt: skip


def mix(leaves: int, rng: random.Random) -> Iterator[Request]:
    """The benchmark's mix, endlessly: lists (first pages and deeper keyset pages),
    filtered lists, totals and record look-ups, with varied filters."""
    while True:
        county = str(rng.choice(COUNTIES))
        category = str(rng.randint(1, 10))
        leaf = rng.randrange(leaves)
        choice = rng.randrange(10)
        if choice == 0:
            yield "deliveries", "/api/v1/public/deliveries", {}
        elif choice == 1:
            yield ("deliveries county+category", "/api/v1/public/deliveries",
                   {"county": county, "category": category})  # fmt: skip
        elif choice == 2:
            yield "commitments", "/api/v1/public/commitments", {"limit": "100"}
        elif choice == 3:
            yield "commitments county", "/api/v1/public/commitments", {"county": county}
        elif choice == 4:
            yield "totals county", "/api/v1/public/totals/county", {}
        elif choice == 5:
            yield "totals category", "/api/v1/public/totals/category", {}
        elif choice == 6:
            yield "totals org", "/api/v1/public/totals/org", {"county": county}
        elif choice == 7:
            # a deep keyset page (the cursor a client reaches after many pages)
            import base64
            import json

            cursor = base64.urlsafe_b64encode(json.dumps({"before": leaf}).encode()).decode()
            yield "deliveries deep page", "/api/v1/public/deliveries", {"cursor": cursor}
        else:
            rid = "0x" + sha256(b"leaf%d" % leaf).hexdigest()
            yield "record", f"/api/v1/public/record/{rid}", {}


def _pct(ms: list[float], p: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(len(ms) * p))] if ms else float("nan")


ERRORS: dict[str, int] = defaultdict(int)


async def _one(http: aiohttp.ClientSession, base: str, req: Request,
               headers: dict[str, str] | None = None) -> int:  # fmt: skip
    """One GET; an answer other than 200/304 is counted in ERRORS (and its time kept)."""
    _, path, params = req
    try:
        async with http.get(base + path, params=params, headers=headers or {}) as r:
            await r.read()
            if r.status not in (200, 304):
                ERRORS[f"{req[0]}: {r.status}"] += 1
            return r.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        ERRORS[f"{req[0]}: {type(exc).__name__}"] += 1
        return 0


async def open_loop(base: str, reqs: Iterator[Request], rate: float, seconds: float
                    ) -> dict[str, list[float]]:  # fmt: skip
    """Sends at `rate`/s for `seconds`; latency from each request's due time."""
    out: dict[str, list[float]] = defaultdict(list)
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as http:
        start = time.perf_counter()
        n = int(rate * seconds)
        tasks = []

        async def fire(i: int, req: Request) -> None:
            due = start + i / rate
            await _one(http, base, req)
            out[req[0]].append((time.perf_counter() - due) * 1000)

        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(i, next(reqs))))
        await asyncio.gather(*tasks)
        out["_elapsed"] = [time.perf_counter() - start]
    return out


async def closed_loop(base: str, reqs: Iterator[Request], clients: int, seconds: float,
                      headers: dict[str, str] | None = None) -> dict[str, list[float]]:  # fmt: skip
    out: dict[str, list[float]] = defaultdict(list)
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                req = next(reqs)
                t = time.perf_counter()
                await _one(http, base, req, headers)
                out[req[0]].append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        out["_elapsed"] = [time.perf_counter() - t0]
    return out


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'read.sqlite3'}"
    elif kind == "postgres":
        from tests.factories import postgres_database

        base = os.environ.get(
            "BANGFU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        )
        with postgres_database(base, prefix="bangfu_bench_q") as url:
            yield url
    else:
        yield kind


@contextmanager
def _api(url: str, tmp: Path, workers: int) -> Iterator[str]:
    _, env = private_chain(tmp, url, poll_interval=1.0)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
           "127.0.0.1", "--port", str(port), "--log-level", "warning", "--workers",
           str(workers), "--no-access-log", "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
    log = (tmp / "api.log").open("wb")
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        import httpx

        while True:
            try:
                if httpx.get(base + "/api/v1/public/totals/county", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the API did not come up; see {tmp / 'api.log'}")
            time.sleep(0.3)
        yield base
    finally:
        stop_process(proc)


def _summary(res: dict[str, list[float]]) -> str:
    every = [x for k, v in res.items() if k != "_elapsed" for x in v]
    if not every:
        return "no answers"
    rate = len(every) / res["_elapsed"][0]
    p50, p99 = statistics.median(every), _pct(every, 0.99)
    return f"{len(every)} answers, {rate:.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def _drain(base: str) -> None:
    """Waits until the API answers again promptly (an overloaded open loop leaves work
    queued in the server after its clients gave up)."""
    import httpx

    for _ in range(60):
        try:
            t = time.perf_counter()
            httpx.get(base + "/api/v1/public/totals/county", timeout=30)
            if time.perf_counter() - t < 0.2:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)


def _errors() -> int:
    n = sum(ERRORS.values())
    if n:
        print("  errors:", dict(ERRORS), flush=True)
    ERRORS.clear()
    return n


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> list[str]:
    """Seeds, serves and measures each database; returns the table's lines."""
    kinds = ["sqlite", "postgres"] if args.query_database == "both" else [args.query_database]
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "",
        "| database | leaves | API processes | loop | requests | errors | req/s | p50 ms | p99 ms "
        "| max ms | load (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    per_query: list[str] = []
    for kind in kinds:
        with ExitStack() as stack:
            tmp = stack.enter_context(scratch("bench-q-"))
            url = stack.enter_context(_database(kind, tmp))
            db = Database(url)
            db.migrate()
            t0 = time.perf_counter()
            if not args.query_seeded:
                seed(db, args.query_leaves)
            seeded = time.perf_counter() - t0
            db.engine.dispose()
            name = "postgresql" if url.startswith("postgresql") else "sqlite"
            workers = args.query_workers or 2
            print(f"{name}: seeded {args.query_leaves:,} leaves in {seeded:.0f} s; {_load()}",
                  flush=True)  # fmt: skip
            base = stack.enter_context(_api(url, tmp, workers))
            rng = random.Random(7)
            reqs = mix(args.query_leaves, rng)
            asyncio.run(closed_loop(base, reqs, 4, 2))  # warm up
            results = []
            ERRORS.clear()
            c = asyncio.run(closed_loop(base, reqs, args.query_clients, args.query_seconds))
            results.append((f"closed {args.query_clients} clients", c, _load(), _errors()))
            print(" ", results[-1][0], "done;", _load(), _summary(c), flush=True)
            _drain(base)
            o = asyncio.run(open_loop(base, reqs, args.query_rate, args.query_seconds))
            results.append((f"open {args.query_rate:.0f}/s", o, _load(), _errors()))
            print(" ", results[-1][0], "done;", _load(), _summary(o), flush=True)
            _drain(base)
            tag = None
            import httpx

            tag = httpx.get(base + "/api/v1/public/totals/county", timeout=60).headers.get("etag")
            n304 = asyncio.run(closed_loop(
                base, iter(lambda: ("totals county 304", "/api/v1/public/totals/county", {}), None),
                args.query_clients, min(5.0, args.query_seconds), {"If-None-Match": tag or ""},
            ))  # fmt: skip
            results.append(
                (f"closed {args.query_clients}, If-None-Match → 304", n304, _load(), _errors())
            )
            # the client and the server's floor: a trivial route (no database), same loop
            trivial = asyncio.run(closed_loop(
                base, iter(lambda: ("GET /healthz", "/healthz", {}), None),
                args.query_clients, min(5.0, args.query_seconds),
            ))  # fmt: skip
            results.append((f"closed {args.query_clients}, trivial /healthz", trivial, _load(),
                            _errors()))  # fmt: skip
            for label, res, load, errors in results:
                elapsed = res.pop("_elapsed")[0]
                every = [x for v in res.values() for x in v]
                lines.append(
                    f"| {name} | {args.query_leaves:,} | {workers} | {label} | {len(every):,} | "
                    f"{errors} | "
                    f"{len(every) / elapsed:,.0f} | {statistics.median(every):.1f} | "
                    f"{_pct(every, 0.99):.1f} | {max(every):.1f} | {load} |"
                )
                for q, ms in sorted(res.items()):
                    per_query.append(
                        f"| {name} | {label} | {q} | {len(ms):,} | {statistics.median(ms):.1f} "
                        f"| {_pct(ms, 0.99):.1f} |"
                    )
    lines += [
        "",
        "| database | loop | query | requests | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += per_query
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_options(ap)
    args = ap.parse_args()
    print("\n".join(run(args)))


if __name__ == "__main__":
    main()
