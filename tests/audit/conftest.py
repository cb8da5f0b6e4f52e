"""Fixtures of the audit tests: a private anvil with a small, clean ledger indexed into SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.indexer import Indexer
from ledger.records import (
    Commitment,
    Delivery,
    Flag,
    FlagReason,
    ProjectAnchor,
    ProjectKind,
    Receipt,
    ResourceKind,
    SignedRecord,
    new_id,
    sha256,
    text32,
)
from ledger.store.db import Database
from tests.conftest import COUNTY_A, ChainEnv, start_env


@dataclass
class Ledger:
    env: ChainEnv
    db_url: str
    evidence: Path
    records: list[SignedRecord]

    @property
    def contract(self) -> str:
        return self.env.deployment.address

    @property
    def rpc(self) -> str:
        return str(self.env.settings.rpc_url)


def submit(env: ChainEnv, signed: SignedRecord) -> SignedRecord:
    env.ledger.submit(signed, env.actors.relayers[0])
    return signed


def populate(env: ChainEnv, evidence: Path) -> list[SignedRecord]:
    """A need, a commitment, two deliveries with evidence, a full receipt, a flag answered."""
    a, d = env.actors, env.domain
    out = []
    need_id = new_id(a.county_a.address)
    need = ProjectAnchor(
        id=ProjectAnchor.anchor_id(need_id, 1),
        project_id=need_id,
        project_kind=ProjectKind.NEED,
        county=COUNTY_A,
        category=1,
        title="大米帮扶 rice",
        budget=500_000,
        end_date=20301231,
        content_hash=sha256(b"need"),
        version=1,
    )
    out.append(submit(env, need.sign(a.county_a.key, d)))
    commit = Commitment(
        id=new_id(a.org_a.address),
        need_id=need.project_id,
        match_id=new_id(),
        resource_kind=ResourceKind.GOODS,
        quantity=100,
        unit=text32("斤"),
        due_date=int(time.time()) + 365 * 86_400,
        terms_hash=sha256(b"terms"),
    )
    out.append(submit(env, commit.sign(a.org_a.key, d)))
    evidence.mkdir(parents=True, exist_ok=True)
    deliveries = []
    for i in range(2):
        blob = f"photo {i} of rice delivered".encode()
        (evidence / f"{sha256(blob).hex()}.txt").write_bytes(blob)
        dl = Delivery(
            id=new_id(a.org_a.address),
            commitment_id=commit.id,
            quantity=30,
            delivered_at=int(time.time()),
            evidence_hash=sha256(blob),
            beneficiary_count=3,
            beneficiary_root=new_id(),
        )
        deliveries.append(dl)
        out.append(submit(env, dl.sign(a.org_a.key, d)))
    rc = Receipt(
        id=new_id(a.county_a.address),
        delivery_id=deliveries[0].id,
        confirmed_quantity=30,
        note_hash=sha256(b"ok"),
    )
    out.append(submit(env, rc.sign(a.county_a.key, d)))
    fl = Flag(
        id=new_id(a.auditor.address),
        record_id=deliveries[1].id,
        reason_code=FlagReason.EVIDENCE_MISMATCH,
        note_hash=sha256(b"blurry photo"),
    )
    out.append(submit(env, fl.sign(a.auditor.key, d)))
    blob = b"a sharper photo"
    (evidence / f"0x{sha256(blob).hex()}.jpg").write_bytes(blob)
    answer = Delivery(
        id=new_id(a.org_a.address),
        commitment_id=commit.id,
        quantity=10,
        delivered_at=int(time.time()),
        evidence_hash=sha256(blob),
        beneficiary_count=1,
        beneficiary_root=new_id(),
    )
    out.append(submit(env, answer.sign(a.org_a.key, d)))
    return out


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    tmp = tmp_path_factory.mktemp("auditchain")
    env = start_env(tmp)
    try:
        records = populate(env, tmp / "evidence")
        db_url = f"sqlite:///{tmp / 'read.sqlite3'}"
        db = Database(db_url, env.settings)
        db.migrate()
        Indexer(db, env.ledger).run_until_synced()
        db.dispose()
        yield Ledger(env, db_url, tmp / "evidence", records)
    finally:
        env.chain.down()
