"""The ledger's whole path as a user runs it, against any node: `bangfu run`, `bangfu demo`
and `bangfu audit` as subprocesses, with the settings a deployment would give them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.config import PROJECT_ROOT
from tests.factories import free_port
from tests.launcher import bangfu_run, environment


def run_demo_audit(rpc_url: str, tmp_path: Path, **settings: str) -> dict[str, Any]:
    """Starts `bangfu run` on `rpc_url` with `settings` (as BANGFU_*), loads the demo through
    its API, audits the chain (recompiling contracts/ to compare the code on chain) and stops
    it. Returns the deployment; fails the test on any step that does not succeed."""
    var = tmp_path / "var"
    env = environment(var, rpc_url=rpc_url, api_port=str(free_port()), **settings)
    with bangfu_run(env, tmp_path / "run.log", rpc=rpc_url, ready_within=120) as run:
        demo = run.bangfu("demo", "--api", run.base, timeout=300)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "演示数据已上链 demo data is on chain" in demo.stdout

        deployment: dict[str, Any] = json.loads((var / "deployment.json").read_text())
        audit = run.bangfu(
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
