"""Health and readiness: is the chain reachable, how far behind is the indexer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from api.deps import ServiceDep
from ledger import queries
from ledger.errors import LedgerError
from ledger.store.models import IndexerCheckpoint, OutboxRecord

router = APIRouter(tags=["health 运行状态"])


@router.get("/healthz", summary="存活 Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="就绪 Readiness: chain, indexer lag, outbox",
    responses={
        200: {"description": "ready: the chain answers, the indexer is within 10 blocks"},
        503: {
            "description": "not ready: the same document, with what is missing",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
def readyz(service: ServiceDep) -> JSONResponse:
    """200 when the chain answers and the indexer is within 10 blocks; 503 otherwise."""
    body: dict[str, Any] = {}
    ready = True
    try:
        w3 = service.w3()
        head = int(w3.eth.block_number)
        body["chain"] = {"reachable": True, "chain_id": int(w3.eth.chain_id), "head": head}
    except LedgerError as exc:
        body["chain"] = {"reachable": False, "code": exc.code, "detail": exc.message}
        head, ready = -1, False
    with service.db.session() as session:
        cp = session.get(IndexerCheckpoint, "main")
        rows = session.execute(
            select(OutboxRecord.status, func.count()).group_by(OutboxRecord.status)
        ).all()
        body["outbox"] = {str(k): int(v) for k, v in rows}
        body.update(queries.overview(session))
    if cp is None:
        body["indexer"] = {"last_block": None, "lag": None}
        ready = False
    else:
        lag = max(0, head - cp.last_block) if head >= 0 else None
        body["indexer"] = {
            "last_block": cp.last_block,
            "lag": lag,
            "log_size": cp.log_size,
            "log_root": cp.log_root,
        }
        ready = ready and lag is not None and lag <= 10
    body["status"] = "ready" if ready else "not_ready"
    return JSONResponse(body, status_code=200 if ready else 503)
