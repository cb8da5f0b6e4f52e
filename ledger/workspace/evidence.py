"""Evidence files, content-addressed: `<evidence dir>/<sha256 hex>`, the layout the audit's
`--evidence` check reads as it is.

An upload carries an EIP-712 `EvidenceUpload` (hash, size, media type, public, nonce,
expiry) signed by a registered ORG or COUNTY key. The bytes are streamed to a temporary file
in the same folder while their SHA-256 is computed; a hash or size that differs from the
signed one removes the temporary file and stores nothing. A good file is fsynced and renamed
into place atomically (an existing file of that hash is kept: it has the same bytes).

A private file may be read by an auditor, by its uploader and by the county office of a
delivery that names its hash; anyone else gets 404, as if it did not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from eth_account import Account
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import (
    LedgerError,
    MessageError,
    NotFoundError,
    PermissionError_,
    SignatureError,
)
from ledger.library import auth, messages
from ledger.library.auth import Verified
from ledger.library.messages import MessageType
from ledger.library.models import LibraryNonce
from ledger.relayer.lookups import county_of, current_roles
from ledger.store.models import DeliveryRow
from ledger.workspace.models import EvidenceFile

EVIDENCE_UPLOAD = MessageType(
    "EvidenceUpload",
    (
        ("sha256", "bytes32"),
        ("size", "uint64"),
        ("mediaType", "string"),
        ("public", "bool"),
        ("nonce", "string"),  # 0x + 64 hex
        ("expiry", "uint64"),
    ),
)

#: The roles that may upload evidence.
UPLOADERS = ("ORG", "COUNTY")
#: Media types shown in the browser rather than downloaded (no SVG: it can carry script).
INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEDIA = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
_CHUNK = 1 << 20
TEMP_PREFIX = ".upload-"
#: An upload's temporary file older than this is a leftover of a killed upload (seconds).
STALE_AFTER = 3600.0


def evidence_typed_data(message: dict[str, Any], domain: Domain) -> dict[str, Any]:
    return messages.typed_data(EVIDENCE_UPLOAD, message, domain)


def sign_upload(message: dict[str, Any], domain: Domain, key: bytes | str) -> str:
    """The uploader's signature (tests, SDK); the browser signs the same typed data."""
    parsed = parse_upload(message)
    signed = Account.unsafe_sign_hash(
        messages.digest(EVIDENCE_UPLOAD, parsed, domain), Account.from_key(key).key
    )
    sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return "0x" + sig.hex()


def parse_upload(data: Any) -> dict[str, Any]:
    """An EvidenceUpload from JSON (`messages.parse` for every field but the bool)."""
    if not isinstance(data, dict):
        raise MessageError(
            "缺少签名消息 / the upload needs a signed EvidenceUpload message",
            code=codes.BAD_MESSAGE,
            field="message",
        )
    public = data.get("public")
    if not isinstance(public, bool):
        raise MessageError(
            "消息字段 public 无效 / message field public must be true or false",
            code=codes.BAD_MESSAGE,
            field="public",
        )
    rest = MessageType(
        EVIDENCE_UPLOAD.name, tuple(f for f in EVIDENCE_UPLOAD.fields if f[0] != "public")
    )
    parsed = messages.parse(rest, {k: v for k, v in data.items() if k != "public"})
    parsed["public"] = public
    messages.check_nonce(parsed["nonce"])
    if not _MEDIA.fullmatch(str(parsed["mediaType"])):
        raise MessageError(
            "消息字段 mediaType 无效 / mediaType must be a lowercase media type such as image/jpeg",
            code=codes.BAD_MESSAGE,
            field="mediaType",
        )
    return {name: parsed[name] for name in EVIDENCE_UPLOAD.field_names}


def verify_upload(
    session: Session, message: Any, signature: str | None, domain: Domain, max_bytes: int
) -> Verified:
    """Signature, expiry, unused nonce, and an ORG or COUNTY signer; read only."""
    if not signature:
        raise SignatureError(
            "缺少签名 / the upload needs the uploader's EIP-712 signature over EvidenceUpload",
            code=codes.SIGNATURE_REQUIRED,
        )
    parsed = parse_upload(message)
    signer = messages.recover(EVIDENCE_UPLOAD, parsed, domain, signature)
    messages.check_expiry(int(parsed["expiry"]), auth.now())
    if session.get(LibraryNonce, (signer, parsed["nonce"])) is not None:
        raise SignatureError(
            "签名已使用 / this signed upload was already used; sign a new one",
            code=codes.SIGNATURE_REPLAYED,
        )
    if not set(UPLOADERS) & set(current_roles(session, signer)):
        raise PermissionError_(
            f"{signer} 不能上传证据 / {signer} is not a registered organization or county "
            "office; only they upload evidence",
            code=codes.NOT_REGISTERED,
        )
    if int(parsed["size"]) > max_bytes:
        raise LedgerError(
            f"文件过大 / evidence files are at most {max_bytes:,} bytes",
            code=codes.EVIDENCE_TOO_LARGE,
        )
    return Verified(EVIDENCE_UPLOAD, parsed, signer, signature)


@dataclass(frozen=True)
class Staged:
    """An upload written to a temporary file, its hash checked."""

    path: Path
    sha256: str
    size: int


@contextlib.contextmanager
def staged(
    folder: Path, source: BinaryIO, expected: dict[str, Any], max_bytes: int
) -> Iterator[Staged]:
    """Streams `source` to a temporary file in `folder`, checking size and SHA-256 against
    the signed message; the temporary file is gone when the block ends (renamed into place
    by `store`, or removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    fd, name = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=".part")
    path = Path(name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise LedgerError(
                        f"文件过大 / evidence files are at most {max_bytes:,} bytes",
                        code=codes.EVIDENCE_TOO_LARGE,
                    )
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if "0x" + digest != expected["sha256"]:
            raise LedgerError(
                f"文件与签名的哈希不符 / the file's SHA-256 is {digest}, not the signed "
                f"{str(expected['sha256'])[2:]}; nothing was stored",
                code=codes.EVIDENCE_HASH_MISMATCH,
            )
        if size != int(expected["size"]):
            raise LedgerError(
                f"文件大小与签名不符 / the file has {size} bytes, not the signed "
                f"{expected['size']}; nothing was stored",
                code=codes.EVIDENCE_SIZE_MISMATCH,
            )
        yield Staged(path, digest, size)
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _sweep(folder: Path, older_than: float = STALE_AFTER) -> None:
    """Removes temporary files a killed upload left behind, which the audit would report
    as files not named by their hash."""
    cutoff = time.time() - older_than
    for path in folder.glob(f"{TEMP_PREFIX}*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store(session: Session, verified: Verified, file: Staged, folder: Path) -> EvidenceFile:
    """Spends the nonce, records the file (the first upload's record stays) and renames it
    into place; in the caller's write, so a refused nonce leaves no file behind."""
    auth.consume(session, verified, "evidence")
    row = session.get(EvidenceFile, file.sha256)
    if row is None:
        m = verified.message
        row = EvidenceFile(
            sha256=file.sha256,
            size=file.size,
            media_type=str(m["mediaType"]),
            public=bool(m["public"]),
            uploader=verified.signer,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # the same file uploaded at the same moment by another request: keep its row
            row = session.get(EvidenceFile, file.sha256)
            assert row is not None
    final = folder / file.sha256
    if final.exists():
        file.path.unlink()
    else:
        os.replace(file.path, final)
        _fsync_dir(folder)
    return row


def path_of(folder: Path, sha256: str) -> Path:
    return folder / sha256


def normal_hash(value: str) -> str:
    """64 lowercase hex digits (a 0x prefix is dropped), else 404."""
    text = value.lower().removeprefix("0x")
    if not _HEX64.fullmatch(text):
        raise NotFoundError("没有此证据 / no such evidence file", code=codes.EVIDENCE_NOT_FOUND)
    return text


def readable(session: Session, sha256: str, reader: str | None) -> EvidenceFile:
    """The file's record if `reader` (a signed-in address, or None) may read it, else 404."""
    row = session.get(EvidenceFile, sha256)
    if row is not None and (row.public or (reader is not None and _may_read(session, row, reader))):
        return row
    raise NotFoundError("没有此证据 / no such evidence file", code=codes.EVIDENCE_NOT_FOUND)


def _may_read(session: Session, row: EvidenceFile, reader: str) -> bool:
    if reader == row.uploader or "AUDITOR" in current_roles(session, reader):
        return True
    county = county_of(session, reader)
    if county is None:
        return False
    named = session.scalar(
        select(DeliveryRow.id)
        .where(DeliveryRow.evidence_hash == "0x" + row.sha256, DeliveryRow.county == county)
        .limit(1)
    )
    return named is not None
