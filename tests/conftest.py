"""Shared fixtures, each defined once: a real anvil started once per session, a deployed
AidLedger with registered roles, real databases (SQLite always, PostgreSQL when
BANGFU_TEST_POSTGRES_URL is set), a ledger service on them, the app in process or served by
uvicorn. Nothing here mocks the chain or the database. What tests build by hand (records,
flows, stacks, servers) is in tests/factories.py.

Markers are applied here at collection (see `pytest_collection_modifyitems`): `chain` for a
test that starts anvil, `postgres` for a PostgreSQL case, `browser` for one that drives
chromium, so `pytest -m "not chain and not browser"` needs neither (488 of 873 tests, about
90 s on two shared cores: most of it `bangfu` run as a subprocess, and solc).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.indexer.worker import Indexer
from ledger.sdk.batch_client import BatchClient
from tests.factories import (
    COUNTY_A,
    COUNTY_B,
    ORG_CODE_A,
    ORG_CODE_B,
    BatchEnv,
    Chain,
    ChainEnv,
    LiveServer,
    Pump,
    Stack,
    free_port,
    fresh_database_url,
    service_for,
    stack,
    start_env,
    write_localchain,
)

# Older tests import these from here; tests/factories.py is where they live.
__all__ = [
    "COUNTY_A",
    "COUNTY_B",
    "ORG_CODE_A",
    "ORG_CODE_B",
    "ChainEnv",
    "free_port",
    "fresh_database_url",
    "start_env",
    "write_localchain",
]


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainEnv]:
    """One anvil (automine) and one deployment for the whole session."""
    e = start_env(tmp_path_factory.mktemp("chain"))
    yield e
    e.chain.down()


@pytest.fixture
def flow(env: ChainEnv) -> Chain:
    """Records of county A's office and org A, signed for the session's deployment."""
    return Chain(env.domain, env.actors.county_a, env.actors.org_a)


@pytest.fixture
def own_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainEnv]:
    """An automining anvil and deployment of this test alone (its state file written every
    second): for tests that kill, rewind or reorganize the chain."""
    e = start_env(tmp_path_factory.mktemp("own-chain"))
    yield e
    e.chain.down()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database URL, once for SQLite and once for PostgreSQL (if configured)."""
    yield from fresh_database_url(request.param, tmp_path)


@pytest.fixture
def svc_env(request: pytest.FixtureRequest) -> ChainEnv:
    """The chain `svc` talks to: the session's, or for a test marked `own_chain` (a module
    that kills, rewinds or reorganizes its chain, or must see only its own records) the
    `own_chain` anvil of its own. A module with another chain overrides this one fixture
    rather than `svc`."""
    name = "own_chain" if request.node.get_closest_marker("own_chain") else "env"
    chain: ChainEnv = request.getfixturevalue(name)
    return chain


@pytest.fixture
def svc(svc_env: ChainEnv, database_url: str) -> Iterator[LedgerService]:
    """A ledger service on a fresh, migrated database (each database kind), the roles the
    chain holds already indexed."""
    s = service_for(svc_env.settings, database_url)
    Indexer(s.db, s.ledger()).run_until_synced()
    yield s
    s.close()


@pytest.fixture
def st(svc: LedgerService, svc_env: ChainEnv) -> Stack:
    """The relayer and the indexer of `svc`, driven by the test (`st.settle()`)."""
    return stack(svc, svc_env.actors.relayers)


@pytest.fixture
def http(svc: LedgerService) -> Iterator[TestClient]:
    """The app in process; a server error is raised in the test."""
    with TestClient(create_app(svc)) as c:
        yield c


@pytest.fixture
def client(svc: LedgerService) -> Iterator[TestClient]:
    """The app in process answering a server error with its 500, as a real client sees it."""
    with TestClient(create_app(svc), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def pump(st: Stack) -> Iterator[Pump]:
    """A pump to start once the test has set up what it drives itself."""
    p = Pump(st)
    yield p
    p.halt()


@pytest.fixture
def live(svc: LedgerService) -> Iterator[LiveServer]:
    """The app of `svc` served by uvicorn on a free port."""
    with LiveServer(svc) as server:
        yield server


@pytest.fixture
def benv(env: ChainEnv, svc: LedgerService, http: TestClient) -> BatchEnv:
    """The batch tests' world: `svc`, the app in process and a BatchClient on it."""
    return BatchEnv(env, svc, http, BatchClient(http))


# ------------------------------------------------------------------ markers

#: Names whose use in a test or in one of its fixtures starts an anvil of its own.
CHAIN_STARTERS = ("start_env(", "write_localchain(", "RunGroup(", "LocalChain(", '"chain", "up"')
#: Fixtures that give a test the session's anvil (or its own) or a headless chromium.
CHAIN_FIXTURES = {"env", "svc_env"}
BROWSER_FIXTURES = {"browser", "page"}


def _source(fn: Callable[..., object]) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


def _starts_chain(item: pytest.Function) -> bool:
    if CHAIN_FIXTURES & set(item.fixturenames):
        return True
    # A table case that asks for the session's anvil (`case.chain`) gets it through
    # request.getfixturevalue, which the fixture names do not show.
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(
        getattr(v, "chain", False) is True for v in callspec.params.values()
    ):
        return True
    fns: list[Callable[..., object]] = [item.function]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        fns.extend(d.func for d in defs)
    return any(word in _source(fn) for fn in fns for word in CHAIN_STARTERS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "own_chain: `svc_env` (and so `svc`) is an anvil of the test's own"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks `chain` and `browser` from what each test uses (`postgres` rides on the
    database_url parameter), so nobody has to remember the markers."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        if BROWSER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.browser)
        if _starts_chain(item):
            item.add_marker(pytest.mark.chain)
