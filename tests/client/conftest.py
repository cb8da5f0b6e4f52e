"""Fixtures for the SDK, CLI and custodial tests: a ledger service on a fresh database, the
relayer and indexer driven in a background thread, the app in process (TestClient) or served
by a real uvicorn on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.sdk.client import BangfuClient
from tests.conftest import COUNTY_A, ChainEnv, free_port
from tests.service.helpers import Stack, service_for, stack

NEED_CONTENT: dict[str, Any] = {
    "county": COUNTY_A,
    "title": "册亨县大米帮扶 rice for Ceheng",
    "category": "民生保障",
    "mode": "relief",
    "beneficiaries": 120,
    "budget_fen": 0,
    "resources": [{"kind": "goods", "quantity": 10_000, "unit": "斤", "item": "大米"}],
    "deadline": "2030-12-31",
    "contact_role": "县乡村振兴局",
}


@pytest.fixture
def svc(env: ChainEnv, database_url: str) -> Iterator[LedgerService]:
    s = service_for(env.settings, database_url)
    yield s
    s.close()


@pytest.fixture
def st(svc: LedgerService, env: ChainEnv) -> Stack:
    return stack(svc, env.actors.relayers)


class Pump:
    """Runs the relayer and the indexer in a thread, as `bangfu run` does, until stopped."""

    def __init__(self, st: Stack) -> None:
        self.st = st
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.st.step():
                    time.sleep(0.05)
            except Exception as exc:  # noqa: BLE001 - surfaced by the fixture's teardown
                self.errors.append(exc)
                return


@pytest.fixture
def pump(st: Stack) -> Iterator[Pump]:
    """A pump to start once the test has set up what it drives itself."""
    p = Pump(st)
    yield p
    p.stop.set()
    if p.thread.is_alive():
        p.thread.join(30)
    assert not p.errors, p.errors


@pytest.fixture
def http(svc: LedgerService) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


def sdk(http: TestClient, account: LocalAccount | None = None) -> BangfuClient:
    return BangfuClient(http=http, account=account)


def matched_need(svc: LedgerService, st: Stack, env: ChainEnv) -> tuple[str, str]:
    """(need id, match id) of a need of county A that org A may commit to.

    With the library in the tree, the relayer refuses a Commitment without an accepted match,
    so the need is published in the library and a real match is accepted by both sides.
    """
    try:
        from ledger.library import actions
    except ImportError:
        actions = None  # type: ignore[assignment]
    if actions is None:
        client = BangfuClient(http=TestClient(create_app(svc)), account=env.actors.county_a)
        pid = client.new_project_id()
        anchor = client.project_anchor(
            pid,
            project_kind=ProjectKind.NEED,
            county=COUNTY_A,
            category="民生保障",
            title="大米帮扶 rice",
        )
        client.submit([anchor])
        st.settle()
        return "0x" + pid.hex(), "0x" + new_id().hex()
    need_id = actions.create_and_publish(
        svc, ProjectKind.NEED, NEED_CONTENT, env.actors.county_a.key
    )
    st.settle()
    match_id = actions.create_and_accept_match(
        svc, env.actors.county_a.key, env.actors.org_a.key, need_id
    )
    return need_id, match_id


class LiveServer:
    """The app served by uvicorn on 127.0.0.1 in a thread: what the CLI talks to."""

    def __init__(self, svc: LedgerService) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(svc), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live(svc: LedgerService) -> Iterator[LiveServer]:
    with LiveServer(svc) as server:
        yield server
