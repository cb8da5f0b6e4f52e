"""Measures how often anvil's `anvil_dumpState` is not one moment of the chain.

    .venv/bin/python scripts/dump_race.py                 # 2,000 dumps, block time 1 s
    .venv/bin/python scripts/dump_race.py --dumps 4000 --senders 2

Starts a private anvil (the npm package's binary) on a free port with interval mining,
keeps `--senders` threads sending plain transfers, and dumps its state back to back. For
each dump it notes whether the head moved during the call and whether the dump's accounts
and blocks disagree (`ledger.evm.state.dump_mismatch`: a sender's nonce ahead of its newest
transaction in the dump, i.e. the dump holds the effects of a block it does not hold).
Prints one table row per quarter of the run, so a growing state shows its trend.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import threading
import time
from typing import Any

import requests
from benchkit import free_port

from ledger.evm.node import LocalChain
from ledger.evm.state import dump_mismatch

SINK = "0x000000000000000000000000000000000000dEaD"


class Node:
    def __init__(self, block_time: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        binary = LocalChain.from_settings().binary
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--block-time", str(block_time), "--silent"]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call("eth_blockNumber")
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise SystemExit("anvil did not answer within 30 s")

    def call(self, method: str, *params: Any) -> Any:
        r = requests.post(
            self.url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=120,
        )
        return r.json()["result"]

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def dump(self) -> dict[str, Any]:
        raw = gzip.decompress(bytes.fromhex(self.call("anvil_dumpState")[2:]))
        state: dict[str, Any] = json.loads(raw)
        return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dumps", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--block-time", type=int, default=1)
    args = parser.parse_args()
    node = Node(args.block_time)
    accounts = node.call("eth_accounts")[: args.senders]
    stop = threading.Event()

    def send(sender: str) -> None:
        while not stop.is_set():
            node.call("eth_sendTransaction", {"from": sender, "to": SINK, "value": "0x1"})
            stop.wait(0.02)

    threads = [threading.Thread(target=send, args=(a,), daemon=True) for a in accounts]
    for t in threads:
        t.start()
    rows: list[tuple[str, int, int, int, int, float]] = []
    quarter = max(1, args.dumps // 4)
    moved = mismatched = still = 0
    spent = 0.0
    try:
        for i in range(1, args.dumps + 1):
            before = node.head()
            started = time.perf_counter()
            state = node.dump()
            spent += time.perf_counter() - started
            after = node.head()
            bad = dump_mismatch(state) is not None
            moved += after != before
            mismatched += bad
            still += bad and after == before
            if i % quarter == 0 or i == args.dumps:
                rows.append((f"{i - quarter + 1}–{i}", after, moved, mismatched, still, spent))
                moved = mismatched = still = 0
                spent = 0.0
                print(f"… {i} dumps", file=sys.stderr)
    finally:
        stop.set()
        node.proc.terminate()
        node.proc.wait(10)
    print(f"\nanvil_dumpState under load: {args.senders} sender(s), block time {args.block_time} s")
    print(
        "| dumps | head at end | head moved during the dump | accounts ahead of blocks "
        "| of those, head unmoved | mean dump time |"
    )
    print("|---|---|---|---|---|---|")
    for span, head, n_moved, n_bad, n_still, secs in rows:
        count = int(span.split("–")[1]) - int(span.split("–")[0]) + 1
        print(
            f"| {span} | {head} | {n_moved} | {n_bad} | {n_still} | {1000 * secs / count:.1f} ms |"
        )


if __name__ == "__main__":
    main()
