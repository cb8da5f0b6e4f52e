"""Shared fixtures: a real anvil started once per session, a deployed AidLedger with
registered roles, and real databases (SQLite always, PostgreSQL when
BANGFU_TEST_POSTGRES_URL is set). Nothing here mocks the chain or the database.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, text
from web3 import Web3

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.eip712 import Domain
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect, deploy, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain

COUNTY_A = 522327  # 册亨县, Guizhou
COUNTY_B = 520121  # 开阳县, Guizhou
ORG_CODE_A = "91520000MA6DKTQX0C"
ORG_CODE_B = "52520000MJY450802G"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_localchain(
    path: Path, port: int, state_file: Path, *, block_time: float = 0, state_interval: int = 1
) -> Path:
    base = (PROJECT_ROOT / "localchain.toml").read_text()
    cfg = load_localchain(Settings(), PROJECT_ROOT / "localchain.toml")
    path.write_text(
        base.replace(f"port = {cfg.port}", f"port = {port}")
        .replace(f"block_time = {cfg.block_time:g}", f"block_time = {block_time:g}")
        .replace(f'state_file = "{cfg.state_file}"', f'state_file = "{state_file}"')
        .replace(f"state_interval = {cfg.state_interval}", f"state_interval = {state_interval}")
    )
    return path


def make_settings(tmp: Path, *, block_time: float = 0, **overrides: object) -> Settings:
    """Settings for a private anvil and var/ under `tmp` (the project's code and node_modules)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    toml = write_localchain(
        tmp / "localchain.toml", port, tmp / "anvil-state.json", block_time=block_time
    )
    values: dict[str, object] = {
        "home": PROJECT_ROOT,
        "var": tmp,
        "localchain_file": toml,
        "rpc_url": f"http://127.0.0.1:{port}",
        "database_url": f"sqlite:///{tmp / 'ledger.sqlite3'}",
        "poll_interval": 0.1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Actors:
    admin: LocalAccount
    county_a: LocalAccount
    county_b: LocalAccount
    org_a: LocalAccount
    org_b: LocalAccount
    auditor: LocalAccount
    stranger: LocalAccount
    relayers: list[LocalAccount]


@dataclass
class ChainEnv:
    settings: Settings
    chain: LocalChain
    w3: Web3
    deployment: Deployment
    ledger: LedgerContract
    actors: Actors

    @property
    def domain(self) -> Domain:
        return self.deployment.domain


def start_env(tmp: Path, *, block_time: float = 0) -> ChainEnv:
    """Starts anvil, deploys AidLedger and registers two counties, two orgs and an auditor."""
    settings = make_settings(tmp, block_time=block_time)
    chain = LocalChain(load_localchain(settings), settings)
    chain.up()
    w3 = connect(settings)
    accts = dev_accounts(chain.cfg)
    actors = Actors(
        accts[0], accts[1], accts[2], accts[3], accts[4], accts[5], accts[6], relayers=accts[7:10]
    )
    deployment = deploy(w3, actors.admin, settings=settings)
    deployment.save(settings)
    ledger = LedgerContract(w3, deployment)
    ledger.register_county(actors.admin, actors.county_a.address, COUNTY_A)
    ledger.register_county(actors.admin, actors.county_b.address, COUNTY_B)
    ledger.register_organization(actors.admin, actors.org_a.address, ORG_CODE_A)
    ledger.register_organization(actors.admin, actors.org_b.address, ORG_CODE_B)
    ledger.register_auditor(actors.admin, actors.auditor.address)
    return ChainEnv(settings, chain, w3, deployment, ledger, actors)


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainEnv]:
    """One anvil (automine) and one deployment for the whole session."""
    e = start_env(tmp_path_factory.mktemp("chain"))
    yield e
    e.chain.down()


def _postgres_url() -> str | None:
    return os.environ.get("BANGFU_TEST_POSTGRES_URL") or None


def fresh_database_url(kind: str, tmp: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a new PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'db-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    base = _postgres_url()
    if not base:
        pytest.skip("BANGFU_TEST_POSTGRES_URL is not set")
    name = f"bangfu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database URL, once for SQLite and once for PostgreSQL (if configured)."""
    yield from fresh_database_url(request.param, tmp_path)
