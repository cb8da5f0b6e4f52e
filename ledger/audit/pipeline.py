"""Independent audit: re-derive the ledger from chain events alone and name every difference.

The audit trusts nothing of ours but the encodings in `ledger.core.records` and
`ledger.core.merkle`: it talks JSON-RPC itself (`ledger.audit.rpc`), recompiles the contract
from the given sources (`bytecode`), checks every signature, role, id, root and total
(`signatures`, `replay`, `contract_state`), and diffs the SQL read model with plain SELECTs
on table names (`database`, `checkpoints`, `outbox`, `library`). Findings are integrity
findings (the ledger or its cache is wrong) or anomalies (the ledger is consistent but
something looks off, e.g. a delivery nobody signed for); `AuditReport.exit_code` says how
each counts. This module is the run itself: which checks, in which order.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ledger.audit.anomalies import find_anomalies
from ledger.audit.bytecode import check_bytecode
from ledger.audit.checkpoints import check_checkpoints
from ledger.audit.codes import CHECK_FAILED, INTEGRITY
from ledger.audit.contract_state import check_roots, check_totals
from ledger.audit.database import diff_database
from ledger.audit.events import Boundary, decode_event, fetch_events, prefetched
from ledger.audit.evidence import check_evidence
from ledger.audit.library import check_library, check_matches
from ledger.audit.outbox import check_outbox
from ledger.audit.programs import check_samples
from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, Progress
from ledger.audit.rpc import Rpc
from ledger.audit.signatures import Event, Parsed, VerifyPool
from ledger.core.errors import ChainError, LedgerError
from ledger.core.lines import DeliveryLine
from ledger.core.records import Kind

__all__ = ["AuditOptions", "Auditor", "run_audit"]

_DAY = 86_400


@dataclass
class AuditOptions:
    """What to audit and where to find it (the `bangfu audit` options)."""

    rpc_url: str
    contract: str
    from_block: int | None = None
    to_block: int | None = None
    sources: Path | None = None
    database_url: str | None = None
    evidence_dir: Path | None = None
    receipt_days: int = 30
    block_range: int = 5_000
    workers: int = 0  # 0: one per core
    compare_totals: bool = True
    historical_roots: bool = True


class Auditor:
    """One audit run; `run()` returns the report."""

    def __init__(self, opts: AuditOptions, progress: Progress | None = None) -> None:
        self.opts = opts
        self.progress = progress
        try:
            self.contract = to_checksum_address(opts.contract)
        except ValueError:
            raise LedgerError(
                f"--contract {opts.contract!r} is not an address (0x and 40 hex digits)",
                code="bad_address",
            ) from None
        self.rpc = Rpc(opts.rpc_url)
        self.report = AuditReport(contract=self.contract)
        self.engine: Engine | None = None
        self.block_times: dict[int, int] = {}

    def _tick(self, phase: str, done: int, total: int | None) -> None:
        if self.progress:
            self.progress(phase, done, total)

    def _timed(self, name: str, t0: float) -> None:
        self.report.timings[name] = time.perf_counter() - t0

    def run(self) -> AuditReport:
        try:
            with collector_paused():
                return self._run()
        finally:
            self.rpc.close()
            if self.engine is not None:
                self.engine.dispose()

    def _run(self) -> AuditReport:
        opts, report = self.opts, self.report
        t_all = time.perf_counter()
        if opts.evidence_dir is not None and not opts.evidence_dir.is_dir():
            raise LedgerError(
                f"{opts.evidence_dir} is not a folder of evidence files", code="bad_evidence"
            )
        report.chain_id = int(self.rpc.call("eth_chainId"), 16)
        head = int(self.rpc.call("eth_blockNumber"), 16)
        to_block = head if opts.to_block is None else min(head, opts.to_block)
        report.to_block = to_block
        code_check = None
        if opts.sources is not None:
            self._tick("bytecode", 0, 1)
            if not (opts.sources / "AidLedger.sol").is_file():
                check_bytecode(self.rpc, self.contract, opts.sources, report)  # refuses now
            code_check = _CodeCheck(opts.rpc_url, self.contract, opts.sources, report)
        try:
            start = opts.from_block
            if start is None:
                start = self._deployment_block(head)
            report.from_block = start

            t0 = time.perf_counter()
            replay = self._replay(start, to_block)
            self._timed("replay", t0)
            # the compile goes on beside the checks that follow: the code check is waited
            # for last, so a slow solc costs max(compile, audit), not their sum
            self._checks_after_replay(replay, to_block)
        except BaseException:
            if code_check is not None:
                code_check.join(reraise=False)  # the audit's own error is the one to tell
            raise
        if code_check is not None:
            code_check.join()
        self._timed("total", t_all)
        return report

    def _checks_after_replay(self, replay: Replay, to_block: int) -> None:
        opts, report = self.opts, self.report
        t0 = time.perf_counter()
        check_roots(
            self.rpc, self.contract, replay, report, to_block, historical=opts.historical_roots
        )
        self._timed("roots", t0)
        check_samples(replay, report, self._block_hashes)
        if opts.compare_totals:
            t0 = time.perf_counter()
            check_totals(self.rpc, self.contract, replay, report, to_block, self._tick)
            self._timed("totals", t0)
        self._load_block_times(replay)
        batch_lines: dict[str, list[DeliveryLine]] | None = None
        if opts.database_url:
            t0 = time.perf_counter()
            engine = self.engine = _engine(opts.database_url)
            batch_lines = self._guarded(
                "database", diff_database, engine, replay, report, to_block, self._tick
            )
            self._guarded("checkpoints", check_checkpoints, engine, replay, report)
            self._guarded("outbox", check_outbox, engine, replay, report, to_block)
            self._guarded("match_rule", check_matches, engine, replay, report)
            self._guarded("library", check_library, engine, replay, report)
            self._timed("database", t0)
        else:
            report.checks["database"] = "skipped (no --database)"
        if opts.evidence_dir:
            t0 = time.perf_counter()
            self._guarded("evidence", check_evidence, replay, opts.evidence_dir, report, self._tick)
            self._timed("evidence", t0)
        else:
            report.checks["evidence"] = "skipped (no --evidence)"
        t0 = time.perf_counter()
        now = self.block_times.get(to_block) or self._block_time(to_block)
        window = opts.receipt_days * _DAY
        self._guarded("anomalies", find_anomalies, replay, report, now, window, batch_lines)
        self._timed("anomalies", t0)

    def _replay(self, start: int, to_block: int) -> Replay:
        """Fetches the events of [start, to_block] and replays them in chain order, records
        checked on the signature pool meanwhile."""
        report = self.report
        replay = Replay(report, report.chain_id, self.contract)

        def apply(events: list[Event], parsed: list[Parsed]) -> None:
            replay.apply(events, parsed)
            self._tick("records", replay.tree.size, None)

        pool = VerifyPool(self.opts.workers, apply)
        try:
            fetched = fetch_events(
                self.rpc, self.contract, start, to_block, self.opts.block_range, self.progress
            )
            for last, logs, range_end in prefetched(fetched):
                add = pool.add
                for entry in logs:
                    event = decode_event(entry)
                    if event is not None:
                        add(event)
                if range_end:
                    # the log size at `last` is known once every event up to it is applied
                    add(Boundary(last))
        finally:
            pool.finish()
        report.checks["signatures"] = "checked"
        report.checks["roles_and_rules"] = "checked"
        report.stats.update(
            records=replay.tree.size,
            role_events=len(replay.roles),
            registrations=replay.registrations(),
            commitments=len(replay.commitments),
            by_kind={k.slug: 0 for k in Kind},
        )
        for leaf in replay.leaves:
            report.stats["by_kind"][leaf.record.kind.slug] += 1
        return replay

    def _deployment_block(self, head: int) -> int:
        """The first block with code at the contract (binary search over historical state)."""
        try:
            lo, hi = 0, head
            while lo < hi:
                mid = (lo + hi) // 2
                if self.rpc.call("eth_getCode", self.contract, hex(mid)) not in ("0x", ""):
                    hi = mid
                else:
                    lo = mid + 1
            return lo
        except ChainError:
            return 0  # no historical state: scan from genesis

    def _load_block_times(self, replay: Replay) -> None:
        numbers = sorted({leaf.block_number for leaf in replay.leaves} - set(self.block_times))
        for i in range(0, len(numbers), 500):
            part = numbers[i : i + 500]
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for n, b in zip(part, blocks, strict=True):
                self.block_times[n] = int(b["timestamp"], 16)
        for leaf in replay.leaves:
            leaf.block_time = self.block_times[leaf.block_number]

    def _block_hashes(self, numbers: Sequence[int]) -> dict[int, bytes]:
        """Block hashes by number, for the blocks the chain has (follow-up seeds)."""
        out: dict[int, bytes] = {}
        for i in range(0, len(numbers), 500):
            part = list(numbers[i : i + 500])
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for n, b in zip(part, blocks, strict=True):
                if b:
                    out[n] = bytes.fromhex(b["hash"][2:])
        return out

    def _block_time(self, n: int) -> int:
        b = self.rpc.call("eth_getBlockByNumber", hex(n), False)
        self.block_times[n] = int(b["timestamp"], 16)
        return self.block_times[n]

    def _guarded(self, name: str, check: Callable[..., Any], *args: Any) -> Any:
        """Runs one check over off-chain data; an error it did not foresee (a database that
        is not the read model's shape, a driver error) becomes a `check_failed` finding
        naming the check and the error, and the other checks still run."""
        try:
            return check(*args)
        except (ChainError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - a report is always written
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            self.report.add(
                CHECK_FAILED,
                INTEGRITY,
                f"the {name} check could not finish: {type(exc).__name__}: {message}",
                check=name,
                error=type(exc).__name__,
            )
            self.report.checks[name] = f"failed ({type(exc).__name__})"
            return None


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while audits run (reference counting still
    frees everything at once). The replay keeps several objects per record, none in a
    cycle, and each full collection walked all of them again: a third of the main
    process's time at 100k records. Counted, so audits in parallel threads (the
    workspace's) turn it back on only when the last one ends, and only if it was on."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


class _CodeCheck:
    """`check_bytecode` on its own thread while the replay runs: the fresh solc compile is
    a child process, seconds of a core that the replay does not wait for. Its findings,
    checks and stats join the report first, where they stood when it ran before the replay."""

    def __init__(self, rpc_url: str, contract: str, sources: Path, report: AuditReport) -> None:
        self.report = report
        self.own = AuditReport(contract=contract)
        self.error: BaseException | None = None
        self.seconds = 0.0
        report.checks["bytecode"] = "running"  # keeps its place among the checks
        self.thread = threading.Thread(
            target=self._run, args=(rpc_url, contract, sources), name="audit-bytecode"
        )
        self.thread.start()

    def _run(self, rpc_url: str, contract: str, sources: Path) -> None:
        t0 = time.perf_counter()
        rpc = Rpc(rpc_url)
        try:
            check_bytecode(rpc, contract, sources, self.own)
        except BaseException as exc:  # noqa: BLE001 - raised again on the audit's thread
            self.error = exc
        finally:
            rpc.close()
            self.seconds = time.perf_counter() - t0

    def join(self, *, reraise: bool = True) -> None:
        """Waits for the check, merges what it found, and raises what it raised."""
        self.thread.join()
        report = self.report
        report.findings[0:0] = self.own.findings
        report.checks.update(self.own.checks)
        if report.checks.get("bytecode") == "running":
            del report.checks["bytecode"]
        report.stats.update(self.own.stats)
        report.timings["bytecode"] = self.seconds
        if self.error is not None and reraise:
            raise self.error


def _normalize_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _engine(url: str) -> Engine:
    """The read model's engine; a URL SQLAlchemy cannot use is one clear error."""
    try:
        return create_engine(_normalize_url(url))
    except Exception as exc:  # noqa: BLE001 - ArgumentError, NoSuchModuleError, ValueError
        raise LedgerError(
            f"--database {url!r} is not a database URL SQLAlchemy can open ({exc}); use e.g. "
            "sqlite:///var/ledger.sqlite3 or postgresql://user@host:5432/db",
            code="bad_database_url",
        ) from None


def run_audit(opts: AuditOptions, progress: Progress | None = None) -> AuditReport:
    """Runs every check `opts` asks for and returns the report (never raises on a finding)."""
    return Auditor(opts, progress).run()
