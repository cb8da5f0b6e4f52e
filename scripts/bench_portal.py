"""Portal page speed and size over a large read model; prints a markdown table.

Usage: .venv/bin/python scripts/bench_portal.py [--projects 2000] [--commitments 20000]
[--requests 30] [--database-url sqlite:///var/bench_portal.sqlite3]

The read model is filled directly (the indexer's tables, no chain): records are really signed
with dev keys under a stand-in domain, so record bytes, leaf hashes and proof bundles are
genuine, but nothing is on chain. Each page is requested in process through the ASGI app
(TestClient), so the numbers are server time plus Jinja rendering, without network.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from pathlib import Path

from benchkit import scratch
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.config import Settings
from ledger.core.aid_kinds import Commitment, Delivery, ProjectAnchor
from ledger.core.eip712 import Domain
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.lines import new_id
from ledger.evm.deploy import Deployment
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    LogEntry,
    ProjectAnchorRow,
    RoleEvent,
)

COUNTIES = [522327, 520121, 522326, 522633, 522632, 520525, 520526, 520527]
KEYS = [Account.create() for _ in range(6)]


#: The deployment the seeded records are signed for. No chain runs: the portal renders
#: from the read model, and reads only the domain from the deployment file.
DOMAIN = Domain(31337, "0x" + "11" * 20)


def fill(svc: LedgerService, n_projects: int, n_commitments: int) -> dict[str, str]:
    domain = DOMAIN
    rng = random.Random(7)
    now = int(time.time())
    leaf = 0
    sample: dict[str, str] = {}

    def entry(signed: object, kind: int, t: int) -> LogEntry:
        nonlocal leaf
        raw = signed.canonical_bytes()  # type: ignore[attr-defined]
        e = LogEntry(
            leaf_index=leaf,
            record_id="0x" + signed.id.hex(),  # type: ignore[attr-defined]
            kind=kind,
            signer=signed.signer,  # type: ignore[attr-defined]
            leaf_hash="0x" + hashlib.sha256(b"\0" + raw).hexdigest(),
            record_bytes=raw,
            chain_id=31337,
            block_number=leaf // 50 + 1,
            block_hash="0x" + hashlib.sha256(str(leaf // 50).encode()).hexdigest(),
            block_time=t,
            tx_hash="0x" + hashlib.sha256(f"tx{leaf}".encode()).hexdigest(),
            log_index=leaf % 50,
        )
        leaf += 1
        return e

    with svc.db.write() as s:
        for i, acct in enumerate(KEYS[2:]):
            s.add(
                RoleEvent(
                    address=acct.address,
                    role="ORG",
                    granted=True,
                    county=None,
                    org_code=f"9152000000000000{i:02d}",
                    chain_id=31337,
                    block_number=0,
                    block_hash="0x" + "00" * 32,
                    tx_hash="0x" + f"{i:064x}",
                    log_index=i,
                )
            )
        needs: list[tuple[bytes, int, int]] = []
        for _ in range(n_projects):
            pid, county, cat = new_id(KEYS[0].address), rng.choice(COUNTIES), rng.randint(1, 10)
            anchor = ProjectAnchor(
                id=ProjectAnchor.anchor_id(pid, 1),
                project_id=pid,
                project_kind=ProjectKind.NEED,
                county=county,
                category=cat,
                title=f"需求项目 {county}",
                content_hash=new_id(),
                version=1,
            ).sign(KEYS[0].key, domain)
            t = now - rng.randint(0, 365) * 86_400
            s.add(entry(anchor, 1, t))
            s.flush()
            s.add(
                ProjectAnchorRow(
                    record_id="0x" + anchor.id.hex(),
                    project_id="0x" + pid.hex(),
                    project_kind=1,
                    county=county,
                    category=cat,
                    content_hash="0x" + "00" * 32,
                    version=1,
                    author=anchor.signer,
                )
            )
            needs.append((pid, county, cat))
        for _ in range(n_commitments):
            pid, county, cat = rng.choice(needs)
            org = rng.choice(KEYS[2:])
            qty = rng.randint(1, 500) * 10_000
            c = Commitment(
                id=new_id(org.address),
                need_id=pid,
                match_id=new_id(),
                resource_kind=ResourceKind.FUNDS,
                quantity=qty,
                unit=text32("fen"),
                due_date=now + rng.randint(-90, 90) * 86_400,
                terms_hash=new_id(),
            ).sign(org.key, domain)
            t = now - rng.randint(0, 300) * 86_400
            s.add(entry(c, 2, t))
            delivered = qty if rng.random() < 0.6 else 0
            s.flush()
            s.add(
                CommitmentRow(
                    record_id="0x" + c.id.hex(),
                    need_id="0x" + pid.hex(),
                    match_id="0x" + c.record.match_id.hex(),  # type: ignore[attr-defined]
                    org=org.address,
                    county=county,
                    category=cat,
                    resource_kind=1,
                    quantity=qty,
                    unit="fen",
                    due_date=c.record.due_date,  # type: ignore[attr-defined]
                    terms_hash="0x" + "00" * 32,
                    delivered=delivered,
                    confirmed=delivered if rng.random() < 0.7 else 0,
                    block_time=t,
                )
            )
            if delivered:
                d = Delivery(
                    id=new_id(org.address),
                    commitment_id=c.id,
                    quantity=qty,
                    delivered_at=t + 86_400,
                    evidence_hash=new_id(),
                    beneficiary_count=10,
                    beneficiary_root=new_id(),
                ).sign(org.key, domain)
                s.add(entry(d, 3, t + 86_400))
                s.flush()
                s.add(
                    DeliveryRow(
                        record_id="0x" + d.id.hex(),
                        commitment_id="0x" + c.id.hex(),
                        org=org.address,
                        county=county,
                        category=cat,
                        quantity=qty,
                        delivered_at=t + 86_400,
                        evidence_hash="0x" + "00" * 32,
                        beneficiary_count=10,
                        beneficiary_root="0x" + "00" * 32,
                    )
                )
                sample["record"] = "0x" + c.id.hex()
                sample["project"] = "0x" + pid.hex()
                sample["county"] = str(county)
    sample["leaves"] = str(leaf)
    return sample


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=2000)
    ap.add_argument("--commitments", type=int, default=20000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args(argv)
    with scratch("bench-portal-") as tmp:
        return run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> int:
    """One run in the folder `tmp` (removed afterwards unless kept)."""
    url = args.database_url or f"sqlite:///{tmp / 'portal.sqlite3'}"
    settings = Settings(database_url=url, var=tmp)  # type: ignore[call-arg]
    Deployment(
        chain_id=DOMAIN.chain_id,
        address=DOMAIN.verifying_contract,
        block=0,
        tx_hash="0x" + "00" * 32,
        compiler_version="none (no chain: a seeded read model)",
        admin="0x" + "00" * 20,
        input_hash="",
    ).save(settings)
    svc = LedgerService(settings)
    svc.db.migrate()
    t0 = time.perf_counter()
    sample = fill(svc, args.projects, args.commitments)
    fill_s = time.perf_counter() - t0
    client = TestClient(create_app(svc))
    pages = [
        ("home", "/"),
        ("home (en)", "/?lang=en"),
        ("needs library", "/needs"),
        ("needs, search + filter", f"/needs?q=贵州&category=3&county={sample['county']}"),
        ("needs CSV (all)", "/needs?format=csv"),
        ("commitments", "/commitments"),
        ("commitments CSV (all)", "/commitments?format=csv"),
        ("organizations", "/orgs"),
        ("organization", "/orgs/915200000000000000"),
        ("counties", "/counties"),
        ("county", f"/counties/{sample['county']}"),
        ("project timeline", f"/projects/{sample['project']}"),
        ("verify (record + bundle)", f"/verify?id={sample['record']}"),
    ]
    print(
        f"read model: {args.projects} projects, {args.commitments} commitments, "
        f"{sample['leaves']} log leaves ({url.split(':')[0]}; filled in {fill_s:.0f} s)\n"
    )
    print("| page | p50 ms | p95 ms | bytes |")
    print("|---|---:|---:|---:|")
    for name, path in pages:
        times = []
        size = 0
        n = args.requests if "CSV" not in name else max(3, args.requests // 10)
        for _ in range(n):
            t = time.perf_counter()
            res = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
            assert res.status_code == 200, (path, res.status_code, res.text[:200])
            size = len(res.content)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {size:,} |")
    svc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
