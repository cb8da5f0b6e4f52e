"""The base of the record kinds and its encodings: EIP-712 typed data, ABI, JSON, and the
signed record's canonical bytes and leaf hash.

This is the one place a record's bytes are made. The contract builds the same bytes
(`AidLedger._append`), the indexer and the audit parse them with
`ledger.core.record_types.signed_from_bytes`, and the API, the SDK and the tests call this
module rather than encoding anything again. The kinds themselves are declared in
`ledger.core.aid_records` (1-6) and `ledger.core.program_records` (7-15).

Canonical record bytes (format version 1), packed:

    version u8 ‖ kind u8 ‖ chainId u256 ‖ contract (20) ‖ signer (20)
    ‖ abi.encode(struct) ‖ r (32) ‖ s (32) ‖ v u8

Self-describing: with an inclusion proof, these bytes alone show that the record is in the
log and who signed it under which domain. The leaf hash is SHA-256(0x00 ‖ bytes) (RFC 9162).

The values fields take (categories, kinds, dates, titles) are in `ledger.core.fields`; record
ids and a batch's delivery lines in `ledger.core.lines`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any, ClassVar, Self

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from ledger.core.eip712 import (
    DOMAIN_TYPES,
    SIGNATURE_LEN,
    Domain,
    checksum_address,
    keccak256,
    recover_signer,
)
from ledger.core.errors import RecordError
from ledger.core.fields import parse_bool, parse_bytes32, parse_text, parse_uint
from ledger.core.hexes import hex0x
from ledger.core.merkle import leaf_hash

FORMAT_VERSION = 1
#: The most commitments one DeliveryBatch delivers against (the contract's
#: MAX_BATCH_COMMITMENTS); also the bound of every list field in JSON.
MAX_BATCH_COMMITMENTS = 256
#: version u8 ‖ kind u8 ‖ chainId u256 ‖ contract ‖ signer: `abi.encode(struct)` starts here.
HEADER_LEN = 1 + 1 + 32 + 20 + 20


class Kind(IntEnum):
    """Record kinds, numbered as on chain."""

    PROJECT_ANCHOR = 1
    COMMITMENT = 2
    DELIVERY = 3
    RECEIPT = 4
    FLAG = 5
    DELIVERY_BATCH = 6
    PAIRING = 7
    PAIRING_ACCEPTANCE = 8
    FUND = 9
    FUND_CONTRIBUTION = 10
    COMMITMENT_SOURCE = 11
    FOLLOW_UP_ROUND = 12
    FOLLOW_UP = 13
    GRIEVANCE = 14
    GRIEVANCE_ANSWER = 15

    @property
    def slug(self) -> str:
        return self.name.lower()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@lru_cache(maxsize=256)
def _domain(chain_id: int, contract: str) -> Domain:
    """One shared (immutable) Domain per deployment for the records parsed from bytes: they
    nearly all name the same one, and a shared object is pickled once per batch of them."""
    return Domain(chain_id, contract)


@lru_cache(maxsize=1024)
def camel_case(name: str) -> str:
    """A snake_case field name in the camelCase of the EIP-712 types and the JSON."""
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


#: Per record class, computed once: its EIP-712 typehash, and for a struct of only bytes32
#: and uintN fields the bit width of each (0 for bytes32), else None.
_TYPEHASHES: dict[type, bytes] = {}
_STATIC: dict[type, tuple[int, ...] | None] = {}


def _static_widths(cls: type[Record]) -> tuple[int, ...] | None:
    """For an all-static struct, `abi.encode` is one 32-byte word per field and the EIP-712
    encodeData of the fields is the same words, so both are a plain join (fast paths below;
    anything else, or any value out of the common shape, takes eth_abi's path)."""
    try:
        return _STATIC[cls]
    except KeyError:
        pass
    widths: list[int] = []
    for _, typ in cls.SCHEMA:
        if typ == "bytes32":
            widths.append(0)
        elif typ.startswith("uint") and typ[4:].isdigit():
            widths.append(int(typ[4:]))
        else:
            _STATIC[cls] = None
            return None
    _STATIC[cls] = found = tuple(widths)
    return found


@lru_cache(maxsize=64)
def _uint_width(typ: str) -> int | None:
    """N of a `uintN` type, else None."""
    if typ.startswith("uint") and typ[4:].isdigit():
        return int(typ[4:])
    return None


def _word(typ: str, value: Any) -> bytes | None:
    """The 32-byte ABI word of a bytes32, bool or uintN value in range, else None."""
    if typ == "bytes32":
        return value if type(value) is bytes and len(value) == 32 else None
    if typ == "bool":
        return None if type(value) is not bool else int(value).to_bytes(32, "big")
    width = _uint_width(typ)
    if width is None or not isinstance(value, int) or isinstance(value, bool):
        return None
    if value < 0 or value >> width:
        return None
    return value.to_bytes(32, "big")


def _words(typ: str, values: Any) -> bytes | None:
    """The words of a bytes32[] or uintN[] value, joined, else None."""
    if not isinstance(values, tuple | list):
        return None
    out = [_word(typ, v) for v in values]
    return None if None in out else b"".join(out)  # type: ignore[arg-type]


_OFFSET_WORD = (32).to_bytes(32, "big")


def _unword(typ: str, word: bytes) -> Any:
    """The value of one 32-byte ABI word of type `typ`; ValueError if it is not one
    (the caller then falls back to eth_abi, which names the error)."""
    if len(word) != 32:
        raise ValueError("short word")
    if typ == "bytes32":
        return bytes(word)
    value = int.from_bytes(word, "big")
    if typ == "bool":
        if value > 1:
            raise ValueError("not a bool")
        return bool(value)
    if _uint_width(typ) is None:
        raise ValueError(f"not a word type: {typ}")
    return value  # out of range: the encoding back differs, and eth_abi names the error


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 32)


@dataclass(frozen=True)
class Record:
    """Base of the record kinds. Subclasses list their fields in EIP-712 order."""

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
        inner = ",".join(f"{t} {camel_case(n)}" for n, t in cls.SCHEMA)
        return f"{cls.primary_type()}({inner})"

    @classmethod
    def typehash(cls) -> bytes:
        found = _TYPEHASHES.get(cls)
        if found is None:
            found = _TYPEHASHES[cls] = keccak(cls.type_string().encode())
        return found

    @classmethod
    def eip712_types(cls) -> list[dict[str, str]]:
        return [{"name": camel_case(n), "type": t} for n, t in cls.SCHEMA]

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n, _ in self.SCHEMA)

    def _static_words(self) -> bytes | None:
        """`abi.encode(struct)` of an all-static struct whose values are in range (exact
        bytes32, non-negative ints that fit), else None (eth_abi then encodes or refuses)."""
        widths = _static_widths(type(self))
        if widths is None:
            return None
        words: list[bytes] = []
        for width, (name, _) in zip(widths, self.SCHEMA, strict=True):
            value = getattr(self, name)
            if width == 0:
                if type(value) is not bytes or len(value) != 32:
                    return None
                words.append(value)
            else:
                if not isinstance(value, int) or isinstance(value, bool):
                    return None
                if value < 0 or value >> width:
                    return None
                words.append(value.to_bytes(32, "big"))
        return b"".join(words)

    def _encode_data(self) -> bytes | None:
        """EIP-712 encodeData of the fields, one word each (a string is the keccak of its
        UTF-8, an array the keccak of its words), for the types records use and values in
        range; else None (eth_abi then encodes or refuses)."""
        words = self._static_words()
        if words is not None:
            return words
        parts: list[bytes] = []
        for name, typ in self.SCHEMA:
            value = getattr(self, name)
            if typ == "string":
                if not isinstance(value, str):
                    return None
                parts.append(keccak256(value.encode("utf-8")))
                continue
            word = _words(typ[:-2], value) if typ.endswith("[]") else _word(typ, value)
            if word is None:
                return None
            parts.append(keccak256(word) if typ.endswith("[]") else word)
        return b"".join(parts)

    def struct_hash(self) -> bytes:
        words = self._encode_data()
        if words is not None:
            return keccak256(self.typehash() + words)
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
        return keccak256(b"\x19\x01" + domain.separator() + self.struct_hash())

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full EIP-712 message (for eth_signTypedData_v4 and wallets)."""
        message: dict[str, Any] = {}
        for name, typ in self.SCHEMA:
            value = getattr(self, name)
            if typ == "bytes32":
                message[camel_case(name)] = hex0x(value)
            elif typ == "bytes32[]":
                message[camel_case(name)] = [hex0x(v) for v in value]
            else:
                message[camel_case(name)] = list(value) if typ.endswith("[]") else value
        return {
            "types": {"EIP712Domain": DOMAIN_TYPES, self.primary_type(): self.eip712_types()},
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
        words = self._static_words()
        if words is not None:
            return words
        words = self._dynamic_words()
        if words is not None:
            return words
        return abi_encode([self.tuple_type()], [self.values()])

    def _dynamic_words(self) -> bytes | None:
        """`abi.encode(struct)` of a struct with string, bool or array fields, word by word: the
        offset of the struct (0x20), its head (a word per static field, an offset per
        dynamic one) and the tails (length, then the padded bytes or the elements), for the
        types records use and values in range; else None (eth_abi then encodes or refuses).
        tests/core/test_record_encoding.py holds it equal to eth_abi."""
        head: list[bytes] = []
        tails: list[bytes] = []
        offset = 32 * len(self.SCHEMA)
        for name, typ in self.SCHEMA:
            value = getattr(self, name)
            if typ == "string" or typ.endswith("[]"):
                if typ == "string":
                    if not isinstance(value, str):
                        return None
                    data = value.encode("utf-8")
                    tail = len(data).to_bytes(32, "big") + _padded(data)
                else:
                    elements = _words(typ[:-2], value)
                    if elements is None:
                        return None
                    tail = len(value).to_bytes(32, "big") + elements
                head.append(offset.to_bytes(32, "big"))
                tails.append(tail)
                offset += len(tail)
                continue
            word = _word(typ, value)
            if word is None:
                return None
            head.append(word)
        if not tails:  # a static struct (bools among its fields): its words alone
            return b"".join(head)
        return (32).to_bytes(32, "big") + b"".join(head) + b"".join(tails)

    @classmethod
    def from_abi(cls, data: bytes) -> Self:
        widths = _static_widths(cls)
        if widths is not None and len(data) == 32 * len(widths):
            fast: dict[str, Any] = {}
            for i, (width, (name, _)) in enumerate(zip(widths, cls.SCHEMA, strict=True)):
                word = data[32 * i : 32 * i + 32]
                if width == 0:
                    fast[name] = bytes(word)
                    continue
                value = int.from_bytes(word, "big")
                if value >> width:
                    break  # out of range: eth_abi below names the error
                fast[name] = value
            else:
                return cls(**fast)
        words = cls._from_words(data)
        if words is not None:
            return words
        (values,) = abi_decode([cls.tuple_type()], data)
        kwargs = {}
        for (name, typ), value in zip(cls.SCHEMA, values, strict=True):
            kwargs[name] = tuple(value) if typ.endswith("[]") else value
        return cls(**kwargs)  # type: ignore[arg-type]

    @classmethod
    def _from_words(cls, data: bytes) -> Self | None:
        """`abi.decode` of a struct with string, bool or array fields, word by word, kept
        only if it encodes back to exactly `data` (so it accepts nothing eth_abi would
        refuse: bad padding, odd offsets, out-of-range values); else None, and eth_abi
        decodes or names the error. tests/core/test_record_encoding.py holds it to eth_abi."""
        try:
            if any(t == "string" or t.endswith("[]") for _, t in cls.SCHEMA):
                if data[:32] != _OFFSET_WORD:
                    return None
                body = data[32:]  # a dynamic struct is encoded behind its offset, 0x20
            else:
                body = data
            kwargs: dict[str, Any] = {}
            for i, (name, typ) in enumerate(cls.SCHEMA):
                word = body[32 * i : 32 * i + 32]
                if len(word) != 32:
                    return None
                if typ == "string" or typ.endswith("[]"):
                    at = int.from_bytes(word, "big")
                    count = int.from_bytes(body[at : at + 32], "big")
                    if typ == "string":
                        kwargs[name] = body[at + 32 : at + 32 + count].decode("utf-8")
                    else:
                        elem = typ[:-2]
                        kwargs[name] = tuple(
                            _unword(elem, body[at + 32 + 32 * k : at + 64 + 32 * k])
                            for k in range(count)
                        )
                else:
                    kwargs[name] = _unword(typ, word)
            made = cls(**kwargs)
        except (ValueError, TypeError, UnicodeDecodeError):
            return None
        return made if made._dynamic_words() == data else None

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
                out[camel_case(name)] = hex0x(value)
            elif typ == "bytes32[]":
                out[camel_case(name)] = [hex0x(v) for v in value]
            elif typ.endswith("[]"):
                out[camel_case(name)] = [str(v) if v >= 1 << 53 else v for v in value]
            elif typ in ("string", "bool"):
                out[camel_case(name)] = value
            else:
                out[camel_case(name)] = str(value) if value >= 1 << 53 else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parses camelCase JSON, refusing unknown, missing or ill-typed fields."""
        if not isinstance(data, Mapping):
            raise RecordError("record must be a JSON object", code="bad_type")
        names = {camel_case(n): (n, t) for n, t in cls.SCHEMA}
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
                kwargs[name] = parse_text(value, camel)
            elif typ == "bool":
                kwargs[name] = parse_bool(value, camel)
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
                    else parse_uint(v, int(elem[4:]), camel)
                    for v in value
                )
            else:
                kwargs[name] = parse_uint(value, int(typ[4:]), camel)
        return cls(**kwargs)

    # ---- signing ---------------------------------------------------------------
    def sign(self, private_key: bytes | str, domain: Domain) -> SignedRecord:
        """Signs with EIP-712 under `domain` (low-s, v in {27, 28})."""
        acct = Account.from_key(private_key)
        signed = Account.unsafe_sign_hash(self.digest(domain), acct.key)
        sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
        return SignedRecord(record=self, domain=domain, signer=acct.address, signature=sig)


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
    def from_bytes(cls, data: bytes, types: Callable[[int], type[Record]]) -> SignedRecord:
        """Parses canonical record bytes (format version 1), `types` giving the class of each
        kind (`ledger.core.record_types.signed_from_bytes` passes `record_type`)."""
        if len(data) < HEADER_LEN + SIGNATURE_LEN + 32:
            raise RecordError("record bytes too short", code="bad_record_bytes")
        if data[0] != FORMAT_VERSION:
            raise RecordError(f"unknown record format version {data[0]}", code="bad_record_bytes")
        rtype = types(data[1])
        chain_id = int.from_bytes(data[2:34], "big")
        contract = checksum_address(data[34:54])
        signer = checksum_address(data[54:74])
        body, signature = data[HEADER_LEN:-SIGNATURE_LEN], data[-SIGNATURE_LEN:]
        try:
            record = rtype.from_abi(body)
        except Exception as exc:  # noqa: BLE001 - eth_abi raises many decoding errors
            raise RecordError(
                f"record fields do not decode: {exc}", code="bad_record_bytes"
            ) from None
        signed = cls(
            record=record, domain=_domain(chain_id, contract), signer=signer, signature=signature
        )
        if signed.canonical_bytes() != data:
            raise RecordError("record bytes are not canonical", code="bad_record_bytes")
        return signed

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.slug,
            "record": self.record.to_json(),
            "signer": self.signer,
            "signature": hex0x(self.signature),
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], domain: Domain, types: Callable[[str], type[Record]]
    ) -> SignedRecord:
        """Parses {"kind", "record", "signature"[, "signer"]} and checks the signature, `types`
        giving the class of each kind (`ledger.core.record_types.signed_from_json` passes
        `record_type`)."""
        if not isinstance(data, Mapping):
            raise RecordError("each submission must be a JSON object", code="bad_type")
        extra = sorted(set(data) - {"kind", "record", "signature", "signer"})
        if extra:
            raise RecordError(f"unknown field(s): {', '.join(extra)}", code="unknown_field")
        rtype = types(data.get("kind", ""))
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


__all__ = [
    "FORMAT_VERSION",
    "HEADER_LEN",
    "MAX_BATCH_COMMITMENTS",
    "Kind",
    "Record",
    "SignedRecord",
    "camel_case",
    "sha256",
]
