"""Crashes (SIGKILL) of the relayer and of the indexer, run as the real `bangfu` processes:
nothing acknowledged is lost, nothing lands twice, and the index has no gap or duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import func, select

from ledger.app import LedgerService
from ledger.config import PROJECT_ROOT, Settings
from ledger.core.record_types import signed_from_bytes
from ledger.indexer.rebuild import digest
from ledger.store.models import IndexerCheckpoint, LogEntry, OutboxRecord, SentTransaction
from tests.factories import (
    COUNTY_B,
    Chain,
    ChainEnv,
    Stack,
    appended_ids,
    database_kind,
    fresh_database_url,
    rebuilt,
    service_for,
    stack,
)

BANGFU = str(PROJECT_ROOT / ".venv" / "bin" / "bangfu")
#: `bangfu` whose relayer dies right after its first durable send (tests/service/crash_relayer.py)
CRASHING = (str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "tests.service.crash_relayer")


def worker_env(settings: Settings, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    env.update(
        BANGFU_RPC_URL=str(settings.rpc_url),
        BANGFU_DATABASE_URL=database_url,
        BANGFU_VAR=str(settings.var_dir),
        BANGFU_LOCALCHAIN_FILE=str(settings.path(settings.localchain_file)),
        BANGFU_POLL_INTERVAL="0.05",
        **extra,
    )
    return env


def spawn(
    command: str, env: dict[str, str], log: Path, entry: tuple[str, ...] = (BANGFU,)
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*entry, command], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def wait_for(
    cond: object,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"{what}: process exited {proc.returncode}\n"
                + (log.read_text()[-3000:] if log else "")
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}\n" + (log.read_text()[-3000:] if log else "")
            )
        time.sleep(0.05)


def statuses(svc: LedgerService) -> dict[str, str]:
    with svc.db.read() as s:
        return dict(s.execute(select(OutboxRecord.record_id, OutboxRecord.status)).tuples().all())


def test_relayer_killed_between_durable_and_broadcast_loses_nothing(
    env: ChainEnv, svc: LedgerService, st: Stack, tmp_path: Path
) -> None:
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    first_block = int(env.w3.eth.block_number) + 1
    # Acknowledged, not yet sent: no relayer runs while the API accepts.
    batch1 = [flow.need() for _ in range(30)]
    svc.relayer.accept(batch1)
    envs = worker_env(svc.settings, svc.db.url, BANGFU_RELAYER_BATCH_SIZE="7")
    log = tmp_path / "relayer.log"

    # 1. The relayer dies right after its 'sent' rows are durable, before the broadcast.
    proc = spawn("relayer", envs, log, CRASHING)
    assert proc.wait(120) == 137, log.read_text()[-3000:]
    with svc.db.read() as s:
        orphan = s.scalars(select(SentTransaction).where(SentTransaction.status == "pending")).all()
        assert len(orphan) == 1 and orphan[0].record_count == 7
        assert env.w3.eth.get_transaction_count(orphan[0].sender, "pending") <= orphan[0].nonce
    assert sorted(statuses(svc).values()).count("sent") == 7

    # 2. More acknowledged records, then SIGKILL at an arbitrary moment while it works.
    batch2 = [flow.need() for _ in range(60)]
    svc.relayer.accept(batch2)
    envs["BANGFU_RELAYER_BATCH_SIZE"] = "2"
    ids2 = {"0x" + s.id.hex() for s in batch2}
    proc = spawn("relayer", envs, log)
    wait_for(
        lambda: any(v != "queued" for k, v in statuses(svc).items() if k in ids2),
        120,
        "the relayer to start sending",
        proc,
        log,
    )
    kill(proc)
    assert set(statuses(svc).values()) - {"confirmed"}, "killed too late to prove anything"

    # 3. Restarted, it finishes: every acknowledged record is on chain exactly once.
    proc = spawn("relayer", envs, log)
    try:
        wait_for(
            lambda: set(statuses(svc).values()) == {"confirmed"}, 180, "all confirmed", proc, log
        )
    finally:
        kill(proc)
    ids = ["0x" + s.id.hex() for s in batch1 + batch2]
    on_chain = appended_ids(env, first_block)
    assert all(on_chain.count(i) == 1 for i in ids), "a record is missing or duplicated"
    st.indexer.run_until_synced()
    with svc.db.read() as s:
        indexed = set(s.scalars(select(LogEntry.record_id).where(LogEntry.record_id.in_(ids))))
    assert indexed == set(ids)
    # The relayer's nonces stayed contiguous: the orphaned transaction was sent as signed.
    with svc.db.read() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(SentTransaction)
                .where(SentTransaction.status == "dropped")
            )
            == 0
        )


def test_indexer_killed_mid_range_resumes_without_gap_or_duplicate(
    env: ChainEnv, svc: LedgerService, st: Stack, tmp_path: Path
) -> None:
    # Many blocks, each with a record: one record per transaction on the automining anvil.
    flow = Chain(env.domain, env.actors.county_b, env.actors.org_b, COUNTY_B)
    st.worker.batch_size = 1
    svc.relayer.accept([flow.need() for _ in range(40)])
    st.settle()

    kind = database_kind(svc.db.url)
    urls = fresh_database_url(kind, tmp_path)
    url = next(urls)
    try:
        fresh = service_for(svc.settings, url)
        envs = worker_env(svc.settings, fresh.db.url, BANGFU_INDEXER_RANGE="1")
        log = tmp_path / "indexer.log"
        head = int(env.w3.eth.block_number)
        size = env.ledger.log_size()

        def indexed() -> int:
            with fresh.db.read() as s:
                return int(s.scalar(select(func.count()).select_from(LogEntry)) or 0)

        def last_block() -> int:
            with fresh.db.read() as s:
                cp = s.get(IndexerCheckpoint, "main")
                return cp.last_block if cp else -1

        kills = 0
        for fraction in (0.1, 0.3, 0.5):
            proc = spawn("indexer", envs, log)
            target = int(size * fraction)
            wait_for(lambda t=target: indexed() >= t, 180, f"{target} leaves", proc, log)  # type: ignore[misc]
            kill(proc)
            kills += 1
            assert indexed() < size, "the indexer finished before it could be killed"
        proc = spawn("indexer", envs, log)
        try:
            wait_for(lambda: last_block() >= head, 180, "synced", proc, log)
        finally:
            kill(proc)
        assert kills == 3
        with fresh.db.read() as s:
            leaves = list(s.scalars(select(LogEntry.leaf_index).order_by(LogEntry.leaf_index)))
        assert leaves == list(range(size))
        with rebuilt(svc, tmp_path / "again", kind) as again:
            a, b = digest(fresh.db), digest(again)
            assert a == b, a.differences(b)
        fresh.close()
    finally:
        urls.close()


def test_unsent_records_survive_a_restart(env: ChainEnv, svc: LedgerService, st: Stack) -> None:
    """Accepted means durable: a fresh process on the same database sends what it finds."""
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    signed = [flow.need() for _ in range(5)]
    svc.relayer.accept(signed)
    other = service_for(env.settings, svc.db.url)
    try:
        again = stack(other, env.actors.relayers)
        again.settle(["0x" + s.id.hex() for s in signed])
    finally:
        other.close()
    for s in signed:
        assert env.ledger.record_kind(s.id) == int(signed_from_bytes(s.canonical_bytes()).kind)
