"""What the benchmarks share: a private anvil's settings (free port, state under a temp
dir) and the BANGFU_* environment that points the worker processes at it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ledger.config import PROJECT_ROOT, Settings
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import connect, deploy, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain


@contextmanager
def scratch(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A new temporary folder for one run (the chain's state, the database, the logs),
    removed when the run ends: a run of bench_api leaves ~0.5 GB there. It is kept, and
    named on stderr, when `keep` is given or the run fails (its logs say why)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    except BaseException:
        print(f"kept {tmp} (the failed run's logs)", file=sys.stderr)
        raise
    if keep:
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds that process `pid` has used so far (Linux /proc), or 0.0
    once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of process `pid` and of every live process under it (uvicorn's
    workers under its master)."""
    total = cpu_seconds(pid)
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return total
    for task in threads:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(tree_cpu_seconds(int(child)) for child in children)
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every PostgreSQL server process on this machine (the
    benchmarks' database server is local), 0.0 where there is none."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == "postgres":
                total += cpu_seconds(int(stat.parent.name))
        except OSError:
            continue
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stops a worker process if it still runs: SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def private_chain(
    tmp: Path,
    database_url: str | None,
    *,
    poll_interval: float,
    state_interval: int | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Settings and environment for an anvil on a free port with its state in `tmp`."""
    port = free_port()
    cfg = load_localchain(Settings(), PROJECT_ROOT / "localchain.toml")
    toml = (PROJECT_ROOT / "localchain.toml").read_text()
    toml = toml.replace(f"port = {cfg.port}", f"port = {port}")
    toml = toml.replace(f'state_file = "{cfg.state_file}"', f'state_file = "{tmp / "state.json"}"')
    if state_interval is not None:
        toml = toml.replace(
            f"state_interval = {cfg.state_interval}", f"state_interval = {state_interval}"
        )
    (tmp / "localchain.toml").write_text(toml)
    env = {
        "BANGFU_HOME": str(PROJECT_ROOT),
        "BANGFU_VAR": str(tmp),
        "BANGFU_LOCALCHAIN_FILE": str(tmp / "localchain.toml"),
        "BANGFU_RPC_URL": f"http://127.0.0.1:{port}",
        "BANGFU_DATABASE_URL": database_url or f"sqlite:///{tmp / 'ledger.sqlite3'}",
        "BANGFU_POLL_INTERVAL": str(poll_interval),
    }
    settings = Settings(
        home=PROJECT_ROOT,
        var=tmp,
        localchain_file=tmp / "localchain.toml",
        rpc_url=env["BANGFU_RPC_URL"],
        database_url=env["BANGFU_DATABASE_URL"],
        poll_interval=poll_interval,
    )
    return settings, env


def deploy_registered(
    settings: Settings, chain: LocalChain, county: int, org_code: str
) -> tuple[LedgerContract, list[LocalAccount]]:
    """AidLedger deployed on the running private `chain` (deployment saved to `settings`),
    dev account 1 registered as `county` and account 3 as the organization `org_code`;
    returns the contract and the dev accounts (0 is the admin)."""
    w3 = connect(settings)
    accts = dev_accounts(chain.cfg)
    admin, county_acct, org = accts[0], accts[1], accts[3]
    deployment = deploy(w3, admin, settings=settings)
    deployment.save(settings)
    ledger = LedgerContract(w3, deployment)
    ledger.register_county(admin, county_acct.address, county, f"县级机构 {county}")
    # The bench codes start 91 (not 民政's 5x), so the type is given: 2 民办非企业单位.
    ledger.register_organization(admin, org.address, org_code, "压力测试公益服务中心", 2)
    return ledger, accts
