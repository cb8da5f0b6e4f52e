"""The base of the record kinds and its encodings: EIP-712 typed data, ABI, JSON, and the
signed record's canonical bytes and leaf hash.

This is the one place a record's bytes are made (the struct's ABI words by
`ledger.core.abi_words`, which only this module calls). The contract builds the same bytes
(`AidLedger._append`), the indexer and the audit parse them with
`ledger.core.record_types.signed_from_bytes`, and the API, the SDK and the tests call this
module rather than encoding anything again. The kinds themselves are declared in
`ledger.core.aid_kinds` (1-6) and `ledger.core.program_kinds` (7-15).

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

from eth_account import Account
from eth_utils import keccak

from ledger.core import abi_words
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


#: Per record class, computed once: its EIP-712 typehash.
_TYPEHASHES: dict[type, bytes] = {}


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

    def struct_hash(self) -> bytes:
        return keccak256(self.typehash() + abi_words.encode_data(self.SCHEMA, self.values()))

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
        return abi_words.tuple_type(cls.SCHEMA)

    def abi_encoded(self) -> bytes:
        """`abi.encode(struct)` as Solidity computes it."""
        return abi_words.encode(self.SCHEMA, self.values())

    @classmethod
    def from_abi(cls, data: bytes) -> Self:
        return cls(**abi_words.decode(cls.SCHEMA, data))

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
