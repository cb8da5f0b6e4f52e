"""Health and readiness: is the chain reachable, how far behind is the indexer, does the read
model equal the chain, and is any divergence (a rewritten history, a diverged index) raised.

`/readyz` answers 503 `not_ready` with `reasons` (stable codes) when the chain cannot be
reached, the indexer lags more than `MAX_LAG` blocks, a row of the log table is missing,
the read model is short of (or differs from) the contract's log at the block it indexed,
the relayer calls confirmed what the index does not hold, or an alarm such as
`history_rewritten` is active.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from api.deps import ServiceDep
from ledger.core.errors import LedgerError
from ledger.store import alarms, queries
from ledger.store.models import IndexerCheckpoint, LogEntry, OutboxRecord
from ledger.supervisor import read_status

router = APIRouter(tags=["health 运行状态"])

MAX_LAG = 10  # blocks the indexer may be behind the head and still be ready


@router.get("/healthz", summary="存活 Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _read_model(session: Any) -> dict[str, Any]:
    """The log table as stored: rows, highest leaf index, and whether it has no gap."""
    rows = int(session.scalar(select(func.count()).select_from(LogEntry)) or 0)
    top = session.scalar(select(func.max(LogEntry.leaf_index)))
    return {"rows": rows, "max_leaf_index": None if top is None else int(top)}


def _relayer_vs_index(session: Any, last_block: int) -> int:
    """Records the relayer calls confirmed in a block the indexer has processed, that the
    index does not hold at that leaf: the two disagree."""
    indexed = select(LogEntry.record_id)
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxRecord)
            .where(
                OutboxRecord.status == "confirmed",
                OutboxRecord.block_number <= last_block,
                OutboxRecord.record_id.not_in(indexed),
            )
        )
        or 0
    )


@router.get(
    "/readyz",
    summary="就绪 Readiness: chain, indexer lag, read model vs chain, alarms, workers",
    responses={
        200: {
            "description": "ready: the chain answers, the indexer is within 10 blocks, "
            "the read model equals the chain, no alarm, every worker up"
        },
        503: {
            "description": "not ready: the same document, with what is missing",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
def readyz(service: ServiceDep) -> JSONResponse:
    """200 `ready` only when everything below holds; 503 `not_ready` with `reasons`."""
    body: dict[str, Any] = {}
    reasons: list[str] = []
    ledger = None
    head = -1
    try:
        ledger = service.ledger()
        w3 = ledger.w3
        head = int(w3.eth.block_number)
        chain_size, chain_root = ledger.log_state(head)
        body["chain"] = {
            "reachable": True,
            "chain_id": int(w3.eth.chain_id),
            "head": head,
            "log_size": chain_size,
            "log_root": "0x" + chain_root.hex(),
        }
    except LedgerError as exc:
        body["chain"] = {"reachable": False, "code": exc.code, "detail": exc.message}
        ledger, head = None, -1
        reasons.append("chain_unreachable")
    except Exception as exc:  # noqa: BLE001 - a node that answers garbage is not ready
        body["chain"] = {"reachable": False, "code": "chain_unreachable", "detail": str(exc)}
        ledger, head = None, -1
        reasons.append("chain_unreachable")
    with service.db.read() as session:
        cp = session.get(IndexerCheckpoint, "main")
        rows = session.execute(
            select(OutboxRecord.status, func.count()).group_by(OutboxRecord.status)
        ).all()
        body["outbox"] = {str(k): int(v) for k, v in rows}
        body.update(queries.overview(session))
        table = _read_model(session)
        active = [alarms.as_dict(a) for a in alarms.active(session)]
        disagree = _relayer_vs_index(session, int(cp.last_block)) if cp is not None else 0
    body["divergence"] = active
    for alarm in active:
        if alarm["code"] in alarms.NOT_READY and alarm["code"] not in reasons:
            reasons.append(alarm["code"])
    if cp is None:
        body["indexer"] = {"last_block": None, "lag": None}
        reasons.append("indexer_not_started")
    else:
        lag = max(0, head - cp.last_block) if head >= 0 else None
        body["indexer"] = {
            "last_block": cp.last_block,
            "lag": lag,
            "log_size": cp.log_size,
            "log_root": cp.log_root,
        }
        if lag is not None and lag > MAX_LAG:
            reasons.append("indexer_lag")
        complete = table["rows"] == cp.log_size and table["max_leaf_index"] == (
            cp.log_size - 1 if cp.log_size else None
        )
        read_model: dict[str, Any] = {
            "size": cp.log_size,
            "root": cp.log_root,
            "block": cp.last_block,
            **table,
            "complete": complete,
        }
        if not complete:
            reasons.append("log_incomplete")
        if ledger is not None:
            read_model.update(_compare_with_chain(ledger, cp, reasons))
            read_model["leaves_behind_head"] = max(0, body["chain"]["log_size"] - cp.log_size)
        body["read_model"] = read_model
        body["relayer"] = {"confirmed_not_indexed": disagree}
        if disagree:
            reasons.append("relayer_index_disagree")
    # ---- workers (bangfu run's supervisor): each one's state, restarts, last error, heartbeat
    workers = read_status(service.settings.var_dir)
    if workers is None:
        body["workers"] = {"supervised": False}
    else:
        body["workers"] = {"supervised": True, **workers}
        if not workers["ready"]:
            reasons.append("worker_down")
    ready = not reasons
    body["status"] = "ready" if ready else "not_ready"
    body["reasons"] = reasons
    return JSONResponse(body, status_code=200 if ready else 503)


def _compare_with_chain(ledger: Any, cp: IndexerCheckpoint, reasons: list[str]) -> dict[str, Any]:
    """The contract's logSize()/logRoot() at the block the indexer processed last, beside the
    read model's: equal, short (the chain has more), or diverged."""
    try:
        block = ledger.w3.eth.get_block(cp.last_block)
        canonical = block["hash"].to_0x_hex() == cp.last_block_hash
    except Exception:  # noqa: BLE001 - the block is gone (a chain restarted shorter)
        canonical = False
    out: dict[str, Any] = {"block_canonical": canonical}
    if not canonical:
        out["equals_chain"] = False
        reasons.append("chain_reorganized")
        return out
    try:
        size, root = ledger.log_state(cp.last_block)
    except Exception:  # noqa: BLE001 - a node that keeps no state at that block (anvil after a restart)
        out["equals_chain"] = None
        out["note"] = "节点未保留该区块的状态 / the node keeps no state at that block"
        return out
    out.update(
        {
            "chain_size_at_block": size,
            "chain_root_at_block": "0x" + root.hex(),
            "equals_chain": (size, "0x" + root.hex()) == (cp.log_size, cp.log_root),
        }
    )
    if size > cp.log_size:
        reasons.append("read_model_short")
    elif not out["equals_chain"]:
        reasons.append("read_model_diverged")
    return out
