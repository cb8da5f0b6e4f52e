"""A need list's cells checked: each cell read as text, an amount in yuan, a whole number, a
date, a choice or plain text (no personal data), and one row's cells made into a
`NeedContent` or the problem of each bad cell. Nothing here knows files or row numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from ledger.core import codes
from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.library import pii
from ledger.library.content import MAX_QUANTITY, MAX_TITLE_BYTES, RESOURCE_UNITS, NeedContent
from ledger.library.needlist_columns import COLUMNS, REQUIRED

__all__ = ["BadCell", "Cell", "cell_text", "row_need", "yuan_to_fen"]

_MODES = {"输血": "relief", "relief": "relief", "造血": "capacity", "capacity": "capacity"}
_KINDS = {
    "资金": "funds",
    "funds": "funds",
    "物资": "goods",
    "goods": "goods",
    "服务": "service",
    "service": "service",
}
#: Units a funds or service row may state (its quantity is in 元 or hours).
_IMPLIED_UNITS = {
    "funds": {"", "元", "yuan", "cny", "rmb"},
    "service": {"", "小时", "hour", "hours", "h"},
}
KIND_CHOICES = "资金 funds, 物资 goods, 服务 service"
_LIMITS = {"village": 64, "item": 64, "contact_role": 64, "description": 4000, "unit": 16}

Cell = str | int | float | date | datetime | bool | None


class BadCell(Exception):
    """A cell (or a file's row) that cannot be read: a stable code and a bilingual message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def cell_text(value: Cell) -> str:
    """A cell as text: numbers as written (120.0 → 120), text NFC and stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


def yuan_to_fen(value: Cell, what: str = "金额") -> int:
    """Exact fen of an amount in yuan (at most 2 decimals, no sign, thousands commas allowed).

    An XLSX number cell holds a binary float; its shortest decimal form (repr) is what the
    user typed, so 0.1 stays 0.1 and is never 0.1000000000000000055."""
    if isinstance(value, bool | date):
        raise BadCell(codes.BAD_AMOUNT, f"{what}不是数字 / {what} is not a number")
    text = repr(value) if isinstance(value, float) else cell_text(value)
    text = text.replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadCell(
            codes.BAD_AMOUNT, f"{what} {text!r} 不是金额 / is not an amount in yuan, e.g. 1200.50"
        ) from None
    if not amount.is_finite():
        raise BadCell(codes.BAD_AMOUNT, f"{what}不是有限的数 / {what} is not a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise BadCell(
            codes.BAD_AMOUNT,
            f"{what} {text} 超过两位小数（分） / has more than 2 decimals; 1 fen is 0.01 yuan",
        )
    if amount < 0:
        raise BadCell(codes.OUT_OF_RANGE, f"{what}不能为负 / {what} must not be negative")
    fen = int(amount * 100)
    if fen > MAX_QUANTITY:
        raise BadCell(
            codes.ABSURD_QUANTITY,
            f"{what} {text} 元过大 / is over {MAX_QUANTITY // 100:,} yuan; check the digits",
        )
    return fen


def _whole(value: Cell, what: str, *, positive: bool, limit: int) -> int:
    if isinstance(value, bool | date):
        raise BadCell(codes.BAD_NUMBER, f"{what}应为整数 / {what} must be a whole number")
    text = cell_text(value).replace(",", "")
    if not re.fullmatch(r"-?\d+", text):
        raise BadCell(codes.BAD_NUMBER, f"{what} {text!r} 不是整数 / is not a whole number")
    number = int(text)
    if positive and number <= 0:
        raise BadCell(codes.NOT_POSITIVE, f"{what}应大于 0 / {what} must be above 0")
    if number < 0:
        raise BadCell(codes.OUT_OF_RANGE, f"{what}不能为负 / {what} must not be negative")
    if number > limit:
        raise BadCell(
            codes.ABSURD_QUANTITY, f"{what} {number} 过大 / is over {limit:,}; check the digits"
        )
    return number


def _deadline(value: Cell, today: date) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        text = cell_text(value)
        try:
            day = date.fromisoformat(text.replace("/", "-").replace(".", "-"))
        except ValueError:
            raise BadCell(
                codes.BAD_DATE,
                f"截止日期 {text!r} 不是 YYYY-MM-DD 日期 / is not a date like 2030-12-31",
            ) from None
    if day < today:
        raise BadCell(
            codes.DEADLINE_PASSED,
            f"截止日期 {day} 已过 / the deadline {day} is in the past (today is {today}, "
            "China time)",
        )
    return day


def _choice(value: Cell, table: Mapping[str, str], what: str, allowed: str) -> str:
    text = cell_text(value)
    for token in [text, *re.split(r"[\s/|()（）]+", text)]:
        found = table.get(token) or table.get(token.lower())
        if found:
            return found
    raise BadCell(codes.BAD_CHOICE, f"{what} {text!r} 不是可选值 / must be one of: {allowed}")


def _category(value: Cell) -> str:
    text = cell_text(value)
    if text.isdigit() and 1 <= int(text) <= len(CATEGORIES):
        return CATEGORIES[int(text) - 1]
    for token in [text, *re.split(r"[\s/|()（）]+", text)]:
        if token in CATEGORIES:
            return token
        for zh, en in zip(CATEGORIES, CATEGORY_EN, strict=True):
            if token.casefold() == en.casefold():
                return zh
    raise BadCell(
        codes.UNKNOWN_CATEGORY,
        f"类别 {text!r} 不在目录中 / unknown category; use one of: {'、'.join(CATEGORIES)}",
    )


def _plain(key: str, value: Cell, *, required: bool) -> str:
    text = cell_text(value)
    if isinstance(value, date) and key != "deadline":
        raise BadCell(codes.BAD_TYPE, f"{COLUMNS[key][0]}应为文字 / this cell should be text")
    if required and not text:
        raise BadCell(codes.MISSING_VALUE, f"{COLUMNS[key][0]}不能为空 / {key} is required")
    limit = _LIMITS.get(key, 100)
    if len(text) > limit:
        raise BadCell(
            codes.TOO_LONG, f"{COLUMNS[key][0]}超过 {limit} 字 / longer than {limit} characters"
        )
    if key == "unit" and len(text.encode("utf-8")) > 32:
        raise BadCell(codes.TOO_LONG, "单位超过 32 字节 / the unit is over 32 UTF-8 bytes")
    if key == "title" and len(text.encode("utf-8")) > MAX_TITLE_BYTES:
        raise BadCell(
            codes.TOO_LONG,
            f"标题超过 {MAX_TITLE_BYTES} 字节（约 66 个汉字） / the title is over "
            f"{MAX_TITLE_BYTES} UTF-8 bytes (about 66 Chinese characters)",
        )
    kind = pii.find(text)
    if kind is not None:
        # never echo the cell: error answers are shown and shared
        what = "身份证号" if kind == "id_number" else "手机号"
        raise BadCell(
            codes.PERSONAL_DATA_IN_TEXT,
            f"含有{what}，项目库是公开的，请删除 / contains a {kind.replace('_', ' ')}; the "
            "library is public: give a role, not a person",
        )
    return text


def row_need(
    cells: Mapping[str, Cell], county: int, today: date
) -> tuple[NeedContent | None, list[tuple[str | None, str, str]]]:
    """A need from one row's cells, or the problems of each bad cell as (key, code, message)."""
    bad: list[tuple[str | None, str, str]] = []
    got: dict[str, Any] = {}

    def take(key: str, fn: Any) -> None:
        value = cells.get(key)
        if key in REQUIRED and not cell_text(value):
            bad.append((key, codes.MISSING_VALUE, f"{COLUMNS[key][0]}不能为空 / {key} is required"))
            return
        try:
            got[key] = fn(value)
        except BadCell as exc:
            bad.append((key, exc.code, exc.message))

    for key in ("title", "village", "contact_role", "description", "item", "unit"):
        take(key, lambda v, k=key: _plain(k, v, required=k in REQUIRED))
    take("category", _category)
    take("mode", lambda v: _choice(v, _MODES, "方式 mode", "输血 relief, 造血 capacity"))
    take(
        "beneficiaries",
        lambda v: _whole(v, "受益人数 beneficiaries", positive=False, limit=10_000_000),
    )
    take("budget", lambda v: yuan_to_fen(v, "预算 budget"))
    take(
        "resource_kind",
        lambda v: _choice(v, _KINDS, "资源类型 resource kind", KIND_CHOICES),
    )
    take("deadline", lambda v: _deadline(v, today))

    kind = got.get("resource_kind")
    unit = got.get("unit", "")
    quantity_cell = cells.get("quantity")
    if not cell_text(quantity_cell):
        bad.append(("quantity", codes.MISSING_VALUE, "数量不能为空 / quantity is required"))
    elif kind is not None:
        try:
            if kind == "funds":
                quantity = yuan_to_fen(quantity_cell, "数量 quantity")
                if quantity <= 0:
                    raise BadCell(codes.NOT_POSITIVE, "数量应大于 0 / quantity must be above 0")
            else:
                quantity = _whole(quantity_cell, "数量 quantity", positive=True, limit=MAX_QUANTITY)
            got["quantity"] = quantity
        except BadCell as exc:
            bad.append(("quantity", exc.code, exc.message))
    else:
        # the kind is bad: the quantity can still be seen to be no positive number
        try:
            if yuan_to_fen(quantity_cell, "数量 quantity") <= 0:
                raise BadCell(codes.NOT_POSITIVE, "数量应大于 0 / quantity must be above 0")
        except BadCell as exc:
            bad.append(("quantity", exc.code, exc.message))
    if kind is not None and "unit" in got:
        if kind == "goods" and not unit:
            bad.append(
                ("unit", codes.MISSING_VALUE, "物资须填单位（如 斤、台） / goods need a unit")
            )
        elif kind in _IMPLIED_UNITS and unit.lower() not in _IMPLIED_UNITS[kind]:
            implied = "元" if kind == "funds" else "小时"
            bad.append(
                (
                    "unit",
                    codes.BAD_CHOICE,
                    f"{'资金' if kind == 'funds' else '服务'}的数量以{implied}计，单位请留空 / "
                    f"a {kind} quantity is in {'yuan' if kind == 'funds' else 'hours'}; "
                    "leave the unit empty",
                )
            )
    if bad:
        return None, bad

    data = {
        "county": county,
        "village": got["village"],
        "title": got["title"],
        "description": got["description"],
        "category": got["category"],
        "mode": got["mode"],
        "beneficiaries": got["beneficiaries"],
        "budget_fen": got["budget"],
        "resources": [
            {
                "kind": kind,
                "quantity": got["quantity"],
                "unit": RESOURCE_UNITS.get(str(kind), unit),
                "item": got["item"],
            }
        ],
        "deadline": got["deadline"],
        "contact_role": got["contact_role"],
    }
    try:
        return NeedContent.model_validate(data), []
    except ValidationError as exc:
        # The cell checks above mirror NeedContent; this is the backstop, still per column.
        columns = {"budget_fen": "budget", "resources": "quantity"}
        out: list[tuple[str | None, str, str]] = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            name = loc[2] if loc[:1] == ["resources"] and len(loc) > 2 else loc[0] if loc else ""
            name = columns.get(name, name)
            out.append(
                (
                    name if name in COLUMNS else None,
                    codes.INVALID_PROJECT,
                    f"无效 / {err.get('msg')}",
                )
            )
        return None, out
