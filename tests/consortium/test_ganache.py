"""`bangfu chain probe` on a second, independent EVM: ganache (the ethereumjs EVM, from npm).

Ganache 7.9 knows hardforks up to shanghai; by default the ledger is compiled for prague. The
probe's own checks (EIP-712 through OpenZeppelin's ECDSA, SHA-256, timestamp unit, CREATE
rule, logs, pending bursts, finality) all pass on it, and the throwaway AidLedger deploys, but
its multicall (the relayer's and the indexer's path) hits an opcode ganache lacks: the probe
says so and exits non-zero with `chain_unfit`, naming the requirement. Compiled for shanghai
(BANGFU_EVM_VERSION=shanghai) every check passes; tests/consortium/test_ganache_path.py then
runs the whole ledger there."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ledger.config import PROJECT_ROOT
from tests.consortium.path import run_demo_audit
from tests.evm.test_chain_cli import assert_clean_failure, run
from tests.factories import free_port

pytestmark = pytest.mark.chain

GANACHE = PROJECT_ROOT / "node_modules" / ".bin" / "ganache"
MNEMONIC = "test test test test test test test test test test test junk"


@pytest.fixture
def ganache(tmp_path: Path) -> Iterator[str]:
    if not GANACHE.exists():
        pytest.skip("ganache is not installed: run `npm ci` (package.json devDependencies)")
    port = free_port()
    with (tmp_path / "ganache.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                str(GANACHE),
                "--port",
                str(port),
                "--chain.chainId",
                "1337",
                "--wallet.mnemonic",
                MNEMONIC,
                "--logging.quiet",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "ganache did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_probe_on_ganache_names_the_missing_opcodes(ganache: str, tmp_path: Path) -> None:
    result = run(
        ["chain", "probe", "--rpc", ganache, "--json", "--senders", "2", "--burst", "4"],
        tmp_path,
        {},
    )
    assert_clean_failure(result, "AidLedger runs")
    assert "chain_unfit" in result.stderr
    report = json.loads(result.stdout)
    verdicts = {c["key"]: c["verdict"] for c in report["checks"]}
    assert verdicts.pop("ledger_code") == "fail"
    assert set(verdicts.values()) == {"pass"}, report
    assert "ganache" in report["client"].lower()
    detail = next(c["detail"] for c in report["checks"] if c["key"] == "ledger_code")
    assert "invalid opcode" in detail


def test_probe_on_ganache_passes_compiled_for_shanghai(ganache: str, tmp_path: Path) -> None:
    result = run(
        ["chain", "probe", "--rpc", ganache, "--json", "--senders", "2", "--burst", "4"],
        tmp_path,
        {"evm_version": "shanghai"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert {c["verdict"] for c in report["checks"]} == {"pass"}, report


def test_run_demo_audit_on_ganache(ganache: str, tmp_path: Path) -> None:
    """A second, independent EVM (ethereumjs): deploy, the demo through the API, and an audit
    that recompiles contracts/ for shanghai and finds the chain's code equal to it."""
    deployment = run_demo_audit(ganache, tmp_path, evm_version="shanghai")
    assert deployment["chain_id"] == 1337
