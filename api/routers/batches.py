"""Bulk deliveries: open a batch upload with the signed DeliveryBatch, stream its lines
(resumable by line index), and fetch any line with its two-level proof."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import ServiceDep
from api.schemas import Hex32, SignedBatchIn, signed_record
from ledger.batches.receive import FLUSH_LINES
from ledger.batches.service import BatchService, UploadInfo
from ledger.core.errors import BatchError

# The relayer's own pending-aware totals, so `check --api` sees what `accept` will see.
from ledger.relayer.lookups import commitment_state

router = APIRouter(prefix="/api/v1/batches", tags=["bulk deliveries 批量交付"])

LINES_MEDIA_TYPE = "application/vnd.bangfu.lines"
HEX32 = r"^0x[0-9a-fA-F]{64}$"
# Bad ids and indexes are refused here, before they reach the database (PostgreSQL rejects
# NUL bytes and integers past int4 with errors that would otherwise surface as 5xx).
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="upload id")]
BatchId = Annotated[str, Path(pattern=HEX32, description="batch record id, 0x-hex")]
LineIndex = Annotated[int, Path(ge=0, lt=1 << 31, description="line index, from 0")]


def get_batches(request: Request, service: ServiceDep) -> BatchService:
    batches: BatchService | None = getattr(request.app.state, "batches", None)
    if batches is None or batches.db is not service.db:
        batches = BatchService(service.db, service.relayer, service.domain)
        request.app.state.batches = batches
    return batches


BatchesDep = Annotated[BatchService, Depends(get_batches)]


@router.post(
    "", response_model=UploadInfo, status_code=201, summary="开始批量上传 Open a batch upload"
)
def open_upload(body: SignedBatchIn, batches: BatchesDep) -> UploadInfo:
    """Takes the signed `delivery_batch` record and answers an upload id. Posting the same
    record again answers the same upload with how many lines the server already holds, so a
    client that lost everything but the file can resume."""
    signed = signed_record(body, batches.domain)
    return batches.open(signed)


@router.get("/uploads/{upload_id}", response_model=UploadInfo, summary="上传状态 Upload status")
def upload_status(upload_id: UploadId, batches: BatchesDep) -> UploadInfo:
    """`lines_received` is what is durably held: resume from there."""
    return batches.info(upload_id)


@router.put(
    "/uploads/{upload_id}/lines",
    response_model=UploadInfo,
    summary="上传明细 Stream the lines",
    openapi_extra={
        "requestBody": {
            "content": {LINES_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "for each line from `start`: length u32 big-endian ‖ line bytes",
        }
    },
)
async def put_lines(
    upload_id: UploadId,
    request: Request,
    batches: BatchesDep,
    start: int = Query(0, ge=0, description="index of the first line in the body"),
) -> UploadInfo:
    """Streams lines in; they are checked and written in chunks as they arrive, never held
    whole. Lines below the held count are skipped (idempotent by index). When the last line
    is in, the lines' root and totals are checked against the signed record and the record is
    queued for the chain; a refusal deletes the upload's lines."""
    rx = await run_in_threadpool(batches.receiver, upload_id, start)
    try:
        try:
            async for chunk in request.stream():
                if chunk and await run_in_threadpool(rx.feed, chunk) >= FLUSH_LINES:
                    await run_in_threadpool(rx.flush)
        except ClientDisconnect:
            # Keep every complete line that arrived; the client resumes from the held count.
            await run_in_threadpool(rx.flush)
            return await run_in_threadpool(batches.info, upload_id)
        await run_in_threadpool(rx.flush)
    except BatchError as err:
        await run_in_threadpool(batches.refuse, upload_id, err)
        raise
    if rx.held == rx.line_count:
        return await run_in_threadpool(batches.finish, upload_id)
    return await run_in_threadpool(batches.info, upload_id)


@router.post(
    "/uploads/{upload_id}/finish", response_model=UploadInfo, summary="完成上传 Finish an upload"
)
def finish_upload(upload_id: UploadId, batches: BatchesDep) -> UploadInfo:
    """Checks the held lines against the signed record and queues it (idempotent)."""
    return batches.finish(upload_id)


@router.get("/commitments", summary="承诺余量 Commitments and what is left of them")
def commitments(
    batches: BatchesDep,
    ids: list[Hex32] = Query(..., min_length=1, max_length=256, description="commitment ids"),
) -> dict[str, Any]:
    """For `bangfu batch check --api`: each commitment's owner, committed and delivered
    quantities (pending deliveries included), or null when it is unknown."""
    bad = [cid for cid in ids if not re.match(HEX32, cid)]
    if bad:
        raise BatchError(f"{bad[0]!r} is not a 0x-hex commitment id", code="bad_hex")
    out: dict[str, Any] = {}
    with batches.db.read() as session:
        for cid in ids:
            found = commitment_state(session, cid.lower())
            out[cid.lower()] = (
                None
                if found is None
                else {"org": found.org, "committed": found.committed, "delivered": found.delivered}
            )
    return out


@router.get("/{batch_id}/lines/{index}", summary="一条明细 One line of a batch")
def get_line(batch_id: BatchId, index: LineIndex, batches: BatchesDep) -> dict[str, Any]:
    """A line's fields and exact bytes. Beneficiaries appear only as pseudonyms."""
    row = batches.line(batch_id, index)
    return {
        "batch_id": row.batch_id,
        "line_index": row.line_index,
        "commitment_id": row.commitment_id,
        "item": row.item,
        "quantity": row.quantity,
        "unit": row.unit,
        "delivered_at": row.delivered_at,
        "beneficiary": row.beneficiary,
        "evidence_hash": row.evidence_hash,
        "line_bytes": "0x" + row.line_bytes.hex(),
        "leaf_hash": row.leaf_hash,
    }


@router.get(
    "/{batch_id}/lines/{index}/proof", summary="明细证明 A line's proof (line → batch → log)"
)
def line_proof(batch_id: BatchId, index: LineIndex, batches: BatchesDep) -> dict[str, Any]:
    """A "bangfu-proof/1" bundle with its `batch` section; check it offline with
    `python ledger/tools/proofcheck.py bundle.json --root <logRoot() from the chain>`."""
    return batches.line_proof(batch_id, index)
