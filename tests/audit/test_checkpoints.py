"""Checkpoints and witnesses: a rewritten chain (anvil killed and restarted from an older state,
then different records appended) is refused by the witness (so `checkpoint sign` stores
nothing), by a checkpoint client, by the operator's own indexer and checkpointer, and the audit
names the stored checkpoint it contradicts. A witness's refusal or a log inconsistent with the
operator's own last checkpoint fails `checkpoint sign`; an unreachable witness is skipped."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from http.server import HTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.core.errors import ConfigError, ProofError
from ledger.core.records import sha256
from ledger.indexer.worker import Indexer
from ledger.store import alarms
from ledger.store.checkpoint_models import CheckpointRow
from ledger.store.models import IndexerCheckpoint
from ledger.tlog.checkpointer import Checkpointer, add_witness, list_checkpoints
from ledger.tlog.client import CheckpointClient
from ledger.tlog.note import ALG_COSIGNATURE_V1, Checkpoint, SignerKey, open_note
from ledger.tlog.witness import Witness, make_witness_server
from tests.audit.conftest import submit
from tests.conftest import ChainEnv, free_port, start_env
from tests.factories import QuietHandler, kill9, row_count, run_bangfu
from tests.service.test_healing import scoped_need, wait_durable


def _need(env: ChainEnv) -> None:
    submit(env, scoped_need(env.domain, env.actors.county_a))


def _service(env: ChainEnv, db_path: Path) -> LedgerService:
    svc = LedgerService(env.settings.model_copy(update={"database_url": f"sqlite:///{db_path}"}))
    svc.db.migrate()
    Indexer(svc.db, svc.ledger()).run_until_synced()
    return svc


def consistency_of(api: TestClient) -> Callable[[int, int], list[bytes]]:
    """The consistency proofs `api` serves (GET /api/v1/proofs/consistency), as a client
    fetches them."""

    def fetch(old: int, new: int) -> list[bytes]:
        r = api.get("/api/v1/proofs/consistency", params={"old": old, "new": new})
        return [bytes.fromhex(h[2:]) for h in r.json()["proof"]]

    return fetch


def test_rewritten_chain_is_refused_by_witness_and_client(tmp_path: Path) -> None:
    env = start_env(tmp_path / "chain")
    server = None
    try:
        _need(env)
        time.sleep(2.5)  # anvil writes its state file every second
        old_state = tmp_path / "state-early.json"
        shutil.copy(env.chain.state_file, old_state)
        for _ in range(3):
            _need(env)

        svc = _service(env, tmp_path / "first.sqlite3")
        checkpointer = Checkpointer(svc)
        witness = Witness(
            SignerKey.generate("auditor.example/w1", ALG_COSIGNATURE_V1),
            {checkpointer.origin: checkpointer.verifier},
            tmp_path / "w.json",
        )
        server = make_witness_server(witness)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        add_witness(
            env.settings.var_dir,
            "w1",
            witness.verifier.encode(),
            f"http://127.0.0.1:{server.server_address[1]}",
        )
        wait_durable(env)  # a checkpoint covers only leaves anvil has saved (its hold)
        row = checkpointer.sign()
        assert row is not None and row.size == 4
        with TestClient(create_app(svc)) as api:
            note = api.get("/api/v1/checkpoints/latest").text
            open_note(note, [witness.verifier])  # cosigned by the witness
            assert api.get("/api/v1/checkpoints").json()[0]["witnesses"] == ["w1"]
            seen = CheckpointClient([checkpointer.verifier], tmp_path / "seen.json")
            seen.observe(note, consistency_of(api))
        assert witness.latest(checkpointer.origin) == (4, bytes.fromhex(row.root[2:]))

        # the operator rewrites history: kill -9, restart from the older state, append others
        kill9(env)
        shutil.copy(old_state, env.chain.state_file)
        env.chain.up()
        assert env.ledger.log_size() == 1
        for _ in range(4):
            _need(env)
        svc2 = _service(env, tmp_path / "second.sqlite3")
        forged = Checkpointer(svc2)
        wait_durable(env)
        # the witness refuses the new history: sign fails and stores nothing
        with pytest.raises(ConfigError) as refused:
            forged.sign()
        assert refused.value.code == "witness_refused"
        assert refused.value.fields["status"] == 422
        with svc2.db.read() as s:
            assert list_checkpoints(s) == []
        assert witness.latest(forged.origin) == (4, bytes.fromhex(row.root[2:]))

        # a checkpoint of the new history signed anyway is refused by a client that saw the old
        with svc2.db.read() as s:
            cp2 = s.get(IndexerCheckpoint, "main")
            assert cp2 is not None and cp2.log_size == 5
            note2 = Checkpoint(forged.origin, cp2.log_size, bytes.fromhex(cp2.log_root[2:])).sign(
                forged.key
            )
        with TestClient(create_app(svc2)) as api2:
            client = CheckpointClient([forged.verifier], tmp_path / "seen.json")
            with pytest.raises(ProofError) as bad:
                client.observe(note2, consistency_of(api2))
            assert bad.value.code == "inconsistent_checkpoint"

        # the operator's own database: the indexer raises the alarm, keeps the signed history,
        # and the operator's checkpointer refuses to sign
        Indexer(svc.db, svc.ledger()).run_once()
        with svc.db.read() as s:
            cp1 = s.get(IndexerCheckpoint, "main")
            assert cp1 is not None and (cp1.log_size, cp1.log_root) == (4, row.root)
            assert [a.code for a in alarms.active(s)] == ["history_rewritten"]
        with pytest.raises(ProofError) as rewritten:
            checkpointer.sign()
        assert rewritten.value.code == "history_rewritten"

        # the audit, given the first database, names the contradicted checkpoint
        report = run_audit(
            AuditOptions(
                rpc_url=str(env.settings.rpc_url),
                contract=env.deployment.address,
                database_url=f"sqlite:///{tmp_path / 'first.sqlite3'}",
                workers=1,
            )
        )
        assert "checkpoint_mismatch" in report.codes()
        svc.close()
        svc2.close()
    finally:
        if server is not None:
            server.shutdown()
        env.chain.down()


class _Refuses(QuietHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.reply(422, b"consistency proof does not verify\n", "text/plain")


def test_sign_refuses_and_stores_nothing(env: ChainEnv, tmp_path: Path) -> None:
    """A witness's refusal, or a log not consistent with the operator's own last checkpoint,
    makes `checkpoint sign` fail and store nothing; an unreachable witness is skipped."""
    var = tmp_path / "var"
    var.mkdir()
    shutil.copy(env.settings.deployment_path, var / "deployment.json")
    url = f"sqlite:///{var / 'ledger.sqlite3'}"
    settings = env.settings.model_copy(update={"var": var, "database_url": url})
    svc = LedgerService(settings)
    svc.db.migrate()
    indexer = Indexer(svc.db, svc.ledger())

    def grow() -> None:
        _need(env)
        indexer.run_until_synced()

    grow()
    checkpointer = Checkpointer(svc, durable=None)
    first = checkpointer.sign()
    assert first is not None and row_count(svc.db, CheckpointRow) == 1

    server = HTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    vkey = SignerKey.generate("auditor.example/w2", ALG_COSIGNATURE_V1).verifier().encode()
    try:
        add_witness(var, "w2", vkey, f"http://127.0.0.1:{server.server_address[1]}")
        grow()
        with pytest.raises(ConfigError) as refused:
            checkpointer.sign()
        assert refused.value.code == "witness_refused" and refused.value.fields["status"] == 422
        assert row_count(svc.db, CheckpointRow) == 1
        wait_durable(env)  # the command's checkpointer holds back what anvil may not have saved
        environ = {
            **os.environ,
            "BANGFU_VAR": str(var),
            "BANGFU_DATABASE_URL": url,
            "BANGFU_RPC_URL": str(env.settings.rpc_url),
            "BANGFU_LOCALCHAIN_FILE": str(env.settings.path(env.settings.localchain_file)),
            "COLUMNS": "250",
        }
        result = run_bangfu(["checkpoint", "sign"], env=environ, timeout=120)
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert "[witness_refused]" in result.stderr and "Traceback" not in result.stderr
        assert row_count(svc.db, CheckpointRow) == 1
        with svc.db.read() as s:
            assert [a.code for a in alarms.active(s)] == ["witness_refused"]
    finally:
        server.shutdown()
        server.server_close()

    # the same witness, now unreachable: skipped, the checkpoint is stored without it
    add_witness(var, "w2", vkey, f"http://127.0.0.1:{free_port()}")
    stored = checkpointer.sign()
    assert stored is not None and stored.size == first.size + 1
    assert checkpointer.skipped == ["w2"] and row_count(svc.db, CheckpointRow) == 2
    (var / "witnesses.json").unlink()

    # a stored checkpoint the log does not extend (its root is not the log's at its size)
    with svc.db.write() as s:
        s.add(
            CheckpointRow(
                origin=checkpointer.origin,
                size=stored.size,
                root="0x" + sha256(b"another history").hex(),
                block_number=stored.block_number,
                note="forged",
            )
        )
    grow()
    with pytest.raises(ProofError) as inconsistent:
        checkpointer.sign()
    assert inconsistent.value.code == "inconsistent_checkpoint"
    assert row_count(svc.db, CheckpointRow) == 3
    svc.close()
