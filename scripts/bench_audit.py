"""Benchmark of `bangfu audit`: builds a real ledger on a private anvil, indexes it into SQLite,
and times the audit (replay, signatures, tree, totals, database diff) at each size.

    .venv/bin/python scripts/bench_audit.py --records 100000 --lines 1000000

`--records N`: N single Delivery records (one leaf each), sent 250 per multicall transaction.
`--lines M`: M delivery lines in DeliveryBatch records of `--lines-per-batch` lines; the
lines are written to `batch_lines` as the batches feature stores them, and the audit
recomputes every batch root from them. Prints a markdown table for docs/audit.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from eth_account import Account
from sqlalchemy import insert

from ledger.audit import AuditOptions, run_audit
from ledger.chain import LocalChain, connect, deploy, dev_accounts, load_localchain
from ledger.indexer import Indexer
from ledger.merkle import MerkleTree
from ledger.onchain import LedgerContract
from ledger.records import (
    Commitment,
    Delivery,
    DeliveryBatch,
    DeliveryLine,
    Domain,
    ProjectAnchor,
    ProjectKind,
    ResourceKind,
    SignedRecord,
    new_id,
    sha256,
    text32,
)
from ledger.store.db import Database

PER_TX = 250


def _sign_deliveries(args: tuple[str, int, int, str, bytes, int]) -> list[bytes]:
    key, chain_id, n, contract, commitment_id, seed = args
    domain = Domain(chain_id, contract)
    out = []
    for i in range(n):
        d = Delivery(
            id=sha256(seed.to_bytes(8, "big") + i.to_bytes(8, "big")),
            commitment_id=commitment_id,
            quantity=1,
            delivered_at=1_700_000_000 + i,
            evidence_hash=sha256(b"e%d" % i),
            beneficiary_count=1,
            beneficiary_root=new_id(),
        )
        out.append(d.sign(key, domain).canonical_bytes())
    return out


class Sender:
    """Sends submit calls in multicall transactions, raw-signed and posted in RPC batches."""

    def __init__(self, ledger: LedgerContract, payers: list[Any], rpc: str) -> None:
        self.ledger, self.payers, self.http = ledger, payers, httpx.Client(timeout=300)
        self.rpc = rpc
        w3 = ledger.w3
        self.chain_id = int(w3.eth.chain_id)
        self.nonces = {p.address: w3.eth.get_transaction_count(p.address) for p in payers}
        self.sent = 0

    def send(self, records: list[SignedRecord], gas_per: int = 250_000) -> None:
        body = []
        for i in range(0, len(records), PER_TX):
            part = records[i : i + PER_TX]
            calls = [self.ledger.submit_calldata(s) for s in part]
            data = self.ledger.contract.encode_abi("multicall", [calls])
            payer = self.payers[self.sent % len(self.payers)]
            tx = {
                "to": self.ledger.contract.address,
                "data": data,
                "gas": gas_per * len(part) + 200_000,
                "maxFeePerGas": 50 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "nonce": self.nonces[payer.address],
                "chainId": self.chain_id,
                "value": 0,
            }
            self.nonces[payer.address] += 1
            raw = Account.sign_transaction(tx, payer.key).raw_transaction
            body.append(
                {
                    "jsonrpc": "2.0",
                    "id": len(body),
                    "method": "eth_sendRawTransaction",
                    "params": ["0x" + bytes(raw).hex()],
                }
            )
            self.sent += 1
            if len(body) >= 8:
                self._post(body)
                body = []
        self._post(body)

    def _post(self, body: list[dict[str, Any]]) -> None:
        if not body:
            return
        answers = self.http.post(self.rpc, json=body).json()
        for answer in answers if isinstance(answers, list) else [answers]:
            if "error" in answer:
                raise RuntimeError(answer["error"])

    def wait_size(self, size: int, timeout: float = 3600) -> None:
        end = time.time() + timeout
        while self.ledger.log_size() < size:
            if time.time() > end:
                raise TimeoutError(f"log stuck at {self.ledger.log_size()} < {size}")
            time.sleep(1)


def build(tmp: Path, records: int, lines: int, per_batch: int) -> tuple[Any, str, float]:
    from tests.conftest import make_settings

    settings = make_settings(tmp, block_time=1)
    cfg = load_localchain(settings).model_copy(
        update={"state_interval": 3600, "gas_limit": 1_000_000_000}
    )
    chain = LocalChain(cfg, settings)
    chain.up()
    w3 = connect(settings)
    accts = dev_accounts(chain.cfg)
    admin, county, org = accts[0], accts[1], accts[3]
    deployment = deploy(w3, admin, settings=settings)
    deployment.save(settings)
    ledger = LedgerContract(w3, deployment)
    ledger.register_county(admin, county.address, 522327)
    ledger.register_organization(admin, org.address, "91520000MA6DKTQX0U")
    domain = deployment.domain
    sender = Sender(ledger, accts[7:10], str(settings.rpc_url))
    need = ProjectAnchor(
        id=new_id(),
        project_id=new_id(),
        project_kind=ProjectKind.NEED,
        county=522327,
        category=1,
        content_hash=sha256(b"n"),
        version=1,
    )
    n_batches = (lines + per_batch - 1) // per_batch if lines else 0
    commits = [
        Commitment(
            id=new_id(),
            need_id=need.project_id,
            match_id=new_id(),
            resource_kind=ResourceKind.GOODS,
            quantity=1 << 62,
            unit=text32("kg"),
            due_date=0,
            terms_hash=sha256(b"t"),
        )
        for _ in range(1 + n_batches)
    ]
    sender.send([need.sign(county.key, domain)])
    sender.wait_size(1)
    sender.send([c.sign(org.key, domain) for c in commits])
    size = 1 + len(commits)
    sender.wait_size(size)
    t0 = time.perf_counter()
    workers = os.cpu_count() or 1
    chunk = 5_000
    jobs = [
        (
            org.key.hex(),
            deployment.chain_id,
            min(chunk, records - i),
            deployment.address,
            commits[0].id,
            i,
        )
        for i in range(0, records, chunk)
    ]
    with ProcessPoolExecutor(workers) as pool:
        for blobs in pool.map(_sign_deliveries, jobs):
            sender.send([SignedRecord.from_bytes(b) for b in blobs])
            size += len(blobs)
    line_rows: list[dict[str, Any]] = []
    for b in range(n_batches):
        count = min(per_batch, lines - b * per_batch)
        cid = commits[1 + b].id
        tree = MerkleTree()
        bid = new_id()
        for i in range(count):
            line = DeliveryLine(
                cid, "大米 rice", 1, "kg", 1_700_000_000, sha256(b"%d/%d" % (b, i)), sha256(b"ev")
            )
            raw = line.line_bytes()
            tree.append(line.leaf_hash())
            line_rows.append(
                dict(
                    batch_id="0x" + bid.hex(),
                    line_index=i,
                    line_bytes=raw,
                    leaf_hash="0x" + line.leaf_hash().hex(),
                    commitment_id="0x" + cid.hex(),
                    beneficiary="0x" + line.beneficiary.hex(),
                    quantity=1,
                    item=line.item,
                    unit=line.unit,
                    delivered_at=line.delivered_at,
                    evidence_hash="0x" + line.evidence_hash.hex(),
                )
            )
        batch = DeliveryBatch(
            id=bid,
            commitment_ids=(cid,),
            quantities=(count,),
            line_count=count,
            batch_root=tree.root(),
            evidence_hash=sha256(b"ev"),
        )
        sender.send([batch.sign(org.key, domain)], gas_per=1_000_000)
        size += 1
    sender.wait_size(size)
    build_s = time.perf_counter() - t0
    db_url = f"sqlite:///{tmp / 'read.sqlite3'}"
    db = Database(db_url, settings)
    db.migrate()
    t1 = time.perf_counter()
    Indexer(db, ledger, block_range=50).run_until_synced()
    index_s = time.perf_counter() - t1
    if line_rows:
        from ledger.store.batch_models import BatchLine

        with db.engine.begin() as conn:
            for i in range(0, len(line_rows), 50_000):
                conn.execute(insert(BatchLine), line_rows[i : i + 50_000])
    db.dispose()
    print(f"built {size} leaves in {build_s:.0f} s, indexed in {index_s:.0f} s", file=sys.stderr)
    return (chain, settings, deployment), db_url, build_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--lines", type=int, default=0)
    p.add_argument("--lines-per-batch", type=int, default=10_000)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    (chain, settings, deployment), db_url, _ = build(
        tmp, args.records, args.lines, args.lines_per_batch
    )
    try:
        rows = []
        for label, db in (("chain only", None), ("chain + database diff", db_url)):
            report = run_audit(
                AuditOptions(
                    rpc_url=str(settings.rpc_url), contract=deployment.address, database_url=db
                )
            )
            assert not report.integrity, report.counts()
            t = report.timings
            rows.append(
                (
                    label,
                    report.stats["records"],
                    args.lines,
                    t.get("replay", 0),
                    t.get("signatures", 0),
                    t.get("totals", 0),
                    t.get("database", 0),
                    t["total"],
                )
            )
        print(
            "| audit | leaves | delivery lines | replay+parse s | signatures s (wait) "
            "| totals s | database s | total s | leaves/s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, n, ln, rep, sig, tot, dbs, total in rows:
            print(
                f"| {label} | {n:,} | {ln:,} | {rep:.1f} | {sig:.1f} | {tot:.1f} | {dbs:.1f} "
                f"| {total:.1f} | {n / total:,.0f} |"
            )
    finally:
        chain.down()


if __name__ == "__main__":
    main()
