"""A crashed anvil that comes back from its state file without its last interval: the
indexer rolls back, the relayer sends again every acknowledged record the chain forgot, and
in the end each is on chain exactly once and the read model equals a rebuild."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.store.models import IndexerCheckpoint
from tests.factories import Chain, ChainEnv, stack, start_env, write_localchain
from tests.service.test_reorg import assert_exactly_once


def restart(env: ChainEnv, *, state_interval: int, sig: int) -> None:
    """Stops anvil with `sig` and starts it again from its state file."""
    pid = env.chain.pid()
    assert pid is not None
    # bin/anvil is a node wrapper that spawns the real binary in its process group: signal
    # the whole group, or a SIGKILL would leave the real anvil running (and saving state).
    os.killpg(pid, sig)
    deadline = time.monotonic() + 30
    while env.chain.answers() or env.chain.pid() is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        assert time.monotonic() < deadline, "anvil did not stop"
        time.sleep(0.05)
    s = env.settings
    cfg = load_localchain(s)
    write_localchain(
        s.path(s.localchain_file),
        cfg.port,
        cfg.state_file,
        block_time=1,
        state_interval=state_interval,
    )
    chain = LocalChain(load_localchain(s), s)
    chain.up()
    env.chain = chain


@pytest.fixture
def interval_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainEnv]:
    """Interval mining (1 s) with a state file; the setup is saved by a clean stop, then
    anvil runs with a 120 s state interval so a SIGKILL loses everything after it."""
    e = start_env(tmp_path_factory.mktemp("rollback-chain"), block_time=1)
    restart(e, state_interval=120, sig=signal.SIGTERM)
    yield e
    e.chain.down()


@pytest.fixture
def svc_env(interval_env: ChainEnv) -> ChainEnv:
    return interval_env


def test_chain_comes_back_without_its_last_interval(
    interval_env: ChainEnv, svc: LedgerService, tmp_path: Path
) -> None:
    env = interval_env
    st = stack(svc, env.actors.relayers, batch_size=5)
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    saved = [flow.need() for _ in range(10)]
    svc.relayer.accept(saved)
    st.settle(timeout=120)
    # A clean stop writes the state with these records in it.
    restart(env, state_interval=120, sig=signal.SIGTERM)
    st.settle(timeout=120)
    kept_head = int(env.w3.eth.block_number)

    lost = [flow.need() for _ in range(15)]
    svc.relayer.accept(lost)
    st.settle(timeout=120)
    with svc.db.read() as s:
        cp = s.get(IndexerCheckpoint, "main")
        assert cp is not None and cp.log_size == 25
    assert all(env.ledger.record_kind(r.id) == 1 for r in lost)
    # Not yet acknowledged as sent: accepted while the chain is down.
    pending = [flow.need() for _ in range(5)]
    restart(env, state_interval=120, sig=signal.SIGKILL)
    svc.relayer.accept(pending)

    forgotten = [r for r in lost if env.ledger.record_kind(r.id) == 0]
    assert forgotten, "the chain kept everything; the test proves nothing"
    assert int(env.w3.eth.block_number) < kept_head + 60
    deadline = time.monotonic() + 240
    while True:
        st.settle(timeout=240)
        # A record is confirmed only at depth and still there: wait for blocks on top.
        if all(env.ledger.record_kind(r.id) == 1 for r in saved + lost + pending):
            break
        assert time.monotonic() < deadline
    with svc.db.read() as s:
        cp = s.get(IndexerCheckpoint, "main")
        assert cp is not None
        assert cp.log_size == env.ledger.log_size(cp.last_block) == 30
        assert s.scalar(select(IndexerCheckpoint.last_block_hash)) == cp.last_block_hash
    assert_exactly_once(env, svc, saved + lost + pending, tmp_path)
