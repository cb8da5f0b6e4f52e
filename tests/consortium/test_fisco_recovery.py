"""Recovery on the FISCO profile, through the restricted proxy: a relayer that dies after
broadcasting and a rolled-back chain (a reorganization done on the anvil behind the proxy,
since the proxy itself offers no anvil_* method) both heal with every acknowledged record on
chain exactly once, while the ledger talks only FISCO BCOS's web3 methods and sends only
legacy transactions at gas price 0."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from web3 import Web3

from ledger.app import LedgerService
from ledger.config import PROJECT_ROOT, Settings
from ledger.core.records import SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect, deploy, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.profiles import LEDGER_METHODS
from ledger.indexer.worker import Indexer
from tests.consortium.proxy import FiscoProxy, fisco_proxy
from tests.factories import Actors, register_roles, service_for, stack
from tests.service.test_healing import scoped_need
from tests.service.test_reorg import assert_exactly_once

pytestmark = pytest.mark.chain


@dataclass
class FiscoEnv:
    """What the healing helpers read of a ChainEnv: the chain as the ledger sees it."""

    settings: Settings
    w3: Web3
    deployment: Deployment
    ledger: LedgerContract
    actors: Actors
    proxy: FiscoProxy

    def upstream(self, method: str, *params: object) -> object:
        """A call to the anvil behind the proxy (the test's hand on the chain, not the
        ledger's)."""
        r = requests.post(
            self.proxy.upstream,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=60,
        )
        body = r.json()
        assert "error" not in body, body
        return body["result"]


@pytest.fixture
def fisco(tmp_path: Path) -> Iterator[FiscoEnv]:
    with fisco_proxy(tmp_path) as proxy:
        settings = Settings(
            home=PROJECT_ROOT,
            var=tmp_path,
            rpc_url=proxy.url,
            chain_profile="fisco-bcos-3.12",
            poll_interval=0.1,
        )
        w3 = connect(settings)
        accts = dev_accounts(load_localchain(settings))
        actors = Actors(*accts[:7], relayers=accts[7:10])
        deployment = deploy(w3, actors.admin, settings=settings)
        deployment.save(settings)
        ledger = LedgerContract(w3, deployment)
        register_roles(ledger, actors)
        yield FiscoEnv(settings, w3, deployment, ledger, actors, proxy)
        assert proxy.seen.refused_methods == set()
        assert proxy.seen.refused_typed == 0
        assert proxy.seen.used_methods <= LEDGER_METHODS, proxy.seen.used_methods


def _needs(env: FiscoEnv, n: int) -> list[SignedRecord]:
    return [scoped_need(env.deployment.domain, env.actors.county_a) for _ in range(n)]


def _service(env: FiscoEnv, database_url: str) -> LedgerService:
    svc = service_for(env.settings, database_url)
    Indexer(svc.db, svc.ledger(), block_range=env.settings.indexer_range).run_until_synced()
    return svc


def test_relayer_crash_after_broadcast_heals(
    fisco: FiscoEnv, database_url: str, tmp_path: Path
) -> None:
    svc = _service(fisco, database_url)
    try:
        needs = _needs(fisco, 6)
        svc.relayer.accept(needs)
        first = stack(svc, fisco.actors.relayers, batch_size=2, gas_model="zero")
        assert first.worker.send_queued() > 0  # broadcast, then the process "dies"
        # a new relayer and indexer, as after a restart, finish the job
        second = stack(svc, fisco.actors.relayers, batch_size=2, gas_model="zero")
        second.settle()
        assert_exactly_once(fisco, svc, needs, tmp_path)  # type: ignore[arg-type]
    finally:
        svc.close()


def test_rolled_back_blocks_are_sent_again(
    fisco: FiscoEnv, database_url: str, tmp_path: Path
) -> None:
    svc = _service(fisco, database_url)
    try:
        st = stack(svc, fisco.actors.relayers, batch_size=2, gas_model="zero")
        first = _needs(fisco, 2)
        svc.relayer.accept(first)
        st.settle()
        before = int(fisco.w3.eth.block_number)
        second = _needs(fisco, 6)
        svc.relayer.accept(second)
        st.settle()
        depth = int(fisco.w3.eth.block_number) - before
        assert depth >= 3
        fisco.upstream("anvil_reorg", depth, [])
        assert all(fisco.ledger.record_kind(r.id) == 0 for r in second)
        st.worker.reconcile()
        rows = svc.relayer.status(["0x" + r.id.hex() for r in second])
        assert {row.status for row in rows.values()} == {"queued"}
        st.settle(timeout=180)
        assert_exactly_once(fisco, svc, first + second, tmp_path)  # type: ignore[arg-type]
    finally:
        svc.close()
