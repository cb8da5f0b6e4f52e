"""The values record fields take and their rules: the ten categories, project and resource
kinds, flag reasons, short texts, date codes, titles, registered names and organization
types, and the JSON parsers of field values.

The contract checks the same rules; `ledger.core.records` builds records from these values.
"""

from __future__ import annotations

from datetime import date, timedelta, timezone
from enum import IntEnum
from typing import Any

from ledger.core import codes
from ledger.core.errors import RecordError

__all__ = [
    "BEIJING",
    "CATEGORIES",
    "CATEGORY_EN",
    "MAX_TITLE_BYTES",
    "ORG_TYPES",
    "FlagReason",
    "ProjectKind",
    "ResourceKind",
    "category_code",
    "date_code",
    "from_text32",
    "org_type_name",
    "org_type_of_code",
    "parse_bytes32",
    "parse_text",
    "parse_uint",
    "require_name",
    "resolve_org_type",
    "text32",
    "valid_date_code",
    "valid_title",
]

#: Beijing time (Asia/Shanghai): a fixed UTC+8, as China has kept no daylight saving time since
#: 1991. Dates a person enters or reads are in it; stored times stay UTC.
BEIJING = timezone(timedelta(hours=8), "CST")

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


#: Organization types registered by 民政 (the `orgType` of OrganizationRegistered), with
#: the credit code's second character that names each: 51, 52 and 53 (GB 32100-2015).
ORG_TYPES: dict[int, tuple[str, str]] = {
    1: ("社会团体", "social group"),
    2: ("民办非企业单位", "private non-enterprise unit"),
    3: ("基金会", "foundation"),
}


class ProjectKind(IntEnum):
    NEED = 1
    SUPPLY = 2


class ResourceKind(IntEnum):
    """Funds are counted in fen (CNY/100), goods in their unit, services in hours."""

    FUNDS = 1
    GOODS = 2
    SERVICE = 3


class SponsorKind(IntEnum):
    """Who sets up a special fund (专项基金) inside an organization."""

    COMPANY = 1
    INDIVIDUAL = 2


class FollowUpOutcome(IntEnum):
    """What a county's follow-up visit (回访) of a household found."""

    RECEIVED_IN_FULL = 1
    RECEIVED_IN_PART = 2
    NOT_RECEIVED = 3
    HOUSEHOLD_NOT_FOUND = 4


class GrievanceOutcome(IntEnum):
    """A county's answer to a grievance (申诉)."""

    UPHELD = 1
    PARTLY_UPHELD = 2
    NOT_UPHELD = 3


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


def parse_bool(value: Any, name: str) -> bool:
    """A JSON boolean, or RecordError."""
    if not isinstance(value, bool):
        raise RecordError(f"{name} must be true or false", code="bad_type", field=name)
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


def require_name(name: Any, field: str = "name") -> str:
    """A registered name (of a county office, organization or auditor, or an authority):
    1..MAX_TITLE_BYTES bytes of UTF-8 after trimming, as the contract's `InvalidName` rule."""
    text = name.strip() if isinstance(name, str) else ""
    if not valid_title(text):
        raise RecordError(
            f"名称须为 1..{MAX_TITLE_BYTES} 字节的 UTF-8 文本 / {field} must be "
            f"1..{MAX_TITLE_BYTES} bytes of UTF-8 text",
            code=codes.INVALID_NAME,
            field=field,
        )
    return text


def org_type_of_code(code: str) -> int | None:
    """The organization type a unified social credit code names: `5` (registered by 民政)
    then `1` 社会团体, `2` 民办非企业单位, `3` 基金会; None for any other code."""
    if len(code) >= 2 and code[0] == "5" and code[1] in "123":
        return int(code[1])
    return None


def org_type_name(org_type: int | None) -> str | None:
    """The Chinese name of an organization type, or None."""
    names = ORG_TYPES.get(org_type) if org_type is not None else None
    return names[0] if names else None


def resolve_org_type(code: str, org_type: int | str | None) -> int:
    """The organization type to register for `code`: the given one (a number 1..3 or its
    Chinese or English name), which must agree with what the code names; or, when none is
    given, the one the code names. A code that names no type (not `51|52|53…`) needs one."""
    implied = org_type_of_code(code)
    given: int | None
    if org_type is None or org_type == "":
        given = None
    elif isinstance(org_type, int) and not isinstance(org_type, bool):
        given = org_type
    else:
        text = str(org_type).strip()
        given = next((n for n, (zh, en) in ORG_TYPES.items() if text in (zh, en, str(n))), None)
        if given is None:
            given = -1
    if given is not None and given not in ORG_TYPES:
        raise RecordError(
            f"组织类型须为 1 社会团体、2 民办非企业单位 或 3 基金会 / organization type "
            f"{org_type!r} must be 1 (社会团体), 2 (民办非企业单位) or 3 (基金会)",
            code=codes.INVALID_ORG_TYPE,
            field="org_type",
        )
    if given is None:
        if implied is None:
            raise RecordError(
                f"信用代码 {code} 不是民政登记代码（51/52/53 开头），须指明组织类型 / the credit "
                "code does not name a type (51/52/53…); give the organization type",
                code=codes.ORG_TYPE_REQUIRED,
                field="org_type",
            )
        return implied
    if implied is not None and implied != given:
        raise RecordError(
            f"组织类型 {ORG_TYPES[given][0]} 与信用代码 {code} 的第二位不符（应为 "
            f"{ORG_TYPES[implied][0]}）/ the type {ORG_TYPES[given][1]} does not agree with "
            f"the credit code's second character ({ORG_TYPES[implied][1]})",
            code=codes.ORG_TYPE_MISMATCH,
            field="org_type",
        )
    return given
