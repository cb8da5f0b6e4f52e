"""The crash matrix's harness: `bangfu run` as a real process group on free ports, a load of
signed records submitted through its API, kill -9 at chosen moments, and the checks that
every acknowledged record is on chain exactly once (counted by RecordAppended leaves) and
that the read model equals a rebuild. Used by tests/service/test_crash_matrix.py and by
scripts/crash_matrix.py (which prints the table in docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from web3 import Web3

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.errors import StateFileError
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.evm.state import read_state
from ledger.indexer.rebuild import digest, rebuild
from ledger.store import alarms
from ledger.store.db import Database
from ledger.store.models import IndexerCheckpoint, LogEntry, OutboxRecord
from ledger.supervisor import read_status
from tests.factories import COUNTY_A, COUNTY_B, free_port, write_localchain

BANGFU = str(PROJECT_ROOT / ".venv" / "bin" / "bangfu")
WORKERS = ("api", "relayer", "indexer", "checkpointer", "chain")


def need(county: LocalAccount, code: int) -> ProjectAnchor:
    """A need anchor whose ids are scoped to the county that signs it, with a title (on a
    ProjectAnchor that has the human-readable fields)."""
    fields = {f.name for f in dataclasses.fields(ProjectAnchor)}
    extra: dict[str, Any] = {}
    if "title" in fields:
        extra = {"title": "崩溃测试需求 crash-matrix need", "budget": 100_000, "end_date": 20301231}
    return ProjectAnchor(
        id=new_id(county.address),
        project_id=new_id(county.address),
        project_kind=ProjectKind.NEED,
        county=code,
        category=3,
        content_hash=new_id(county.address),
        version=1,
        **extra,
    )


def wait_until(
    cond: Callable[[], bool], timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tail}")
        time.sleep(0.05)


@dataclass
class RunGroup:
    """`bangfu run` (chain keeper, relayer, indexer, checkpointer, API) in its own session."""

    tmp: Path
    database_url: str
    dump_pause: float = 0.0
    state_interval: int = 3
    proc: subprocess.Popen[bytes] | None = None
    api_port: int = field(default_factory=free_port)
    chain_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.var = self.tmp / "var"
        self.var.mkdir(parents=True, exist_ok=True)
        self.toml = write_localchain(
            self.tmp / "localchain.toml",
            self.chain_port,
            self.var / "anvil-state.json",
            block_time=1,
            state_interval=self.state_interval,
        )
        if self.dump_pause:
            # The keeper's test hook: it pauses halfway through each state copy it writes.
            text = self.toml.read_text().replace(
                "[anvil]\n", f"[anvil]\ndump_pause = {self.dump_pause}\n"
            )
            self.toml.write_text(text)
        self.log = self.tmp / "run.log"
        self.settings = Settings(
            home=PROJECT_ROOT,
            var=self.var,
            localchain_file=self.toml,
            database_url=self.database_url,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def chain(self) -> LocalChain:
        return LocalChain(load_localchain(self.settings), self.settings)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
        env.update(
            BANGFU_HOME=str(PROJECT_ROOT),
            BANGFU_VAR=str(self.var),
            BANGFU_LOCALCHAIN_FILE=str(self.toml),
            BANGFU_DATABASE_URL=self.database_url,
            BANGFU_API_PORT=str(self.api_port),
            BANGFU_POLL_INTERVAL="0.1",
            BANGFU_CHECKPOINT_INTERVAL="3",
        )
        return env

    def start(self, timeout: float = 180) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [BANGFU, "run"],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )
        wait_until(self.all_running, timeout, "bangfu run to start every worker", self.log)

    def status(self) -> dict[str, dict[str, Any]]:
        st = read_status(self.var)
        return {w["name"]: w for w in st["workers"]} if st else {}

    def all_running(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"bangfu run exited {self.proc.returncode}\n" + self.log.read_text()[-4000:]
            )
        st = self.status()
        return all(st.get(n, {}).get("state") == "running" for n in WORKERS) and self.api_answers()

    def saved_block(self) -> int:
        try:
            return read_state(self.chain.state_file).block
        except StateFileError:
            return -1

    def api_answers(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def pid(self, worker: str) -> int:
        pid = self.chain.node_pid() if worker == "anvil" else self.status()[worker]["pid"]
        assert pid, f"{worker} has no pid"
        return int(pid)

    def kill_group(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.chain.down()


@dataclass
class Ledger:
    """The deployed contract, the counties that sign the load, and the database."""

    group: RunGroup
    w3: Web3 = field(init=False)
    deployment: Deployment = field(init=False)
    contract: LedgerContract = field(init=False)
    counties: list[tuple[LocalAccount, int]] = field(init=False)

    def __post_init__(self) -> None:
        s = self.group.settings
        self.w3 = Web3(Web3.HTTPProvider(self.group.chain.cfg.rpc_url))
        self.deployment = Deployment.load(s)
        self.contract = LedgerContract(self.w3, self.deployment)
        accts = dev_accounts(load_localchain(s))
        admin = accts[0]
        self.counties = [(accts[1], COUNTY_A), (accts[2], COUNTY_B)]
        for acct, code in self.counties:
            if self.contract.county_of(acct.address) != code:
                self.contract.register_county(admin, acct.address, code, f"县 {code}")
        self.db = Database(self.group.database_url)
        # The roles must be in a saved state before anything is killed: a rollback that
        # forgets them is not healed by the outbox (they are admin transactions, not records).
        head = int(self.w3.eth.block_number)
        wait_until(lambda: self.group.saved_block() >= head, 60, "the roles saved")

    def sign(self, n: int) -> list[SignedRecord]:
        out = []
        for i in range(n):
            acct, code = self.counties[i % len(self.counties)]
            out.append(need(acct, code).sign(acct.key, self.deployment.domain))
        return out

    def leaves(self) -> list[str]:
        """Record ids of every RecordAppended event (one per leaf), in log order."""
        event = self.contract.contract.events.RecordAppended()
        logs = self.w3.eth.get_logs(
            {
                "address": Web3.to_checksum_address(self.deployment.address),
                "fromBlock": self.deployment.block,
                "toBlock": "latest",
                "topics": [event.topic],
            }
        )
        return ["0x" + bytes(event.process_log(x)["args"]["recordId"]).hex() for x in logs]

    def settled(self, ids: set[str]) -> bool:
        """Every id confirmed in the outbox and indexed, and the index as long as the log."""
        try:
            with self.db.read() as s:
                statuses = set(
                    s.scalars(select(OutboxRecord.status).where(OutboxRecord.record_id.in_(ids)))
                )
                cp = s.get(IndexerCheckpoint, "main")
                indexed = set(s.scalars(select(LogEntry.record_id)))
            if statuses != {"confirmed"} or cp is None or not ids <= indexed:
                return False
            return bool(cp.log_size == self.contract.log_size() == len(indexed))
        except Exception:  # noqa: BLE001 - the chain or database may be restarting
            return False

    def chain_answers(self) -> bool:
        try:
            return self.w3.eth.block_number >= 0
        except Exception:  # noqa: BLE001
            return False

    def confirmed(self) -> dict[str, int]:
        """Confirmed outbox records and the leaf each was confirmed at."""
        with self.db.read() as s:
            q = select(OutboxRecord.record_id, OutboxRecord.leaf_index).where(
                OutboxRecord.status == "confirmed"
            )
            return {rid: int(leaf) for rid, leaf in s.execute(q).tuples() if leaf is not None}

    def diagnose(self) -> str:
        """Outbox rows by status and error, for a failure message."""
        with self.db.read() as s:
            rows = s.execute(
                select(OutboxRecord.status, OutboxRecord.error_code, OutboxRecord.error)
            ).all()
        counts: dict[tuple[str, str | None, str | None], int] = {}
        for status, code, error in rows:
            key = (status, code, (error or "")[:200] or None)
            counts[key] = counts.get(key, 0) + 1
        out = "; ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str))
        with self.db.read() as s:
            raised = [f"{a.code}: {a.message[:300]}" for a in alarms.active(s)]
            cp = s.get(IndexerCheckpoint, "main")
            indexed = set(s.scalars(select(LogEntry.record_id)))
            confirmed = set(
                s.scalars(select(OutboxRecord.record_id).where(OutboxRecord.status == "confirmed"))
            )
        try:
            chain: object = self.contract.log_size()
            absent = sum(
                1 for i in confirmed if not self.contract.record_kind(bytes.fromhex(i[2:]))
            )
        except Exception as exc:  # noqa: BLE001
            chain, absent = f"unreadable ({exc})", -1
        return (
            f"{out}; index: last block {cp.last_block if cp else None}, size "
            f"{cp.log_size if cp else None}; chain log size {chain}; indexed rows {len(indexed)}; "
            f"confirmed but not indexed {len(confirmed - indexed)}; confirmed but not on chain "
            f"{absent}; active alarms: {raised or 'none'}"
        )

    def check(self, acked: set[str], tmp: Path, fresh_url: Iterator[str]) -> tuple[int, int]:
        """(lost, duplicated) among the acknowledged ids, counted by leaves; asserts the read
        model equals a rebuild from the chain alone."""
        leaves = retrying(self.leaves)
        counts: dict[str, int] = {}
        for rid in leaves:
            counts[rid] = counts.get(rid, 0) + 1
        lost = sum(1 for i in acked if counts.get(i, 0) == 0)
        dup = sum(1 for i in acked if counts.get(i, 0) > 1)
        assert len(leaves) == len(set(leaves)), "a leaf appears twice in the log"
        url = next(fresh_url)
        rebuilt, _ = rebuild(self.contract, url)
        try:
            a, b = digest(self.db), digest(rebuilt)
            assert a.tables[LogEntry.__tablename__] == b.tables[LogEntry.__tablename__]
            assert a == b, a.differences(b)
        finally:
            rebuilt.dispose()
        return lost, dup


@dataclass
class Load:
    """Signed records submitted to the API in chunks from a thread; `acked` holds the ids the
    API answered 202 for, `pending` the records not (yet) acknowledged."""

    base: str
    records: list[SignedRecord]
    chunk: int = 20
    acked: set[str] = field(default_factory=set)
    pending: list[SignedRecord] = field(default_factory=list)
    errors: int = 0

    def __post_init__(self) -> None:
        self.pending = list(self.records)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _post(self, part: list[SignedRecord]) -> bool:
        try:
            r = requests.post(
                f"{self.base}/api/v1/records",
                json={"records": [s.to_json() for s in part]},
                timeout=30,
            )
        except requests.RequestException:
            self.errors += 1
            return False
        if r.status_code != 202:
            self.errors += 1
            return False
        for a in r.json()["accepted"]:
            self.acked.add(a["record_id"].lower())
        return True

    def submit_once(self, pace: float = 0.0) -> None:
        """One pass over what is pending; whatever fails stays pending."""
        left: list[SignedRecord] = []
        for i in range(0, len(self.pending), self.chunk):
            if self._stop.is_set():
                left += self.pending[i:]
                break
            part = self.pending[i : i + self.chunk]
            if not self._post(part):
                left += part
            if pace:
                time.sleep(pace)
        self.pending = left

    def start(self, pace: float = 0.05) -> None:
        self._thread = threading.Thread(target=self.submit_once, args=(pace,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(120)

    def finish(self, timeout: float = 180) -> None:
        """Resubmits what was not acknowledged until everything is."""
        self.join()
        deadline = time.monotonic() + timeout
        while self.pending:
            assert time.monotonic() < deadline, f"{len(self.pending)} records never accepted"
            self.submit_once()
            if self.pending:
                time.sleep(0.5)

    @property
    def ids(self) -> set[str]:
        return {"0x" + s.id.hex() for s in self.records}


def retrying(fn: Callable[[], list[str]], timeout: float = 120) -> list[str]:
    """fn(), tried again while the chain restarts (a dying anvil may still answer once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def wait_for_state_write(group: RunGroup, timeout: float = 60) -> int:
    """Blocks until the keeper is in the middle of writing a state copy (the temporary file
    exists and is not empty); returns its size then."""
    tmp = group.chain.files.tmp
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            size = tmp.stat().st_size
            if size > 0:
                return size
        time.sleep(0.002)
    raise AssertionError("the keeper never wrote a state copy")


@dataclass
class Outcome:
    scenario: str
    records: int
    kills: int
    lost: int
    duplicated: int
    heal_seconds: float
    note: str = ""


def run_scenario(
    group: RunGroup,
    ledger: Ledger,
    scenario: str,
    acked_before: set[str],
    fresh_url: Iterator[str],
    *,
    records: int = 150,
) -> tuple[Outcome, set[str]]:
    """Submits `records` under load, kills at the scenario's moment, recovers, drains and
    checks every acknowledged record so far. Returns the outcome and all acked ids."""
    rolled_before = rollbacks(group)
    load = Load(group.base, ledger.sign(records), chunk=10)
    load.start(pace=0.25)  # a steady load for ~4 s, so the kills land while records flow
    wait_until(lambda: len(load.acked) >= records // 4, 120, "a quarter of the load acked")
    note = ""
    confirmed_before: dict[str, int] = {}
    old_node = group.chain.node_pid()
    if scenario in ("api", "relayer", "indexer", "checkpointer"):
        os.kill(group.pid(scenario), signal.SIGKILL)
    elif scenario == "anvil":
        # halfway between two saves: the blocks mined since the last save are lost. Wait for
        # a save to finish, then half an interval, and kill only if no save began meanwhile
        # (a loaded machine can make a save late, and a kill during it loses nothing).
        for _ in range(10):
            before = group.chain.state_file.stat().st_mtime
            wait_until(
                lambda before=before: group.chain.state_file.stat().st_mtime != before,
                4 * group.state_interval + 30,
                "a state save",
                group.log,
            )
            saved = group.chain.state_file.stat().st_mtime
            time.sleep(group.state_interval / 2)
            if (
                group.chain.state_file.stat().st_mtime == saved
                and not group.chain.files.tmp.exists()
            ):
                break
        confirmed_before = ledger.confirmed()
        os.kill(group.pid("anvil"), signal.SIGKILL)
        note = "killed between two saves"
    elif scenario == "anvil-during-write":
        size = wait_for_state_write(group)
        os.kill(group.pid("anvil"), signal.SIGKILL)
        note = f"anvil killed with {size} bytes of the copy written (the keeper finishes it)"
    elif scenario == "chain-during-write":
        size = wait_for_state_write(group)
        keeper = group.chain.pid()
        assert keeper is not None
        confirmed_before = ledger.confirmed()
        os.killpg(keeper, signal.SIGKILL)  # keeper and anvil (it dies with its keeper)
        note = f"keeper and anvil killed with {size} bytes of the copy written"
    elif scenario == "anvil-during-exit-dump":
        # anvil's own write: SIGTERM makes it dump its state on exit; kill -9 while it does
        node = group.pid("anvil")
        exit_dump = group.chain.files.exit_dump
        confirmed_before = ledger.confirmed()
        os.kill(node, signal.SIGTERM)
        deadline = time.monotonic() + 30
        size = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                size = exit_dump.stat().st_size
            if size > 0:
                break
            time.sleep(0.001)
        with contextlib.suppress(ProcessLookupError):
            os.kill(node, signal.SIGKILL)
        note = f"anvil killed with {size} bytes of its exit dump written"
    elif scenario == "run-group":
        group.kill_group()
    else:
        raise ValueError(scenario)
    killed_at = time.monotonic()
    if scenario in ("anvil", "anvil-during-exit-dump", "chain-during-write"):
        # which records the relayer had confirmed are gone from the restarted chain
        wait_until(
            lambda: group.chain.node_pid() not in (None, old_node) and ledger.chain_answers(),
            120,
            "anvil restarted",
            group.log,
        )
        log_size = int(retrying(lambda: [str(ledger.contract.log_size())])[0])
        gone = [rid for rid, leaf in confirmed_before.items() if leaf >= log_size]
        note += f"; {len(gone)} confirmed records were beyond the restarted log and re-sent"
    if scenario == "run-group":
        load.join()
        group.start()
    load.finish()
    acked = acked_before | load.acked
    assert load.ids <= acked, "a record was never acknowledged"
    try:
        wait_until(lambda: ledger.settled(acked), 300, f"{len(acked)} acked records settled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; outbox: {ledger.diagnose()}") from None
    heal = time.monotonic() - killed_at
    wait_until(group.all_running, 120, "every worker running again", group.log)
    lost, dup = ledger.check(acked, group.tmp, fresh_url)
    rolled = rollbacks(group)[len(rolled_before) :]
    if rolled:
        note = "; ".join([note, *rolled]) if note else "; ".join(rolled)
    return Outcome(scenario, records, 1, lost, dup, round(heal, 1), note), acked


def rollbacks(group: RunGroup) -> list[str]:
    """The keeper's one-line recovery messages so far ("blocks a–b were lost")."""
    try:
        text = group.chain.log_file.read_text(errors="replace")
    except OSError:
        return []
    pattern = r"本地链已恢复 / chain recovered: .*?(resumes at block \d+; [^(]+?) \("
    return ["anvil " + m.group(1) for m in re.finditer(pattern, text)]


SCENARIOS = (
    "api",
    "relayer",
    "indexer",
    "checkpointer",
    "run-group",
    "anvil",
    "anvil-during-write",
    "anvil-during-exit-dump",
    "chain-during-write",
)
