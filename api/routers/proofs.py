"""Proofs for auditors and the public: a record's inclusion, consistency between two sizes, and
complete "bangfu-proof/1" bundles that `bangfu verify` or proofcheck.py check offline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import Hex32LedgerPath
from ledger.core.words import bundle_display
from ledger.store.proofs import LogProofs
from ledger.store.queries.words import describe_record

router = APIRouter(prefix="/api/v1/proofs", tags=["proofs"])


@router.get("/root", summary="当前日志根 The indexed log's size and root")
def root(service: ServiceDep) -> dict[str, Any]:
    return LogProofs(service.db).root()


@router.get("/consistency", summary="一致性证明 Consistency proof between two log sizes")
def consistency(
    service: ServiceDep,
    old: int = Query(..., ge=0, description="the older size"),
    new: int | None = Query(None, ge=0, description="the newer size (default: current)"),
) -> dict[str, Any]:
    return LogProofs(service.db).consistency(old, new)


@router.get(
    "/record/{record_id}",
    summary="记录包含证明 A record's bytes, leaf hash, index and inclusion proof",
)
def inclusion(
    service: ServiceDep,
    record_id: Hex32LedgerPath,
    size: int | None = Query(None, ge=0, description="prove against this log size"),
) -> dict[str, Any]:
    return LogProofs(service.db).inclusion(record_id, size)


@router.get("/bundle/{record_id}", summary="证明包 A bangfu-proof/1 bundle for offline checking")
def bundle(
    service: ServiceDep,
    session: ReadSessionDep,
    record_id: Hex32LedgerPath,
    size: int | None = Query(None, ge=0, description="prove against this log size"),
    consistency_from: int | None = Query(
        None, ge=0, description="also prove this older size (e.g. a witnessed one) a prefix"
    ),
) -> dict[str, Any]:
    """The bundle, and in `display` the record in words as the server names it (signers,
    titles): for reading beside the check, never part of it."""
    out = LogProofs(service.db).bundle(record_id, size, consistency_from)
    words = describe_record(session, record_id)
    if words is not None:
        out["display"] = bundle_display(words)
    return out
