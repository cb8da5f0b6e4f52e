#!/usr/bin/env python3
"""Whether accepting a record costs more as the outbox grows: the outbox writer alone.

    .venv/bin/python scripts/bench_accept_growth.py [--records 32000] [--step 4000]
        [--database-url postgresql://…]

A private anvil with the contract deployed and a county registered, the read model indexed,
then `--records` signed need anchors handed to the outbox writer (`Relayer.submit`) in
submissions of one record, 32 at a time as 32 clients would, in this process (no HTTP, no
relayer, no indexer). Prints, for each `--step` records, the records accepted a second and
this process's CPU a record. Before the status term was kept from choosing an index
(ledger/store/planner.py), SQLite's figure grew from 0.10 to 0.51 ms a record over 32,000
records (docs/bench-api.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import wait

from bench_api import need
from profile_accept import registered_ledger

from ledger.indexer.worker import Indexer

CLIENTS = 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=32000)
    ap.add_argument("--step", type=int, default=4000)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    with registered_ledger("accept-growth-", args.database_url) as (ledger, accts, service):
        Indexer(service.db, ledger).run_once()
        print(f"signing {args.records:,} need anchors…", file=sys.stderr)
        records = [need(accts[1].key, ledger.deployment.domain) for _ in range(args.records)]
        relayer = service.relayer
        print(f"\noutbox writer alone, {service.db.engine.dialect.name}, {CLIENTS} at a time\n")
        print("| records | accepted/s | CPU ms a record |")
        print("|---|---|---|")
        t0, c0, first = time.perf_counter(), time.process_time(), 1
        for i in range(0, args.records, CLIENTS):
            wait([relayer.submit([r]) for r in records[i : i + CLIENTS]])
            done = min(i + CLIENTS, args.records)
            if done - first + 1 >= args.step or done == args.records:
                t1, c1 = time.perf_counter(), time.process_time()
                n = done - first + 1
                print(f"| {first:,}–{done:,} | {n / (t1 - t0):,.0f} | "
                      f"{1000 * (c1 - c0) / n:.3f} |", flush=True)  # fmt: skip
                t0, c0, first = t1, c1, done + 1


if __name__ == "__main__":
    main()
