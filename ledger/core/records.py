"""Record types and their encodings: EIP-712 typed data, canonical bytes, leaf hashes, ids.

This is the one place a record's bytes are made. The contract builds the same bytes
(`AidLedger._append`), the indexer and the audit parse them with `SignedRecord.from_bytes`,
and the API, the SDK and the tests call this module rather than encoding anything again.

Canonical record bytes (format version 1), packed:

    version u8 ‖ kind u8 ‖ chainId u256 ‖ contract (20) ‖ signer (20)
    ‖ abi.encode(struct) ‖ r (32) ‖ s (32) ‖ v u8

Self-describing: with an inclusion proof, these bytes alone show that the record is in the
log and who signed it under which domain. The leaf hash is SHA-256(0x00 ‖ bytes) (RFC 9162).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import Any, ClassVar, Self

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

from ledger.core.errors import RecordError

FORMAT_VERSION = 1
#: A project title's bound in UTF-8 bytes (the contract's MAX_TITLE_BYTES).
MAX_TITLE_BYTES = 200
#: The most commitments one DeliveryBatch delivers against (the contract's
#: MAX_BATCH_COMMITMENTS); also the bound of every list field in JSON.
MAX_BATCH_COMMITMENTS = 256
DOMAIN_NAME = "BangfuLedger"
DOMAIN_VERSION = "1"
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
_HEADER_LEN = 1 + 1 + 32 + 20 + 20
_SIG_LEN = 65

#: The notice's categories (DESIGN §2), numbered 1..10 on chain, in this order.
CATEGORIES: tuple[str, ...] = (
    "产业发展",
    "人才培育",
    "特殊群体关爱",
    "乡村治理",
    "科技助农",
    "文化体育",
    "环保生态",
    "卫生健康",
    "社会治理",
    "民生保障",
)
CATEGORY_EN: tuple[str, ...] = (
    "industry development",
    "talent cultivation",
    "care for special groups",
    "village governance",
    "science and technology for agriculture",
    "culture and sports",
    "environment and ecology",
    "health",
    "social governance",
    "livelihood security",
)


class Kind(IntEnum):
    """Record kinds, numbered as on chain."""

    PROJECT_ANCHOR = 1
    COMMITMENT = 2
    DELIVERY = 3
    RECEIPT = 4
    FLAG = 5
    DELIVERY_BATCH = 6

    @property
    def slug(self) -> str:
        return self.name.lower()


class ProjectKind(IntEnum):
    NEED = 1
    SUPPLY = 2


class ResourceKind(IntEnum):
    """Funds are counted in fen (CNY/100), goods in their unit, services in hours."""

    FUNDS = 1
    GOODS = 2
    SERVICE = 3


class FlagReason(IntEnum):
    """Reason codes an auditor can give; 0xFFFF is free-form, explained by the note."""

    EVIDENCE_MISMATCH = 1
    LATE_DELIVERY = 2
    RECEIPT_SHORTFALL = 3
    DUPLICATE_BENEFICIARY = 4
    DATA_TAMPERING = 5
    OTHER = 0xFFFF


def category_code(name: str) -> int:
    """The on-chain number (1..10) of a category given in Chinese or English."""
    if name in CATEGORIES:
        return CATEGORIES.index(name) + 1
    if name in CATEGORY_EN:
        return CATEGORY_EN.index(name) + 1
    raise RecordError(
        f"unknown category {name!r}; use one of: {', '.join(CATEGORIES)}",
        code="unknown_category",
    )


def text32(text: str) -> bytes:
    """A short UTF-8 string (a unit such as 斤 or kg) left-aligned in 32 bytes."""
    raw = text.encode("utf-8")
    if len(raw) > 32:
        raise RecordError(f"{text!r} is longer than 32 UTF-8 bytes", code="text_too_long")
    return raw.ljust(32, b"\0")


def from_text32(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", errors="replace")


def _address_bytes(signer: str | bytes) -> bytes:
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
    return _address_bytes(signer) + os.urandom(12)


def scoped_id(signer: str | bytes, digest: bytes) -> bytes:
    """A deterministic id scoped to `signer`: its address, then the first 12 bytes of `digest`."""
    return _address_bytes(signer) + digest[:12]


def id_scope(record_id: bytes) -> str:
    """The checksummed address an id is scoped to (its first 20 bytes)."""
    return to_checksum_address(record_id[:20])


def is_scoped(record_id: bytes, signer: str) -> bool:
    """True when `record_id` starts with `signer`'s address, as the contract requires."""
    return len(record_id) == 32 and record_id[:20] == _address_bytes(signer)


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


def date_code(day: date | None) -> int:
    """A calendar date (Beijing time) as YYYYMMDD, as in ProjectAnchor.endDate; 0 for none."""
    if day is None:
        return 0
    return day.year * 10000 + day.month * 100 + day.day


def valid_date_code(code: int) -> bool:
    """The contract's rule for endDate: 0, or YYYYMMDD with month 1..12 and day 1..31."""
    if code == 0:
        return True
    month, day = code // 100 % 100, code % 100
    return 10000101 <= code <= 99991231 and 1 <= month <= 12 and 1 <= day <= 31


def valid_title(title: str) -> bool:
    """The contract's rule for a title: 1..MAX_TITLE_BYTES bytes of UTF-8."""
    try:
        return 0 < len(title.encode("utf-8")) <= MAX_TITLE_BYTES
    except UnicodeEncodeError:
        return False


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash."""
    return hashlib.sha256(b"\x00" + data).digest()


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def parse_bytes32(value: Any, name: str) -> bytes:
    """A 32-byte value from 0x-hex text or bytes, with a clear error otherwise."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    elif isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise RecordError(
                f"{name} must be 0x-prefixed hex", code="bad_hex", field=name
            ) from None
    else:
        raise RecordError(f"{name} must be a 32-byte hex string", code="bad_type", field=name)
    if len(raw) != 32:
        raise RecordError(f"{name} must be 32 bytes, got {len(raw)}", code="bad_length", field=name)
    return raw


def _parse_uint(value: Any, bits: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        else:
            raise RecordError(f"{name} must be an integer", code="bad_type", field=name)
    if value < 0 or value >= 1 << bits:
        raise RecordError(
            f"{name} must be between 0 and 2^{bits}-1", code="out_of_range", field=name
        )
    return value


def _parse_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string", code="bad_type", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(
            f"{name} is not valid Unicode text", code="bad_type", field=name
        ) from None
    return value


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain records are signed under: one deployment of AidLedger."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", to_checksum_address(self.verifying_contract))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def separator(self) -> bytes:
        typehash = keccak(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        )
        return keccak(
            typehash
            + keccak(self.name.encode())
            + keccak(self.version.encode())
            + self.chain_id.to_bytes(32, "big")
            + bytes(12)
            + bytes.fromhex(self.verifying_contract[2:])
        )


_DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@dataclass(frozen=True)
class Record:
    """Base of the six record kinds. Subclasses list their fields in EIP-712 order."""

    KIND: ClassVar[Kind]
    # (python attribute, solidity type) in struct order
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]]

    id: bytes

    # ---- typed data ----------------------------------------------------------
    @classmethod
    def primary_type(cls) -> str:
        return cls.__name__

    @classmethod
    def type_string(cls) -> str:
        inner = ",".join(f"{t} {_camel(n)}" for n, t in cls.SCHEMA)
        return f"{cls.primary_type()}({inner})"

    @classmethod
    def typehash(cls) -> bytes:
        return keccak(cls.type_string().encode())

    @classmethod
    def eip712_types(cls) -> list[dict[str, str]]:
        return [{"name": _camel(n), "type": t} for n, t in cls.SCHEMA]

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n, _ in self.SCHEMA)

    def struct_hash(self) -> bytes:
        parts = [self.typehash()]
        for (_, typ), value in zip(self.SCHEMA, self.values(), strict=True):
            if typ == "string":
                parts.append(keccak(value.encode("utf-8")))
            elif typ.endswith("[]"):
                elem = typ[:-2]
                parts.append(keccak(b"".join(abi_encode([elem], [v]) for v in value)))
            else:
                parts.append(abi_encode([typ], [value]))
        return keccak(b"".join(parts))

    def digest(self, domain: Domain) -> bytes:
        """The EIP-712 hash the author signs."""
        return keccak(b"\x19\x01" + domain.separator() + self.struct_hash())

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full EIP-712 message (for eth_signTypedData_v4 and wallets)."""
        message: dict[str, Any] = {}
        for name, typ in self.SCHEMA:
            value = getattr(self, name)
            if typ == "bytes32":
                message[_camel(name)] = _hex(value)
            elif typ == "bytes32[]":
                message[_camel(name)] = [_hex(v) for v in value]
            else:
                message[_camel(name)] = list(value) if typ.endswith("[]") else value
        return {
            "types": {"EIP712Domain": _DOMAIN_TYPES, self.primary_type(): self.eip712_types()},
            "primaryType": self.primary_type(),
            "domain": domain.as_dict(),
            "message": message,
        }

    # ---- ABI -----------------------------------------------------------------
    @classmethod
    def tuple_type(cls) -> str:
        return "(" + ",".join(t for _, t in cls.SCHEMA) + ")"

    def abi_encoded(self) -> bytes:
        """`abi.encode(struct)` as Solidity computes it."""
        return abi_encode([self.tuple_type()], [self.values()])

    @classmethod
    def from_abi(cls, data: bytes) -> Self:
        (values,) = abi_decode([cls.tuple_type()], data)
        kwargs = {}
        for (name, typ), value in zip(cls.SCHEMA, values, strict=True):
            kwargs[name] = tuple(value) if typ.endswith("[]") else value
        return cls(**kwargs)  # type: ignore[arg-type]

    def call_args(self) -> tuple[Any, ...]:
        """The struct as web3.py passes a tuple argument."""
        return tuple(list(v) if isinstance(v, tuple) else v for v in self.values())

    # ---- JSON ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """camelCase fields, bytes as 0x-hex, as in the EIP-712 message."""
        out: dict[str, Any] = {}
        for name, typ in self.SCHEMA:
            value = getattr(self, name)
            if typ == "bytes32":
                out[_camel(name)] = _hex(value)
            elif typ == "bytes32[]":
                out[_camel(name)] = [_hex(v) for v in value]
            elif typ.endswith("[]"):
                out[_camel(name)] = [str(v) if v >= 1 << 53 else v for v in value]
            elif typ == "string":
                out[_camel(name)] = value
            else:
                out[_camel(name)] = str(value) if value >= 1 << 53 else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parses camelCase JSON, refusing unknown, missing or ill-typed fields."""
        if not isinstance(data, Mapping):
            raise RecordError("record must be a JSON object", code="bad_type")
        names = {_camel(n): (n, t) for n, t in cls.SCHEMA}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise RecordError(
                f"unknown field(s) for {cls.primary_type()}: {', '.join(unknown)}",
                code="unknown_field",
            )
        missing = sorted(set(names) - set(data))
        if missing:
            raise RecordError(
                f"missing field(s) for {cls.primary_type()}: {', '.join(missing)}",
                code="missing_field",
            )
        kwargs: dict[str, Any] = {}
        for camel, (name, typ) in names.items():
            value = data[camel]
            if typ == "bytes32":
                kwargs[name] = parse_bytes32(value, camel)
            elif typ == "string":
                kwargs[name] = _parse_text(value, camel)
            elif typ.endswith("[]"):
                if not isinstance(value, list) or len(value) > MAX_BATCH_COMMITMENTS:
                    raise RecordError(
                        f"{camel} must be a list of at most {MAX_BATCH_COMMITMENTS}",
                        code="bad_type",
                    )
                elem = typ[:-2]
                kwargs[name] = tuple(
                    parse_bytes32(v, camel)
                    if elem == "bytes32"
                    else _parse_uint(v, int(elem[4:]), camel)
                    for v in value
                )
            else:
                kwargs[name] = _parse_uint(value, int(typ[4:]), camel)
        return cls(**kwargs)

    # ---- signing ---------------------------------------------------------------
    def sign(self, private_key: bytes | str, domain: Domain) -> SignedRecord:
        """Signs with EIP-712 under `domain` (low-s, v in {27, 28})."""
        acct = Account.from_key(private_key)
        signed = Account.unsafe_sign_hash(self.digest(domain), acct.key)
        sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
        return SignedRecord(record=self, domain=domain, signer=acct.address, signature=sig)


@dataclass(frozen=True)
class ProjectAnchor(Record):
    KIND: ClassVar[Kind] = Kind.PROJECT_ANCHOR
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("project_id", "bytes32"),
        ("project_kind", "uint8"),
        ("county", "uint32"),
        ("category", "uint8"),
        ("title", "string"),
        ("budget", "uint128"),
        ("end_date", "uint32"),
        ("content_hash", "bytes32"),
        ("version", "uint32"),
    )
    project_id: bytes = b""
    project_kind: int = ProjectKind.NEED
    county: int = 0
    category: int = 1
    #: UTF-8, 1..MAX_TITLE_BYTES bytes; signed so that a wallet shows it.
    title: str = ""
    #: fen: a need's budget; a supply's funds capacity, or 0.
    budget: int = 0
    #: YYYYMMDD in Beijing time (a need's deadline, a supply's period end), or 0.
    end_date: int = 0
    content_hash: bytes = bytes(32)
    version: int = 1

    @staticmethod
    def anchor_id(project_id: bytes, version: int) -> bytes:
        """Anchors have derived ids, scoped to the project's owner (the first 20 bytes of
        the project id, who alone may anchor its versions), so nobody can take them first."""
        return scoped_id(project_id[:20], derive_id("ProjectAnchor", project_id, version))


@dataclass(frozen=True)
class Commitment(Record):
    KIND: ClassVar[Kind] = Kind.COMMITMENT
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("need_id", "bytes32"),
        ("match_id", "bytes32"),
        ("resource_kind", "uint8"),
        ("quantity", "uint128"),
        ("unit", "bytes32"),
        ("due_date", "uint64"),
        ("terms_hash", "bytes32"),
    )
    need_id: bytes = bytes(32)
    match_id: bytes = bytes(32)
    resource_kind: int = ResourceKind.FUNDS
    quantity: int = 0
    unit: bytes = bytes(32)
    due_date: int = 0
    terms_hash: bytes = bytes(32)


@dataclass(frozen=True)
class Delivery(Record):
    KIND: ClassVar[Kind] = Kind.DELIVERY
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("commitment_id", "bytes32"),
        ("quantity", "uint128"),
        ("delivered_at", "uint64"),
        ("evidence_hash", "bytes32"),
        ("beneficiary_count", "uint32"),
        ("beneficiary_root", "bytes32"),
    )
    commitment_id: bytes = bytes(32)
    quantity: int = 0
    delivered_at: int = 0
    evidence_hash: bytes = bytes(32)
    beneficiary_count: int = 0
    beneficiary_root: bytes = bytes(32)


@dataclass(frozen=True)
class Receipt(Record):
    KIND: ClassVar[Kind] = Kind.RECEIPT
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("delivery_id", "bytes32"),
        ("confirmed_quantity", "uint128"),
        ("note_hash", "bytes32"),
    )
    delivery_id: bytes = bytes(32)
    confirmed_quantity: int = 0
    note_hash: bytes = bytes(32)


@dataclass(frozen=True)
class Flag(Record):
    KIND: ClassVar[Kind] = Kind.FLAG
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("record_id", "bytes32"),
        ("reason_code", "uint16"),
        ("note_hash", "bytes32"),
    )
    record_id: bytes = bytes(32)
    reason_code: int = FlagReason.OTHER
    note_hash: bytes = bytes(32)


@dataclass(frozen=True)
class DeliveryBatch(Record):
    KIND: ClassVar[Kind] = Kind.DELIVERY_BATCH
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("commitment_ids", "bytes32[]"),
        ("quantities", "uint128[]"),
        ("line_count", "uint32"),
        ("batch_root", "bytes32"),
        ("evidence_hash", "bytes32"),
    )
    commitment_ids: tuple[bytes, ...] = field(default_factory=tuple)
    quantities: tuple[int, ...] = field(default_factory=tuple)
    line_count: int = 0
    batch_root: bytes = bytes(32)
    evidence_hash: bytes = bytes(32)


RECORD_TYPES: dict[Kind, type[Record]] = {
    cls.KIND: cls for cls in (ProjectAnchor, Commitment, Delivery, Receipt, Flag, DeliveryBatch)
}
BY_SLUG: dict[str, type[Record]] = {k.slug: cls for k, cls in RECORD_TYPES.items()}
#: The contract function that submits each kind.
SUBMIT_FUNCTION: dict[Kind, str] = {
    Kind.PROJECT_ANCHOR: "submitProjectAnchor",
    Kind.COMMITMENT: "submitCommitment",
    Kind.DELIVERY: "submitDelivery",
    Kind.RECEIPT: "submitReceipt",
    Kind.FLAG: "submitFlag",
    Kind.DELIVERY_BATCH: "submitDeliveryBatch",
}


def record_type(kind: int | str) -> type[Record]:
    """The record class for a kind number or slug (e.g. "commitment")."""
    try:
        if isinstance(kind, str):
            return BY_SLUG[kind]
        return RECORD_TYPES[Kind(kind)]
    except (KeyError, ValueError):
        raise RecordError(
            f"unknown record kind {kind!r}; use one of: {', '.join(BY_SLUG)}", code="unknown_kind"
        ) from None


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The address that signed `digest`, refusing malformed and high-s signatures."""
    if len(signature) != _SIG_LEN:
        raise RecordError("signature must be 65 bytes (r, s, v)", code="bad_signature")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28) or s == 0 or r == 0 or s > SECP256K1_HALF_N:
        raise RecordError(
            "signature is malformed or malleable (v must be 27/28, s in the lower half)",
            code="bad_signature",
        )
    try:
        sig = eth_keys.Signature(vrs=(v - 27, r, s))
        return sig.recover_public_key_from_msg_hash(digest).to_checksum_address()
    except Exception:  # noqa: BLE001 - eth_keys raises several types for bad curves points
        raise RecordError("signature does not recover to a key", code="bad_signature") from None


@dataclass(frozen=True)
class SignedRecord:
    """A record with its author's signature under one domain: what goes on chain."""

    record: Record
    domain: Domain
    signer: str
    signature: bytes

    @property
    def kind(self) -> Kind:
        return self.record.KIND

    @property
    def id(self) -> bytes:
        return self.record.id

    def canonical_bytes(self) -> bytes:
        """Exactly the bytes the contract hashes into the leaf and emits."""
        return (
            bytes([FORMAT_VERSION, int(self.kind)])
            + self.domain.chain_id.to_bytes(32, "big")
            + bytes.fromhex(self.domain.verifying_contract[2:])
            + bytes.fromhex(self.signer[2:])
            + self.record.abi_encoded()
            + self.signature
        )

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.canonical_bytes())

    def digest(self) -> bytes:
        return self.record.digest(self.domain)

    def verify(self) -> str:
        """Checks the signature recovers to the stated signer; returns the signer."""
        recovered = recover_signer(self.digest(), self.signature)
        if recovered != self.signer:
            raise RecordError(
                f"signature was made by {recovered}, not by the stated signer {self.signer}",
                code="bad_signature",
            )
        return recovered

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedRecord:
        """Parses canonical record bytes (format version 1)."""
        if len(data) < _HEADER_LEN + _SIG_LEN + 32:
            raise RecordError("record bytes too short", code="bad_record_bytes")
        if data[0] != FORMAT_VERSION:
            raise RecordError(f"unknown record format version {data[0]}", code="bad_record_bytes")
        rtype = record_type(data[1])
        chain_id = int.from_bytes(data[2:34], "big")
        contract = to_checksum_address(data[34:54])
        signer = to_checksum_address(data[54:74])
        body, signature = data[_HEADER_LEN:-_SIG_LEN], data[-_SIG_LEN:]
        try:
            record = rtype.from_abi(body)
        except Exception as exc:  # noqa: BLE001 - eth_abi raises many decoding errors
            raise RecordError(
                f"record fields do not decode: {exc}", code="bad_record_bytes"
            ) from None
        signed = cls(
            record=record, domain=Domain(chain_id, contract), signer=signer, signature=signature
        )
        if signed.canonical_bytes() != data:
            raise RecordError("record bytes are not canonical", code="bad_record_bytes")
        return signed

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.slug,
            "record": self.record.to_json(),
            "signer": self.signer,
            "signature": _hex(self.signature),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], domain: Domain) -> SignedRecord:
        """Parses {"kind", "record", "signature"[, "signer"]} and checks the signature."""
        if not isinstance(data, Mapping):
            raise RecordError("each submission must be a JSON object", code="bad_type")
        extra = sorted(set(data) - {"kind", "record", "signature", "signer"})
        if extra:
            raise RecordError(f"unknown field(s): {', '.join(extra)}", code="unknown_field")
        rtype = record_type(data.get("kind", ""))
        record = rtype.from_json(data.get("record", {}))
        sig_text = data.get("signature")
        if not isinstance(sig_text, str):
            raise RecordError("signature must be 0x-hex of 65 bytes", code="bad_signature")
        try:
            signature = bytes.fromhex(sig_text.removeprefix("0x"))
        except ValueError:
            raise RecordError("signature must be 0x-hex", code="bad_signature") from None
        signer = recover_signer(record.digest(domain), signature)
        stated = data.get("signer")
        if stated is not None and str(stated).lower() != signer.lower():
            raise RecordError(
                f"signature was made by {signer}, not by the stated signer {stated}",
                code="bad_signature",
            )
        return cls(record=record, domain=domain, signer=signer, signature=signature)


# ---------------------------------------------------------------- delivery lines


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
        for name in ("commitment_id", "beneficiary", "evidence_hash"):
            if len(getattr(self, name)) != 32:
                raise RecordError(f"{name} must be 32 bytes", code="bad_length")
        return b"".join(
            (
                b"\x01",
                self.commitment_id,
                self.quantity.to_bytes(16, "big"),
                self.delivered_at.to_bytes(8, "big"),
                self.beneficiary,
                self.evidence_hash,
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
        if not data or data[0] != 1 or len(data) < 125:
            raise RecordError("delivery line bytes are malformed", code="bad_line_bytes")
        pos = 1
        commitment_id = data[pos : pos + 32]
        quantity = int.from_bytes(data[pos + 32 : pos + 48], "big")
        delivered_at = int.from_bytes(data[pos + 48 : pos + 56], "big")
        beneficiary = data[pos + 56 : pos + 88]
        evidence = data[pos + 88 : pos + 120]
        pos += 120
        try:
            n = int.from_bytes(data[pos : pos + 2], "big")
            item = data[pos + 2 : pos + 2 + n].decode("utf-8")
            pos += 2 + n
            m = int.from_bytes(data[pos : pos + 2], "big")
            unit = data[pos + 2 : pos + 2 + m].decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError("delivery line text is not UTF-8", code="bad_line_bytes") from None
        if pos + 2 + m != len(data):
            raise RecordError("delivery line bytes have trailing data", code="bad_line_bytes")
        return cls(commitment_id, item, quantity, unit, delivered_at, beneficiary, evidence)


def pseudonym(county_key: bytes, id_number: str) -> bytes:
    """A beneficiary's keyed pseudonym: HMAC-SHA256(county key, normalized ID number)."""
    import hmac

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


__all__ = [
    "CATEGORIES",
    "Commitment",
    "Delivery",
    "DeliveryBatch",
    "DeliveryLine",
    "Domain",
    "Flag",
    "Kind",
    "ProjectAnchor",
    "Receipt",
    "Record",
    "SignedRecord",
]
