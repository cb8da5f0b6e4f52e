"""The ledger's whole path as a user runs it, against any node: `bangfu run`, `bangfu demo`
and `bangfu audit` as subprocesses, with the settings a deployment would give them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ledger.config import PROJECT_ROOT
from tests.factories import free_port

BIN = Path(sys.executable).parent


def bangfu(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "bangfu"), *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_demo_audit(rpc_url: str, tmp_path: Path, **settings: str) -> dict[str, Any]:
    """Starts `bangfu run` on `rpc_url` with `settings` (as BANGFU_*), loads the demo through
    its API, audits the chain (recompiling contracts/ to compare the code on chain) and stops
    it. Returns the deployment; fails the test on any step that does not succeed."""
    var = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    env.update(
        BANGFU_HOME=str(PROJECT_ROOT),
        BANGFU_VAR=str(var),
        BANGFU_RPC_URL=rpc_url,
        BANGFU_API_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    env.update({f"BANGFU_{k.upper()}": v for k, v in settings.items()})
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

        demo = bangfu(env, "demo", "--api", base, timeout=300)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "演示数据已上链 demo data is on chain" in demo.stdout

        deployment: dict[str, Any] = json.loads((var / "deployment.json").read_text())
        audit = bangfu(
            env,
            "audit",
            "--rpc",
            rpc_url,
            "--contract",
            deployment["address"],
            "--sources",
            str(PROJECT_ROOT / "contracts"),
            timeout=300,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
        return deployment
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
