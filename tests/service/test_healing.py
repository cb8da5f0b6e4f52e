"""The outbox heals itself and history is one history, on a real anvil and real databases.

- A rewritten history (anvil killed, restarted from an older state file, different records
  appended) is refused by the indexer, `/readyz`, `bangfu checkpoint sign` and the audit, each
  with a named reason; `bangfu recover --accept-new-history` then lets the relayer send every
  lost acknowledged record again, and each is on chain exactly once (counted by leaves).
- A reorg flips `confirmed` back to `queued` in the status answers, and it heals.
- A record id used on chain by different bytes is a named conflict, never `confirmed`.
- A missing log row, or a read model short of the chain, makes `/readyz` `not_ready`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from api.app import create_app
from ledger.app import LedgerService
from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.config import PROJECT_ROOT
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.eip712 import Domain
from ledger.core.errors import IndexerIntegrityError, LedgerError
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.core.merkle import MerkleTree
from ledger.core.records import SignedRecord, sha256
from ledger.indexer.worker import Indexer
from ledger.store.alarm_models import Alarm
from ledger.store.alarms import HISTORY_REWRITTEN, RECORD_CONFLICT
from ledger.store.checkpoint_models import CheckpointRow
from ledger.store.models import IndexerCheckpoint, LogEntry, OutboxRecord
from ledger.tlog.checkpointer import Checkpointer
from tests.factories import (
    COUNTY_A,
    ChainEnv,
    Stack,
    appended_ids,
    kill9,
    run_bangfu,
    stack,
)
from tests.service.test_reorg import assert_exactly_once, reorg

# An anvil of this test alone: these tests kill and rewind it.
pytestmark = pytest.mark.own_chain


def wait_durable(env: ChainEnv, timeout: float = 60) -> None:
    """Waits until the keeper has saved the newest block (state saved every second): only
    then may a checkpoint cover it."""
    head = int(env.w3.eth.block_number)
    deadline = time.monotonic() + timeout
    while (env.chain.files.saved_block() or -1) < head:
        assert time.monotonic() < deadline, f"block {head} never saved"
        time.sleep(0.1)


def scoped_need(
    domain: Domain, county: LocalAccount, *, content: bytes | None = None, rid: bytes | None = None
) -> SignedRecord:
    """A need anchored by `county`, its ids scoped to the county's address."""
    fields: dict[str, Any] = {
        "id": rid or new_id(county.address),
        "project_id": new_id(county.address),
        "project_kind": ProjectKind.NEED,
        "county": COUNTY_A,
        "category": 3,
        "content_hash": sha256(content or new_id(county.address)),
        "version": 1,
    }
    names = {f.name for f in dataclasses.fields(ProjectAnchor)}
    if "title" in names:  # the human-readable anchor fields (shared decision 2)
        fields.update(title="饮水工程 drinking water", budget=120_000_00, end_date=20301231)
    signed: SignedRecord = ProjectAnchor(**fields).sign(county.key, domain)
    return signed


def cli(env: ChainEnv, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`bangfu ARGS` as an operator runs it, on this chain, deployment and database."""
    s = env.settings
    environ = {
        **os.environ,
        "BANGFU_HOME": str(PROJECT_ROOT),
        "BANGFU_VAR": str(s.var_dir),
        "BANGFU_LOCALCHAIN_FILE": str(s.path(s.localchain_file)),
        "BANGFU_RPC_URL": str(s.rpc_url),
        "BANGFU_DATABASE_URL": database_url,
        "COLUMNS": "250",
    }
    return run_bangfu(args, env=environ, timeout=300, cwd=s.var_dir)


def refused(result: subprocess.CompletedProcess[str], code: str) -> str:
    """A one-line refusal with its code, exit 1, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"[{code}]" in lines[0], lines[0]
    return lines[0]


def kill9_and_restore(env: ChainEnv, state: Path) -> None:
    """kill -9 of anvil's process group, then a start from an older state file."""
    kill9(env)
    shutil.copy(state, env.chain.state_file)
    env.chain.up()


def accept_needs(svc: LedgerService, st: Stack, env: ChainEnv, n: int) -> list[SignedRecord]:
    """`n` needs of county A accepted by the relayer and settled on chain."""
    needs = [scoped_need(env.domain, env.actors.county_a) for _ in range(n)]
    svc.relayer.accept(needs)
    st.settle()
    return needs


def statuses(svc: LedgerService, records: list[SignedRecord]) -> dict[str, str]:
    rows = svc.relayer.status(["0x" + r.id.hex() for r in records])
    return {rid: row.status for rid, row in rows.items()}


def test_rewritten_history_is_refused_then_recovered(
    own_chain: ChainEnv, svc: LedgerService, database_url: str, tmp_path: Path
) -> None:
    env = own_chain
    st = stack(svc, env.actors.relayers, batch_size=2)
    county = env.actors.county_a
    kept = accept_needs(svc, st, env, 3)
    wait_durable(env)  # anvil writes its state file every second
    old_state = tmp_path / "state-early.json"
    shutil.copy(env.chain.state_file, old_state)

    lost = accept_needs(svc, st, env, 4)
    assert set(statuses(svc, lost).values()) == {"confirmed"}
    foreign = scoped_need(env.domain, county)  # a leaf someone else relayed
    env.ledger.submit(foreign, env.actors.stranger)
    st.indexer.run_until_synced()
    # A checkpoint covers only leaves old enough to be in anvil's state file.
    assert Checkpointer(svc, durable=lambda: -1).sign() is None
    wait_durable(env)
    signed = Checkpointer(svc).sign()
    assert signed is not None and signed.size == 8

    # The operator's chain is rewritten: an older state, then different records (relayed by
    # someone else) that grow the log past the signed size with another root.
    kill9_and_restore(env, old_state)
    assert env.ledger.log_size() == 3
    others = [scoped_need(env.domain, county) for _ in range(6)]
    for record in others:
        env.ledger.submit(record, env.actors.stranger)
    assert env.ledger.log_size() == 9

    # The indexer raises the alarm and keeps the signed history: no rollback, no re-index.
    for _ in range(3):
        st.indexer.run_once()
    with svc.db.read() as s:
        cp = s.get(IndexerCheckpoint, "main")
        assert cp is not None and cp.log_size == 8 and cp.log_root == signed.root
        assert s.scalar(select(func.count()).select_from(LogEntry)) == 8
        alarm = s.scalars(select(Alarm).where(Alarm.code == HISTORY_REWRITTEN)).one()
        assert alarm.resolved_at is None

    # The relayer sees its confirmed records gone: their status answers are `queued` again,
    # and it holds them until the operator decides.
    for _ in range(3):
        st.worker.run_once()
    assert set(statuses(svc, lost).values()) == {"queued"}
    assert set(statuses(svc, kept).values()) == {"confirmed"}
    assert all(env.ledger.record_kind(r.id) == 0 for r in lost)

    with TestClient(create_app(svc)) as api:
        ready = api.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready" and HISTORY_REWRITTEN in body["reasons"]
        (divergence,) = [d for d in body["divergence"] if d["code"] == HISTORY_REWRITTEN]
        assert divergence["checkpoint_root"] == signed.root
        assert divergence["checkpoint_size"] == 8
        assert divergence["chain_size"] == 9
        assert divergence["chain_root"] == "0x" + env.ledger.log_root().hex()
        assert divergence["chain_root_at_checkpoint_size"] not in (None, signed.root)

    refused(cli(env, database_url, "checkpoint", "sign"), HISTORY_REWRITTEN)
    with svc.db.read() as s:
        assert s.scalar(select(func.count()).select_from(CheckpointRow)) == 1

    report = run_audit(
        AuditOptions(
            rpc_url=str(env.settings.rpc_url),
            contract=env.deployment.address,
            database_url=database_url,
            workers=1,
        )
    )
    assert "checkpoint_mismatch" in report.codes()

    # Without the decision, recovery only reports (and refuses with the reason).
    dry = cli(env, database_url, "recover")
    refused(dry, HISTORY_REWRITTEN)
    for record in lost:
        assert "0x" + record.id.hex() in dry.stdout
    assert set(statuses(svc, lost).values()) == {"queued"}

    accepted = cli(env, database_url, "recover", "--accept-new-history")
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted the chain's history" in accepted.stdout
    assert "(1 lost leaves of others queued too)" in accepted.stdout

    st.settle(timeout=180)
    assert set(statuses(svc, kept + lost).values()) == {"confirmed"}
    on_chain = appended_ids(env, env.deployment.block)
    for record in [*kept, *lost, foreign, *others]:
        assert on_chain.count("0x" + record.id.hex()) == 1
    assert env.ledger.log_size() == 14
    assert_exactly_once(env, svc, [*kept, *lost, foreign], tmp_path)
    with svc.db.read() as s:
        # The old checkpoints and the resolved alarm are kept as evidence.
        assert s.scalar(select(func.count()).select_from(CheckpointRow)) == 1
        alarm = s.scalars(select(Alarm).where(Alarm.code == HISTORY_REWRITTEN)).one()
        assert alarm.resolved_at is not None
    with TestClient(create_app(svc)) as api:
        ready = api.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["read_model"]["equals_chain"] is True
    wait_durable(env)
    again = Checkpointer(svc).sign()
    assert again is not None and again.size == 14


def test_reorg_flips_confirmed_back_and_heals(
    own_chain: ChainEnv, svc: LedgerService, tmp_path: Path
) -> None:
    env = own_chain
    st = stack(svc, env.actors.relayers, batch_size=2)
    first = accept_needs(svc, st, env, 2)
    before = int(env.w3.eth.block_number)
    second = accept_needs(svc, st, env, 6)
    assert set(statuses(svc, second).values()) == {"confirmed"}
    depth = int(env.w3.eth.block_number) - before
    assert depth >= 3

    reorg(env, depth, [])
    assert all(env.ledger.record_kind(r.id) == 0 for r in second)
    st.worker.reconcile()
    # `confirmed` means on chain and still there: the status answers say so at once.
    assert set(statuses(svc, second).values()) == {"queued"}
    with TestClient(create_app(svc)) as api:
        answer = api.get(
            "/api/v1/records/status", params={"ids": ["0x" + r.id.hex() for r in second]}
        )
        assert {s["status"] for s in answer.json()} == {"queued"}
    assert set(statuses(svc, first).values()) == {"confirmed"}
    with svc.db.read() as s:
        reasons = {
            r.error_code
            for r in s.scalars(select(OutboxRecord).where(OutboxRecord.status == "queued"))
        }
    assert reasons == {"rolled_back"}
    with TestClient(create_app(svc)) as api:
        ready = api.get("/readyz")
        assert ready.status_code == 503
        assert "chain_reorganized" in ready.json()["reasons"]

    st.settle(timeout=180)
    assert_exactly_once(env, svc, first + second, tmp_path)
    with svc.db.read() as s:
        assert not s.scalar(
            select(func.count())
            .select_from(OutboxRecord)
            .where(OutboxRecord.error_code.is_not(None))
        )
    with TestClient(create_app(svc)) as api:
        assert api.get("/readyz").status_code == 200


def test_record_id_used_by_different_bytes_is_a_conflict(
    own_chain: ChainEnv, svc: LedgerService
) -> None:
    env = own_chain
    st = stack(svc, env.actors.relayers)
    county = env.actors.county_a
    ours = scoped_need(env.domain, county, content=b"ours")
    theirs = scoped_need(env.domain, county, content=b"theirs", rid=ours.id)
    assert ours.leaf_hash() != theirs.leaf_hash()
    same = scoped_need(env.domain, county)
    svc.relayer.accept([ours, same])
    env.ledger.submit(theirs, env.actors.stranger)  # the same id, other bytes, relayed first
    env.ledger.submit(same, env.actors.stranger)  # the same record, relayed by someone else
    for _ in range(3):
        st.step()
    rows = svc.relayer.status(["0x" + ours.id.hex(), "0x" + same.id.hex()])
    conflict, found = rows["0x" + ours.id.hex()], rows["0x" + same.id.hex()]
    assert conflict.status == "conflict" and conflict.error_code == "record_id_conflict"
    assert found.status == "confirmed" and found.leaf_index is not None
    assert appended_ids(env, env.deployment.block).count("0x" + same.id.hex()) == 1
    with TestClient(create_app(svc)) as api:
        answer = api.get("/api/v1/records/status", params={"ids": ["0x" + ours.id.hex()]})
        assert answer.status_code == 200, answer.text
        assert answer.json()[0]["status"] == "conflict"
        assert answer.json()[0]["error_code"] == "record_id_conflict"
        body = api.get("/readyz").json()
        (alarm,) = [d for d in body["divergence"] if d["code"] == RECORD_CONFLICT]
        assert alarm["record_id"] == "0x" + ours.id.hex()
        assert alarm["chain_leaf_hash"] == "0x" + theirs.leaf_hash().hex()
        assert alarm["outbox_leaf_hash"] == "0x" + ours.leaf_hash().hex()


def test_readyz_missing_log_row_and_short_read_model(
    own_chain: ChainEnv, svc: LedgerService
) -> None:
    env = own_chain
    st = stack(svc, env.actors.relayers)
    records = [scoped_need(env.domain, env.actors.county_a) for _ in range(4)]
    svc.relayer.accept(records)
    st.settle()
    with TestClient(create_app(svc)) as api:
        ok = api.get("/readyz")
        assert ok.status_code == 200, ok.json()
        body = ok.json()
        assert body["read_model"]["equals_chain"] is True
        assert body["read_model"]["complete"] is True
        assert body["read_model"]["size"] == body["chain"]["log_size"] == 4

        with svc.db.write() as s:
            s.execute(delete(LogEntry).where(LogEntry.leaf_index == 1))
        missing = api.get("/readyz")
        assert missing.status_code == 503
        assert "log_incomplete" in missing.json()["reasons"]

        # The log table without a gap, but one leaf short of the chain at the indexed block.
        with svc.db.write() as s:
            s.execute(delete(LogEntry).where(LogEntry.leaf_index >= 1))
            hashes = [bytes.fromhex(h[2:]) for h in s.scalars(select(LogEntry.leaf_hash))]
            cp = s.get(IndexerCheckpoint, "main")
            assert cp is not None
            cp.log_size = len(hashes)
            cp.log_root = "0x" + MerkleTree(hashes).root().hex()
        short = api.get("/readyz")
        assert short.status_code == 503
        body = short.json()
        assert "read_model_short" in body["reasons"], body
        assert "log_incomplete" not in body["reasons"]
        assert body["read_model"]["complete"] is True
        assert body["read_model"]["chain_size_at_block"] == 4
        assert body["read_model"]["equals_chain"] is False


def test_restarted_relayer_finds_confirmed_records_missing_on_chain(
    own_chain: ChainEnv, svc: LedgerService, tmp_path: Path
) -> None:
    """The outbox says confirmed in a block that is still canonical, but the chain has no
    such record (the hand-repaired state file of issue 11): a relayer that starts asks the
    contract about every confirmed id and sends the missing ones again, once."""
    env = own_chain
    st = stack(svc, env.actors.relayers)
    good = [scoped_need(env.domain, env.actors.county_a) for _ in range(2)]
    svc.relayer.accept(good)
    st.settle()
    ghost = scoped_need(env.domain, env.actors.county_a)
    svc.relayer.accept([ghost])
    head = env.w3.eth.get_block("latest")
    with svc.db.write() as s:
        row = s.scalars(
            select(OutboxRecord).where(OutboxRecord.record_id == "0x" + ghost.id.hex())
        ).one()
        row.status, row.block_number = "confirmed", int(head["number"])
        row.block_hash = head["hash"].to_0x_hex()
    restarted = stack(svc, env.actors.relayers)
    restarted.worker.reconcile()
    assert statuses(svc, [ghost]) == {"0x" + ghost.id.hex(): "queued"}
    assert set(statuses(svc, good).values()) == {"confirmed"}
    restarted.settle()
    assert_exactly_once(env, svc, [*good, ghost], tmp_path)


def test_signed_history_restored_resumes(
    own_chain: ChainEnv, svc: LedgerService, tmp_path: Path
) -> None:
    """The alarm is lifted without the operator when the chain comes back to the signed
    history (the right state file restored): the indexer resumes, and the relayer finds its
    records on chain again (the same leaves) instead of sending them twice."""
    env = own_chain
    st = stack(svc, env.actors.relayers)
    wait_durable(env)
    empty = tmp_path / "state-empty.json"
    shutil.copy(env.chain.state_file, empty)
    records = [scoped_need(env.domain, env.actors.county_a) for _ in range(3)]
    svc.relayer.accept(records)
    st.settle()
    wait_durable(env)
    signed = Checkpointer(svc).sign()
    assert signed is not None and signed.size == 3
    good = tmp_path / "state-signed.json"
    shutil.copy(env.chain.state_file, good)

    kill9_and_restore(env, empty)
    env.ledger.submit(scoped_need(env.domain, env.actors.county_a), env.actors.stranger)
    st.indexer.run_once()
    st.worker.run_once()
    assert set(statuses(svc, records).values()) == {"queued"}
    with TestClient(create_app(svc)) as api:
        assert HISTORY_REWRITTEN in api.get("/readyz").json()["reasons"]

    kill9_and_restore(env, good)
    assert env.ledger.log_size() == 3
    st.settle()
    assert_exactly_once(env, svc, records, tmp_path)
    with svc.db.read() as s:
        alarm = s.scalars(select(Alarm).where(Alarm.code == HISTORY_REWRITTEN)).one()
        assert alarm.resolved_at is not None
        assert alarm.resolution == "the chain holds the signed history again"
    with TestClient(create_app(svc)) as api:
        assert api.get("/readyz").status_code == 200


def test_index_divergence_is_a_stored_alarm(own_chain: ChainEnv, svc: LedgerService) -> None:
    """A read model whose log no longer hashes to the contract's root stops the indexer with
    `index_diverged`, stored where `/readyz` reads it; `checkpoint sign` refuses meanwhile."""
    env = own_chain
    st = stack(svc, env.actors.relayers)
    svc.relayer.accept([scoped_need(env.domain, env.actors.county_a) for _ in range(2)])
    st.settle()
    with svc.db.write() as s:
        entry = s.get(LogEntry, 0)
        assert entry is not None
        entry.leaf_hash = "0x" + sha256(b"tampered").hex()
    indexer = Indexer(svc.db, svc.ledger())
    env.ledger.submit(scoped_need(env.domain, env.actors.county_a), env.actors.stranger)
    with pytest.raises(IndexerIntegrityError):
        indexer.run_once()
    with TestClient(create_app(svc)) as api:
        body = api.get("/readyz").json()
        assert body["status"] == "not_ready" and "index_diverged" in body["reasons"]
        (alarm,) = [d for d in body["divergence"] if d["code"] == "index_diverged"]
        assert alarm["chain_size"] == 3 and alarm["index_size"] == 3
        assert alarm["chain_root"] != alarm["index_root"]
    with pytest.raises(LedgerError) as refused:
        Checkpointer(svc, durable=None).sign()
    assert refused.value.code == "index_diverged"
