"""Organization profiles (机构简介): the public description, a contact role and a website,
changed only by an EIP-712 `OrgProfile` message signed by a registered ORG key of that
organization (issue 14 §2 and §4).

The name, type and registering authority are the chain's (OrganizationRegistered, indexed as
role events); a profile only adds what the chain does not say. A write is checked in the
order of `ledger.library.auth`: signature (401), expiry (401), unused nonce (401), that the
signer holds ORG for the profile's credit code (403 `not_org_key`), that the version is the
current one + 1 (409 `profile_version_not_next`), then the fields (422: lengths, a phone or
ID number in any text — `personal_data_in_text`, a website that is not https). Everything
happens in one `Database.write()`, so a refused write stores nothing and spends no nonce.

The signed message is kept (canonical JSON) with its signature and signer, so that anyone can
recover the signer from what `GET /api/v1/orgs/{code}/profile` answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from eth_account import Account
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import (
    ConflictError,
    LedgerError,
    MessageError,
    NotFoundError,
    PermissionError_,
    SignatureError,
)
from ledger.core.fields import ORG_TYPES
from ledger.library import auth, messages, pii
from ledger.library.auth import Verified
from ledger.library.messages import MessageType
from ledger.library.models import LibraryNonce
from ledger.library.ownership import org_code_of
from ledger.store.db import Database
from ledger.store.models import Organization, RoleEvent
from ledger.workspace.models import OrgProfile

ORG_PROFILE = MessageType(
    "OrgProfile",
    (
        ("orgCode", "string"),
        ("description", "string"),
        ("contactRole", "string"),
        ("website", "string"),
        ("version", "uint64"),  # the version the profile becomes: current + 1
        ("nonce", "string"),  # 0x + 64 hex
        ("expiry", "uint64"),
    ),
)

#: Limits (characters) of the profile's fields.
MAX_DESCRIPTION = 2000
MAX_CONTACT_ROLE = 64
MAX_WEBSITE = 200

_ORG_CODE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}")
_TEXT_LIMITS = {
    "description": MAX_DESCRIPTION,
    "contactRole": MAX_CONTACT_ROLE,
    "website": MAX_WEBSITE,
}
_LABELS = {
    "description": "机构简介 description",
    "contactRole": "联系角色 contact role",
    "website": "网站 website",
}


def _bad(field: str, zh: str, en: str, code: str = codes.BAD_MESSAGE) -> MessageError:
    return MessageError(f"{zh} / {en}", code=code, field=field)


def normal_code(org_code: str) -> str:
    """A credit code as the chain keeps it (upper case), or 404 when it cannot be one."""
    code = org_code.strip().upper()
    if not _ORG_CODE.fullmatch(code):
        raise NotFoundError(
            f"没有此社会组织 / no organization {org_code[:40]!r} is registered on this ledger; "
            "a credit code has 18 characters",
            code=codes.ORG_NOT_FOUND,
        )
    return code


def parse_profile(data: Any) -> dict[str, Any]:
    """An OrgProfile from JSON: exactly its fields, well typed. The text fields' own limits
    (description 2000 characters, longer than other messages' texts) are checked here."""
    if not isinstance(data, dict):
        raise _bad("message", "缺少签名消息", "the request needs a signed OrgProfile message")
    for name, most in _TEXT_LIMITS.items():
        value = data.get(name)
        if isinstance(value, str) and len(value) > most:
            raise _bad(
                name,
                f"{_LABELS[name]} 最多 {most} 字",
                f"{name} is {len(value)} characters; at most {most}",
                codes.TEXT_TOO_LONG,
            )
    # messages.parse checks every field (unknown, missing, types); the description goes
    # round its shared 1000-character cap of other messages' texts (its own cap is above).
    probe = {**data, "description": ""} if "description" in data else data
    parsed = messages.parse(ORG_PROFILE, probe)
    description = data["description"]
    if not isinstance(description, str) or "\x00" in description:
        raise _bad("description", "消息字段 description 无效", "description must be text")
    parsed["description"] = description
    messages.check_nonce(parsed["nonce"])
    return {name: parsed[name] for name in ORG_PROFILE.field_names}


def typed_data(message: dict[str, Any], domain: Domain) -> dict[str, Any]:
    """The EIP-712 document (eth_signTypedData_v4) a wallet signs for this profile."""
    return messages.typed_data(ORG_PROFILE, message, domain)


def sign_profile(message: dict[str, Any], domain: Domain, key: bytes | str) -> str:
    """The organization's signature over an OrgProfile (SDK, CLI, tests); the browser signs
    the same typed data with ethers."""
    parsed = parse_profile(message)
    signed = Account.unsafe_sign_hash(
        messages.digest(ORG_PROFILE, parsed, domain), Account.from_key(key).key
    )
    sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return "0x" + sig.hex()


def check_fields(message: dict[str, Any]) -> None:
    """The profile's content: a description, a contact role that is a role (项目部), never a
    person's phone or ID number, and an https website or none."""
    if not message["description"].strip():
        raise _bad(
            "description",
            "请填写机构简介",
            "the description is empty; say what the organization does",
            codes.MISSING_VALUE,
        )
    for field in ("contactRole", "description", "website"):
        kind = pii.find(message[field])
        if kind is not None:
            raise pii.refusal(
                field,
                kind,
                "机构简介是公开的，请写角色（如 项目部）而非个人",
                "the profile is public: give a role (e.g. 项目部 project office), never a "
                "person's number",
                label=_LABELS[field],
            )
    website = message["website"]
    if website:
        parts = urlsplit(website)
        if (
            parts.scheme != "https"
            or not parts.hostname
            or "." not in parts.hostname
            or parts.username is not None
            or parts.password is not None
            or any(c.isspace() for c in website)
        ):
            raise _bad(
                "website",
                "网站须为 https:// 开头的网址",
                f"website {website[:80]!r} must be an https:// URL (or empty)",
                codes.BAD_WEBSITE,
            )


def current(session: Session, org_code: str) -> OrgProfile | None:
    return session.get(OrgProfile, org_code)


def current_version(session: Session, org_code: str) -> int:
    row = current(session, org_code)
    return int(row.version) if row is not None else 0


def verify_profile(
    session: Session,
    org_code: str,
    message: Any,
    signature: str | None,
    domain: Domain,
    *,
    at: int | None = None,
) -> Verified:
    """Every check of a profile write (see the module's order); reads only."""
    if not signature or message is None:
        raise SignatureError(
            "缺少签名 / this write needs the organization's EIP-712 signature over OrgProfile",
            code=codes.SIGNATURE_REQUIRED,
        )
    parsed = parse_profile(message)
    signer = messages.recover(ORG_PROFILE, parsed, domain, signature)
    messages.check_expiry(int(parsed["expiry"]), auth.now() if at is None else at)
    if session.get(LibraryNonce, (signer, parsed["nonce"])) is not None:
        raise SignatureError(
            "签名已使用 / this signed profile was already used; sign a new one",
            code=codes.SIGNATURE_REPLAYED,
        )
    code = normal_code(org_code)
    if parsed["orgCode"] != code:
        raise MessageError(
            f"签名消息的 orgCode 与地址不符 / the signed orgCode {parsed['orgCode']!r} is not "
            f"{code}, the organization of this address",
            code=codes.MESSAGE_MISMATCH,
            field="orgCode",
        )
    held = org_code_of(session, signer)
    if held != code:
        raise PermissionError_(
            f"{signer} 不是 {code} 的登记密钥 / {signer} is not a registered key of "
            f"organization {code}; only that organization's ORG key may change its profile",
            code=codes.NOT_ORG_KEY,
        )
    expected = current_version(session, code) + 1
    if int(parsed["version"]) != expected:
        raise ConflictError(
            f"版本应为 {expected} / the profile is at version {expected - 1}; sign version "
            f"{expected} (GET …/profile/to-sign)",
            code=codes.PROFILE_VERSION_NOT_NEXT,
            expected=expected,
        )
    check_fields(parsed)
    return Verified(ORG_PROFILE, parsed, signer, signature)


def canonical_json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def update_profile(
    db: Database, org_code: str, message: Any, signature: str | None, domain: Domain
) -> dict[str, Any]:
    """Checks and stores a signed profile in one write transaction; answers the stored
    profile (`profile_json`'s shape)."""
    with db.write() as session:
        verified = verify_profile(session, org_code, message, signature, domain)
        m = verified.message
        # Two writers of the same version on PostgreSQL: the row lock (or, for the first
        # version, the primary key) lets one through; the other is told to sign the next.
        row = session.get(OrgProfile, m["orgCode"], with_for_update=True, populate_existing=True)
        if (int(row.version) if row is not None else 0) + 1 != int(m["version"]):
            raise _raced(m)
        auth.consume(session, verified, "org_profile")
        if row is None:
            row = OrgProfile(org_code=m["orgCode"])
            try:
                with session.begin_nested():
                    session.add(row)
                    _fill(row, verified)
            except IntegrityError:
                raise _raced(m) from None
        else:
            _fill(row, verified)
        session.flush()
        return profile_json(row, domain)


def _raced(m: dict[str, Any]) -> ConflictError:
    return ConflictError(
        f"简介刚被更新 / the profile changed while this version {m['version']} was checked; "
        "sign the next version (GET …/profile/to-sign)",
        code=codes.PROFILE_VERSION_NOT_NEXT,
    )


def _fill(row: OrgProfile, verified: Verified) -> None:
    m = verified.message
    row.version = int(m["version"])
    row.description = m["description"]
    row.contact_role = m["contactRole"]
    row.website = m["website"]
    row.signer = verified.signer
    row.message_json = canonical_json(m)
    row.signature = verified.signature
    row.updated_at = datetime.now(UTC)


def to_sign(
    session: Session,
    org_code: str,
    domain: Domain,
    *,
    description: str | None = None,
    contact_role: str | None = None,
    website: str | None = None,
    lifetime: int = messages.DEFAULT_LIFETIME,
) -> dict[str, Any]:
    """The next version's message (the current fields unless given) and its typed data.
    Nothing is checked but that the organization is registered: the write checks all."""
    code = normal_code(org_code)
    chain_facts(session, code)
    row = current(session, code)
    message = {
        "orgCode": code,
        "description": description if description is not None else (row.description if row else ""),
        "contactRole": contact_role
        if contact_role is not None
        else (row.contact_role if row else ""),
        "website": website if website is not None else (row.website if row else ""),
        "version": (int(row.version) if row else 0) + 1,
        "nonce": messages.new_nonce(),
        "expiry": auth.expiry(lifetime),
    }
    return {
        "message": message,
        "typed_data": typed_data(message, domain),
        "current_version": int(row.version) if row else 0,
    }


@dataclass(frozen=True)
class ChainFacts:
    """What the chain says of an organization: its latest OrganizationRegistered."""

    org_code: str
    name: str
    name_en: str | None
    org_type: int | None
    authority: str | None
    block_number: int
    tx_hash: str


def chain_facts(session: Session, org_code: str) -> ChainFacts:
    """The name, type and authority of the code's latest registration on chain (indexed role
    events, which a reorg rolls back); 404 `org_not_found` when it was never registered."""
    row = session.scalars(
        select(RoleEvent)
        .where(RoleEvent.org_code == org_code, RoleEvent.name.is_not(None))
        .order_by(RoleEvent.block_number.desc(), RoleEvent.log_index.desc())
        .limit(1)
    ).first()
    if row is None or row.name is None:
        raise NotFoundError(
            f"没有此社会组织 / no organization {org_code} is registered on this ledger; "
            "check the credit code",
            code=codes.ORG_NOT_FOUND,
        )
    org = session.get(Organization, org_code)
    return ChainFacts(
        org_code=org_code,
        name=row.name,
        name_en=org.name_en if org is not None else None,
        org_type=row.org_type,
        authority=row.authority,
        block_number=int(row.block_number),
        tx_hash=row.tx_hash,
    )


def org_type_words(org_type: int | None) -> dict[str, str] | None:
    names = ORG_TYPES.get(org_type) if org_type is not None else None
    return {"zh": names[0], "en": names[1]} if names else None


def profile_json(row: OrgProfile, domain: Domain) -> dict[str, Any]:
    """A stored profile with what re-verifies it: the signed message, its typed data, the
    signature and the signer that signature recovers to."""
    message = json.loads(row.message_json)
    return {
        "org_code": row.org_code,
        "version": int(row.version),
        "description": row.description,
        "contact_role": row.contact_role,
        "website": row.website,
        "signer": row.signer,
        "signature": row.signature,
        "message": message,
        "typed_data": typed_data(message, domain),
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def public_profile(session: Session, org_code: str, domain: Domain) -> dict[str, Any]:
    """The public answer: the chain's facts and the signed profile (None before the first)."""
    code = normal_code(org_code)
    facts = chain_facts(session, code)
    row = current(session, code)
    return {
        "org_code": code,
        "name": facts.name,
        "name_en": facts.name_en,
        "org_type": facts.org_type,
        "org_type_name": org_type_words(facts.org_type),
        "authority": facts.authority,
        "registered": {"block_number": facts.block_number, "tx_hash": facts.tx_hash},
        "profile": profile_json(row, domain) if row is not None else None,
    }


def recheck(profile: dict[str, Any], domain: Domain) -> str:
    """The address the stored signature recovers to over the stored message (anyone can run
    this on `public_profile`'s answer); a LedgerError when it does not recover."""
    try:
        parsed = parse_profile(profile["message"])
    except (KeyError, TypeError):
        raise LedgerError("no signed profile", code=codes.BAD_MESSAGE) from None
    return messages.recover(ORG_PROFILE, parsed, domain, profile.get("signature"))
