"""The whole path on the FISCO profile, through the restricted proxy, as a user runs it:
`bangfu run`, `bangfu demo` and `bangfu audit` as subprocesses. The proxy answers only FISCO
BCOS 3.12's web3 methods and takes only legacy transactions at gas price 0; the test checks
that nothing the ledger sent was refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.config import PROJECT_ROOT
from ledger.evm.profiles import LEDGER_METHODS
from tests.consortium.proxy import FISCO_CHAIN_ID, fisco_proxy
from tests.factories import free_port

pytestmark = pytest.mark.chain

BIN = Path(sys.executable).parent


def _bangfu(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "bangfu"), *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_demo_audit_through_the_fisco_proxy(tmp_path: Path) -> None:
    with fisco_proxy(tmp_path) as proxy:
        var = tmp_path / "var"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
        env.update(
            BANGFU_HOME=str(PROJECT_ROOT),
            BANGFU_VAR=str(var),
            BANGFU_RPC_URL=proxy.url,
            BANGFU_CHAIN_PROFILE="fisco-bcos-3.12",
            BANGFU_API_PORT=str(port),
            PYTHONUNBUFFERED="1",
        )
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "run.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [str(BIN / "bangfu"), "run"],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")
                try:
                    if httpx.get(base + "/readyz", timeout=3).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)

            demo = _bangfu(env, "demo", "--api", base, timeout=300)
            assert demo.returncode == 0, demo.stdout + demo.stderr
            assert "演示数据已上链 demo data is on chain" in demo.stdout

            deployment = json.loads((var / "deployment.json").read_text())
            assert deployment["chain_id"] == FISCO_CHAIN_ID
            audit = _bangfu(
                env, "audit", "--rpc", proxy.url, "--contract", deployment["address"], timeout=300
            )
            assert audit.returncode == 0, audit.stdout + audit.stderr
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        # nothing the ledger asked was outside FISCO's web3 RPC, and every transaction it
        # sent was a legacy one
        assert proxy.seen.refused_methods == set()
        assert proxy.seen.refused_typed == 0
        # and it used no method beyond the ones every profile lists
        assert proxy.seen.used_methods <= LEDGER_METHODS, proxy.seen.used_methods
