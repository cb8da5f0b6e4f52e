"""Delivery lines and the ids records carry: a batch's off-chain lines, beneficiary
pseudonyms, and record ids scoped to their signer (the contract's front-running guard)."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from ledger.core.errors import RecordError
from ledger.core.merkle import leaf_hash

__all__ = [
    "DeliveryLine",
    "LineFields",
    "address_bytes",
    "batch_totals",
    "derive_id",
    "id_scope",
    "is_scoped",
    "new_id",
    "parse_line",
    "pseudonym",
    "scoped_id",
]


# ------------------------------------------------------------------------------------ ids


def address_bytes(signer: str | bytes) -> bytes:
    """A 20-byte address from 0x-hex text or bytes, or RecordError "invalid_address"."""
    raw = (
        bytes.fromhex(signer[2:] if signer[:2] in ("0x", "0X") else signer)
        if isinstance(signer, str)
        else bytes(signer)
    )
    if len(raw) != 20:
        raise RecordError(f"{signer!r} is not a 20-byte address", code="invalid_address")
    return raw


def new_id(signer: str | bytes | None = None) -> bytes:
    """A fresh record id (32 bytes), unique without coordination.

    With `signer`, the id is scoped to it: the signer's 20-byte address followed by 12 random
    bytes. The contract requires every record id (and a project's id) to start with its
    signer's address, so nobody who sees a pending record can use its id first.
    """
    if signer is None:
        return os.urandom(32)
    return address_bytes(signer) + os.urandom(12)


def scoped_id(signer: str | bytes, digest: bytes) -> bytes:
    """A deterministic id scoped to `signer`: its address, then the first 12 bytes of `digest`."""
    return address_bytes(signer) + digest[:12]


def id_scope(record_id: bytes) -> str:
    """The checksummed address an id is scoped to (its first 20 bytes)."""
    return to_checksum_address(record_id[:20])


def is_scoped(record_id: bytes, signer: str) -> bool:
    """True when `record_id` starts with `signer`'s address, as the contract requires."""
    return len(record_id) == 32 and record_id[:20] == address_bytes(signer)


def derive_id(*parts: bytes | str | int) -> bytes:
    """A deterministic id: keccak256 over length-prefixed parts (for anchors and tests)."""
    buf = bytearray()
    for part in parts:
        raw = (
            part.encode()
            if isinstance(part, str)
            else part.to_bytes(32, "big")
            if isinstance(part, int)
            else part
        )
        buf += len(raw).to_bytes(4, "big") + raw
    return keccak(bytes(buf))


# --------------------------------------------------------------------------- delivery lines


@dataclass(frozen=True)
class DeliveryLine:
    """One line of a delivery batch: one household or person served, off chain.

    Line bytes (version 1), packed: 0x01 ‖ commitmentId (32) ‖ quantity u128 ‖ deliveredAt u64
    ‖ beneficiary pseudonym (32) ‖ evidenceHash (32) ‖ len u16 ‖ item UTF-8 ‖ len u16 ‖ unit.
    The batch root is the RFC 9162 root over SHA-256(0x00 ‖ line bytes).
    """

    commitment_id: bytes
    item: str
    quantity: int
    unit: str
    delivered_at: int
    beneficiary: bytes
    evidence_hash: bytes

    def line_bytes(self) -> bytes:
        item = self.item.encode("utf-8")
        unit = self.unit.encode("utf-8")
        if len(item) > 0xFFFF or len(unit) > 0xFFFF:
            raise RecordError("item and unit must be under 64 KiB", code="text_too_long")
        cid, beneficiary, evidence = self.commitment_id, self.beneficiary, self.evidence_hash
        if len(cid) != 32 or len(beneficiary) != 32 or len(evidence) != 32:
            for name in ("commitment_id", "beneficiary", "evidence_hash"):
                if len(getattr(self, name)) != 32:
                    raise RecordError(f"{name} must be 32 bytes", code="bad_length")
        return b"".join(
            (
                b"\x01",
                cid,
                self.quantity.to_bytes(16, "big"),
                self.delivered_at.to_bytes(8, "big"),
                beneficiary,
                evidence,
                len(item).to_bytes(2, "big"),
                item,
                len(unit).to_bytes(2, "big"),
                unit,
            )
        )

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.line_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> DeliveryLine:
        return cls(*parse_line(data))


#: A delivery line's fields in `DeliveryLine` order, as `parse_line` gives them.
LineFields = tuple[bytes, str, int, str, int, bytes, bytes]


#: The fixed head of line bytes: version, commitment id, quantity (u128 as two u64),
#: deliveredAt, beneficiary, evidence hash, and the item's length.
_HEAD = struct.Struct(">B32sQQQ32s32sH")


def parse_line(data: bytes) -> LineFields:
    """The fields of line bytes, in `DeliveryLine` order, without making the object (bulk
    ingest parses 100k lines a second this way); only the exact encoding is accepted."""
    if not data or data[0] != 1 or len(data) < 125:
        raise RecordError("delivery line bytes are malformed", code="bad_line_bytes")
    _, cid, qty_hi, qty_lo, delivered_at, beneficiary, evidence, n = _HEAD.unpack_from(data)
    pos = 123 + n
    try:
        item = data[123:pos].decode("utf-8")
        m = int.from_bytes(data[pos : pos + 2], "big")
        unit = data[pos + 2 : pos + 2 + m].decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("delivery line text is not UTF-8", code="bad_line_bytes") from None
    if pos + 2 + m != len(data):
        raise RecordError("delivery line bytes have trailing data", code="bad_line_bytes")
    return (cid, item, qty_hi << 64 | qty_lo, unit, delivered_at, beneficiary, evidence)


def pseudonym(county_key: bytes, id_number: str) -> bytes:
    """A beneficiary's keyed pseudonym: HMAC-SHA256(county key, normalized ID number)."""
    normalized = id_number.strip().upper().encode("ascii")
    return hmac.new(county_key, normalized, hashlib.sha256).digest()


def batch_totals(lines: Sequence[DeliveryLine]) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    """Commitments in ascending id order (the contract requires strictly increasing ids, so
    none repeats) and the quantity the lines deliver against each."""
    totals: dict[bytes, int] = {}
    for line in lines:
        totals[line.commitment_id] = totals.get(line.commitment_id, 0) + line.quantity
    ids = tuple(sorted(totals))
    return ids, tuple(totals[c] for c in ids)
