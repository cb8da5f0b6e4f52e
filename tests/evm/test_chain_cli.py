"""`bangfu chain up|status|down` and the CLI's bad-input answers, through the real console
script in a subprocess, configured only by BANGFU_* environment variables.

Every error a user can cause must print one line naming its code and exit non-zero, with no
traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import typer
from eth_account import Account

from ledger.config import PROJECT_ROOT, Settings
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from tests.factories import COUNTY_A, ChainEnv, free_port, project_anchor, write_localchain

BANGFU = PROJECT_ROOT / ".venv" / "bin" / "bangfu"


def run(
    args: list[str], cwd: Path, settings: Mapping[str, str | Path], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs `bangfu ARGS` with only the given settings as BANGFU_* variables (others removed)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    environ.update({f"BANGFU_{k.upper()}": str(v) for k, v in settings.items()})
    return subprocess.run(
        [str(BANGFU), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout
    )


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_clean_failure(result: subprocess.CompletedProcess[str], phrase: str) -> None:
    """Exit status 1, the error marker and message on stderr, and no traceback."""
    both = result.stdout + result.stderr
    assert result.returncode == 1, both
    assert "Traceback" not in both, both
    assert "错误 error" in result.stderr, both
    assert phrase in flat(result.stderr), both


@dataclass
class LocalSetup:
    tmp: Path
    toml: Path
    port: int

    @property
    def env(self) -> dict[str, str | Path]:
        return {"var": self.tmp / "var", "localchain_file": self.toml}

    def settings(self) -> Settings:
        return Settings(home=PROJECT_ROOT, var=self.tmp / "var", localchain_file=self.toml)

    def chain(self) -> LocalChain:
        settings = self.settings()
        return LocalChain(load_localchain(settings), settings)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalSetup]:
    """A private localchain.toml (free port, automine, state every second) and var/."""
    port = free_port()
    toml = write_localchain(tmp_path / "localchain.toml", port, tmp_path / "anvil-state.json")
    setup = LocalSetup(tmp_path, toml, port)
    yield setup
    setup.chain().down()  # by the pid file: only the anvil this test started


# ---------------------------------------------------------------------------- up / status / down


def test_up_status_down(local: LocalSetup) -> None:
    up = run(["chain", "up"], local.tmp, local.env)
    assert up.returncode == 0, up.stderr
    assert f"127.0.0.1:{local.port}" in up.stdout
    pid = local.chain().pid()
    assert pid is not None and str(pid) in up.stdout

    info = json.loads(run(["chain", "status"], local.tmp, local.env).stdout)
    assert info["running"] is True and info["answering"] is True
    assert info["pid"] == pid
    assert info["chain_id"] == 31337
    assert info["rpc_url"] == f"http://127.0.0.1:{local.port}"
    assert local.chain().up() == pid  # already up: the same anvil, not a second one

    down = run(["chain", "down"], local.tmp, local.env)
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert local.chain().pid() is None
    assert not local.chain().answers()

    after = run(["chain", "status"], local.tmp, local.env)
    assert after.returncode == 0, after.stderr
    info = json.loads(after.stdout)
    assert info["running"] is False and info["answering"] is False


def test_state_survives_restart(local: LocalSetup) -> None:
    assert run(["chain", "up"], local.tmp, local.env).returncode == 0
    deployed = run(["deploy"], local.tmp, local.env)
    assert deployed.returncode == 0, deployed.stderr
    settings = local.settings()
    deployment = Deployment.load(settings)
    assert deployment.address in deployed.stdout

    w3 = connect(settings)
    admin, county = dev_accounts(load_localchain(settings))[:2]
    ledger = LedgerContract(w3, deployment)
    ledger.register_county(admin, county.address, COUNTY_A, "册亨县")
    auditor = Account.create()
    ledger.register_auditor(admin, auditor.address, "审计组")
    anchor = project_anchor(
        county.address, category=4, title="乡村治理 village governance", end_date=0
    )
    ledger.submit(anchor.sign(county.key, deployment.domain), admin)
    root, block = ledger.log_root(), w3.eth.block_number
    assert ledger.log_size() == 1

    assert run(["chain", "down"], local.tmp, local.env).returncode == 0
    assert not local.chain().answers()
    assert (local.tmp / "anvil-state.json").is_file()
    assert run(["chain", "up"], local.tmp, local.env).returncode == 0

    w3 = connect(settings)
    ledger = LedgerContract(w3, deployment)
    assert w3.eth.block_number >= block
    assert ledger.log_size() == 1
    assert ledger.log_root() == root
    assert ledger.record_kind(anchor.id) == 1
    assert ledger.county_of(county.address) == COUNTY_A
    assert ledger.has_role("AUDITOR", auditor.address)


# ---------------------------------------------------------------------------- bad input


@dataclass
class BadCase:
    args: list[str]
    env: dict[str, str | Path]
    code: str
    phrase: str
    result: subprocess.CompletedProcess[str] | None = None


def _home_without_node_modules(tmp: Path) -> Path:
    home = tmp / "home"
    shutil.copytree(PROJECT_ROOT / "contracts", home / "contracts")
    write_localchain(home / "localchain.toml", free_port(), home / "var" / "state.json")
    return home


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory, env: ChainEnv) -> dict[str, BadCase]:
    """Each bad input run once through the CLI (concurrently: each run is mostly the CLI's
    start-up); two tests read the results."""
    tmp = tmp_path_factory.mktemp("bad")
    good = (PROJECT_ROOT / "localchain.toml").read_text()
    (tmp / "syntax.toml").write_text("this is [not toml")
    (tmp / "field.toml").write_text(good.replace("port = 8545", 'port = "eighty"'))
    home = _home_without_node_modules(tmp)
    busy_port = free_port()
    busy_toml = write_localchain(tmp / "busy.toml", busy_port, tmp / "busy-state.json")
    # A deployment.json naming an address with no code, on a chain that answers.
    empty_var = tmp / "empty-var"
    empty_var.mkdir()
    data = env.deployment.to_json()
    data["address"] = "0x000000000000000000000000000000000000bEEF"
    (empty_var / "deployment.json").write_text(json.dumps(data))
    # A deployment.json of another chain, in a var directory outside the project home:
    # the error names the file where it is, not var/deployment.json.
    other_var = tmp / "other-var"
    other_var.mkdir()
    (other_var / "deployment.json").write_text(
        json.dumps({**env.deployment.to_json(), "chain_id": 1})
    )

    cases = {
        "toml_syntax": BadCase(
            ["chain", "up"],
            {"var": tmp / "var", "localchain_file": tmp / "syntax.toml"},
            "bad_localchain",
            "is not valid TOML",
        ),
        "toml_field": BadCase(
            ["chain", "up"],
            {"var": tmp / "var", "localchain_file": tmp / "field.toml"},
            "bad_localchain",
            "port",
        ),
        "no_node_modules": BadCase(
            ["chain", "up"], {"home": home}, "missing_node_modules", "npm ci"
        ),
        "port_in_use": BadCase(
            ["chain", "up"],
            {"var": tmp / "busy-var", "localchain_file": busy_toml},
            "port_in_use",
            "already in use",
        ),
        "rpc_unreachable": BadCase(
            ["deploy"],
            {"var": tmp / "var", "rpc_url": f"http://127.0.0.1:{free_port()}"},
            "chain_unreachable",
            "does not answer",
        ),
        "no_contract": BadCase(
            ["rebuild", "--into", f"sqlite:///{tmp / 'rebuilt.sqlite3'}"],
            {"var": empty_var, "rpc_url": str(env.settings.rpc_url)},
            "no_contract",
            "no contract at 0x000000000000000000000000000000000000bEEF",
        ),
        "wrong_chain": BadCase(
            ["rebuild", "--into", f"sqlite:///{tmp / 'rebuilt-other.sqlite3'}"],
            {"var": other_var, "rpc_url": str(env.settings.rpc_url)},
            "wrong_chain",
            f"{other_var / 'deployment.json'} is for chain 1, but the node is chain 31337",
        ),
        "no_contract_register": BadCase(
            ["register", "auditor", "0x" + "12" * 20, "--name", "审计组"],
            {"var": empty_var, "rpc_url": str(env.settings.rpc_url)},
            "no_contract",
            "no contract at 0x000000000000000000000000000000000000bEEF",
        ),
    }
    with socket.socket() as busy, ThreadPoolExecutor(max_workers=len(cases)) as pool:
        busy.bind(("127.0.0.1", busy_port))
        busy.listen()
        futures = {name: pool.submit(run, c.args, tmp, c.env) for name, c in cases.items()}
        for name, future in futures.items():
            cases[name].result = future.result()
    busy_settings = Settings(home=PROJECT_ROOT, var=tmp / "busy-var", localchain_file=busy_toml)
    assert LocalChain(load_localchain(busy_settings), busy_settings).pid() is None
    return cases


WORKING_CASES = [
    "toml_syntax",
    "toml_field",
    "no_node_modules",
    "port_in_use",
    "rpc_unreachable",
    "no_contract",
    "wrong_chain",
]
BAD_CASES = [*WORKING_CASES, "no_contract_register"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_fails_cleanly(bad_runs: dict[str, BadCase], case: str) -> None:
    bad = bad_runs[case]
    assert bad.result is not None
    assert_clean_failure(bad.result, bad.phrase)
    assert f"[{bad.code}]" in bad.result.stderr, bad.result.stderr


def test_bad_input_errors_are_one_line(bad_runs: dict[str, BadCase]) -> None:
    for name in WORKING_CASES:
        result = bad_runs[name].result
        assert result is not None
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)


def test_register_commands_are_reachable() -> None:
    from ledger.cli.main import app

    command = typer.main.get_command(app)
    assert isinstance(command, click.Group)
    assert command.get_command(click.Context(command), "register") is not None


def test_a_pid_file_rewritten_by_a_restart_outlives_the_old_clean_up(tmp_path: Path) -> None:
    """`bangfu run` restarts a chain that `bangfu chain down` stopped; the stopped keeper's
    clean-up must not delete the new keeper's pid file (then `chain down` said "not running"
    and the restarted chain ran on, orphaned)."""
    pid_file = tmp_path / "anvil.pid"
    with subprocess.Popen(["sleep", "30"]) as new_keeper:
        try:
            pid_file.write_text(str(new_keeper.pid))
            LocalChain.forget(pid_file, new_keeper.pid + 1)  # the old keeper's clean-up
            assert pid_file.read_text() == str(new_keeper.pid)
            assert LocalChain._alive(pid_file) == new_keeper.pid
        finally:
            new_keeper.kill()
    assert LocalChain._alive(pid_file) is None and not pid_file.exists()
