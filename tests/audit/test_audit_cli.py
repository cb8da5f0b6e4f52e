"""`bangfu audit` when it cannot run: one line with a code, exit 1, and a report that says
so (no traceback), for each input a user can get wrong; and without --rpc / --contract, the
node the other commands use and the contract in var/deployment.json, named on stderr and in
the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ledger.config import PROJECT_ROOT
from tests.audit.conftest import Ledger
from tests.factories import free_port, run_bangfu

BANGFU = PROJECT_ROOT / ".venv" / "bin" / "bangfu"
CONTRACT = "0x" + "12" * 20


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BANGFU), "audit", *args], capture_output=True, text=True, timeout=120
    )


def test_an_unreachable_node_is_one_line_and_an_error_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    rpc = f"http://127.0.0.1:{free_port()}"
    r = run("--rpc", rpc, "--contract", CONTRACT, "--json", str(out))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "[chain_unreachable]" in r.stderr
    report = json.loads(out.read_text())
    assert report["verdict"] == "error"
    assert report["error"]["code"] == "chain_unreachable"
    assert report["chain"] == {
        "rpc": rpc,
        "contract": CONTRACT,
        "rpc_source": "--rpc",
        "contract_source": "--contract",
    }


def test_bad_inputs_are_one_line_each(tmp_path: Path) -> None:
    rpc = f"http://127.0.0.1:{free_port()}"
    cases = {
        "bad_address": ("--rpc", rpc, "--contract", "0xnot-an-address"),
        "chain_unreachable": ("--rpc", "not a url", "--contract", CONTRACT),
        "bad_evidence": (
            *("--rpc", rpc, "--contract", CONTRACT),
            *("--evidence", str(tmp_path / "nowhere")),
        ),
    }
    for code, args in cases.items():
        r = run(*args)
        assert r.returncode == 1, (code, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        assert f"[{code}]" in r.stderr, (code, r.stderr)


# ---- defaults: the node the other commands use, the contract in var/deployment.json


def _home(tmp_path: Path, ledger: Ledger) -> Path:
    """A project home as `make run` leaves it: localchain.toml (the test's anvil) and
    var/deployment.json (the test's contract)."""
    home = tmp_path / "home"
    (home / "var").mkdir(parents=True)
    settings = ledger.env.settings
    shutil.copy(settings.path(settings.localchain_file), home / "localchain.toml")
    shutil.copy(settings.deployment_path, home / "var" / "deployment.json")
    return home


def _environ(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    return {**env, "BANGFU_HOME": str(home), "COLUMNS": "80", **extra}


def test_without_flags_it_audits_the_deployment_file_and_says_so(
    ledger: Ledger, tmp_path: Path
) -> None:
    home = _home(tmp_path, ledger)
    out = tmp_path / "report.json"
    r = run_bangfu(
        ["audit", "--json", str(out), "--workers", "1", "--strict"],
        env=_environ(home),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    line = (
        "审计 var/deployment.json 中的合约，节点取自 localchain.toml auditing the contract in "
        f"var/deployment.json, node from localchain.toml: {ledger.contract} on {ledger.rpc}"
    )
    assert r.stderr.splitlines()[0] == line, r.stderr
    report = json.loads(out.read_text())
    assert report["verdict"] == "pass" and report["counts"] == {}
    assert report["chain"]["contract"] == ledger.contract
    assert report["chain"]["contract_source"] == "var/deployment.json"
    assert report["chain"]["rpc_source"] == "localchain.toml"


def test_only_the_contract_from_the_file_with_bangfu_rpc_url(
    ledger: Ledger, tmp_path: Path
) -> None:
    home = _home(tmp_path, ledger)
    (home / "localchain.toml").unlink()  # BANGFU_RPC_URL is the node: no localchain.toml read
    r = run_bangfu(
        ["audit", "--workers", "1"], env=_environ(home, BANGFU_RPC_URL=ledger.rpc), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == (
        "审计 var/deployment.json 中的合约，节点取自 BANGFU_RPC_URL auditing the contract in "
        f"var/deployment.json, node from BANGFU_RPC_URL: {ledger.contract} on {ledger.rpc}"
    )


def test_no_deployment_file_and_no_contract_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "report.json"
    rpc = f"http://127.0.0.1:{free_port()}"
    r = run_bangfu(
        ["audit", "--json", str(out)], env=_environ(home, BANGFU_RPC_URL=rpc), cwd=tmp_path
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith("错误 error [no_deployment] 没有部署文件"), line
    assert "no deployment file var/deployment.json" in line and "--contract" in line
    report = json.loads(out.read_text())
    assert report["verdict"] == "error" and report["error"]["code"] == "no_deployment"
    assert report["chain"] == {
        "rpc": rpc,
        "contract": None,
        "rpc_source": "BANGFU_RPC_URL",
        "contract_source": "var/deployment.json",
    }


def test_a_deployment_file_of_another_chain_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    home = _home(tmp_path, ledger)
    path = home / "var" / "deployment.json"
    data = json.loads(path.read_text())
    data["chain_id"] = 1
    path.write_text(json.dumps(data))
    r = run_bangfu(["audit"], env=_environ(home), cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    (line,) = r.stderr.splitlines()
    assert "[wrong_chain]" in line and "var/deployment.json is for chain 1" in line, line
    assert f"the node is chain {ledger.env.deployment.chain_id}" in line, line


def test_explicit_flags_read_no_settings_and_print_no_source_line(
    ledger: Ledger, tmp_path: Path
) -> None:
    # a home whose deployment file is not even JSON: with both flags it is never read
    home = _home(tmp_path, ledger)
    (home / "var" / "deployment.json").write_text("not json")
    out = tmp_path / "report.json"
    r = run_bangfu(
        [
            *("audit", "--rpc", ledger.rpc, "--contract", ledger.contract),
            *("--json", str(out), "--workers", "1", "--strict"),
        ],
        env=_environ(home, BANGFU_RPC_URL=f"http://127.0.0.1:{free_port()}"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "auditing the contract" not in r.stderr and "deployment.json" not in r.stderr
    assert r.stderr.startswith(f"审计 audit of {ledger.contract} on chain "), r.stderr
    report = json.loads(out.read_text())
    assert report["verdict"] == "pass"
    assert report["chain"]["contract_source"] == "--contract"
    assert report["chain"]["rpc_source"] == "--rpc"
