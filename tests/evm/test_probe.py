"""`bangfu chain probe` on a real anvil: every requirement passes, the anvil profile is
recommended; a profile that disagrees with the node fails fast in one line naming the
setting; an unknown profile is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.errors import ConfigError
from ledger.evm.deploy import dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.probe import Prober
from ledger.evm.probe_contract import create_address
from ledger.evm.profiles import PROFILES, check_node
from tests.consortium.proxy import fisco_proxy, plain_anvil
from tests.evm.test_chain_cli import assert_clean_failure, run

pytestmark = pytest.mark.chain

FUNDER = dev_accounts(load_localchain(Settings(), PROJECT_ROOT / "localchain.toml"))[0]


def test_create_rule_matches_ethereum() -> None:
    # the first contract anvil's account #0 deploys, known from every Foundry tutorial
    assert create_address(FUNDER.address, 0) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_probe_passes_on_anvil(tmp_path: Path) -> None:
    with plain_anvil(tmp_path / "anvil.log") as url:
        report = Prober(url, FUNDER, senders=3, burst=8).run()
    verdicts = {c.key: c.verdict for c in report.checks}
    assert report.ok, report.to_json()
    for key in ("methods", "chain_id", "deploy", "ledger_code", "eip712", "sha256", "timestamp"):
        assert verdicts[key] == "pass", report.to_json()
    for key in ("create", "logs_results", "logs_range", "pending", "finality", "block_chainid"):
        assert verdicts[key] == "pass", report.to_json()
    assert report.gas_model == "eip1559"
    assert report.profile == "anvil"
    assert report.settings["confirmations"] == 0
    assert "eth_feeHistory" not in report.missing_methods


def test_probe_cli_on_anvil(tmp_path: Path) -> None:
    with plain_anvil(tmp_path / "anvil.log") as url:
        result = run(
            ["chain", "probe", "--rpc", url, "--senders", "2", "--burst", "4"], tmp_path, {}
        )
    assert result.returncode == 0, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "通过 pass" in text
    assert "不满足 fail" not in text
    assert "推荐配置 recommended profile: anvil" in text
    assert "BANGFU_GAS_MODEL=eip1559" in text


def test_unreachable_node_is_one_line(tmp_path: Path) -> None:
    result = run(["chain", "probe", "--rpc", "http://127.0.0.1:9"], tmp_path, {})
    assert_clean_failure(result, "does not answer")


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        Settings(chain_profile="ethereum-mainnet")
    assert err.value.code == "bad_chain_profile"
    assert "fisco-bcos-3.12" in err.value.message


def test_profile_sets_its_values_and_explicit_settings_win() -> None:
    s = Settings(chain_profile="geth-clique")
    assert (s.gas_model, s.confirmations) == ("eip1559", 12)
    assert Settings(chain_profile="geth-clique", confirmations=3).confirmations == 3
    fisco = Settings(chain_profile="fisco-bcos-3.12")
    assert fisco.gas_model == PROFILES["fisco-bcos-3.12"].gas_model == "zero"
    assert fisco.indexer_range == 500


def test_eip1559_on_a_legacy_chain_fails_fast(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path) as proxy:
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(proxy.url))
        with pytest.raises(ConfigError) as err:
            check_node(w3, "eip1559")
        assert err.value.code == "profile_mismatch"
        assert "BANGFU_GAS_MODEL" in err.value.message
        check_node(w3, "zero")  # what the FISCO profile sets: accepted
        # and as the CLI shows it: one line, no traceback, before anything is deployed
        result = run(
            ["deploy"],
            tmp_path,
            {"rpc_url": proxy.url, "gas_model": "eip1559", "var": tmp_path / "var"},
        )
        assert_clean_failure(result, "BANGFU_GAS_MODEL=eip1559")
        assert "profile_mismatch" in result.stderr


def test_bad_probe_key_is_one_line(tmp_path: Path) -> None:
    result = run(["chain", "probe", "--rpc", "http://127.0.0.1:9"], tmp_path, {"probe_key": "zz"})
    assert_clean_failure(result, "BANGFU_PROBE_KEY is not a hex private key")
    assert "[bad_hex]" in result.stderr
