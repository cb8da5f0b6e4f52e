#!/usr/bin/env python3
"""What the relayer's reconciliation costs: the first pass of a worker (every confirmed
record's block and, in multicalls of 500, its recordKind) and the later, incremental passes.

    .venv/bin/python scripts/bench_reconcile.py --records 20000

Runs a private automining anvil (the test suite's setup: deploy, register roles), relays the
records in multicalls of 200, then times `RelayWorker.reconcile()` on a fresh worker.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import scratch

from ledger.relayer.worker import RelayWorker
from tests.factories import service_for, stack, start_env
from tests.service.test_healing import scoped_need


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    args = parser.parse_args()
    with scratch("bench-reconcile-") as tmp:
        run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> None:
    """One run in the folder `tmp` (removed afterwards unless kept)."""
    env = start_env(tmp / "chain")
    try:
        svc = service_for(env.settings, f"sqlite:///{tmp / 'ledger.sqlite3'}")
        st = stack(svc, env.actors.relayers, batch_size=200)
        records = [scoped_need(env.domain, env.actors.county_a) for _ in range(args.records)]
        for i in range(0, len(records), 200):
            svc.relayer.accept(records[i : i + 200])
        st.settle(timeout=3600)
        worker = RelayWorker(svc.db, svc.ledger(), env.actors.relayers)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            worker.reconcile()
            times.append(time.perf_counter() - t)
        print(
            f"| {args.records:,} confirmed records | {int(env.w3.eth.block_number)} blocks | "
            f"first pass {times[0]:.3f} s | later passes {times[1]:.3f} s, {times[2]:.3f} s |"
        )
        svc.close()
    finally:
        env.chain.down()


if __name__ == "__main__":
    main()
