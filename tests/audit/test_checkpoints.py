"""Checkpoints and witnesses: a rewritten chain (anvil killed and restarted from an older state,
then different records appended) is refused by the witness and by a checkpoint client, and the
audit names the stored checkpoint it contradicts."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.audit import AuditOptions, run_audit
from ledger.checkpoint import (
    ALG_COSIGNATURE_V1,
    CheckpointClient,
    SignerKey,
    Witness,
    make_witness_server,
    open_note,
)
from ledger.checkpoints_service import Checkpointer, add_witness, load_witnesses
from ledger.errors import ConfigError, ProofError
from ledger.indexer import Indexer
from ledger.records import ProjectAnchor, ProjectKind, new_id, sha256
from ledger.service import LedgerService
from tests.audit.conftest import submit
from tests.conftest import COUNTY_A, ChainEnv, start_env


def _need(env: ChainEnv) -> None:
    pid = new_id(env.actors.county_a.address)
    anchor = ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, 1),
        project_id=pid,
        project_kind=ProjectKind.NEED,
        county=COUNTY_A,
        category=2,
        title="人才培育 training",
        content_hash=sha256(new_id()),
        version=1,
    )
    submit(env, anchor.sign(env.actors.county_a.key, env.domain))


def _kill9(env: ChainEnv) -> None:
    """kill -9 of anvil's whole process group: LocalChain.down(sig=SIGKILL) would kill only
    the npm wrapper and leave the real anvil (its child) serving the port."""
    pid = env.chain.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while env.chain.answers() and time.monotonic() < deadline:
        time.sleep(0.1)
    env.chain.pid_file.unlink(missing_ok=True)


def _service(env: ChainEnv, db_path: Path) -> LedgerService:
    svc = LedgerService(env.settings.model_copy(update={"database_url": f"sqlite:///{db_path}"}))
    svc.db.migrate()
    Indexer(svc.db, svc.ledger()).run_until_synced()
    return svc


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
        row = checkpointer.sign()
        assert row is not None and row.size == 4
        with TestClient(create_app(svc)) as api:
            note = api.get("/api/v1/checkpoints/latest").text
            open_note(note, [witness.verifier])  # cosigned by the witness
            assert api.get("/api/v1/checkpoints").json()[0]["witnesses"] == ["w1"]
            seen = CheckpointClient([checkpointer.verifier], tmp_path / "seen.json")

            def fetch(old: int, new: int) -> list[bytes]:
                r = api.get("/api/v1/proofs/consistency", params={"old": old, "new": new})
                return [bytes.fromhex(h[2:]) for h in r.json()["proof"]]

            seen.observe(note, fetch)
        assert witness.latest(checkpointer.origin) == (4, bytes.fromhex(row.root[2:]))

        # the operator rewrites history: kill -9, restart from the older state, append others
        _kill9(env)
        shutil.copy(old_state, env.chain.state_file)
        env.chain.up()
        assert env.ledger.log_size() == 1
        for _ in range(4):
            _need(env)
        svc2 = _service(env, tmp_path / "second.sqlite3")
        forged = Checkpointer(svc2)
        row2 = forged.sign()
        assert row2 is not None and row2.size == 5
        with pytest.raises(ConfigError) as refused:
            forged.cosign(load_witnesses(env.settings.var_dir)[0], row2.id)
        assert refused.value.fields["status"] == 422
        assert witness.latest(forged.origin) == (4, bytes.fromhex(row.root[2:]))

        with TestClient(create_app(svc2)) as api2:
            note2 = api2.get("/api/v1/checkpoints/latest").text

            def fetch2(old: int, new: int) -> list[bytes]:
                r = api2.get("/api/v1/proofs/consistency", params={"old": old, "new": new})
                return [bytes.fromhex(h[2:]) for h in r.json()["proof"]]

            client = CheckpointClient([forged.verifier], tmp_path / "seen.json")
            with pytest.raises(ProofError) as bad:
                client.observe(note2, fetch2)
            assert bad.value.code == "inconsistent_checkpoint"

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
