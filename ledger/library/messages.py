"""The EIP-712 messages of the project libraries: every off-chain write is one of these,
signed by its author under the ledger's domain (the same `Domain` as records).

Each message carries the human-readable fields of what it changes (title, county, category,
budget, dates, resources) beside any content hash, so a wallet or workspace shows the signer
what they sign, and the server checks those fields against the content. Each carries an
`expiry` (unix seconds) and a `nonce` — or, for the key-county list, a `version` — so nothing
can be replayed: the server stores every used nonce until its expiry has passed.

| message | signed by | for |
| --- | --- | --- |
| `LibraryProject` | the project's owner | draft create/edit, publish, edit, lifecycle move |
| `LibraryMatch` | the proposing / answering side | 点单/接单 proposal, accept, decline |
| `LibraryPush` | the project's owner | push a project to its best matches |
| `KeyCountyList` | the configured admin | load the key-county list (version > current) |
| `LibraryImport` | the configured admin | import a bundle from a trusted exporter |
| `LibraryBundle` | the exporting instance | a bundle's contents (under the exporter's domain) |
| `LibraryRead` | the project's owner | read a draft (no nonce: reading changes nothing) |

This module is pure: no database, no clock except where `now` is passed in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import is_address, to_checksum_address

from ledger.core import codes
from ledger.core.eip712 import Domain, recover_signer
from ledger.core.errors import LedgerError, MessageError, SignatureError

#: The longest a signed request may stay valid: nonces are kept this long at most.
MAX_LIFETIME = 24 * 3600
#: What the SDK asks for by default.
DEFAULT_LIFETIME = 600
#: The longest text field of a message (characters; NUL is never allowed). The longest text
#: any message carries is a match's note (500) or a title (100); the limit also keeps the
#: largest message the OpenAPI document allows well under the 2 MB body limit.
MAX_TEXT = 1000
#: The most resources a `Resource[]` holds: a need asks for (and a supply project offers) at
#: most this many (ledger.library.projects takes this limit).
MAX_RESOURCES = 20
#: The most elements of any other array field (`uint32[]`: the key-county list's codes).
MAX_ITEMS = 5000


_DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

RESOURCE_TYPE = [
    {"name": "kind", "type": "string"},
    {"name": "quantity", "type": "uint128"},
    {"name": "unit", "type": "string"},
    {"name": "item", "type": "string"},
]


@dataclass(frozen=True)
class MessageType:
    """One EIP-712 primary type: its name and its fields in signing order."""

    name: str
    fields: tuple[tuple[str, str], ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.fields)

    def eip712_types(self) -> dict[str, list[dict[str, str]]]:
        types: dict[str, list[dict[str, str]]] = {
            "EIP712Domain": _DOMAIN_TYPES,
            self.name: [{"name": n, "type": t} for n, t in self.fields],
        }
        if any(t == "Resource[]" for _, t in self.fields):
            types["Resource"] = RESOURCE_TYPE
        return types


LIBRARY_PROJECT = MessageType(
    "LibraryProject",
    (
        ("action", "string"),  # draft | publish | edit | transition
        ("projectId", "bytes32"),  # starts with the owner's address
        ("projectKind", "uint8"),  # 1 need, 2 supply
        ("county", "uint32"),  # the need's county; 0 for supply
        ("orgCode", "string"),  # the supply project's organization; "" for a need
        ("title", "string"),
        ("category", "uint8"),  # first category, 1..10
        ("budget", "uint128"),  # fen: need budget_fen, supply funds capacity
        ("endDate", "uint32"),  # YYYYMMDD Beijing time: need deadline, supply period_end
        ("status", "string"),  # the status inside the hashed document
        ("version", "uint32"),  # the version the document becomes (current + 1)
        ("contentHash", "bytes32"),  # SHA-256 of that version's canonical JSON
        ("nonce", "bytes32"),
        ("expiry", "uint64"),
    ),
)

LIBRARY_MATCH = MessageType(
    "LibraryMatch",
    (
        ("action", "string"),  # propose | accept | decline
        ("matchId", "bytes32"),  # starts with the proposer's address
        ("direction", "string"),  # order 点单 | take 接单
        ("needId", "bytes32"),
        ("needTitle", "string"),
        ("needVersion", "uint32"),
        ("needContentHash", "bytes32"),
        ("county", "uint32"),
        ("supplyId", "bytes32"),  # zero when an organization takes a need directly
        ("supplyTitle", "string"),
        ("orgCode", "string"),
        ("resources", "Resource[]"),  # what the need asks for
        ("deadline", "uint32"),  # the need's deadline, YYYYMMDD
        ("note", "string"),
        ("nonce", "bytes32"),
        ("expiry", "uint64"),
    ),
)

LIBRARY_PUSH = MessageType(
    "LibraryPush",
    (
        ("projectId", "bytes32"),
        ("title", "string"),
        ("limit", "uint32"),
        ("nonce", "bytes32"),
        ("expiry", "uint64"),
    ),
)

KEY_COUNTY_LIST = MessageType(
    "KeyCountyList",
    (
        ("version", "uint32"),  # must be greater than the loaded list's
        ("source", "string"),  # where the list comes from, e.g. the notice's number
        ("counties", "uint32[]"),  # the county codes, ascending
        ("expiry", "uint64"),
    ),
)

LIBRARY_IMPORT = MessageType(
    "LibraryImport",
    (
        ("bundleHash", "bytes32"),  # SHA-256 of the bundle's canonical JSON, signature included
        ("exporter", "address"),
        ("instance", "string"),
        ("treeSize", "uint64"),
        ("root", "bytes32"),
        ("projects", "uint32"),
        ("nonce", "bytes32"),
        ("expiry", "uint64"),
    ),
)

LIBRARY_BUNDLE = MessageType(
    "LibraryBundle",
    (
        ("instance", "string"),
        ("exporter", "address"),
        ("treeSize", "uint64"),
        ("root", "bytes32"),
        ("projects", "uint32"),
        ("contentHash", "bytes32"),  # SHA-256 of the bundle's canonical JSON without signature
    ),
)

LIBRARY_READ = MessageType(
    "LibraryRead",
    (
        ("projectId", "bytes32"),
        ("reader", "address"),
        ("expiry", "uint64"),
    ),
)

TYPES: dict[str, MessageType] = {
    t.name: t
    for t in (
        LIBRARY_PROJECT,
        LIBRARY_MATCH,
        LIBRARY_PUSH,
        KEY_COUNTY_LIST,
        LIBRARY_IMPORT,
        LIBRARY_BUNDLE,
        LIBRARY_READ,
    )
}

# ------------------------------------------------------------------ values


def _bad(field: str, what: str) -> MessageError:
    return MessageError(
        f"消息字段 {field} 无效 / message field {field}: {what}",
        code=codes.BAD_MESSAGE,
        field=field,
    )


def _uint(value: Any, bits: int, field: str) -> int:
    if isinstance(value, bool):
        raise _bad(field, "must be an unsigned integer")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 80:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise _bad(field, f"must be an unsigned integer below 2**{bits}")
    return value


def _bytes32(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise _bad(field, "must be 0x and 64 hex digits")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise _bad(field, "must be 0x and 64 hex digits") from None
    return value.lower()


def _value(typ: str, value: Any, field: str) -> Any:
    if typ == "string":
        if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
            raise _bad(field, f"must be text without NUL, at most {MAX_TEXT:,} characters")
        return value
    if typ == "bytes32":
        return _bytes32(value, field)
    if typ == "address":
        if not isinstance(value, str) or not is_address(value):
            raise _bad(field, "must be a 20-byte 0x address")
        return to_checksum_address(value)
    if typ.startswith("uint") and not typ.endswith("[]"):
        return _uint(value, int(typ[4:]), field)
    if typ.endswith("[]"):
        elem = typ[:-2]
        most = MAX_RESOURCES if elem == "Resource" else MAX_ITEMS
        if not isinstance(value, list) or len(value) > most:
            raise _bad(field, f"must be a list of at most {most:,}")
        if elem == "Resource":
            return [_resource(v, f"{field}.{i}") for i, v in enumerate(value)]
        return [_value(elem, v, f"{field}.{i}") for i, v in enumerate(value)]
    raise _bad(field, f"unsupported type {typ}")  # pragma: no cover - our own tables


def _resource(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or set(value) != {"kind", "quantity", "unit", "item"}:
        raise _bad(field, "must have kind, quantity, unit and item")
    return {f["name"]: _value(f["type"], value[f["name"]], field) for f in RESOURCE_TYPE}


def parse(mtype: MessageType, data: Any) -> dict[str, Any]:
    """A message of `mtype` from JSON, refusing unknown, missing or ill-typed fields."""
    if not isinstance(data, Mapping):
        raise MessageError(
            f"缺少签名消息 / the request needs a signed {mtype.name} message",
            code=codes.BAD_MESSAGE,
            field="message",
        )
    unknown = sorted(set(data) - set(mtype.field_names))
    missing = sorted(set(mtype.field_names) - set(data))
    if unknown or missing:
        raise MessageError(
            f"{mtype.name} 字段不符 / {mtype.name}: unknown {unknown}, missing {missing}",
            code=codes.BAD_MESSAGE,
            field="message",
        )
    return {name: _value(typ, data[name], name) for name, typ in mtype.fields}


def typed_data(mtype: MessageType, message: Mapping[str, Any], domain: Domain) -> dict[str, Any]:
    """The full EIP-712 document (eth_signTypedData_v4) for one message."""
    return {
        "types": mtype.eip712_types(),
        "primaryType": mtype.name,
        "domain": domain.as_dict(),
        "message": dict(message),
    }


def _signable(mtype: MessageType, message: Mapping[str, Any], domain: Domain) -> Any:
    full = typed_data(mtype, message, domain)
    # eth_account wants bytes32 values as bytes
    msg: dict[str, Any] = {}
    for name, typ in mtype.fields:
        value = message[name]
        msg[name] = bytes.fromhex(value[2:]) if typ == "bytes32" else value
    full["message"] = msg
    return encode_typed_data(full_message=full)


def digest(mtype: MessageType, message: Mapping[str, Any], domain: Domain) -> bytes:
    """The EIP-712 hash the author signs."""
    return bytes(_hash_eip191_message(_signable(mtype, message, domain)))


def sign(mtype: MessageType, message: Mapping[str, Any], domain: Domain, key: bytes | str) -> str:
    """0x-hex 65-byte signature (r ‖ s ‖ v, low s) over the message."""
    parsed = parse(mtype, message)
    signed = Account.unsafe_sign_hash(digest(mtype, parsed, domain), Account.from_key(key).key)
    sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return "0x" + sig.hex()


def recover(
    mtype: MessageType, message: Mapping[str, Any], domain: Domain, signature: str | None
) -> str:
    """The signer's address, or SignatureError (401) when there is no usable signature."""
    if signature is None or signature == "":
        raise SignatureError(
            f"缺少签名 / this write needs the author's EIP-712 signature over {mtype.name}",
            code=codes.SIGNATURE_REQUIRED,
        )
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        return recover_signer(digest(mtype, message, domain), raw)
    except (ValueError, LedgerError):
        raise SignatureError(
            "签名无效 / the signature is malformed; sign the typed data again",
            code=codes.BAD_SIGNATURE,
        ) from None


def check_expiry(expiry: int, now: int) -> None:
    """Refuses a message that has expired or that claims to stay valid too long."""
    if expiry <= now:
        raise SignatureError(
            "签名已过期 / signature expired; sign the request again", code=codes.SIGNATURE_EXPIRED
        )
    if expiry > now + MAX_LIFETIME:
        raise SignatureError(
            f"签名有效期过长 / expiry is more than {MAX_LIFETIME} s ahead; sign with a "
            "shorter expiry",
            code=codes.EXPIRY_TOO_FAR,
        )


def new_nonce() -> str:
    return "0x" + os.urandom(32).hex()


_NONCE = re.compile(r"0x[0-9a-f]{64}")


def check_nonce(nonce: Any, hint: str = "") -> None:
    """A nonce as `new_nonce` writes it (0x and 64 lowercase hex digits, so that one nonce
    has one spelling in the used-nonce table); `BAD_MESSAGE` else, `hint` appended."""
    if not _NONCE.fullmatch(str(nonce)):
        raise MessageError(
            "消息字段 nonce 无效 / nonce must be 0x and 64 lowercase hex digits" + hint,
            code=codes.BAD_MESSAGE,
            field="nonce",
        )


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def date_number(iso: str | None) -> int:
    """YYYY-MM-DD as the integer YYYYMMDD (0 when absent)."""
    if not iso:
        return 0
    return int(str(iso)[:10].replace("-", ""))


def resources_of(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Resources as the `Resource[]` of a match message."""
    return [
        {
            "kind": str(r["kind"]),
            "quantity": int(r["quantity"]),
            "unit": str(r.get("unit", "")),
            "item": str(r.get("item", "")),
        }
        for r in items
    ]
