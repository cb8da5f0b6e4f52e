"""A CSV cell in words: how a record's codes and amounts read in the columns a person reads
(resource, project and record kinds and flag reasons bilingually, categories in Chinese,
yes or no, funds in yuan beside goods and services with their unit, date codes as dates).
The record CSVs (`csv_rows`) and the portal's summary CSVs both write their cells with
these.
"""

from __future__ import annotations

from ledger.core import display
from ledger.core.fields import CATEGORIES, FlagReason, ProjectKind, ResourceKind
from ledger.core.records import Kind

__all__ = [
    "PROJECT_KIND_NAMES",
    "REASON_NAMES",
    "RECORD_KIND_NAMES",
    "RESOURCE_NAMES",
    "category_zh",
    "end_date_text",
    "measure",
    "resource_name",
    "yes_no",
]

RESOURCE_NAMES: dict[int, str] = {
    ResourceKind.FUNDS: "资金 funds",
    ResourceKind.GOODS: "物资 goods",
    ResourceKind.SERVICE: "服务 services",
}
PROJECT_KIND_NAMES: dict[int, str] = {
    ProjectKind.NEED: "需求 need",
    ProjectKind.SUPPLY: "供给 supply",
}
REASON_NAMES: dict[int, str] = {
    FlagReason.EVIDENCE_MISMATCH: "证据不符 evidence mismatch",
    FlagReason.LATE_DELIVERY: "逾期交付 late delivery",
    FlagReason.RECEIPT_SHORTFALL: "签收不足 receipt shortfall",
    FlagReason.DUPLICATE_BENEFICIARY: "受益人重复 duplicate beneficiary",
    FlagReason.DATA_TAMPERING: "数据篡改 data tampering",
    FlagReason.OTHER: "其他 other",
}
RECORD_KIND_NAMES: dict[int, str] = {
    Kind.PROJECT_ANCHOR: "项目 project",
    Kind.COMMITMENT: "承诺 commitment",
    Kind.DELIVERY: "交付 delivery",
    Kind.RECEIPT: "签收 receipt",
    Kind.FLAG: "审计标记 flag",
    Kind.DELIVERY_BATCH: "批量交付 delivery batch",
}


def yes_no(value: bool) -> str:
    return "是 yes" if value else "否 no"


def category_zh(code: int) -> str:
    return CATEGORIES[code - 1] if 1 <= code <= len(CATEGORIES) else ""


def resource_name(kind: int) -> str:
    return RESOURCE_NAMES.get(int(kind), str(kind))


def measure(resource_kind: int, value: int, unit: str) -> tuple[str, str, str]:
    """(yuan, quantity, unit) cells of one amount: funds in the yuan column only, goods and
    services in the quantity column with their unit (services in hours)."""
    if resource_kind == ResourceKind.FUNDS:
        return display.yuan_decimal(value), "", ""
    return "", str(int(value)), display.unit_of(resource_kind, unit)


def end_date_text(code: int) -> str:
    """A YYYYMMDD date code (a Beijing date, as entered) as YYYY-MM-DD, or "" for none."""
    text = str(int(code or 0))
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 else ""
