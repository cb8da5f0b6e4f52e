"""Benchmark of `bangfu audit`: builds a real ledger on a private anvil, indexes it with the
real Indexer, and times the audit and its phases (replay, signatures, roots, totals,
database diff with batch-line roots, anomalies).

    .venv/bin/python scripts/bench_audit.py --records 100000
    .venv/bin/python scripts/bench_audit.py --lines 1000000 --lines-per-batch 10000
    ... --postgres postgresql://postgres@127.0.0.1:5432/test   (read model in PostgreSQL)

`--records N`: N single Delivery records (one leaf each). `--lines M`: M delivery lines in
DeliveryBatch records of `--lines-per-batch` lines each; the lines go to `batch_lines` in the
shape the batch ingest writes them, and the audit recomputes every batch root from them.

The ledger is built fast and honestly: anvil (no state file, 10 s blocks, 2e9 gas limit)
mines multicall transactions of `--per-tx` records, signed locally with coincurve (EIP-712
digests from ledger.records), sent as raw transactions in JSON-RPC batches from several dev
accounts without waiting per transaction. The building and indexing times are printed but
kept out of the audit timing. Prints one markdown table row per audit for docs/audit.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from benchkit import free_port, scratch
from coincurve import PrivateKey
from eth_account import Account
from web3 import Web3

from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.batches.receive import insert_lines_sql, line_row
from ledger.config import PROJECT_ROOT, Settings
from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, ProjectAnchor
from ledger.core.eip712 import Domain
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine, new_id, scoped_id
from ledger.core.merkle import MerkleTree, leaf_hash
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, Record, SignedRecord, sha256
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import deploy
from ledger.indexer.worker import Indexer
from ledger.store.db import Database
from tests.factories import postgres_database

MNEMONIC = "test test test test test test test test test test test junk"
COUNTY = 522327
ORG_CODE = "91520000MA6DKTQX0U"


def sign(record: Record, key: bytes, signer: str, domain: Domain) -> SignedRecord:
    """EIP-712 signature with coincurve (libsecp256k1 gives low-s; v = recid + 27)."""
    sig = PrivateKey(key).sign_recoverable(record.digest(domain), hasher=None)
    return SignedRecord(record, domain, signer, sig[:64] + bytes([sig[64] + 27]))


def _sign_deliveries(job: tuple[bytes, str, int, str, bytes, int, int]) -> list[bytes]:
    key, signer, chain_id, contract, commitment_id, start, n = job
    domain = Domain(chain_id, contract)
    out = []
    for i in range(start, start + n):
        d = Delivery(
            id=scoped_id(signer, sha256(b"bench-delivery%d" % i + bytes.fromhex(contract[2:]))),
            commitment_id=commitment_id,
            quantity=1,
            delivered_at=1_700_000_000 + i,
            evidence_hash=sha256(b"e%d" % (i % 1000)),
            beneficiary_count=1,
            beneficiary_root=sha256(b"b%d" % i),
        )
        out.append(sign(d, key, signer, domain).canonical_bytes())
    return out


# ------------------------------------------------------------------------------ anvil


def start_anvil(gas_limit: int, block_time: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = sorted((PROJECT_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))[0]
    port = free_port()
    # no --state: anvil keeps its state (and history) in memory, as fast as it gets
    cmd = [
        str(binary),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--mnemonic", MNEMONIC,
        "--accounts", "10",
        "--hardfork", "prague",
        "--gas-limit", str(gas_limit),
        "--block-time", str(block_time),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            ask = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
            if httpx.post(url, json=ask).is_success:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("anvil did not start")


class Sender:
    """Multicall transactions of pre-signed records, raw-signed, posted in JSON-RPC batches."""

    def __init__(self, ledger: LedgerContract, payers: list[Any], rpc: str, per_tx: int) -> None:
        self.ledger, self.payers, self.rpc, self.per_tx = ledger, payers, rpc, per_tx
        self.http = httpx.Client(timeout=600)
        self.chain_id = int(ledger.w3.eth.chain_id)
        self.nonces: dict[str, int] = {
            p.address: int(ledger.w3.eth.get_transaction_count(p.address)) for p in payers
        }
        self.sent = 0
        self.gas_per: dict[int, int] = {}
        self.body: list[dict[str, Any]] = []
        self.body_bytes = 0

    def _gas(self, data: bytes, kind: int, n: int) -> int:
        if kind in (Kind.PROJECT_ANCHOR, Kind.COMMITMENT):
            return 400_000 * n + 100_000  # their references are not mined yet: no estimate
        if kind not in self.gas_per:
            call = {"from": self.payers[0].address, "to": self.ledger.contract.address}
            est = int(self.ledger.w3.eth.estimate_gas({**call, "data": data}))  # type: ignore[typeddict-item]
            self.gas_per[kind] = est // n + 1
        return self.gas_per[kind] * n * 13 // 10 + 100_000

    def send(self, records: list[SignedRecord]) -> None:
        for i in range(0, len(records), self.per_tx):
            part = records[i : i + self.per_tx]
            calls = [self.ledger.submit_calldata(s) for s in part]
            data = bytes.fromhex(self.ledger.contract.encode_abi("multicall", [calls])[2:])
            payer = self.payers[self.sent % len(self.payers)]
            tx = {
                "to": self.ledger.contract.address,
                "data": data,
                "gas": self._gas(data, int(part[0].kind), len(part)),
                "maxFeePerGas": 2_000 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "nonce": self.nonces[payer.address],
                "chainId": self.chain_id,
                "value": 0,
            }
            self.nonces[payer.address] += 1
            raw = Account.sign_transaction(tx, payer.key).raw_transaction
            self.body.append(
                {
                    "jsonrpc": "2.0",
                    "id": self.sent,
                    "method": "eth_sendRawTransaction",
                    "params": [hex0x(raw)],
                }
            )
            self.sent += 1
            self.body_bytes += len(raw) * 2
            if self.body_bytes >= 1_000_000:  # anvil refuses a JSON-RPC body past ~2 MB
                self.flush()

    def flush(self) -> None:
        if not self.body:
            return
        answers = self.http.post(self.rpc, json=self.body).json()
        self.body, self.body_bytes = [], 0
        for answer in answers if isinstance(answers, list) else [answers]:
            if "error" in answer:
                raise RuntimeError(answer["error"])

    def wait_size(self, size: int) -> None:
        self.flush()
        last, since = -1, time.time()
        while True:
            now = self.ledger.log_size()
            if now >= size:
                return
            if now != last:
                last, since = now, time.time()
                print(f"  log size {now:,} / {size:,}", file=sys.stderr)
            elif time.time() - since > 120:
                raise TimeoutError(f"log stuck at {now} < {size}: a transaction reverted?")
            time.sleep(1)


# ------------------------------------------------------------------------------ build


def _lines(commitment_id: bytes, batch_no: int, count: int) -> Iterator[DeliveryLine]:
    for i in range(count):
        yield DeliveryLine(
            commitment_id,
            "大米 rice",
            1 + i % 5,
            "kg",
            1_700_000_000 + i,
            sha256(b"household %d/%d" % (batch_no, i)),
            sha256(b"evidence %d" % batch_no),
        )


def build(args: argparse.Namespace, tmp: Path, rpc: str, db_url: str) -> dict[str, Any]:
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 600}))
    accts = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
    admin, county, org = accts[0], accts[1], accts[3]
    settings = Settings(home=PROJECT_ROOT, var=tmp, rpc_url=rpc, database_url=db_url)
    deployment = deploy(w3, admin, settings=settings)
    ledger = LedgerContract(w3, deployment)
    ledger.register_county(admin, county.address, COUNTY, f"县级机构 {COUNTY}")
    ledger.register_organization(admin, org.address, ORG_CODE, "压力测试公益服务中心", 2)
    domain = deployment.domain
    ckey, okey = bytes(county.key), bytes(org.key)
    sender = Sender(ledger, accts[5:10], rpc, args.per_tx)

    t0 = time.perf_counter()
    need_id = new_id(county.address)
    need = ProjectAnchor(
        id=ProjectAnchor.anchor_id(need_id, 1),
        project_id=need_id,
        project_kind=ProjectKind.NEED,
        county=COUNTY,
        category=1,
        title="产业发展 benchmark need",
        content_hash=sha256(b"need"),
        version=1,
    )
    n_batches = -(-args.lines // args.lines_per_batch) if args.lines else 0
    commits = [
        Commitment(
            id=new_id(org.address),
            need_id=need.project_id,
            match_id=new_id(),
            resource_kind=ResourceKind.GOODS,
            quantity=1 << 62,
            unit=text32("kg"),
            due_date=0,
            terms_hash=sha256(b"terms"),
        )
        for _ in range(1 + n_batches)
    ]
    sender.send([sign(need, ckey, county.address, domain)])
    sender.send([sign(c, okey, org.address, domain) for c in commits])
    size = 1 + len(commits)
    sender.wait_size(size)

    # single deliveries: signed on both cores, sent as soon as each chunk is signed
    chunk = 10_000
    jobs = [
        (okey, org.address, deployment.chain_id, deployment.address, commits[0].id, i, n)
        for i in range(0, args.records, chunk)
        for n in [min(chunk, args.records - i)]
    ]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        for blobs in pool.map(_sign_deliveries, jobs):
            sender.send([signed_from_bytes(b) for b in blobs])
            size += len(blobs)
            print(f"  sent {size:,} records", file=sys.stderr)

    # delivery batches: lines to batch_lines as the ingest writes them, roots on chain
    db = Database(db_url, settings)
    db.migrate()
    mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    insert_sql = insert_lines_sql(db)
    # the accepted 点单/接单 every commitment cites (the audit re-checks the match rule)
    match_cols = (
        "match_id, direction, need_id, supply_id, county, org_code, status, proposer, "
        "proposal_signature, responder, response_signature, note"
    )
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO library_matches ({match_cols}) VALUES ({', '.join([mark] * 12)})",
            [
                (
                    hex0x(c.match_id),
                    "take",
                    hex0x(need.project_id),
                    "0x" + "00" * 32,
                    COUNTY,
                    ORG_CODE,
                    "accepted",
                    org.address,
                    "0x",
                    county.address,
                    "0x",
                    "",
                )
                for c in commits
            ],
        )
    batches = []
    for b in range(n_batches):
        count = min(args.lines_per_batch, args.lines - b * args.lines_per_batch)
        cid = commits[1 + b].id
        bid = new_id(org.address)
        tree, rows, qty = MerkleTree(), [], 0
        for i, line in enumerate(_lines(cid, b, count)):
            raw = line.line_bytes()
            leaf = leaf_hash(raw)
            tree.append(leaf)
            qty += line.quantity
            rows.append(line_row(hex0x(bid), i, raw, leaf, line))
        with db.engine.begin() as conn:
            conn.exec_driver_sql(insert_sql, rows)
        batch = DeliveryBatch(
            id=bid,
            commitment_ids=(cid,),
            quantities=(qty,),
            line_count=count,
            batch_root=tree.root(),
            evidence_hash=sha256(b"evidence %d" % b),
        )
        batches.append(sign(batch, okey, org.address, domain))
        if len(batches) % 10 == 0:
            print(f"  {len(batches) * args.lines_per_batch:,} lines written", file=sys.stderr)
    sender.send(batches)
    size += len(batches)
    sender.wait_size(size)
    build_s = time.perf_counter() - t0
    print(f"built {size:,} leaves in {build_s:.0f} s", file=sys.stderr)

    t1 = time.perf_counter()
    Indexer(db, ledger, block_range=200).run_until_synced()
    index_s = time.perf_counter() - t1
    print(f"indexed in {index_s:.0f} s", file=sys.stderr)
    db.dispose()
    return {
        "contract": deployment.address,
        "leaves": size,
        "build_s": build_s,
        "index_s": index_s,
        "blocks": int(w3.eth.block_number) - deployment.block,
    }


# ------------------------------------------------------------------------------ main


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the audit's signature workers
    and its solc): what an audit costs whatever else the machine runs meanwhile."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


PHASES = ("replay", "signatures", "roots", "totals", "database", "anomalies")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=0, help="single Delivery records")
    p.add_argument("--lines", type=int, default=0, help="delivery lines in batches")
    p.add_argument("--lines-per-batch", type=int, default=10_000)
    p.add_argument("--per-tx", type=int, default=200, help="records per multicall tx")
    p.add_argument("--gas-limit", type=int, default=2_000_000_000)
    # anvil keeps every block's state in memory: 1 s blocks over a 100k-record build grew it
    # to 21 GB and the kernel killed it; fewer, bigger blocks keep it small
    p.add_argument("--block-time", type=int, default=10)
    p.add_argument("--postgres", help="base PostgreSQL URL; a fresh database is made in it")
    p.add_argument("--workers", type=int, default=0, help="audit signature workers (0: cores)")
    args = p.parse_args()
    with scratch("bench-audit-") as tmp:
        run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> None:
    """One run in the folder `tmp` (removed afterwards unless kept)."""
    cleanup = ExitStack()
    if args.postgres:
        db_url = cleanup.enter_context(postgres_database(args.postgres, "bench_audit"))
    else:
        db_url = f"sqlite:///{tmp / 'read.sqlite3'}"
    proc, rpc = start_anvil(args.gas_limit, args.block_time, tmp / "anvil.log")
    try:
        built = build(args, tmp, rpc, db_url)
        load = os.getloadavg()[0]
        backend = "PostgreSQL" if args.postgres else "SQLite"
        rows = []
        for label, url in (("chain only", None), (f"chain + {backend} diff", db_url)):
            cpu0 = _cpu_seconds()
            report = run_audit(
                AuditOptions(
                    rpc_url=rpc,
                    contract=built["contract"],
                    database_url=url,
                    workers=args.workers,
                    sources=PROJECT_ROOT / "contracts",
                )
            )
            cpu = _cpu_seconds() - cpu0
            if report.integrity:
                raise SystemExit(f"the clean ledger has findings: {report.counts()}")
            t = report.timings
            phases = ", ".join(f"{k} {t[k]:.1f}" for k in PHASES if k in t)
            work = args.lines if url and args.lines else report.stats["records"]
            rows.append(
                f"| {label} | {report.stats['records']:,} | {args.lines if url else 0:,} "
                f"| {built['build_s']:.0f} + index {built['index_s']:.0f} | {t['total']:.1f} "
                f"| {phases} (bytecode {t.get('bytecode', 0):.1f}) "
                f"| {work / t['total']:,.0f} | {cpu:.1f} |"
            )
        print(f"\nload average before the audits: {load:.1f} (2 cores)\n")
        print(
            "| case | records | lines | build s | audit total s | phases s | per s "
            "| CPU s (audit, its workers and solc) |"
        )
        print("|---|---:|---:|---:|---:|---|---:|---:|")
        print("\n".join(rows))
    finally:
        proc.terminate()
        proc.wait(10)
        cleanup.close()


if __name__ == "__main__":
    main()
