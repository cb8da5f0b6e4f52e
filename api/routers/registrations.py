"""Registrations by name (the civil-affairs office's work): the list of registered keys, and
registering or deregistering one with a transaction the admin signs in the browser — the
server prepares it, the browser signs it, the server checks what it decodes and sends it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import RawTxIn
from ledger.core.fields import org_type_name
from ledger.evm import registrations as reg
from ledger.library.regions import county_name, require_county, require_org_code
from ledger.store.queries.orgs import registrations

router = APIRouter(prefix="/api/v1/registrations", tags=["registrations 登记"])
ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class PrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal[
        "register_county",
        "register_org",
        "register_auditor",
        "deregister_county",
        "deregister_org",
        "deregister_auditor",
    ] = Field(description="登记或撤销 what to do")
    admin: str = Field(pattern=ADDRESS, description="the admin's address (who will sign)")
    account: str = Field(pattern=ADDRESS, description="the key to register or deregister")
    county: int | str | None = None
    name: str | None = None
    org_code: str | None = None
    org_type: int | str | None = None
    authority: str | None = None


def _county_lookup(code: int) -> str:
    return require_county(code).name


def _county_label(code: int | None) -> str | None:
    if code is None:
        return None
    try:
        return county_name(code)
    except Exception:  # noqa: BLE001 - a code outside the shipped table: no name to show
        return None


@router.get("", summary="登记列表 Registered keys, with their names from the chain")
def list_registrations(session: ReadSessionDep) -> list[dict[str, Any]]:
    """Every county office, organization and auditor key registered on chain (as indexed):
    names are public facts of the registration events; `active` is false once revoked."""
    return [
        {
            **row,
            "county_name": _county_label(row["county"]),
            "org_type_name": org_type_name(row["org_type"]),
        }
        for row in registrations(session)
    ]


@router.post("/prepare", summary="准备登记交易 The unsigned registration transaction to sign")
def prepare(body: PrepareIn, service: ServiceDep) -> dict[str, Any]:
    """Checks every field (county code, name, credit code and type) and answers the
    unsigned transaction for the admin to sign in the browser, with what it does in words.
    Writes nothing."""
    fields = body.model_dump()
    if body.action == "register_org" and isinstance(body.org_code, str):
        fields["org_code"] = require_org_code(body.org_code)  # its check character, too
    registration = reg.build(fields, _county_lookup)
    ledger = service.ledger()
    tx = reg.prepare(ledger, body.admin, registration)
    return {"tx": tx, "summary": reg.summary(registration, _county_label(registration.county))}


@router.post("", summary="发送已签名的登记交易 Send the admin's signed registration")
def submit(body: RawTxIn, service: ServiceDep) -> dict[str, Any]:
    """Decodes the signed transaction and sends it only if it is a registration call on
    this ledger's contract, on this chain, signed by the current admin; waits for it."""
    ledger = service.ledger()
    decoded = reg.decode_raw(ledger, body.raw_tx)
    reg.check_rules(decoded.registration, _county_lookup)
    if decoded.registration.org_code is not None:
        require_org_code(decoded.registration.org_code)
    answer = reg.submit_raw(ledger, decoded)
    registration = decoded.registration
    return {**answer, "summary": reg.summary(registration, _county_label(registration.county))}
