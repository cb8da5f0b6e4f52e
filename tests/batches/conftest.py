"""Fixtures for the batch tests: a ledger service on a fresh database, an API client, and
commitments put straight on chain (so no relayer pre-check for matches is involved)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.lines import DeliveryLine, new_id
from ledger.core.records import Commitment, ProjectAnchor
from ledger.indexer.worker import Indexer
from ledger.relayer.worker import RelayWorker
from ledger.sdk.batch_client import BatchClient
from tests.conftest import COUNTY_A, ChainEnv


@dataclass
class BatchEnv:
    env: ChainEnv
    service: LedgerService
    http: TestClient
    client: BatchClient

    def index(self) -> None:
        Indexer(self.service.db, self.service.ledger()).run_until_synced()

    def relay_until_confirmed(self, record_id: str, timeout: float = 60.0) -> None:
        worker = RelayWorker(self.service.db, self.service.ledger(), self.env.actors.relayers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worker.run_once()
            row = self.service.relayer.status([record_id]).get(record_id)
            if row is not None and row.status == "confirmed":
                return
            if row is not None and row.status == "failed":
                raise AssertionError(f"relayer failed {record_id}: {row.error_code} {row.error}")
            time.sleep(0.05)
        raise AssertionError(f"{record_id} not confirmed in {timeout}s")

    def commitment(self, quantity: int, unit: str = "斤") -> bytes:
        """A need of county A and org A's commitment to it, both on chain and indexed."""
        env = self.env
        project_id = new_id(env.actors.county_a.address)
        anchor = ProjectAnchor(
            id=ProjectAnchor.anchor_id(project_id, 1),
            project_id=project_id,
            project_kind=ProjectKind.NEED,
            county=COUNTY_A,
            category=1,
            title="化肥帮扶 fertilizer",
            content_hash=os.urandom(32),
            version=1,
        ).sign(env.actors.county_a.key, env.domain)
        env.ledger.submit(anchor, env.actors.admin)
        commitment = Commitment(
            id=new_id(env.actors.org_a.address),
            need_id=project_id,
            match_id=new_id(),
            resource_kind=ResourceKind.GOODS,
            quantity=quantity,
            unit=text32(unit),
            due_date=int(time.time()) + 86_400 * 90,
            terms_hash=os.urandom(32),
        ).sign(env.actors.org_a.key, env.domain)
        env.ledger.submit(commitment, env.actors.admin)
        self.index()
        return commitment.id


@pytest.fixture
def benv(env: ChainEnv, database_url: str) -> Iterator[BatchEnv]:
    service = LedgerService(env.settings.model_copy(update={"database_url": database_url}))
    service.db.migrate()
    Indexer(service.db, service.ledger()).run_until_synced()
    with TestClient(create_app(service)) as http:
        yield BatchEnv(env, service, http, BatchClient(http))
    service.close()


def make_lines(commitment_id: bytes, n: int, quantity: int = 1) -> list[DeliveryLine]:
    now = int(time.time()) - 3600
    return [
        DeliveryLine(
            commitment_id=commitment_id,
            item="大米 rice",
            quantity=quantity,
            unit="斤",
            delivered_at=now,
            beneficiary=os.urandom(32),
            evidence_hash=bytes(32),
        )
        for _ in range(n)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_api(benv: BatchEnv) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(benv.service), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
