"""Gas of AidLedger records and of the on-chain RFC 9162 log, measured on a fresh anvil.

Starts its own anvil (free port, temporary state, 1 s blocks with a 300M gas limit so that
thousands of pre-signed transactions mine in seconds), deploys AidLedger from the pinned
compile, and reports `gasUsed` from transaction receipts, which is what a relayer pays:

1. each record kind sent alone in its own transaction (the 21,000 base, calldata, the
   signature check, the kind's bookkeeping and the log append, after refunds);
2. the first 4,096 appends to a fresh log as single Flag transactions (a Flag writes one
   storage slot besides the log, so its spread is the log's), the same 4,096 Flags sent
   as multicalls, and MerkleLog.append alone: a harness contract built from
   contracts/libraries/MerkleLog.sol with the pinned compiler, each `append(leaf)`
   transaction minus an otherwise identical transaction to a function that does nothing.

It is one file of about 530 lines so that the measurement can be read, and rerun, alone:
the harness contract's source, the runs and the table are what its README figures rest on.

    .venv/bin/python scripts/bench_gas.py              # Rich tables
    .venv/bin/python scripts/bench_gas.py --markdown   # the same as Markdown
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import solcx
from benchkit import private_chain
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table
from web3 import Web3

from ledger.config import Settings
from ledger.core import aid_kinds, merkle, records
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.lines import new_id
from ledger.evm.compiler import (
    EVM_VERSION,
    OPTIMIZER_RUNS,
    SOLC_VERSION,
    compile_contracts,
    solc_binary,
)
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import connect, deploy, dev_accounts, send_transaction
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain

ROOT = Path(__file__).resolve().parent.parent
COUNTY = 522327
ORG_CODE = "91520000MA6DKTQX0C"
MAX_FEE = 100 * 10**9
TIP = 10**9
RPC_CHUNK = 500
RPC_BYTES = 1_000_000  # anvil refuses much larger request bodies

HARNESS_UNIT = "bench/LogHarness.sol"
HARNESS_SOURCE = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleLog} from "contracts/libraries/MerkleLog.sol";

/// Only the log: `append` costs what MerkleLog.append costs plus what `skip` costs.
contract LogHarness {
    using MerkleLog for MerkleLog.Log;

    MerkleLog.Log private _log;

    function append(bytes32 leaf) external {
        _log.append(leaf);
    }

    function skip(bytes32 leaf) external pure returns (bytes32) {
        return leaf;
    }

    function root() external view returns (bytes32) {
        return _log.root();
    }
}
"""


# ---------------------------------------------------------------------------- the chain


def start_chain(tmp: Path) -> tuple[LocalChain, Settings]:
    """A private anvil: the project's localchain.toml (1 s blocks, 300M gas) with another
    port and state, written under `tmp` for the keeper to read (it reads the file, so an
    in-memory copy of the config would not reach it)."""
    settings, _ = private_chain(tmp, None, poll_interval=0.2, state_interval=3600)
    chain = LocalChain(load_localchain(settings), settings)
    chain.up()
    return chain, settings


@dataclass
class Sender:
    """Sends pre-signed transactions from one account in JSON-RPC batches; waits for all."""

    w3: Web3
    url: str
    payer: LocalAccount
    nonce: int = -1
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def _rpc(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """JSON-RPC calls in batches of at most RPC_CHUNK calls and about RPC_BYTES bytes."""
        out: list[Any] = []
        start = 0
        while start < len(calls):
            end, size = start, 0
            while (
                end < len(calls)
                and end - start < RPC_CHUNK
                and (end == start or size + len(str(calls[end][1])) < RPC_BYTES)
            ):
                size += len(str(calls[end][1]))
                end += 1
            body = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls[start:end])
            ]
            reply = self.http.post(self.url, json=body)
            answers = reply.json() if reply.status_code == 200 else None
            if not isinstance(answers, list):
                raise RuntimeError(
                    f"JSON-RPC batch refused: {reply.status_code} {reply.text[:300]}"
                )
            answers.sort(key=lambda a: int(a["id"]))
            for answer in answers:
                if "error" in answer:
                    raise RuntimeError(f"JSON-RPC error: {answer['error']}")
                out.append(answer["result"])
            start = end
        return out

    def send(self, txs: Iterable[tuple[str, bytes, int]]) -> list[dict[str, Any]]:
        """Sends (to, data, gas limit) transactions in order; returns their receipts."""
        if self.nonce < 0:
            self.nonce = self.w3.eth.get_transaction_count(self.payer.address, "pending")
        chain_id = self.w3.eth.chain_id
        raws = []
        for to, data, gas in txs:
            tx: dict[str, Any] = {
                "to": to,
                "data": data,
                "gas": gas,
                "nonce": self.nonce,
                "chainId": chain_id,
                "maxFeePerGas": MAX_FEE,
                "maxPriorityFeePerGas": TIP,
                "value": 0,
            }
            raws.append("0x" + bytes(self.payer.sign_transaction(tx).raw_transaction).hex())
            self.nonce += 1
        hashes = self._rpc([("eth_sendRawTransaction", [raw]) for raw in raws])
        receipts: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 600
        while len(receipts) < len(hashes):
            if time.monotonic() > deadline:
                raise RuntimeError("transactions were not mined within 10 minutes")
            waiting = [h for h in hashes if h not in receipts]
            for h, r in zip(
                waiting,
                self._rpc([("eth_getTransactionReceipt", [h]) for h in waiting]),
                strict=True,
            ):
                if r is not None:
                    receipts[h] = r
            if len(receipts) < len(hashes):
                time.sleep(0.25)
        ordered = [receipts[h] for h in hashes]
        failed = [r["transactionHash"] for r in ordered if int(r["status"], 16) != 1]
        if failed:
            raise RuntimeError(f"{len(failed)} transaction(s) reverted, e.g. {failed[0]}")
        return ordered


def gas_used(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


@dataclass
class Actors:
    admin: LocalAccount
    county: LocalAccount
    org: LocalAccount
    auditor: LocalAccount
    payer: LocalAccount


def fresh_ledger(w3: Web3, settings: Settings, actors: Actors) -> LedgerContract:
    """A new AidLedger with one county, one organization and one auditor registered."""
    deployment = deploy(w3, actors.admin, settings=settings)
    ledger = LedgerContract(w3, deployment, compile_contracts(settings))
    c = ledger.contract
    calls = [
        c.encode_abi("registerCounty", args=[actors.county.address, COUNTY, "册亨县"]),
        c.encode_abi(
            "registerOrganization",
            args=[actors.org.address, ORG_CODE.encode().ljust(32, b"\0"), "测试公益中心", 2, ""],
        ),
        c.encode_abi("registerAuditor", args=[actors.auditor.address, "审计组"]),
    ]
    tx = c.functions.multicall(calls).build_transaction({"from": actors.admin.address})
    send_transaction(w3, actors.admin, dict(tx))
    return ledger


def record_tx(ledger: LedgerContract, signed: records.SignedRecord) -> tuple[str, bytes, int]:
    return ledger.deployment.address, ledger.submit_calldata(signed), 1_000_000


# ---------------------------------------------------------------------------- measurements


@dataclass
class Row:
    label: str
    values: list[int]
    note: str = ""

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def worst_index(self) -> int:
        return max(range(len(self.values)), key=self.values.__getitem__)


def need_anchor(project_id: bytes, version: int) -> aid_kinds.ProjectAnchor:
    return aid_kinds.ProjectAnchor(
        id=aid_kinds.ProjectAnchor.anchor_id(project_id, version),
        project_id=project_id,
        project_kind=ProjectKind.NEED,
        county=COUNTY,
        category=3,
        title="册亨县饮水安全工程 drinking water",
        budget=12_000_000,
        end_date=20261231,
        content_hash=new_id(),
        version=version,
    )


def per_kind(sender: Sender, ledger: LedgerContract, a: Actors, repeat: int) -> list[Row]:
    """Each kind in its own transaction, `repeat` times, in a realistic order."""
    domain = ledger.deployment.domain
    labelled: list[tuple[str, records.SignedRecord]] = []

    def add(label: str, record: records.Record, who: LocalAccount) -> None:
        labelled.append((label, record.sign(who.key, domain)))

    for _ in range(repeat):
        pid = new_id(a.county.address)
        add("ProjectAnchor: need, version 1", need_anchor(pid, 1), a.county)
        add("ProjectAnchor: next version", need_anchor(pid, 2), a.county)
        sid = new_id(a.org.address)
        supply = aid_kinds.ProjectAnchor(
            id=aid_kinds.ProjectAnchor.anchor_id(sid, 1),
            project_id=sid,
            project_kind=ProjectKind.SUPPLY,
            county=COUNTY,
            category=5,
            title="农技服务 farm services",
            content_hash=new_id(),
            version=1,
        )
        add("ProjectAnchor: supply, version 1", supply, a.org)
        commitments = [
            aid_kinds.Commitment(
                id=new_id(a.org.address),
                need_id=pid,
                match_id=new_id(),
                resource_kind=ResourceKind.GOODS,
                quantity=10_000,
                unit=text32("斤"),
                due_date=1_767_225_600,
                terms_hash=new_id(),
            )
            for _ in range(4)
        ]
        for c in commitments:
            add("Commitment", c, a.org)
        d = aid_kinds.Delivery(
            id=new_id(a.org.address),
            commitment_id=commitments[0].id,
            quantity=1_000,
            delivered_at=1_735_689_600,
            evidence_hash=new_id(),
            beneficiary_count=25,
            beneficiary_root=new_id(),
        )
        add("Delivery", d, a.org)
        add(
            "Receipt",
            aid_kinds.Receipt(
                id=new_id(a.county.address),
                delivery_id=d.id,
                confirmed_quantity=1_000,
                note_hash=new_id(),
            ),
            a.county,
        )
        flag = aid_kinds.Flag(
            id=new_id(a.auditor.address), record_id=d.id, reason_code=1, note_hash=new_id()
        )
        add("Flag", flag, a.auditor)
        for k in (1, 4):
            batch = aid_kinds.DeliveryBatch(
                id=new_id(a.org.address),
                commitment_ids=tuple(sorted(c.id for c in commitments[:k])),
                quantities=(500,) * k,
                line_count=1_000,
                batch_root=new_id(),
                evidence_hash=new_id(),
            )
            add(f"DeliveryBatch: {k} commitment{'s' if k > 1 else ''}", batch, a.org)
    receipts = sender.send(record_tx(ledger, s) for _, s in labelled)
    rows: dict[str, Row] = {}
    for (label, _), receipt in zip(labelled, receipts, strict=True):
        rows.setdefault(label, Row(label, [])).values.append(gas_used(receipt))
    return list(rows.values())


def flags_for(
    ledger: LedgerContract, a: Actors, target: bytes, n: int
) -> list[records.SignedRecord]:
    domain = ledger.deployment.domain
    return [
        aid_kinds.Flag(
            id=new_id(a.auditor.address), record_id=target, reason_code=1, note_hash=new_id()
        ).sign(a.auditor.key, domain)
        for _ in range(n)
    ]


def first_appends(sender: Sender, ledger: LedgerContract, a: Actors, n: int) -> Row:
    """The first n appends to a fresh log: a need anchor, then n-1 Flags, each alone."""
    anchor = need_anchor(new_id(a.county.address), 1).sign(a.county.key, ledger.deployment.domain)
    signed = [anchor, *flags_for(ledger, a, anchor.id, n - 1)]
    receipts = sender.send(record_tx(ledger, s) for s in signed)
    assert ledger.log_size() == n
    assert ledger.log_root() == merkle.root([s.leaf_hash() for s in signed])
    return Row("Flag record, its own transaction (total)", [gas_used(r) for r in receipts[1:]])


def multicall_appends(
    sender: Sender, ledger: LedgerContract, a: Actors, n: int, per_tx: int
) -> Row:
    """n Flags (after one anchor) in multicalls of per_tx: each transaction's gas / per_tx."""
    anchor = need_anchor(new_id(a.county.address), 1).sign(a.county.key, ledger.deployment.domain)
    sender.send([record_tx(ledger, anchor)])
    flags = flags_for(ledger, a, anchor.id, n)
    txs = []
    for start in range(0, n, per_tx):
        chunk = flags[start : start + per_tx]
        data = ledger.contract.encode_abi(
            "multicall", args=[[ledger.submit_calldata(s) for s in chunk]]
        )
        txs.append((ledger.deployment.address, bytes.fromhex(data[2:]), 120_000 * len(chunk)))
    receipts = sender.send(txs)
    assert ledger.log_size() == n + 1
    return Row(
        f"Flag record in multicalls of {per_tx} (transaction gas ÷ {per_tx})",
        [round(gas_used(r) / per_tx) for r in receipts],
        note=f"{len(receipts)} transactions",
    )


def merkle_log_source() -> str:
    """contracts/libraries/MerkleLog.sol, as deployed."""
    return (ROOT / "contracts" / "libraries" / "MerkleLog.sol").read_text(encoding="utf-8")


def compile_harness(settings: Settings, library: str) -> tuple[list[dict[str, Any]], bytes]:
    std_input = {
        "language": "Solidity",
        "sources": {
            "contracts/libraries/MerkleLog.sol": {"content": library},
            HARNESS_UNIT: {"content": HARNESS_SOURCE},
        },
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    out = solcx.compile_standard(std_input, solc_binary=solc_binary(settings))
    contract = out["contracts"][HARNESS_UNIT]["LogHarness"]
    return contract["abi"], bytes.fromhex(contract["evm"]["bytecode"]["object"])


def log_only(sender: Sender, w3: Web3, settings: Settings, a: Actors, n: int) -> Row:
    """MerkleLog.append alone, per append: harness append(leaf) minus skip(leaf)."""
    abi, bytecode = compile_harness(settings, merkle_log_source())
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor().build_transaction({"from": a.admin.address})
    address = send_transaction(w3, a.admin, dict(tx))["contractAddress"]
    harness = w3.eth.contract(address=address, abi=abi)
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]

    def call(name: str, leaf: bytes) -> tuple[str, bytes, int]:
        return address, bytes.fromhex(harness.encode_abi(name, args=[leaf])[2:]), 300_000

    # Baselines first: the same calldata (zero bytes cost less, so per leaf), no storage.
    baseline = [gas_used(r) for r in sender.send(call("skip", leaf) for leaf in leaves)]
    receipts = sender.send(call("append", leaf) for leaf in leaves)
    assert bytes(harness.functions.root().call()) == merkle.root(leaves)
    label = "MerkleLog.append alone (harness tx − empty tx with the same calldata)"
    return Row(
        label,
        [gas_used(r) - b for r, b in zip(receipts, baseline, strict=True)],
        note=f"baseline tx ~{statistics.median(baseline):,.0f}",
    )


# ---------------------------------------------------------------------------- output


def fmt(x: float) -> str:
    return f"{round(x):,}"


def kind_table_rows(rows: list[Row]) -> list[list[str]]:
    return [
        [r.label, str(len(r.values)), fmt(r.mean), fmt(min(r.values)), fmt(max(r.values))]
        for r in rows
    ]


def log_table_rows(rows: list[Row], offset: dict[str, int]) -> list[list[str]]:
    """`offset` maps a row label to the log index of its first value (for "worst at")."""
    out = []
    for r in rows:
        worst = f"index {r.worst_index + offset[r.label]}" if r.label in offset else r.note
        out.append(
            [
                r.label,
                str(len(r.values)),
                fmt(r.mean),
                fmt(min(r.values)),
                fmt(max(r.values)),
                worst,
            ]
        )
    return out


KIND_HEADER = ["record kind (own transaction)", "n", "mean gas", "min", "max"]
LOG_HEADER = ["log appends on a fresh log", "n", "mean gas", "min", "max", "worst at / note"]


def markdown(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--appends", type=int, default=4096, help="log appends to measure")
    parser.add_argument("--repeat", type=int, default=8, help="records of each kind")
    parser.add_argument("--per-tx", type=int, default=256, help="records per multicall")
    args = parser.parse_args(argv)
    console = Console(stderr=True)

    with tempfile.TemporaryDirectory(prefix="bangfu-bench-gas-") as tmp:
        chain, settings = start_chain(Path(tmp))
        try:
            started = time.monotonic()
            w3 = connect(settings)
            accounts = dev_accounts(chain.cfg)
            actors = Actors(accounts[0], accounts[1], accounts[2], accounts[3], accounts[7])
            sender = Sender(w3, chain.cfg.rpc_url, actors.payer)
            console.print("per kind…")
            kinds = per_kind(sender, fresh_ledger(w3, settings, actors), actors, args.repeat)
            console.print(f"first {args.appends:,} appends, one transaction each…")
            single = first_appends(sender, fresh_ledger(w3, settings, actors), actors, args.appends)
            console.print(f"{args.appends:,} appends in multicalls of {args.per_tx}…")
            multi = multicall_appends(
                sender, fresh_ledger(w3, settings, actors), actors, args.appends, args.per_tx
            )
            console.print(f"MerkleLog.append alone, {args.appends:,} appends…")
            alone = log_only(sender, w3, settings, actors, args.appends)
            log_rows_raw = [single, multi, alone]
            elapsed = time.monotonic() - started
        finally:
            chain.down()

    kind_rows = kind_table_rows(kinds)
    offsets = {r.label: 0 for r in log_rows_raw[2:]} | {single.label: 1}
    log_rows = log_table_rows(log_rows_raw, offsets)
    about = (
        f"AidLedger, solc {SOLC_VERSION} (optimizer {OPTIMIZER_RUNS} runs, {EVM_VERSION}), "
        f"anvil; gasUsed from receipts, after refunds; measured in {elapsed:.0f} s"
    )
    if args.markdown:
        print(f"{about}.\n")
        print(markdown(KIND_HEADER, kind_rows))
        print()
        print(markdown(LOG_HEADER, log_rows))
    else:
        out = Console()
        out.print(rich_table("Gas per record kind", KIND_HEADER, kind_rows))
        out.print(rich_table(f"Gas per log append, first {args.appends:,}", LOG_HEADER, log_rows))
        out.print(about)
    return 0


if __name__ == "__main__":
    sys.exit(main())
