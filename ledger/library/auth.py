"""Checks every signed library write goes through: signature, expiry, unused nonce, and who
may sign (owners from the indexed role events, the admin from settings or the chain).

A write is checked in this order, so that a replay is always refused as a replay: the
signature recovers (401 `signature_required` / `bad_signature`), the message has not expired
(401 `signature_expired`), its nonce is unused (401 `signature_replayed`), the signer may act
(403), then the fields match the content (422). The nonce is stored in the same transaction
as the change it authorizes, so a refused or failed write leaves it unused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import MessageError, PermissionError_, SignatureError
from ledger.library import messages
from ledger.library.messages import MessageType
from ledger.library.models import LibraryNonce
from ledger.relayer.lookups import current_roles


def now() -> int:
    return int(time.time())


def expiry(lifetime: int = messages.DEFAULT_LIFETIME) -> int:
    """The expiry of a message suggested or signed now: `lifetime` seconds from now."""
    return now() + lifetime


@dataclass(frozen=True)
class Verified:
    """A parsed message and the address that signed it."""

    mtype: MessageType
    message: dict[str, Any]
    signer: str
    signature: str


def verify(
    session: Session,
    mtype: MessageType,
    message: Any,
    signature: str | None,
    domain: Domain,
    *,
    at: int | None = None,
) -> Verified:
    """Signature, expiry and (for messages with a nonce) an unused nonce; read only."""
    if signature is None or signature == "":
        raise SignatureError(
            f"缺少签名 / this write needs the author's EIP-712 signature over {mtype.name}",
            code=codes.SIGNATURE_REQUIRED,
        )
    parsed = messages.parse(mtype, message)
    signer = messages.recover(mtype, parsed, domain, signature)
    messages.check_expiry(int(parsed["expiry"]), now() if at is None else at)
    if "nonce" in parsed and session.get(LibraryNonce, (signer, parsed["nonce"])) is not None:
        raise SignatureError(
            "签名已使用 / this signed request was already used; sign a new one",
            code=codes.SIGNATURE_REPLAYED,
        )
    return Verified(mtype, parsed, signer, signature)


def consume(session: Session, verified: Verified, purpose: str) -> None:
    """Marks the nonce used (with the change it authorizes) and forgets expired ones."""
    nonce = verified.message.get("nonce")
    if nonce is None:
        return
    session.execute(delete(LibraryNonce).where(LibraryNonce.expiry < now()))
    session.add(
        LibraryNonce(
            signer=verified.signer,
            nonce=nonce,
            purpose=purpose[:32],
            expiry=int(verified.message["expiry"]),
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise SignatureError(
            "签名已使用 / this signed request was already used; sign a new one",
            code=codes.SIGNATURE_REPLAYED,
        ) from None


def require_equal(
    verified: Verified, expected: Mapping[str, Any], *, skip: Sequence[str] = ()
) -> None:
    """The signed fields must be exactly what the server derives from the content/state."""
    for name in verified.mtype.field_names:
        if name in skip or name not in expected:
            continue
        if verified.message[name] != expected[name]:
            raise MessageError(
                f"签名消息的 {name} 与内容不符 / the signed {name} does not match the content "
                f"(signed {verified.message[name]!r}, expected {expected[name]!r}); sign the "
                "fields of what you send",
                code=codes.MESSAGE_MISMATCH,
                field=name,
            )


def require_scoped(verified: Verified, id_hex: str, what: str) -> None:
    """Project and match ids start with their author's address (decision 1)."""
    if id_hex[2:42].lower() != verified.signer[2:].lower():
        raise PermissionError_(
            f"{what} 须以签名者地址开头 / {what} must start with the signer's address "
            f"{verified.signer}; make it with records.new_id(signer)",
            code=codes.ID_NOT_SIGNER_SCOPED,
        )


def require_admin(session: Session, address: str, configured: Sequence[str]) -> None:
    """The library admin: the addresses in `library_admins` (settings) when set, else any
    holder of the ledger's ADMIN role on chain (indexed role events)."""
    if configured:
        ok = address.lower() in {a.lower() for a in configured}
    else:
        roles = current_roles(session, address)
        ok = "ADMIN" in roles or "DEFAULT_ADMIN" in roles
    if not ok:
        raise PermissionError_(
            f"{address} 不是项目库管理员 / {address} is not the library admin "
            "(BANGFU_LIBRARY_ADMINS, or the ledger's ADMIN when that is unset)",
            code=codes.NOT_ADMIN,
        )
