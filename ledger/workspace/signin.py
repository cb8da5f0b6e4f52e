"""Signing in: the server hands out an EIP-712 `SignIn` challenge (origin, address, nonce,
issue time, expiry), the browser signs it with the user's key, and the server opens a session.

The signed origin must be the origin this server is reached at, so a challenge signed for
another site opens nothing here; the nonce is spent in the same transaction that creates the
session (`ledger.library.auth`), so a signed challenge opens one session at most; and only
an address holding a role on chain (COUNTY, ORG, AUDITOR, ADMIN) may sign in.

The cookie carries a random 32-byte token; the database keeps only its SHA-256. The CSRF
token is an HMAC of the session token, so the server can give it again to the page that
holds the cookie (GET /session) without storing it; its SHA-256 is kept to check it against.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_utils import is_address, to_checksum_address
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import MessageError, PermissionError_, RegionError, SignatureError
from ledger.library import auth, messages, regions
from ledger.library.messages import MessageType
from ledger.relayer.lookups import county_of, current_roles
from ledger.store.models import Organization
from ledger.workspace.models import SignInSession

SIGN_IN = MessageType(
    "SignIn",
    (
        ("origin", "string"),  # scheme://host:port the page was served from
        ("address", "address"),
        ("nonce", "string"),  # 0x + 64 hex
        ("issuedAt", "uint64"),
        ("expiry", "uint64"),
    ),
)

#: How long a challenge may be signed and sent back.
CHALLENGE_LIFETIME = 300
#: How far ahead of the server's clock `issuedAt` may be (a browser's clock drifts).
CLOCK_SKEW = 120
#: The roles that may open a session, in the order they are listed.
SIGN_IN_ROLES = ("COUNTY", "ORG", "AUDITOR", "ADMIN")

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def csrf_of(token: str) -> str:
    """The CSRF token that belongs to a session token."""
    return hmac.new(token.encode(), b"bangfu-csrf", hashlib.sha256).hexdigest()


def challenge(
    address: str, origin: str, domain: Domain, *, now: int | None = None
) -> dict[str, Any]:
    """`{typed_data, message}` for `address` to sign in at `origin`."""
    if not isinstance(address, str) or not is_address(address):
        raise MessageError(
            "地址无效 / address must be a 20-byte 0x address", code=codes.BAD_ADDRESS
        )
    at = auth.now() if now is None else now
    message = {
        "origin": origin,
        "address": to_checksum_address(address),
        "nonce": messages.new_nonce(),
        "issuedAt": at,
        "expiry": at + CHALLENGE_LIFETIME,
    }
    return {"typed_data": messages.typed_data(SIGN_IN, message, domain), "message": message}


@dataclass(frozen=True)
class Role:
    role: str
    county: int | None
    county_name: str | None
    org_code: str | None
    name: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def roles_of(session: Session, address: str) -> list[Role]:
    """The roles `address` holds now (indexed role events), with county and org names."""
    held = current_roles(session, address)
    out = []
    for role in SIGN_IN_ROLES:
        event = held.get(role)
        if event is None and not (role == "ADMIN" and "DEFAULT_ADMIN" in held):
            continue
        county = county_name = org_code = name = None
        if role == "COUNTY":
            county = county_of(session, address)
            if county is not None:
                try:
                    county_name = regions.county_name(county)
                except RegionError:  # a code outside the shipped table: the number only
                    county_name = None
            name = county_name
        elif role == "ORG" and event is not None:
            org_code = event.org_code
            org = session.get(Organization, org_code) if org_code else None
            name = org.name if org is not None and org.name else None
        out.append(Role(role, county, county_name, org_code, name))
    return out


@dataclass(frozen=True)
class Opened:
    """A new session: the cookie's token (never stored), its CSRF token and expiry."""

    token: str
    csrf_token: str
    address: str
    expires_at: datetime


def _check_origin(origin: str) -> str:
    if not _ORIGIN.fullmatch(origin):
        raise PermissionError_(
            "来源无效 / the origin must be scheme://host[:port]", code=codes.WRONG_ORIGIN
        )
    return origin


def sign_in(
    session: Session,
    message: Any,
    signature: str | None,
    domain: Domain,
    *,
    origin: str,
    lifetime: int,
    previous: str | None = None,
) -> Opened:
    """Checks a signed SignIn challenge and opens a session (in the caller's write); the
    session of the `previous` cookie, if any, ends (one browser, one session)."""
    verified = auth.verify(session, SIGN_IN, message, signature, domain)
    m = verified.message
    messages.check_nonce(m["nonce"], "; ask for a new challenge")
    if m["address"] != verified.signer:
        raise SignatureError(
            "签名者与地址不符 / the challenge was not signed by the address it names",
            code=codes.BAD_SIGNATURE,
        )
    now = auth.now()
    if (
        int(m["issuedAt"]) > now + CLOCK_SKEW
        or int(m["expiry"]) > now + CHALLENGE_LIFETIME + CLOCK_SKEW
    ):
        raise SignatureError(
            "签名时间无效 / the challenge's times are not ones this server gives; ask for "
            "a new challenge",
            code=codes.EXPIRY_TOO_FAR,
        )
    if m["origin"] != _check_origin(origin):
        raise PermissionError_(
            f"来源不符 / this challenge was signed for {m['origin']!r}, not {origin!r}; sign "
            "in from this site",
            code=codes.WRONG_ORIGIN,
        )
    if not roles_of(session, verified.signer):
        raise PermissionError_(
            f"{verified.signer} 未登记 / {verified.signer} holds no role on the ledger; ask the "
            "civil-affairs office to register it first",
            code=codes.NOT_REGISTERED,
        )
    auth.consume(session, verified, "sign_in")
    session.execute(delete(SignInSession).where(SignInSession.expires_at < datetime.now(UTC)))
    if previous:
        sign_out(session, _hash(previous))
    token = os.urandom(32).hex()
    csrf = csrf_of(token)
    expires = datetime.now(UTC) + timedelta(seconds=lifetime)
    session.add(
        SignInSession(
            token_hash=_hash(token),
            address=verified.signer,
            csrf_hash=_hash(csrf),
            expires_at=expires,
        )
    )
    session.flush()
    return Opened(token, csrf, verified.signer, expires)


@dataclass(frozen=True)
class Current:
    """The session a request's cookie names."""

    token_hash: str
    address: str
    csrf_hash: str
    expires_at: datetime

    def csrf_ok(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(_hash(presented), self.csrf_hash)


def _aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back (stored as UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def current(session: Session, token: str | None) -> Current:
    """The live session of a cookie token, else 401 session_required / session_expired."""
    if not token:
        raise SignatureError(
            "请先登录 / sign in first: this needs a session", code=codes.SESSION_REQUIRED
        )
    row = session.get(SignInSession, _hash(token))
    if row is None:
        raise SignatureError(
            "会话无效 / no such session; sign in again", code=codes.SESSION_REQUIRED
        )
    expires = _aware(row.expires_at)
    if expires <= datetime.now(UTC):
        raise SignatureError(
            "会话已过期 / the session has expired; sign in again", code=codes.SESSION_EXPIRED
        )
    if not roles_of(session, row.address):
        # deregistered since signing in: the session ends with the role
        raise PermissionError_(
            f"{row.address} 已不再登记 / {row.address} no longer holds a role on the ledger",
            code=codes.NOT_REGISTERED,
        )
    return Current(row.token_hash, row.address, row.csrf_hash, expires)


def sign_out(session: Session, token_hash: str) -> None:
    session.execute(delete(SignInSession).where(SignInSession.token_hash == token_hash))
