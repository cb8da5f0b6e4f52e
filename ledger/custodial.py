"""Custodial mode (off by default): the server keeps a member's signing key, encrypted under
var/keystore/, and signs records for whoever holds a bearer token bound to that key.

This trades away the first promise of the trust model for convenience: the operator can sign
as the organization. Only SHA-256 digests of tokens are stored; a token is shown once.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr
from sqlalchemy.orm import Session

from ledger.config import Settings
from ledger.core import codes
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.eip712 import Domain
from ledger.core.errors import (
    BadToken,
    ConfigError,
    CustodialDisabled,
    KindNotAllowed,
    NotFoundError,
    RecordError,
)
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.core.record_types import record_type
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.lookups import current_roles
from ledger.sdk.keys import decrypt_keystore, encrypt_key, read_keystore, write_key_file

TOKEN_PREFIX = "bfc_"
TOKENS_FILE = "tokens.json"

#: Which record kinds each role may sign (project anchors also depend on the project kind).
ROLE_KINDS: dict[str, frozenset[Kind]] = {
    "ORG": frozenset({Kind.PROJECT_ANCHOR, Kind.COMMITMENT, Kind.DELIVERY, Kind.DELIVERY_BATCH}),
    "COUNTY": frozenset({Kind.PROJECT_ANCHOR, Kind.RECEIPT}),
    "AUDITOR": frozenset({Kind.FLAG}),
}
_ANCHOR_ROLE: dict[int, str] = {ProjectKind.NEED: "COUNTY", ProjectKind.SUPPLY: "ORG"}


@dataclass(frozen=True)
class TokenEntry:
    """One issued token, as stored: its digest, never the token itself."""

    token_sha256: str
    address: str
    label: str
    created_at: int
    revoked_at: int | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def allowed_kind(roles: set[str] | frozenset[str], signed_kind: Kind, record: Any) -> bool:
    """Whether a key holding `roles` may sign a record of this kind (and project kind)."""
    if signed_kind == Kind.PROJECT_ANCHOR:
        return _ANCHOR_ROLE.get(record.project_kind) in roles
    return any(signed_kind in ROLE_KINDS.get(role, frozenset()) for role in roles)


class Custodian:
    """The keystore directory and token list of one server; safe to share between threads."""

    def __init__(self, settings: Settings, *, require_enabled: bool = True) -> None:
        if require_enabled and not settings.custodial:
            raise CustodialDisabled(
                "custodial signing is off on this server; sign records yourself and use "
                "POST /api/v1/records (see docs/client.md)"
            )
        if not settings.keystore_password:
            raise ConfigError(
                "custodial mode needs BANGFU_KEYSTORE_PASSWORD to encrypt the keystore; set it "
                "or turn custodial mode off (BANGFU_CUSTODIAL=false)",
                code=codes.CUSTODIAL_NO_PASSWORD,
            )
        self._password: SecretStr = settings.keystore_password
        self.dir = settings.var_dir / "keystore"
        self._keys: dict[str, LocalAccount] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ files
    @property
    def tokens_path(self) -> Path:
        return self.dir / TOKENS_FILE

    def key_path(self, address: str) -> Path:
        return self.dir / f"{address.lower().removeprefix('0x')}.json"

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        # add-key and revoke may run in another process than the API: an advisory file lock
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def entries(self) -> list[TokenEntry]:
        """Every token ever issued (digests only), oldest first."""
        try:
            raw = json.loads(self.tokens_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{self.tokens_path} is unreadable ({exc}); restore it from a backup",
                code=codes.CUSTODIAL_TOKENS_CORRUPT,
            ) from None
        return [TokenEntry(**e) for e in raw.get("tokens", [])]

    def _save(self, entries: list[TokenEntry]) -> None:
        tmp = self.tokens_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"tokens": [asdict(e) for e in entries]}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.tokens_path)

    # ------------------------------------------------------------------ admin
    def add_key(
        self, private_key: bytes, *, label: str = "", iterations: int | None = None
    ) -> tuple[str, str]:
        """Stores `private_key` encrypted under the keystore password and issues a token for
        it. Returns (address, token); the token is not kept and cannot be shown again."""
        account: LocalAccount = Account.from_key(private_key)
        address = str(account.address)
        with self._write_lock():
            path = self.key_path(address)
            if not path.exists():
                keystore = encrypt_key(
                    bytes(account.key), self._password.get_secret_value(), iterations=iterations
                )
                write_key_file(path, keystore)
        return address, self.issue_token(address, label=label)

    def issue_token(self, address: str, *, label: str = "") -> str:
        """A new bearer token for a stored key."""
        if not self.key_path(address).exists():
            raise NotFoundError(
                f"no custodial key for {address}; add it with `bangfu custodial add-key`",
                code=codes.CUSTODIAL_KEY_NOT_FOUND,
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write_lock():
            entries = self.entries()
            entries.append(
                TokenEntry(
                    token_sha256=token_digest(token),
                    address=address,
                    label=label,
                    created_at=int(time.time()),
                )
            )
            self._save(entries)
        return token

    def revoke(self, address: str) -> int:
        """Revokes every live token of `address`; returns how many were revoked."""
        now = int(time.time())
        count = 0
        with self._write_lock():
            entries = []
            for e in self.entries():
                if e.address.lower() == address.lower() and e.revoked_at is None:
                    e = TokenEntry(**{**asdict(e), "revoked_at": now})
                    count += 1
                entries.append(e)
            self._save(entries)
        return count

    # ------------------------------------------------------------------ signing
    def authenticate(self, authorization: str | None) -> str:
        """The address bound to an `Authorization: Bearer …` header value."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise BadToken(
                "send the custodial token as `Authorization: Bearer <token>`", code=codes.BAD_TOKEN
            )
        digest = token_digest(authorization[7:].strip())
        for entry in self.entries():
            if secrets.compare_digest(entry.token_sha256, digest) and entry.revoked_at is None:
                return entry.address
        raise BadToken(
            "the token is unknown or revoked; ask the operator for a new one", code=codes.BAD_TOKEN
        )

    def account(self, address: str) -> LocalAccount:
        """The stored key of `address`, decrypted once per process."""
        with self._lock:
            cached = self._keys.get(address)
            if cached is None:
                path = self.key_path(address)
                key = decrypt_keystore(
                    read_keystore(path), self._password.get_secret_value(), str(path)
                )
                cached = Account.from_key(key)
                if cached.address != address:
                    raise ConfigError(
                        f"{path} holds the key of {cached.address}, not {address}",
                        code=codes.CUSTODIAL_KEY_MISMATCH,
                    )
                self._keys[address] = cached
            return cached

    def sign(
        self,
        session: Session,
        authorization: str | None,
        kind: str,
        record: Mapping[str, Any],
        domain: Domain,
    ) -> SignedRecord:
        """Signs `record` (JSON as in POST /api/v1/records; `id` may be left out) with the
        key bound to the token, if the key's current roles may sign that kind."""
        address = self.authenticate(authorization)
        rtype = record_type(kind)
        if not isinstance(record, Mapping):
            raise RecordError("record must be a JSON object", code=codes.BAD_TYPE)
        given_id = "id" in record
        parsed = rtype.from_json({"id": "0x" + bytes(32).hex(), **record})
        if not given_id:
            # a fresh id, or for anchors the derived one that makes each version unique
            fresh = (
                ProjectAnchor.anchor_id(parsed.project_id, parsed.version)
                if isinstance(parsed, ProjectAnchor)
                else new_id(address)
            )
            parsed = dataclasses.replace(parsed, id=fresh)
        roles = set(current_roles(session, address))
        if not allowed_kind(roles, rtype.KIND, parsed):
            held = ", ".join(sorted(roles)) or "no role"
            raise KindNotAllowed(
                f"the key bound to this token ({address}) holds {held} and may not sign a "
                f"{rtype.KIND.slug} record of this kind",
                address=address,
            )
        return parsed.sign(self.account(address).key, domain)


_custodians: weakref.WeakKeyDictionary[Any, Custodian] = weakref.WeakKeyDictionary()
_custodians_lock = threading.Lock()


def custodian_for(owner: Any, settings: Settings) -> Custodian:
    """The one Custodian of `owner` (a LedgerService), made on first use."""
    with _custodians_lock:
        found = _custodians.get(owner)
        if found is None:
            found = Custodian(settings)
            _custodians[owner] = found
        return found
