"""Audits from the auditor's workspace: an AUDITOR's signed `AuditRun` starts the independent
audit (`bangfu audit` over this deployment's node, contract, database and evidence folder) in
the background, one at a time; anyone may read a run's status, progress and findings (record
ids and codes, no personal data), like the portal."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ReadSessionDep, ServiceDep
from ledger.app import LedgerService
from ledger.core import codes
from ledger.core.errors import NotFoundError
from ledger.evm.localchain import rpc_url
from ledger.workspace import audits

router = APIRouter(prefix="/api/v1/audits", tags=["audits 审计"])

_LOCK = threading.Lock()


class AuditRunBody(BaseModel):
    message: dict[str, Any] | None = Field(
        default=None, description="the AuditRun message {nonce, expiry}, as signed"
    )
    signature: str | None = Field(
        default=None, description="EIP-712 signature over the AuditRun message, 0x-hex"
    )


def _target(service: LedgerService) -> audits.Target:
    """The run `bangfu audit --rpc … --contract … --database … --evidence …` makes here."""
    settings = service.settings
    evidence = settings.evidence_path
    return audits.Target(
        rpc_url=rpc_url(settings),
        contract=service.deployment.address,
        database_url=service.db.url,
        # no folder yet (nothing uploaded): the evidence check is skipped, as without --evidence
        evidence_dir=evidence if evidence.is_dir() else None,
    )


def runner_of(request: Request) -> audits.AuditRunner:
    """The app's one runner (so "one at a time" holds within this process)."""
    state = request.app.state
    with _LOCK:
        runner: audits.AuditRunner | None = getattr(state, "audit_runner", None)
        if runner is None:
            service: LedgerService = state.service
            runner = audits.AuditRunner(service.db, lambda: _target(service))
            state.audit_runner = runner
        return runner


@router.post("", status_code=202, summary="运行审计 / run an audit (signed AuditRun, auditors)")
def start(body: AuditRunBody, request: Request, service: ServiceDep) -> JSONResponse:
    with service.db.read() as session:
        verified = audits.verify_run(session, body.message, body.signature, service.domain)
    run_id, started = runner_of(request).start(verified)
    return JSONResponse(
        {"id": run_id, "started": started, "url": f"/api/v1/audits/{run_id}"},
        status_code=202,
        headers={"Location": f"/api/v1/audits/{run_id}"},
    )


@router.get("/latest", summary="最新审计 / the latest audit run")
def latest(request: Request, session: ReadSessionDep) -> dict[str, Any]:
    return audits.get_run(session, None, runner_of(request))


@router.get("/{run_id}", summary="审计结果 / one audit run: status, progress, findings")
def one(run_id: str, request: Request, session: ReadSessionDep) -> dict[str, Any]:
    if not run_id.isdigit() or len(run_id) > 18:
        raise NotFoundError("没有此审计 / no such audit run", code=codes.AUDIT_NOT_FOUND)
    return audits.get_run(session, int(run_id), runner_of(request))
