"""The whole path on the FISCO profile, through the restricted proxy, as a user runs it:
`bangfu run`, `bangfu demo` and `bangfu audit` as subprocesses. The proxy answers only FISCO
BCOS 3.12's web3 methods and takes only legacy transactions at gas price 0; the test checks
that nothing the ledger sent was refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.evm.profiles import LEDGER_METHODS
from tests.consortium.path import run_demo_audit
from tests.consortium.proxy import FISCO_CHAIN_ID, fisco_proxy

pytestmark = pytest.mark.chain


def test_run_demo_audit_through_the_fisco_proxy(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path) as proxy:
        deployment = run_demo_audit(proxy.url, tmp_path, chain_profile="fisco-bcos-3.12")
        assert deployment["chain_id"] == FISCO_CHAIN_ID
        # nothing the ledger asked was outside FISCO's web3 RPC, and every transaction it
        # sent was a legacy one
        assert proxy.seen.refused_methods == set()
        assert proxy.seen.refused_typed == 0
        # and it used no method beyond the ones every profile lists
        assert proxy.seen.used_methods <= LEDGER_METHODS, proxy.seen.used_methods
