"""`bangfu audit` when it cannot run: one line with a code, exit 1, and a report that says
so (no traceback), for each input a user can get wrong."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ledger.config import PROJECT_ROOT
from tests.factories import free_port

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
    assert report["chain"] == {"rpc": rpc, "contract": CONTRACT}


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
