"""No worker holds the SQLite write lock while it waits on JSON-RPC (issue 11, part 1).

The relayer, the indexer and the checkpointer talk to anvil through a proxy in this test
that, before it forwards each JSON-RPC request, tries to take the database's write lock
(`BEGIN IMMEDIATE` with no wait) from a connection of its own. Nothing else writes, so a
refusal means the worker that sent the request is holding the lock while it waits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ledger.app import LedgerService
from ledger.tlog.checkpointer import Checkpointer
from tests.factories import ChainEnv, QuietHandler, service_for, stack, start_env
from tests.service.test_healing import scoped_need, statuses
from tests.service.test_reorg import reorg


class LockProbe:
    def __init__(self, db_path: Path, upstream: str) -> None:
        self.db_path, self.upstream = db_path, upstream
        self.requests: list[bytes] = []
        self.violations: list[str] = []

    def probe(self, body: bytes) -> None:
        conn = sqlite3.connect(self.db_path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            self.violations.append(f"{exc}: {body[:120]!r}")
        finally:
            conn.close()
        self.requests.append(body)


def serve(probe: LockProbe) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            probe.probe(body)
            answer = httpx.post(
                probe.upstream, content=body, headers={"content-type": "application/json"}
            )
            self.reply(answer.status_code, answer.content, "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChainEnv, LockProbe, str]]:
    """A private anvil, and the URL of the probing proxy in front of it."""
    env = start_env(tmp_path_factory.mktemp("lock-chain"))
    probe = LockProbe(env.settings.var_dir / "probed.sqlite3", str(env.settings.rpc_url))
    server = serve(probe)
    try:
        yield env, probe, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        env.chain.down()


def test_workers_hold_no_write_lock_during_json_rpc(
    probed: tuple[ChainEnv, LockProbe, str],
) -> None:
    env, probe, proxy = probed
    settings = env.settings.model_copy(update={"rpc_url": proxy})
    svc: LedgerService = service_for(settings, f"sqlite:///{probe.db_path}")
    st = stack(svc, env.actors.relayers, batch_size=3)
    first = [scoped_need(env.domain, env.actors.county_a) for _ in range(6)]
    svc.relayer.accept(first)
    st.settle()
    before = int(env.w3.eth.block_number)
    second = [scoped_need(env.domain, env.actors.county_a) for _ in range(6)]
    svc.relayer.accept(second)
    st.settle()
    # A reorg: the relayer reconciles, the indexer rolls back, both through the probe.
    reorg(env, int(env.w3.eth.block_number) - before, [])
    st.settle(timeout=180)
    assert set(statuses(svc, first + second).values()) == {"confirmed"}
    assert Checkpointer(svc, durable=None).sign() is not None
    assert len(probe.requests) > 50  # the workers did talk to the chain through the probe
    assert probe.violations == []
    svc.close()
