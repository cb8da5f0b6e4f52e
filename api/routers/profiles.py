"""Organization profiles (机构简介): the public read (the chain's name, type and authority, the
signed profile, its signature and signer), the next version's message to sign, and the
write, which only an OrgProfile signed by a registered ORG key of that organization makes
(`ledger.workspace.profiles`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import LedgerSignature, _uint, documented
from ledger.workspace import profiles

router = APIRouter(prefix="/api/v1/orgs", tags=["profiles 机构简介"])


def _text(most: int) -> Any:
    return Annotated[str, StringConstraints(max_length=most, pattern=r"^[^\u0000]*$")]


class OrgProfileMessage(BaseModel):
    """The OrgProfile EIP-712 message (ledger.workspace.profiles), signed by a registered ORG
    key of the organization; checked by the ledger with its own codes (bad_message,
    text_too_long, personal_data_in_text, bad_website, message_mismatch)."""

    model_config = ConfigDict(extra="forbid")

    orgCode: _text(32)  # type: ignore[valid-type]
    description: _text(profiles.MAX_DESCRIPTION)  # type: ignore[valid-type]
    contactRole: _text(profiles.MAX_CONTACT_ROLE)  # type: ignore[valid-type]
    website: _text(profiles.MAX_WEBSITE)  # type: ignore[valid-type]
    version: _uint(64, "version")  # type: ignore[valid-type]
    nonce: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-f]{64}$")]
    expiry: _uint(64, "expiry")  # type: ignore[valid-type]


_Message = documented(
    OrgProfileMessage,
    "签名的简介 the OrgProfile message as signed (…/profile/to-sign gives the next)",
)


class ProfileIn(BaseModel):
    """A signed OrgProfile. Without `message` or `signature` the write is refused as
    signature_required (401), never as a malformed request."""

    message: _Message | None = None  # type: ignore[valid-type]
    signature: LedgerSignature | None = Field(
        default=None, description="EIP-712 signature over the OrgProfile message, 0x-hex"
    )


@router.get("/{org_code}/profile", summary="机构简介 / an organization's public profile")
def read_profile(org_code: str, service: ServiceDep, session: ReadSessionDep) -> dict[str, Any]:
    return profiles.public_profile(session, org_code[:40], service.domain)


@router.get(
    "/{org_code}/profile/to-sign",
    summary="待签简介 / the next profile version's OrgProfile message and typed data",
)
def profile_to_sign(
    org_code: str,
    service: ServiceDep,
    session: ReadSessionDep,
    description: str | None = Query(None, max_length=profiles.MAX_DESCRIPTION),
    contact_role: str | None = Query(None, max_length=profiles.MAX_CONTACT_ROLE),
    website: str | None = Query(None, max_length=profiles.MAX_WEBSITE),
) -> dict[str, Any]:
    return profiles.to_sign(
        session,
        org_code[:40],
        service.domain,
        description=description,
        contact_role=contact_role,
        website=website,
    )


@router.put("/{org_code}/profile", summary="更新机构简介 / change the profile (signed by the org)")
def write_profile(org_code: str, body: ProfileIn, service: ServiceDep) -> dict[str, Any]:
    return profiles.update_profile(
        service.db, org_code[:40], body.message, body.signature, service.domain
    )
