"""End to end as a user runs it: `bangfu run` as a subprocess (the command `make run` runs),
`bangfu demo` against it (two runs stopped half-way, then five in a row) while a load
generator submits signed records and library writes at the same time, then `bangfu audit`;
the demo's data exists once.

This is the test that catches "database is locked" between the API, the relayer, the
indexer and the checkpointer, which only meet when they run as separate processes on one
SQLite file. Nothing is mocked: real anvil, real processes, real database.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.aid_kinds import Flag
from ledger.core.errors import ApiError
from ledger.core.fields import FlagReason
from ledger.core.lines import new_id
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.library.regions import county_name
from ledger.sdk.client import BangfuClient
from ledger.store.batch_models import BatchUpload
from ledger.store.db import Database
from tests.factories import BANGFU, free_port, fresh_database_url, run_bangfu, write_localchain
from tests.launcher import Running, bangfu_run, environment

DEMO_RUNS = 5
LOAD_COUNTY = 522327  # 册亨县: a second key of this county, used by the load generator only


def _settings(run: Running) -> Settings:
    return Settings(
        home=PROJECT_ROOT,
        var=run.var,
        localchain_file=run.var / "localchain.toml",
        rpc_url=run.rpc,
        database_url=run.env.get("BANGFU_DATABASE_URL") or None,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    """`bangfu run` exactly as `make run` starts it, on free ports, with var/ under tmp."""
    db_urls = fresh_database_url(request.param, tmp_path)
    db_url = next(db_urls)
    var = tmp_path / "var"
    var.mkdir()
    cfg = load_localchain(Settings(), PROJECT_ROOT / "localchain.toml")
    port = free_port()
    # the project's own chain settings (1 s blocks, the state file rewritten every 5 s),
    # only the port and the state file moved
    write_localchain(
        var / "localchain.toml",
        port,
        var / "anvil-state.json",
        block_time=cfg.block_time,
        state_interval=cfg.state_interval,
    )
    env = environment(var, localchain_file=str(var / "localchain.toml"), api_port=str(free_port()))
    if request.param == "postgres":
        env["BANGFU_DATABASE_URL"] = db_url
    try:
        with bangfu_run(
            env, tmp_path / "run.log", rpc=f"http://127.0.0.1:{port}", ready_within=180
        ) as run:
            yield run
    finally:
        # anvil runs in its own session (it outlives the CLI that started it): stop it by pid
        run_bangfu(["chain", "down"], env=env, timeout=60, cwd=PROJECT_ROOT)
        for _ in db_urls:  # drops the PostgreSQL database
            pass


@dataclass
class Load:
    """Submits library writes and signed records alongside the demo, as other users would."""

    run: Running
    county: LocalAccount
    auditor: LocalAccount
    stop: threading.Event = field(default_factory=threading.Event)
    published: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def publish_need(self, client: BangfuClient, n: int) -> str:
        content = {
            "county": LOAD_COUNTY,
            "title": f"负载测试需求 load need {n}",
            "category": "产业发展",
            "description": "端到端测试的负载 end-to-end test load",
            "mode": "relief",
            "beneficiaries": 10,
            "budget_fen": 100_000,
            "resources": [{"kind": "funds", "quantity": 100_000}],
            "village": "者楼村",
            "deadline": (date.today() + timedelta(days=30)).isoformat(),
            "contact_role": "县乡村振兴局项目办",
        }
        county = BangfuClient(self.run.base, account=self.county, http=client.http)
        pid = str(county.library_create("need", content)["project_id"])
        published = county.library_publish(pid)
        return str(published["anchor_id"])

    def loop(self) -> None:
        auditor = BangfuClient(self.run.base, account=self.auditor)
        client = BangfuClient(self.run.base, http=auditor.http)
        n = 0
        flagged: set[str] = set()
        while not self.stop.is_set():
            n += 1
            try:
                self.published.append(self.publish_need(client, n))
                waiting = [a for a in self.published if a not in flagged]
                for status in auditor.status(waiting) if waiting else []:
                    if status.status != "confirmed":
                        continue
                    flag = auditor.sign(
                        Flag(
                            id=new_id(self.auditor.address),
                            record_id=bytes.fromhex(status.record_id[2:]),
                            reason_code=int(FlagReason.OTHER),
                            note_hash=bytes(32),
                        )
                    )
                    auditor.submit([flag])
                    flagged.add(status.record_id)
                    self.flags.append("0x" + flag.id.hex())
            except ApiError as exc:
                self.errors.append(f"[{exc.code}] {exc.message}")
            except Exception as exc:  # noqa: BLE001 - reported by the test, not raised here
                self.errors.append(repr(exc))
            self.stop.wait(0.2)
        auditor.close()


def _killed_demo(run: Running) -> None:
    """Starts `bangfu demo` and kills it (-9) once it has made its first draft."""
    proc = subprocess.Popen(
        [BANGFU, "demo", "--api", run.base],
        env=run.env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            states = list(run.var.glob("demo-*.json"))
            if states and "need/0" in states[0].read_text():
                break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the demo ended before it could be interrupted"


def _register_load_actors(run: Running) -> tuple[LocalAccount, LocalAccount]:
    settings = _settings(run)
    cfg = load_localchain(settings)
    admin = dev_accounts(cfg)[0]
    county = Account.from_mnemonic(cfg.mnemonic, account_path="m/44'/60'/0'/0/60")
    auditor = Account.from_mnemonic(cfg.mnemonic, account_path="m/44'/60'/0'/0/61")
    ledger = LedgerContract(connect(settings), Deployment.load(settings))
    ledger.register_county(admin, county.address, LOAD_COUNTY, county_name(LOAD_COUNTY))
    ledger.register_auditor(admin, auditor.address, "压力测试审计组")
    return county, auditor


@pytest.mark.timeout(900)
def test_demo_five_times_under_load_then_audit(running: Running) -> None:
    county, auditor = _register_load_actors(running)
    running.wait_ready(60)  # the roles are indexed
    load = Load(running, county, auditor)
    thread = threading.Thread(target=load.loop, name="load", daemon=True)
    thread.start()
    results: list[tuple[int, str]] = []
    started = time.monotonic()
    try:
        # first two runs that stop half-way: killed after its first draft, and one that
        # gives up waiting for the chain after sending its records
        _killed_demo(running)
        running.bangfu("demo", "--api", running.base, "--timeout", "0", timeout=300)
        for _ in range(DEMO_RUNS):
            done = running.bangfu("demo", "--api", running.base, timeout=300)
            results.append((done.returncode, (done.stdout + done.stderr)[-3000:]))
    finally:
        load.stop.set()
        thread.join(timeout=60)
    failed = [(i, out) for i, (rc, out) in enumerate(results) if rc != 0]
    print(
        f"\n{DEMO_RUNS - len(failed)} of {DEMO_RUNS} demo runs passed in "
        f"{time.monotonic() - started:.0f} s; load: {len(load.published)} needs published, "
        f"{len(load.flags)} flags, {len(load.errors)} errors"
    )
    assert not failed, (
        f"{len(failed)} of {DEMO_RUNS} demo runs failed; first (run {failed[0][0]}):\n"
        f"{failed[0][1]}\n--- bangfu run log ---\n{running.tail()}"
    )
    assert not load.errors, f"the load generator got errors: {load.errors[:5]}"
    assert load.published, "the load generator published nothing"
    assert load.flags, "the load generator's flags never found a confirmed anchor"

    with BangfuClient(running.base) as client:
        # every acknowledged load record reaches the chain
        client.wait_confirmed(load.published + load.flags, timeout=120)
        # the demo ran five times but made its data once: one need per title, one supply
        # project per organization
        needs = client.request(
            "GET", "/api/v1/library/projects", params={"kind": "need", "limit": 200}
        )
        titles = [p["content"]["title"] for p in needs]
        demo_titles = [t for t in titles if not t.startswith("负载")]
        assert len(demo_titles) == len(set(demo_titles)) == 4, demo_titles
        supply = client.request(
            "GET", "/api/v1/library/projects", params={"kind": "supply", "limit": 200}
        )
        assert len(supply) == 3, [p["content"]["title"] for p in supply]
        # and one special fund, its money received and one commitment drawing on it
        (fund,) = client.funds()
        assert fund["name"] == "黔茶乡村人才专项基金"
        assert fund["sponsor_name"] == "贵州黔茶实业有限公司"  # the company consented
        assert [fund["totals"][k]["yuan"] for k in ("pledged", "contributed", "committed")] == [
            "¥50,000.00", "¥20,000.00", "¥30,000.00",
        ]  # fmt: skip
    db = Database(
        running.env.get("BANGFU_DATABASE_URL") or f"sqlite:///{running.var / 'ledger.sqlite3'}"
    )
    try:
        with db.read() as session:
            uploads = session.scalars(select(BatchUpload.status)).all()
    finally:
        db.dispose()
    assert uploads == ["accepted"], uploads

    deployment = json.loads((running.var / "deployment.json").read_text())
    args = ["audit", "--rpc", running.rpc, "--contract", deployment["address"]]
    args += ["--database", db.url]
    audit = running.bangfu(*args, timeout=300)
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
