"""Through the FISCO-BCOS-shaped restricted proxy (tests/consortium/proxy.py): the probe names
the methods the node lacks and recommends the FISCO profile; with that profile the relayer
sends only legacy transactions at gas price 0 and calls no method the proxy refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.config import PROJECT_ROOT, Settings
from ledger.evm.deploy import dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.probe import Prober
from ledger.evm.profiles import LEDGER_METHODS
from tests.consortium.proxy import FISCO_CHAIN_ID, fisco_proxy
from tests.evm.test_chain_cli import assert_clean_failure, run

pytestmark = pytest.mark.chain

FUNDER = dev_accounts(load_localchain(Settings(), PROJECT_ROOT / "localchain.toml"))[0]


def test_probe_reports_missing_methods_and_the_fisco_profile(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path) as proxy:
        report = Prober(proxy.url, FUNDER, senders=3, burst=8).run()
        refused = set(proxy.seen.refused_methods)
    assert report.chain_id == FISCO_CHAIN_ID
    assert {"eth_feeHistory", "eth_subscribe"} <= set(report.missing_methods)
    assert report.gas_model == "zero"
    assert report.profile == "fisco-bcos-3.12"
    assert report.settings["gas_model"] == "zero"
    assert report.ok, report.to_json()  # it lacks only what the ledger does without
    assert refused == set(report.missing_methods)
    assert not refused & LEDGER_METHODS


def test_probe_cli_through_the_proxy(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path) as proxy:
        result = run(
            ["chain", "probe", "--rpc", proxy.url, "--json", "--senders", "2", "--burst", "4"],
            tmp_path,
            {},
        )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["profile"] == "fisco-bcos-3.12"
    assert "eth_feeHistory" in report["missing_methods"]
    assert report["settings"]["chain_profile"] == "fisco-bcos-3.12"


def test_probe_fails_a_node_without_eth_getlogs(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path, refuse=frozenset({"eth_getLogs"})) as proxy:
        result = run(
            ["chain", "probe", "--rpc", proxy.url, "--senders", "1", "--burst", "2"], tmp_path, {}
        )
    assert_clean_failure(result, "the node lacks eth_getLogs")
    assert "[chain_unfit]" in result.stderr


def test_probe_sees_truncated_logs_and_a_narrow_range(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path, max_logs=500, max_range=20) as proxy:
        report = Prober(proxy.url, FUNDER, senders=3, burst=10).run()  # > 20 blocks
    checks = {c.key: c for c in report.checks}
    assert checks["logs_results"].verdict == "fail"
    assert "returned 500 of 1000" in checks["logs_results"].detail
    assert checks["logs_range"].verdict == "warn"
    assert "block range exceeds 20" in checks["logs_range"].detail
    assert report.settings["indexer_range"] == 10
    assert not report.ok
