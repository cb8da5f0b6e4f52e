"""Every CLI error a user can cause is one line with its code, on stderr, with a non-zero exit
status and no traceback: `bangfu` run as a user runs it (a subprocess), over a table of bad
inputs. The cases that need a chain talk to the session's real anvil and deployment.

(`bangfu batch check` on a bad file prints its table of line errors before that line: see
tests/api/test_edges.py and tests/batches.)"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.factories import COUNTY_A, ChainEnv, free_port, run_bangfu

GOOD = "0x" + "ab" * 20  # all lower case: a valid address without a checksum
# EIP-55 checksummed form of 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed with one letter's case
# flipped: a typo that must not register somebody else.
BAD_CHECKSUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"


@dataclass
class Case:
    name: str
    args: Callable[[Path], list[str]]
    code: str
    chain: bool = False  # run against the session's anvil and deployment
    env: dict[str, str] = field(default_factory=dict)


def _files(tmp: Path) -> None:
    (tmp / "bad.json").write_text("{ not json")
    (tmp / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp / "folder").mkdir(exist_ok=True)
    (tmp / "bundle.json").write_text(json.dumps({"format": "bangfu-proof/1"}))


CASES = [
    Case(
        "bad address",
        lambda t: ["register", "county", "not-an-address", str(COUNTY_A)],
        "bad_address",
    ),
    Case(
        "bad address, chain up",
        lambda t: ["register", "county", "0x1234", str(COUNTY_A)],
        "bad_address",
        chain=True,
    ),
    Case(
        "bad address checksum",
        lambda t: ["register", "org", BAD_CHECKSUM, "91520000MA6DKTQX0C", "--name", "某会"],
        "bad_address",
        chain=True,
    ),
    Case(
        "county code not a number", lambda t: ["register", "county", GOOD, "册亨"], "bad_parameter"
    ),
    Case("county code unknown", lambda t: ["register", "county", GOOD, "999999"], "unknown_county"),
    Case(
        "bad credit code",
        lambda t: ["register", "org", GOOD, "NOT-A-CREDIT-CODE", "--name", "某会"],
        "bad_org_code",
    ),
    Case(
        "org type against the credit code",
        lambda t: [
            "register",
            "org",
            GOOD,
            "52520000MJY450802G",
            "--name",
            "某会",
            "--type",
            "基金会",
        ],
        "org_type_mismatch",
    ),
    Case(
        "org type needed for a non-民政 code",
        lambda t: ["register", "org", GOOD, "91520000MA6DKTQX0C", "--name", "某公司"],
        "org_type_required",
    ),
    Case(
        "org type unknown",
        lambda t: ["register", "org", GOOD, "52520000MJY450802G", "--name", "某会", "--type", "9"],
        "invalid_org_type",
    ),
    Case(
        "org without a name",
        lambda t: ["register", "org", GOOD, "52520000MJY450802G"],
        "bad_parameter",
    ),
    Case(
        "auditor with an empty name",
        lambda t: ["register", "auditor", GOOD, "--name", " "],
        "invalid_name",
    ),
    Case("missing argument", lambda t: ["register", "county"], "bad_parameter"),
    Case("unknown command", lambda t: ["registre"], "usage_error"),
    Case("missing file", lambda t: ["batch", "check", str(t / "missing.csv")], "bad_parameter"),
    Case("a folder for a file", lambda t: ["batch", "check", str(t / "folder")], "bad_parameter"),
    Case("bundle missing", lambda t: ["verify", str(t / "missing.json")], "bad_bundle"),
    Case("bundle not JSON", lambda t: ["verify", str(t / "bad.json")], "bad_bundle"),
    Case("bundle not text", lambda t: ["verify", str(t / "binary.json")], "bad_bundle"),
    Case(
        "record file not JSON",
        lambda t: ["submit", "--json", str(t / "bad.json"), "--key", str(t / "missing-key.json")],
        "invalid_json",
    ),
    Case(
        "bad period",
        lambda t: ["report", "--period", "2026-Q9", "--out", str(t / "r")],
        "bad_period",
    ),
    Case("unknown list", lambda t: ["query", "planets"], "bad_list"),
    Case(
        "RPC URL without scheme",
        lambda t: ["register", "county", GOOD, str(COUNTY_A)],
        "chain_unreachable",
        env={"BANGFU_RPC_URL": "localhost:8545"},
    ),
    Case(
        "RPC URL nobody answers",
        lambda t: ["deploy"],
        "chain_unreachable",
        env={"BANGFU_RPC_URL": "http://127.0.0.1:{free}"},
    ),
    Case(
        "audit: contract not an address",
        lambda t: ["audit", "--rpc", "http://x", "--contract", "0x01"],
        "bad_address",
    ),
    Case(
        "audit: RPC URL nobody answers",
        lambda t: ["audit", "--rpc", "http://127.0.0.1:{free}", "--contract", GOOD],
        "chain_unreachable",
    ),
    Case(
        "API URL nobody answers",
        lambda t: ["status", "0x" + "11" * 32, "--api", "http://127.0.0.1:{free}"],
        "api_unreachable",
    ),
    Case(
        "witness: bad key file",
        lambda t: [
            "witness",
            "serve",
            "--key",
            str(t / "bad.json"),
            "--state",
            str(t / "w.json"),
            "--log-key",
            "x",
        ],
        "config_error",
    ),
    Case(
        "export into a missing folder",
        lambda t: [
            "export",
            "csv",
            "--kind",
            "projects",
            "--out",
            str(t / "no" / "such" / "x.csv"),
        ],
        "file_not_found",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_with_a_code(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _files(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_") and k != "COLUMNS"}
    # Nothing of the worktree's own var/ is read or written, and no node is reachable unless
    # the case asks for the session's chain.
    env.update({"BANGFU_VAR": str(tmp_path / "var"), "BANGFU_KEY_PASSWORD": "x" * 12})
    env["BANGFU_RPC_URL"] = f"http://127.0.0.1:{free_port()}"
    if case.chain:
        chain: ChainEnv = request.getfixturevalue("env")
        env["BANGFU_RPC_URL"] = str(chain.settings.rpc_url)
        env["BANGFU_VAR"] = str(chain.settings.var_dir)
    env.update({k: v.replace("{free}", str(free_port())) for k, v in case.env.items()})
    args = [a.replace("{free}", str(free_port())) for a in case.args(tmp_path)]
    result = run_bangfu(args, env=env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode != 0, output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(r"错误 error \[[A-Za-z_]+\] \S.*", lines[0]), lines[0]
    assert f"[{case.code}]" in lines[0], lines[0]


def test_good_input_still_works(tmp_path: Path) -> None:
    """The same commands with input they take: exit 0 (no chain needed for these)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    env["BANGFU_VAR"] = str(tmp_path / "var")
    template = tmp_path / "t.csv"
    assert run_bangfu(["batch", "template", "--out", str(template)], env=env).returncode == 0
    assert template.read_text().startswith("#")
    assert run_bangfu(["--help"], env=env).returncode == 0
    assert run_bangfu(["register", "county", "--help"], env=env).returncode == 0
