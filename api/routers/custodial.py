"""Custodial signing (off by default): a token holder sends an unsigned record, the server
signs it with the key bound to the token and submits it like any signed record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Header

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import AcceptedOut, UnsignedRecordIn
from ledger.config import Settings
from ledger.core.errors import CustodialDisabled
from ledger.custodial import Custodian, custodian_for


@asynccontextmanager
async def _refuse_without_password(app: FastAPI) -> AsyncIterator[None]:
    # Custodial mode without a keystore password must stop the server at start, not at the
    # first request: building the Custodian raises ConfigError in that case.
    settings: Settings | None = getattr(app.state, "settings", None)
    if settings is not None and settings.custodial:
        Custodian(settings)
    yield


router = APIRouter(
    prefix="/api/v1/custodial",
    tags=["custodial 托管签名"],
    lifespan=_refuse_without_password,
)


class CustodialRecordOut(AcceptedOut):
    signer: str
    signature: str
    record: dict[str, Any]


@router.post(
    "/records",
    response_model=CustodialRecordOut,
    status_code=202,
    summary="托管签名并提交 Sign with the custodial key and submit",
    responses={401: {"description": "bad_token"}, 404: {"description": "custodial_disabled"}},
)
def custodial_record(
    body: UnsignedRecordIn,
    service: ServiceDep,
    session: ReadSessionDep,
    authorization: str | None = Header(default=None, description="Bearer <token>"),
) -> CustodialRecordOut:
    """Only where the operator turned custodial mode on: the server, not the author, holds
    the key, so the signature shows only that the token holder asked for the record."""
    if not service.settings.custodial:
        raise CustodialDisabled(
            "custodial signing is off on this server; sign records yourself and use "
            "POST /api/v1/records (see docs/client.md)"
        )
    custodian = custodian_for(service, service.settings)
    signed = custodian.sign(
        session,
        authorization,
        body.kind,  # type: ignore[attr-defined]
        body.record,  # type: ignore[attr-defined]
        service.domain,
    )
    (accepted,) = service.relayer.accept([signed])
    return CustodialRecordOut.of(
        accepted,
        signer=signed.signer,
        signature="0x" + signed.signature.hex(),
        record=signed.record.to_json(),
    )
