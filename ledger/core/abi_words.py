"""A record struct in ABI words: `abi.encode(struct)`, its `abi.decode`, and the EIP-712
encodeData of its fields, for the field types records use (bytes32, bool, uintN, string, and
arrays of bytes32 or uintN).

A schema is the struct's (name, Solidity type) pairs in order, its values the fields' values
in that order. The word-by-word paths answer only for values in range and else None; then
eth_abi encodes or decodes, or names the error. tests/core/test_record_encoding.py holds the
two equal. `ledger.core.records` puts these bytes into a record's (the only caller).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from ledger.core.eip712 import keccak256

#: A struct's (name, Solidity type) pairs, in order.
Schema = tuple[tuple[str, str], ...]

__all__ = [
    "Schema",
    "data_words",
    "decode",
    "decode_words",
    "dynamic_words",
    "encode",
    "encode_data",
    "static_words",
    "tuple_type",
]

#: Per schema, computed once: for a struct of only bytes32 and uintN fields the bit width of
#: each (0 for bytes32), else None.
_STATIC: dict[Schema, tuple[int, ...] | None] = {}


def _static_widths(schema: Schema) -> tuple[int, ...] | None:
    """For an all-static struct, `abi.encode` is one 32-byte word per field and the EIP-712
    encodeData of the fields is the same words, so both are a plain join (fast paths below;
    anything else, or any value out of the common shape, takes eth_abi's path)."""
    try:
        return _STATIC[schema]
    except KeyError:
        pass
    widths: list[int] = []
    for _, typ in schema:
        if typ == "bytes32":
            widths.append(0)
        elif typ.startswith("uint") and typ[4:].isdigit():
            widths.append(int(typ[4:]))
        else:
            _STATIC[schema] = None
            return None
    _STATIC[schema] = found = tuple(widths)
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


def tuple_type(schema: Schema) -> str:
    """The struct as an ABI tuple type, e.g. "(bytes32,uint128)"."""
    return "(" + ",".join(t for _, t in schema) + ")"


def static_words(schema: Schema, values: tuple[Any, ...]) -> bytes | None:
    """`abi.encode(struct)` of an all-static struct whose values are in range (exact
    bytes32, non-negative ints that fit), else None (eth_abi then encodes or refuses)."""
    widths = _static_widths(schema)
    if widths is None:
        return None
    words: list[bytes] = []
    for width, value in zip(widths, values, strict=True):
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


def data_words(schema: Schema, values: tuple[Any, ...]) -> bytes | None:
    """EIP-712 encodeData of the fields, one word each (a string is the keccak of its
    UTF-8, an array the keccak of its words), for the types records use and values in
    range; else None (eth_abi then encodes or refuses)."""
    words = static_words(schema, values)
    if words is not None:
        return words
    parts: list[bytes] = []
    for (_, typ), value in zip(schema, values, strict=True):
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


def encode_data(schema: Schema, values: tuple[Any, ...]) -> bytes:
    """EIP-712 encodeData of the fields (what follows the typehash in a struct hash)."""
    words = data_words(schema, values)
    if words is not None:
        return words
    fields = zip(schema, values, strict=True)
    return b"".join(_eth_abi_data(typ, value) for (_, typ), value in fields)


def _eth_abi_data(typ: str, value: Any) -> bytes:
    """One field's encodeData by eth_abi (which encodes it or names the error)."""
    if typ == "string":
        return keccak(value.encode("utf-8"))
    if typ.endswith("[]"):
        return keccak(b"".join(abi_encode([typ[:-2]], [v]) for v in value))
    return abi_encode([typ], [value])


def dynamic_words(schema: Schema, values: tuple[Any, ...]) -> bytes | None:
    """`abi.encode(struct)` of a struct with string, bool or array fields, word by word: the
    offset of the struct (0x20), its head (a word per static field, an offset per
    dynamic one) and the tails (length, then the padded bytes or the elements), for the
    types records use and values in range; else None (eth_abi then encodes or refuses)."""
    head: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(schema)
    for (_, typ), value in zip(schema, values, strict=True):
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


def encode(schema: Schema, values: tuple[Any, ...]) -> bytes:
    """`abi.encode(struct)` as Solidity computes it."""
    words = static_words(schema, values)
    if words is not None:
        return words
    words = dynamic_words(schema, values)
    if words is not None:
        return words
    return abi_encode([tuple_type(schema)], [values])


def decode(schema: Schema, data: bytes) -> dict[str, Any]:
    """`abi.decode(data, (struct))`: the fields by name (arrays as tuples); eth_abi's error if
    `data` is not the encoding of one."""
    widths = _static_widths(schema)
    if widths is not None and len(data) == 32 * len(widths):
        fast: dict[str, Any] = {}
        for i, (width, (name, _)) in enumerate(zip(widths, schema, strict=True)):
            word = data[32 * i : 32 * i + 32]
            if width == 0:
                fast[name] = bytes(word)
                continue
            value = int.from_bytes(word, "big")
            if value >> width:
                break  # out of range: eth_abi below names the error
            fast[name] = value
        else:
            return fast
    words = decode_words(schema, data)
    if words is not None:
        return words
    (values,) = abi_decode([tuple_type(schema)], data)
    fields = {}
    for (name, typ), value in zip(schema, values, strict=True):
        fields[name] = tuple(value) if typ.endswith("[]") else value
    return fields


def decode_words(schema: Schema, data: bytes) -> dict[str, Any] | None:
    """`abi.decode` of a struct with string, bool or array fields, word by word, kept
    only if it encodes back to exactly `data` (so it accepts nothing eth_abi would
    refuse: bad padding, odd offsets, out-of-range values); else None, and eth_abi
    decodes or names the error."""
    try:
        if any(t == "string" or t.endswith("[]") for _, t in schema):
            if data[:32] != _OFFSET_WORD:
                return None
            body = data[32:]  # a dynamic struct is encoded behind its offset, 0x20
        else:
            body = data
        fields: dict[str, Any] = {}
        for i, (name, typ) in enumerate(schema):
            word = body[32 * i : 32 * i + 32]
            if len(word) != 32:
                return None
            if typ == "string" or typ.endswith("[]"):
                at = int.from_bytes(word, "big")
                count = int.from_bytes(body[at : at + 32], "big")
                if typ == "string":
                    fields[name] = body[at + 32 : at + 32 + count].decode("utf-8")
                else:
                    elem = typ[:-2]
                    fields[name] = tuple(
                        _unword(elem, body[at + 32 + 32 * k : at + 64 + 32 * k])
                        for k in range(count)
                    )
            else:
                fields[name] = _unword(typ, word)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return fields if dynamic_words(schema, tuple(fields.values())) == data else None
