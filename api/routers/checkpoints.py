"""Signed checkpoints of the log (C2SP tlog-checkpoint notes with witness cosignatures)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import ReadSessionDep
from api.schemas import text_body
from ledger.tlog.checkpointer import latest_note, list_checkpoints

router = APIRouter(prefix="/api/v1/checkpoints", tags=["checkpoints"])


@router.get(
    "/latest",
    response_class=PlainTextResponse,
    summary="最新检查点 The latest signed checkpoint note, with witness cosignatures",
    responses=text_body("text/plain", "a C2SP signed note: origin, size, root, signature lines"),
)
def latest(session: ReadSessionDep) -> PlainTextResponse:
    return PlainTextResponse(latest_note(session), media_type="text/plain; charset=utf-8")


@router.get("", summary="检查点列表 Signed checkpoints, newest first")
def checkpoints(
    session: ReadSessionDep, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return list_checkpoints(session, limit)
