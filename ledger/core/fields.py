"""The values record fields take and their rules: the ten categories, project and resource
kinds, flag reasons, short texts, date codes, titles, and the JSON parsers of field values.

The contract checks the same rules; `ledger.core.records` builds records from these values.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum
from typing import Any

from ledger.core.errors import RecordError

__all__ = [
    "CATEGORIES",
    "CATEGORY_EN",
    "MAX_TITLE_BYTES",
    "FlagReason",
    "ProjectKind",
    "ResourceKind",
    "category_code",
    "date_code",
    "from_text32",
    "parse_bytes32",
    "parse_text",
    "parse_uint",
    "text32",
    "valid_date_code",
    "valid_title",
]

#: A project title's bound in UTF-8 bytes (the contract's MAX_TITLE_BYTES).
MAX_TITLE_BYTES = 200
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


def parse_uint(value: Any, bits: int, name: str) -> int:
    """An unsigned `bits`-bit integer from JSON (a number or decimal text), or RecordError."""
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


def parse_text(value: Any, name: str) -> str:
    """A JSON string that encodes as UTF-8 (no lone surrogates), or RecordError."""
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string", code="bad_type", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(
            f"{name} is not valid Unicode text", code="bad_type", field=name
        ) from None
    return value
