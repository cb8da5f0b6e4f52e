"""Where a public answer's CPU goes: the query benchmark's mix (scripts/bench_queries.py)
called straight through the ASGI app in this process, one request at a time (no HTTP, no
client), on a seeded read model:

    .venv/bin/python scripts/seed_read_model.py --leaves 100000 --database-url sqlite:////tmp/rm.db
    .venv/bin/python scripts/profile_queries.py --database-url sqlite:////tmp/rm.db --leaves 100000

It prints the CPU time per request of each kind of the mix (process time, so the thread
pool's work counts) and how many of them were cache hits; `--profile` adds pyinstrument's
view of the whole run. Nothing here is a wall-clock assertion: it says where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench_queries import mix

from api.app import create_app
from ledger.app import LedgerService
from ledger.config import Settings


async def call(app: Any, path: str, params: dict[str, str]) -> tuple[int, bytes]:
    """One GET through the ASGI app: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(params).encode(),
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


async def run(app: Any, leaves: int, requests: int, warm: int) -> dict[str, list[float]]:
    rng = random.Random(7)
    requests_of = mix(leaves, rng)
    for _ in range(warm):  # the cache's hits as a running server has them
        _, path, params = next(requests_of)
        await call(app, path, params)
    cpu: dict[str, list[float]] = defaultdict(list)
    for _ in range(requests):
        name, path, params = next(requests_of)
        t0 = time.process_time()
        status, _ = await call(app, path, params)
        cpu[name].append((time.process_time() - t0) * 1000)
        if status >= 500:
            raise SystemExit(f"{path} answered {status}")
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", required=True, help="a read model seed_read_model.py made")
    ap.add_argument("--leaves", type=int, required=True, help="the seeded log's size")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=500)
    ap.add_argument("--profile", action="store_true", help="pyinstrument over the timed part")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bangfu-profile-q-") as tmp:
        service = LedgerService(Settings(database_url=args.database_url, var=Path(tmp)))
        app = create_app(service)
        loop = asyncio.new_event_loop()
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")
        loop.run_until_complete(run(app, args.leaves, 50, 0))  # imports, pools, first plans
        if profiler:
            profiler.start()
        cpu = loop.run_until_complete(run(app, args.leaves, args.requests, args.warm))
        if profiler:
            profiler.stop()
        cache = app.state.answer_cache
        print(f"read model {args.database_url}, {args.leaves:,} leaves; {args.requests} requests")
        print(f"cache: {cache.hits} hits, {cache.misses} misses over warm-up and run")
        print("| request | n | CPU ms p50 | CPU ms mean |")
        print("|---|---|---|---|")
        every: list[float] = []
        for name in sorted(cpu):
            xs = sorted(cpu[name])
            every += xs
            print(f"| {name} | {len(xs)} | {xs[len(xs) // 2]:.2f} | {sum(xs) / len(xs):.2f} |")
        print(f"| all | {len(every)} | {sorted(every)[len(every) // 2]:.2f} | "
              f"{sum(every) / len(every):.2f} |")  # fmt: skip
        if profiler:
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        loop.close()


if __name__ == "__main__":
    main()
