"""Capacity of one chain for the ledger: gas per record in the relayer's multicalls, measured
on a fresh anvil, and the records per second that block gas limits and block times allow.

The relayer packs up to `relayer_batch_size` (200) signed records into one multicall. This
script signs the realistic mix of bench_gas.py's per-kind flow (need anchors and their next
versions, supply projects, commitments, deliveries, receipts, flags, delivery batches),
sends it in multicalls of `--per-tx` records, reads `gasUsed` from the receipts, and then
works out, for each block gas limit and block time given:

    records per block  = floor(block gas limit / gas per record)  (full multicalls, then a
                         smaller one to fill the block)
    records per second = records per block / block time

next to Besu QBFT's published 750–1,200 simple transfers per second (21,000 gas each).

    .venv/bin/python scripts/capacity.py              # Rich tables
    .venv/bin/python scripts/capacity.py --markdown   # the same as Markdown (docs/consortium.md)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench_gas import (  # type: ignore[import-not-found]
    Actors,
    Sender,
    fresh_ledger,
    gas_used,
    markdown,
    per_kind,
    rich_table,
)
from benchkit import free_port  # type: ignore[import-not-found]
from rich.console import Console

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.errors import ChainError
from ledger.evm.deploy import connect, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain

GAS_LIMITS = (30_000_000, 100_000_000, 300_000_000)
BLOCK_TIMES = (1.0, 2.0, 5.0)
BESU_TPS = (750, 1_200)
TRANSFER_GAS = 21_000


class Collect:
    """Stands in for bench_gas's Sender: keeps each record's calldata instead of sending."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def send(self, txs: Iterable[tuple[str, bytes, int]]) -> list[dict[str, Any]]:
        out = []
        for _to, data, _gas in txs:
            self.calls.append(data)
            out.append({"gasUsed": "0x0"})
        return out


def measure(per_tx: int, repeat: int) -> tuple[float, float, int]:
    """(gas per record, gas per multicall, records measured) on a fresh anvil."""
    with tempfile.TemporaryDirectory(prefix="bangfu-capacity-") as tmp:
        # a bare anvil of its own (1 s blocks, 300M gas), no keeper and no state file
        cfg = load_localchain(Settings(home=PROJECT_ROOT))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        binary = LocalChain(cfg, Settings(home=PROJECT_ROOT)).binary
        proc = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(port),
                "--block-time",
                "1",
                "--gas-limit",
                "300000000",
                "--hardfork",
                cfg.hardfork,
                "--mnemonic",
                cfg.mnemonic,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        settings = Settings(home=PROJECT_ROOT, var=Path(tmp), rpc_url=url)
        try:
            for _ in range(100):
                try:
                    w3 = connect(settings, timeout=2)
                    break
                except ChainError:
                    time.sleep(0.1)
            accounts = dev_accounts(cfg)
            actors = Actors(accounts[0], accounts[1], accounts[2], accounts[3], accounts[7])
            ledger = fresh_ledger(w3, settings, actors)
            collect = Collect()
            per_kind(collect, ledger, actors, repeat)  # type: ignore[arg-type]
            calls = collect.calls
            sender = Sender(w3, url, actors.payer)
            txs = []
            sizes = []
            for start in range(0, len(calls), per_tx):
                chunk = calls[start : start + per_tx]
                data = ledger.contract.encode_abi("multicall", args=[chunk])
                txs.append(
                    (ledger.deployment.address, bytes.fromhex(data[2:]), 250_000 * len(chunk))
                )
                sizes.append(len(chunk))
            receipts = sender.send(txs)
            for r in receipts:
                assert int(r["status"], 16) == 1, r
            assert ledger.log_size() == len(calls)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    full = [gas_used(r) for r, n in zip(receipts, sizes, strict=True) if n == per_tx]
    total = sum(gas_used(r) for r in receipts)
    per_record = total / len(calls)
    per_multicall = statistics.mean(full) if full else per_record * per_tx
    return per_record, per_multicall, len(calls)


def table(per_record: float, per_multicall: float, per_tx: int) -> list[list[str]]:
    rows = []
    for limit in GAS_LIMITS:
        fits = int(limit // per_multicall)
        per_block = int(limit // per_record)  # the last multicall of a block may be smaller
        for bt in BLOCK_TIMES:
            rows.append(
                [
                    f"{limit / 1e6:,.0f}M",
                    f"{bt:g} s",
                    f"{fits}",
                    f"{per_block:,}",
                    f"{per_block / bt:,.0f}",
                    f"{limit / TRANSFER_GAS / bt:,.0f}",
                ]
            )
    return rows


HEADER = [
    "block gas limit",
    "block time",
    "full multicalls per block",
    "records per block",
    "records / s",
    "21k transfers / s (same gas)",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--per-tx", type=int, default=200, help="records per multicall")
    parser.add_argument("--repeat", type=int, default=20, help="rounds of the record mix")
    args = parser.parse_args(argv)
    started = time.monotonic()
    per_record, per_multicall, n = measure(args.per_tx, args.repeat)
    elapsed = time.monotonic() - started
    rows = table(per_record, per_multicall, args.per_tx)
    about = (
        f"{n} records of the bench_gas mix in multicalls of {args.per_tx}: "
        f"{per_record:,.0f} gas per record, {per_multicall:,.0f} gas per full multicall "
        f"(measured on anvil in {elapsed:.0f} s). Besu QBFT: {BESU_TPS[0]:,}–{BESU_TPS[1]:,} "
        f"simple transfers/s = {BESU_TPS[0] * TRANSFER_GAS / 1e6:.1f}–"
        f"{BESU_TPS[1] * TRANSFER_GAS / 1e6:.1f}M gas/s, i.e. "
        f"{BESU_TPS[0] * TRANSFER_GAS / per_record:,.0f}–"
        f"{BESU_TPS[1] * TRANSFER_GAS / per_record:,.0f} records/s at the same gas rate"
    )
    if args.markdown:
        print(about + ".\n")
        print(markdown(HEADER, rows))
    else:
        Console().print(rich_table("Records per second per chain", HEADER, rows))
        Console().print(about)
    return 0


if __name__ == "__main__":
    sys.exit(main())
