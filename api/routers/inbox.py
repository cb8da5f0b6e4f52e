"""The inbox of the signed-in party: proposals to answer (with the typed data to sign),
deliveries waiting for 签收, overdue commitments, drafts and its records' progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep
from api.sessions import SessionRequired
from ledger.workspace import inbox as workspace_inbox

router = APIRouter(prefix="/api/v1/inbox", tags=["sign-in 登录"])


@router.get("", summary="收件箱 / the signed-in party's inbox (session cookie)")
def inbox(service: ServiceDep, me: SessionRequired) -> dict[str, Any]:
    with service.db.read() as session:
        return workspace_inbox.inbox(session, me.address, service.domain)
