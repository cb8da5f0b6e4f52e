"""Seeds a read model of N leaves straight into the database, in the shape the indexer
writes (log entries with canonical record bytes, each kind's row with its chain location,
the commitments' running amounts, role grants, and the maintained totals recomputed by the
code a rollback uses), for the query benchmark:

    .venv/bin/python scripts/seed_read_model.py --leaves 1000000 --database-url sqlite:///x.db

5 % need anchors, 20 % commitments, 75 % deliveries (as scripts/bench_api.py seeds on
chain), over 40 counties, 10 categories and 60 organizations, 200 leaves a block.

The records are not signed one by one (signing is ~400 µs a record here, 7 minutes for a
million): each kind's bytes come from one signed template with its fields patched in, so
the bytes decode, hash and list exactly as real ones do, but their signatures do not
verify. Use this for read-path benchmarks only; the audit would (rightly) refuse them.
"""

from __future__ import annotations

import argparse
import random
import time
from hashlib import sha256
from typing import Any

from eth_account import Account
from sqlalchemy import bindparam, insert, text, update

from ledger.core.aid_kinds import Commitment, Delivery, ProjectAnchor
from ledger.core.eip712 import Domain
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.records import HEADER_LEN, Kind, SignedRecord
from ledger.store import aggregates, models
from ledger.store.db import Database

CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
COUNTIES = [520100 + i for i in range(40)]
UNITS = {ResourceKind.FUNDS: "元", ResourceKind.GOODS: "kg", ResourceKind.SERVICE: "小时"}
CHUNK = 20_000
T0 = 1_760_000_000


def _key(i: int) -> bytes:
    return sha256(b"bench-seed-key-%d" % i).digest()


def _template(record: Any, key: bytes, domain: Domain) -> bytes:
    signed: SignedRecord = record.sign(key, domain)
    return signed.canonical_bytes()


def _patch(template: bytes, slots: dict[int, bytes]) -> bytes:
    """The template with its body's 32-byte ABI slots (static fields, by position)
    replaced."""
    b = bytearray(template)
    for slot, value in slots.items():
        at = HEADER_LEN + 32 * slot
        b[at : at + 32] = value
    return bytes(b)


def _u(value: int) -> bytes:
    return value.to_bytes(32, "big")


def seed(db: Database, leaves: int, *, seed_value: int = 16) -> dict[str, float]:
    """Writes `leaves` leaves into the empty read model of `db`; returns timings."""
    rng = random.Random(seed_value)
    domain = Domain(CHAIN_ID, CONTRACT)
    county_keys = [_key(1000 + i) for i in range(len(COUNTIES))]
    org_keys = [_key(i) for i in range(60)]
    counties = [Account.from_key(k).address for k in county_keys]
    orgs = [Account.from_key(k).address for k in org_keys]
    # one signed template per kind and signer: the signer sits in the header
    need_t = {
        a: _template(
            ProjectAnchor(
                id=bytes(32),
                project_id=bytes(32),
                project_kind=ProjectKind.NEED,
                county=COUNTIES[i],
                category=1,
                title="民生保障 seeded need",
                content_hash=bytes(32),
            ),
            county_keys[i],
            domain,
        )
        for i, a in enumerate(counties)
    }
    commit_t = {
        a: _template(Commitment(id=bytes(32), unit=text32("kg")), org_keys[i], domain)
        for i, a in enumerate(orgs)
    }
    deliv_t = {
        a: _template(Delivery(id=bytes(32)), org_keys[i], domain) for i, a in enumerate(orgs)
    }

    t_start = time.perf_counter()
    roles = []
    for i, a in enumerate(counties):
        roles.append(dict(address=a, role="COUNTY", granted=True, county=COUNTIES[i],
                          org_code=None, name=f"县 {COUNTIES[i]}", log_index=i))  # fmt: skip
    for i, a in enumerate(orgs):
        roles.append(dict(address=a, role="ORG", granted=True, county=None,
                          org_code=f"9152000{i:04d}MA6DKT", name=f"组织 {i}", org_type=1,
                          authority="民政厅", log_index=100 + i))  # fmt: skip
    for r in roles:
        r.update(chain_id=CHAIN_ID, block_number=1, block_hash="0x" + "ab" * 32,
                 tx_hash="0x" + sha256(b"roles%d" % r["log_index"]).hexdigest())  # fmt: skip
    with db.write() as s:
        s.execute(insert(models.RoleEvent), roles)
        s.execute(
            insert(models.Organization),
            [{"org_code": r["org_code"], "name": r["name"], "name_en": None} for r in roles
             if r["org_code"]],
        )  # fmt: skip

    needs: list[tuple[str, int, int]] = []  # (record id, county, category)
    commits: list[dict[str, Any]] = []
    by_cid: dict[str, dict[str, Any]] = {}
    n_written = 0
    while n_written < leaves:
        batch = min(CHUNK, leaves - n_written)
        entries: list[dict[str, Any]] = []
        rows: dict[str, list[dict[str, Any]]] = {"needs": [], "commitments": [], "deliveries": []}
        for leaf in range(n_written, n_written + batch):
            block = 100 + leaf // 200
            loc = {
                "leaf_index": leaf,
                "chain_id": CHAIN_ID,
                "block_number": block,
                "block_hash": "0x" + sha256(b"block%d" % block).hexdigest(),
                "block_time": T0 + block,
                "tx_hash": "0x" + sha256(b"tx%d" % (leaf // 100)).hexdigest(),
                "log_index": leaf % 100,
            }
            rid_b = sha256(b"leaf%d" % leaf).digest()
            rid = "0x" + rid_b.hex()
            roll = rng.random()
            if roll < 0.05 or not needs:
                ci = rng.randrange(len(COUNTIES))
                signer = counties[ci]
                category = rng.randint(1, 10)
                # an anchor has a string, so its body is a dynamic tuple: slot 0 is the
                # tuple's offset and the fields start at slot 1
                data = _patch(need_t[signer], {1: rid_b, 2: rid_b, 4: _u(COUNTIES[ci]),
                                               5: _u(category)})  # fmt: skip
                needs.append((rid, COUNTIES[ci], category))
                rows["needs"].append(dict(record_id=rid, project_id=rid, project_kind=1,
                    county=COUNTIES[ci], category=category, content_hash="0x" + "00" * 32,
                    version=0, author=signer, title="民生保障 seeded need", budget=0,
                    end_date=0, **loc))  # fmt: skip
                kind = Kind.PROJECT_ANCHOR
            elif roll < 0.25 or not commits:
                need_id, county, category = needs[rng.randrange(len(needs))]
                signer = orgs[rng.randrange(len(orgs))]
                rk = rng.choice((ResourceKind.FUNDS, ResourceKind.GOODS, ResourceKind.SERVICE))
                qty = rng.randint(100, 1_000_000)
                data = _patch(commit_t[signer], {0: rid_b, 1: bytes.fromhex(need_id[2:]),
                                                 3: _u(int(rk)), 4: _u(qty),
                                                 5: text32(UNITS[rk])})  # fmt: skip
                row = dict(
                    record_id=rid,
                    need_id=need_id,
                    match_id="0x" + "00" * 32,
                    org=signer,
                    county=county,
                    category=category,
                    resource_kind=int(rk),
                    quantity=qty,
                    unit=UNITS[rk],
                    due_date=0,
                    terms_hash="0x" + "00" * 32,
                    delivered=0,
                    confirmed=0,
                    **loc,
                )
                commits.append(row)
                by_cid[rid] = row
                rows["commitments"].append(row)
                kind = Kind.COMMITMENT
            else:
                c = commits[rng.randrange(len(commits))]
                signer = c["org"]
                qty = rng.randint(1, 100)
                c["delivered"] += qty
                data = _patch(deliv_t[signer], {0: rid_b, 1: bytes.fromhex(c["record_id"][2:]),
                                                2: _u(qty), 3: _u(T0 + leaf)})  # fmt: skip
                rows["deliveries"].append(dict(record_id=rid, commitment_id=c["record_id"],
                    org=signer, county=c["county"], category=c["category"], quantity=qty,
                    delivered_at=T0 + leaf, evidence_hash="0x" + "00" * 32,
                    beneficiary_count=0, beneficiary_root="0x" + "00" * 32, batch=False,
                    line_count=1, receipted=False, **loc))  # fmt: skip
                kind = Kind.DELIVERY
            entries.append(dict(record_id=rid, kind=int(kind), signer=signer,
                                leaf_hash="0x" + sha256(b"\0" + data).hexdigest(),
                                record_bytes=data, **loc))  # fmt: skip
        with db.write() as s:
            s.execute(insert(models.LogEntry), entries)
            if rows["needs"]:
                s.execute(insert(models.ProjectAnchorRow), rows["needs"])
            if rows["commitments"]:
                s.execute(insert(models.CommitmentRow), rows["commitments"])
            if rows["deliveries"]:
                s.execute(insert(models.DeliveryRow), rows["deliveries"])
        n_written += batch
        print(f"  seeded {n_written:,} leaves ({time.perf_counter() - t_start:.0f} s)", flush=True)
    # the commitments' running delivered amounts, then the maintained totals from them
    with db.write() as s:
        t = models.CommitmentRow.__table__
        stmt = update(t).where(t.c.record_id == bindparam("rid")).values(delivered=bindparam("d"))
        s.execute(stmt, [{"rid": c["record_id"], "d": c["delivered"]} for c in commits])
        size = leaves
        s.merge(
            models.IndexerCheckpoint(
                name="main",
                chain_id=CHAIN_ID,
                contract=CONTRACT,
                last_block=100 + size // 200,
                last_block_hash="0x" + "cd" * 32,
                log_size=size,
                log_root="0x" + sha256(b"root%d" % size).hexdigest(),
            )
        )
    t_rows = time.perf_counter() - t_start
    with db.write() as s:
        aggregates.recompute(s)
    t_all = time.perf_counter() - t_start
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return {"rows_s": t_rows, "total_s": t_all, "analyzed_s": time.perf_counter() - t_start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leaves", type=int, default=100_000)
    ap.add_argument("--database-url", required=True)
    args = ap.parse_args()
    db = Database(args.database_url)
    db.migrate()
    times = seed(db, args.leaves)
    print(f"{args.leaves:,} leaves in {times['total_s']:.0f} s "
          f"({args.leaves / times['total_s']:,.0f} leaves/s)")  # fmt: skip


if __name__ == "__main__":
    main()
