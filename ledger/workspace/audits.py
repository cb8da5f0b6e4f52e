"""Audits run from the auditor's workspace: the run `bangfu audit --database … --evidence …`
makes (the deployment's RPC and contract, the read model's database, the evidence folder),
started by an AUDITOR's signed EIP-712 `AuditRun{nonce, expiry}` and run in a background
thread, one at a time. Each run is a row of `audit_runs` (migration 0009_audit_runs): its
progress while it runs, then its summary and the whole `bangfu-audit/1` report as JSON.

Why a table and not files under var/: the API may run in several processes; all of them
read the same database, so every one answers the same latest run, and "one at a time" holds
across them (a running row whose heartbeat is fresh is the run in progress). A run that could
not finish (the node down, a bad database URL) is stored as a failed run with its error code,
never raised at the caller.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.audit.report import AuditReport
from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import LedgerError, NotFoundError, PermissionError_
from ledger.library import auth, messages
from ledger.library.auth import Verified
from ledger.library.messages import MessageType
from ledger.relayer.lookups import current_roles
from ledger.store.db import Database
from ledger.workspace.audit_findings import finding_view
from ledger.workspace.models import AuditRunRow

AUDIT_RUN = MessageType("AuditRun", (("nonce", "string"), ("expiry", "uint64")))

#: The roles that may start an audit.
RUNNERS = ("AUDITOR",)
RUNNING, DONE, FAILED = "running", "done", "failed"
#: A running row whose heartbeat is older than this belongs to a process that died (s).
STALE_AFTER = 60.0
#: How often the running audit's progress is written to its row (its heartbeat, s).
HEARTBEAT = 2.0


# ------------------------------------------------------------------ who may run it


def typed_data(message: Mapping[str, Any], domain: Domain) -> dict[str, Any]:
    return messages.typed_data(AUDIT_RUN, message, domain)


def new_message(lifetime: int = messages.DEFAULT_LIFETIME) -> dict[str, Any]:
    return {"nonce": messages.new_nonce(), "expiry": auth.expiry(lifetime)}


def verify_run(session: Session, message: Any, signature: str | None, domain: Domain) -> Verified:
    """Signature, expiry, unused nonce (401), then an AUDITOR signer (403); read only."""
    if isinstance(message, dict) and "nonce" in message:
        messages.check_nonce(message["nonce"])
    verified = auth.verify(session, AUDIT_RUN, message, signature, domain)
    if not set(RUNNERS) & set(current_roles(session, verified.signer)):
        raise PermissionError_(
            f"{verified.signer} 不是审计方，不能运行审计 / {verified.signer} is not a "
            "registered auditor; only auditors run an audit from the workspace",
            code=codes.NOT_AUDITOR,
        )
    return verified


# ------------------------------------------------------------------ the runs


@dataclass(frozen=True)
class Target:
    """What the audit reads: the deployment's node and contract, the read model, evidence."""

    rpc_url: str
    contract: str
    database_url: str
    evidence_dir: Path | None
    receipt_days: int = 30

    def options(self) -> AuditOptions:
        # One signature worker: a process pool forked from a threaded server is not safe,
        # and a ledger too big for one core is audited with `bangfu audit --workers`.
        return AuditOptions(
            rpc_url=self.rpc_url,
            contract=self.contract,
            database_url=self.database_url,
            evidence_dir=self.evidence_dir,
            receipt_days=self.receipt_days,
            workers=1,
        )

    def redact(self, text: str) -> str:
        """An error's text without the node's or database's URL (either may hold a secret)
        or the server's evidence folder."""
        folder = str(self.evidence_dir) if self.evidence_dir else ""
        for secret, name in (
            (self.database_url, "<database>"),
            (self.rpc_url, "<rpc>"),
            (folder, "<evidence>"),
        ):
            if secret:
                text = text.replace(secret, name)
        return text


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns: they are UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _summary(row: AuditRunRow) -> dict[str, Any]:
    try:
        data = json.loads(row.summary_json or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _stale(row: AuditRunRow, now: datetime) -> bool:
    beat = _summary(row).get("heartbeat")
    if not isinstance(beat, int | float):
        started = _aware(row.started_at)
        beat = started.timestamp() if started else 0.0
    return now.timestamp() - float(beat) > STALE_AFTER


def _interrupted() -> dict[str, Any]:
    return {
        "code": codes.AUDIT_INTERRUPTED,
        "message": "审计进程中断，未能完成 / the process running this audit stopped before it "
        "finished; run it again",
    }


def summarize(report: AuditReport) -> dict[str, Any]:
    """What the run's row keeps beside the report: verdict, counts, blocks, checks."""
    return {
        "passed": not report.integrity,
        "integrity": len(report.integrity),
        "anomaly": len(report.anomalies),
        "by_code": report.counts(),
        "blocks": {"from": report.from_block, "to": report.to_block},
        "chain_id": report.chain_id,
        "contract": report.contract,
        "records": report.stats.get("records", 0),
    }


class AuditRunner:
    """Starts audits one at a time, each in a background thread, and keeps its progress."""

    def __init__(self, db: Database, target: Callable[[], Target]) -> None:
        self.db = db
        self.target = target
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._current: int | None = None
        self._progress: dict[str, Any] = {}

    def running(self) -> int | None:
        """The id of the run this process has in progress, if any."""
        t = self._thread
        return self._current if t is not None and t.is_alive() else None

    def start(self, verified: Verified) -> tuple[int, bool]:
        """(run id, started): a new run, or the one in progress (its id, False). The signed
        request's nonce is spent either way, so a signed AuditRun is answered once."""
        with self._lock:
            mine = self.running()
            with self.db.write() as s:
                auth.consume(s, verified, "audit_run")
                now = _now()
                for row in s.scalars(select(AuditRunRow).where(AuditRunRow.status == RUNNING)):
                    if row.id == mine:
                        continue
                    if _stale(row, now):
                        self._finish_row(row, FAILED, error=_interrupted())
                    else:
                        return row.id, False  # another process's run, alive
                if mine is not None:
                    return mine, False
                row = AuditRunRow(
                    requested_by=verified.signer,
                    started_at=now,
                    status=RUNNING,
                    summary_json=json.dumps({"heartbeat": now.timestamp(), "progress": None}),
                )
                s.add(row)
                s.flush()
                run_id = row.id
            self._current = run_id
            self._progress = {}
            done = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(run_id, done), name=f"audit-{run_id}", daemon=True
            )
            beat = threading.Thread(
                target=self._heartbeat, args=(run_id, done), name=f"audit-{run_id}-b", daemon=True
            )
            self._thread.start()
            beat.start()
            return run_id, True

    def wait(self, timeout: float | None = None) -> None:
        """Waits for the run in progress to end (tests, shutdown)."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    def progress(self, run_id: int) -> dict[str, Any] | None:
        return dict(self._progress) if run_id == self.running() and self._progress else None

    # -- inside the threads

    def _tick(self, phase: str, done: int, total: int | None) -> None:
        self._progress = {"phase": phase, "done": done, "total": total}

    def _heartbeat(self, run_id: int, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT):
            try:
                with self.db.write() as s:
                    row = s.get(AuditRunRow, run_id)
                    if row is None or row.status != RUNNING:
                        return
                    row.summary_json = json.dumps(
                        {"heartbeat": time.time(), "progress": self._progress or None}
                    )
            except Exception:  # noqa: BLE001 - a missed beat only delays the next one
                continue

    def _run(self, run_id: int, done: threading.Event) -> None:
        try:
            target: Target | None = None
            try:
                target = self.target()
                report = run_audit(target.options(), self._tick)
            except LedgerError as exc:
                message = target.redact(exc.message) if target else exc.message
                self._store(run_id, FAILED, error={"code": exc.code, "message": message})
                return
            except Exception as exc:  # noqa: BLE001 - a run that breaks is a failed run
                text = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
                self._store(
                    run_id,
                    FAILED,
                    error={
                        "code": codes.AUDIT_FAILED,
                        "message": "审计未能完成 / the audit could not finish: "
                        + (target.redact(text) if target else text),
                    },
                )
                return
            self._store(run_id, DONE, report=report)
        finally:
            done.set()

    def _store(
        self,
        run_id: int,
        status: str,
        *,
        report: AuditReport | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        for attempt in range(5):
            try:
                with self.db.write() as s:
                    row = s.get(AuditRunRow, run_id)
                    if row is not None:
                        self._finish_row(row, status, report=report, error=error)
                return
            except Exception:  # the database busy: try again shortly
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))

    @staticmethod
    def _finish_row(
        row: AuditRunRow,
        status: str,
        *,
        report: AuditReport | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        row.status = status
        row.finished_at = _now()
        if report is not None:
            summary = summarize(report)
            row.passed = bool(summary["passed"])
            row.summary_json = json.dumps(summary, ensure_ascii=False)
            row.report_json = json.dumps(report.to_json(), ensure_ascii=False, default=repr)
        else:
            row.passed = None
            row.summary_json = json.dumps({"error": error}, ensure_ascii=False)


# ------------------------------------------------------------------ reading a run


def get_run(session: Session, run_id: int | None, runner: AuditRunner | None) -> dict[str, Any]:
    """One run as the API shows it (`run_id` None: the latest), else 404 `audit_not_found`."""
    if run_id is None:
        row = session.scalar(select(AuditRunRow).order_by(AuditRunRow.id.desc()).limit(1))
    else:
        row = session.get(AuditRunRow, run_id)
    if row is None:
        raise NotFoundError(
            "没有此审计 / no such audit run"
            if run_id is not None
            else "尚未运行审计 / no audit has been run yet",
            code=codes.AUDIT_NOT_FOUND,
        )
    return view(row, runner)


def view(row: AuditRunRow, runner: AuditRunner | None = None) -> dict[str, Any]:
    summary = _summary(row)
    status = row.status
    error = summary.get("error")
    progress = None
    if status == RUNNING:
        mine = runner is not None and runner.running() == row.id
        progress = (runner.progress(row.id) if mine and runner else None) or summary.get("progress")
        if not mine and _stale(row, _now()):
            status, error, progress = FAILED, _interrupted(), None
    out: dict[str, Any] = {
        "id": row.id,
        "requested_by": row.requested_by,
        "status": status,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "progress": progress,
        "passed": row.passed if status == DONE else None,
        "error": error if status == FAILED else None,
        "counts": None,
        "blocks": None,
        "checks": None,
        "findings": [],
        "findings_listed": 0,
        "url": f"/api/v1/audits/{row.id}",
    }
    if status == DONE and row.report_json:
        report = json.loads(row.report_json)
        findings = [finding_view(f) for f in report.get("findings", [])]
        integrity = int(report.get("integrity_findings", 0))
        anomaly = int(report.get("anomalies", 0))
        out.update(
            counts={"integrity": integrity, "anomaly": anomaly, "by_code": report.get("counts")},
            blocks=report.get("blocks"),
            checks=report.get("checks"),
            chain=report.get("chain"),
            findings=findings,
            findings_listed=len(findings),
        )
    return out
