"""Runs the crash matrix and prints the table of docs/reliability.md.

    .venv/bin/python scripts/crash_matrix.py                   # SQLite
    BANGFU_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python scripts/crash_matrix.py --db sqlite --db postgres
    .venv/bin/python scripts/crash_matrix.py --growth 10000    # state file growth per 10k records

Each scenario starts from the running `bangfu run` group of the previous one, submits
`--records` signed records through the API under a steady load, kills -9 at the scenario's
moment, restarts what must be restarted, resubmits what was not acknowledged, drains, and
counts every acknowledged record id by its RecordAppended leaves (lost = 0 leaves,
duplicated = more than one), then checks that the read model equals a rebuild from the
chain. The same harness is tests/service/crashkit.py (`pytest -m crash`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.evm.state import StateFiles, read_state
from tests.factories import fresh_database_url, fresh_database_urls
from tests.service.crashkit import (
    SCENARIOS,
    Ledger,
    Load,
    Outcome,
    RunGroup,
    run_scenario,
    wait_until,
)

COMMAND = {
    "sqlite": ".venv/bin/python scripts/crash_matrix.py --db sqlite --only {s}",
    "postgres": "BANGFU_TEST_POSTGRES_URL=… .venv/bin/python scripts/crash_matrix.py "
    "--db postgres --only {s}",
}


def matrix(kind: str, scenarios: list[str], records: int, tmp: Path) -> list[Outcome]:
    urls = fresh_database_url(kind, tmp)
    group = RunGroup(tmp, next(urls), dump_pause=0.3)
    rebuilds = fresh_database_urls(kind, tmp / "rebuilds")
    out: list[Outcome] = []
    try:
        group.start()
        ledger = Ledger(group)
        acked: set[str] = set()
        for s in scenarios:
            outcome, acked = run_scenario(group, ledger, s, acked, rebuilds, records=records)
            print(f"  {kind} {outcome}", file=sys.stderr, flush=True)
            out.append(outcome)
        print(f"  {kind}: {len(acked)} acknowledged records checked", file=sys.stderr)
    finally:
        group.stop()
        rebuilds.close()
        urls.close()  # type: ignore[attr-defined]
    return out


def growth(records: int, tmp: Path) -> None:
    """State file size before and after `records` signed records through `bangfu run`."""
    urls = fresh_database_url("sqlite", tmp)
    group = RunGroup(tmp, next(urls), state_interval=5)
    try:
        group.start()
        ledger = Ledger(group)
        before_block = group.saved_block()
        before = group.chain.state_file.stat().st_size
        start = time.monotonic()
        load = Load(group.base, ledger.sign(records), chunk=200)
        load.finish(timeout=3600)
        wait_until(lambda: ledger.settled(load.acked), 3600, "settled")
        head = int(ledger.w3.eth.block_number)
        wait_until(lambda: group.saved_block() >= head, 60, "a save")
        took = time.monotonic() - start
        after = read_state(group.chain.state_file)
        t0 = time.monotonic()
        data = group.chain.dump()
        t1 = time.monotonic()
        StateFiles(tmp / "timing.json", 1).save(data, block=head)
        t2 = time.monotonic()
        print(
            f"one save at {len(data) / 1e6:.1f} MB: anvil_dumpState {t1 - t0:.2f} s, "
            f"write+fsync+rename {t2 - t1:.2f} s",
            file=sys.stderr,
        )
        print(
            f"| {records:,} records | {after.block - before_block:,} blocks in {took:.0f} s | "
            f"{before / 1e6:.1f} MB → {after.size / 1e6:.1f} MB | "
            f"{(after.size - before) / records:,.0f} bytes a record, "
            f"{(after.size - before) / 1e6 * 10_000 / records:.1f} MB per 10k |"
        )
    finally:
        group.stop()
        urls.close()  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", action="append", choices=["sqlite", "postgres"])
    ap.add_argument("--only", action="append", choices=SCENARIOS)
    ap.add_argument("--records", type=int, default=150, help="signed records per scenario")
    ap.add_argument("--growth", type=int, default=0, help="measure state growth instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="crash-matrix-") as t:
        if args.growth:
            growth(args.growth, Path(t))
            return 0
        rows: list[tuple[str, Outcome]] = []
        for kind in args.db or ["sqlite"]:
            for o in matrix(kind, args.only or list(SCENARIOS), args.records, Path(t) / kind):
                rows.append((kind, o))
    print(
        "| scenario | db | records under load | kill points | lost | duplicated | "
        "time to heal | what happened | reproduce |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, o in rows:
        print(
            f"| {o.scenario} | {kind} | {o.records} | {o.kills} | {o.lost} | {o.duplicated} | "
            f"{o.heal_seconds:.1f} s | {o.note or '—'} | `{COMMAND[kind].format(s=o.scenario)}` |"
        )
    return 0 if all(o.lost == 0 and o.duplicated == 0 for _, o in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
