"""Need lists (需求表): a county's needs, one per row, read from CSV (UTF-8, with or without a
BOM) or XLSX and checked cell by cell, in one pass, into `NeedContent` data; and the template
to fill in.

Nothing here writes. The answer is the good rows' content and every problem found, each at
its spreadsheet row (the header is row 1) and its column as the header writes it, so that a
list is fixed in one round. Publishing is then one signed draft and publish per need, by the
county's own key. The county comes from the caller (the signer's county), never from the file.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from eth_utils import is_address, to_checksum_address
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.errors import LibraryError
from ledger.core.fields import BEIJING, CATEGORIES, CATEGORY_EN
from ledger.library import ownership, pii
from ledger.library.content import MAX_QUANTITY, MAX_TITLE_BYTES, NeedContent
from ledger.library.regions import require_county

__all__ = [
    "COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "REQUIRED",
    "CellError",
    "NeedList",
    "county_for",
    "describe_columns",
    "error_line",
    "parse_need_list",
    "template_csv",
    "template_xlsx",
    "yuan_to_fen",
]

#: A list holds at most this many needs (rows under the header); split a longer one.
MAX_ROWS = 500
#: The largest file taken (500 full rows fit in a fraction of it).
MAX_FILE_BYTES = 1_000_000
#: An XLSX is a zip: the sum of its members' unpacked sizes is bounded too (a zip bomb is
#: refused before openpyxl unpacks a byte of it).
MAX_XLSX_UNPACKED = 20_000_000
#: Cells read per row: columns beyond the known ones are never looked at.
MAX_COLUMNS = 40
#: Dates without a time are days in China Standard Time.

#: Columns of a need list: key → (Chinese header, English header, what to write). A header
#: cell may be the Chinese name, the English one, the key or both ("标题 title").
COLUMNS: dict[str, tuple[str, str, str]] = {
    "title": (
        "标题",
        "title",
        "1–100 字，约 66 个汉字以内 / 1-100 characters, at most 200 UTF-8 bytes",
    ),
    "village": ("村", "village", "村或乡镇，不超过 64 字 / village or township, up to 64"),
    "category": ("类别", "category", "、".join(CATEGORIES) + " / or the English name"),
    "mode": ("方式", "mode", "输血（直接救助）或 造血（能力建设） / relief or capacity"),
    "beneficiaries": ("受益人数", "beneficiaries", "整数，0 或以上 / a whole number, 0 or more"),
    "budget": (
        "预算（元）",
        "budget_yuan",
        "元，最多两位小数，无预算填 0 / yuan, 2 decimals at most",
    ),
    "resource_kind": ("资源类型", "resource_kind", "资金、物资 或 服务 / funds, goods or service"),
    "quantity": (
        "数量",
        "quantity",
        "资金以元计（最多两位小数）；物资为正整数；服务为小时数 / funds in yuan, goods a whole "
        "number of units, service in hours",
    ),
    "unit": (
        "单位",
        "unit",
        "物资必填，如 斤、台；资金、服务留空 / goods: e.g. 斤, 台; else empty",
    ),
    "item": ("物品或服务", "item", "所需物品或服务，不超过 64 字 / what is asked, up to 64"),
    "deadline": ("截止日期", "deadline", "YYYY-MM-DD 或日期单元格，不早于今天 / not in the past"),
    "contact_role": (
        "联系人角色",
        "contact_role",
        "写岗位不写个人，如 县乡村振兴局帮扶股；勿填手机号 / a role, never a person or a phone",
    ),
    "description": ("说明", "description", "不超过 4000 字；勿填身份证号、手机号 / up to 4000"),
}
REQUIRED = (
    "title",
    "category",
    "mode",
    "beneficiaries",
    "budget",
    "resource_kind",
    "quantity",
    "deadline",
    "contact_role",
)
#: Other words a header may use for a column.
_MORE_ALIASES = {
    "预算": "budget",
    "budget": "budget",
    "资源": "resource_kind",
    "kind": "resource_kind",
    "帮扶方式": "mode",
    "受益人口": "beneficiaries",
    "截止": "deadline",
    "联系角色": "contact_role",
    "contact": "contact_role",
    "描述": "description",
    "物品": "item",
    "村庄": "village",
}
_ALIASES: dict[str, str] = (
    {zh: k for k, (zh, _, _) in COLUMNS.items()}
    | {en.lower(): k for k, (_, en, _) in COLUMNS.items()}
    | {k: k for k in COLUMNS}
    | _MORE_ALIASES
)
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


@dataclass(frozen=True)
class CellError:
    """One problem of a need list: its spreadsheet row (header = 1), its column as the
    header writes it (None for the whole row or file), a stable code and a message."""

    row: int
    column: str | None
    code: str
    message: str
    #: The cell as a spreadsheet names it ("F3"), when the problem is one cell's.
    cell: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NeedList:
    """The needs of the good rows (with their row numbers) and every problem found."""

    county: int
    needs: list[NeedContent] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.needs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "county": self.county,
            "needs": [n.model_dump(mode="json") for n in self.needs],
            "rows": self.rows,
            "errors": [e.to_dict() for e in self.errors],
        }


def error_line(error: Mapping[str, Any] | CellError) -> str:
    """`第N行 列X: message` for a person, Chinese first (the message is bilingual)."""
    e = error.to_dict() if isinstance(error, CellError) else error
    where = f"第{e['row']}行" + (f" 列{e['column']}" if e.get("column") else "")
    en = f"row {e['row']}" + (f" column {e['column']}" if e.get("column") else "")
    return f"{where}: {e['message']} ({en}) [{e['code']}]"


class _Bad(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# ------------------------------------------------------------------ cells


def _column_key(cell: str) -> str | None:
    for token in re.split(r"[\s/|()（）:：,，]+", cell.strip().lstrip("\ufeff")):
        key = _ALIASES.get(token) or _ALIASES.get(token.lower())
        if key:
            return key
    return None


def _text(value: Cell) -> str:
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
        raise _Bad(codes.BAD_AMOUNT, f"{what}不是数字 / {what} is not a number")
    text = repr(value) if isinstance(value, float) else _text(value)
    text = text.replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _Bad(
            codes.BAD_AMOUNT, f"{what} {text!r} 不是金额 / is not an amount in yuan, e.g. 1200.50"
        ) from None
    if not amount.is_finite():
        raise _Bad(codes.BAD_AMOUNT, f"{what}不是有限的数 / {what} is not a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise _Bad(
            codes.BAD_AMOUNT,
            f"{what} {text} 超过两位小数（分） / has more than 2 decimals; 1 fen is 0.01 yuan",
        )
    if amount < 0:
        raise _Bad(codes.OUT_OF_RANGE, f"{what}不能为负 / {what} must not be negative")
    fen = int(amount * 100)
    if fen > MAX_QUANTITY:
        raise _Bad(
            codes.ABSURD_QUANTITY,
            f"{what} {text} 元过大 / is over {MAX_QUANTITY // 100:,} yuan; check the digits",
        )
    return fen


def _whole(value: Cell, what: str, *, positive: bool, limit: int) -> int:
    if isinstance(value, bool | date):
        raise _Bad(codes.BAD_NUMBER, f"{what}应为整数 / {what} must be a whole number")
    text = _text(value).replace(",", "")
    if not re.fullmatch(r"-?\d+", text):
        raise _Bad(codes.BAD_NUMBER, f"{what} {text!r} 不是整数 / is not a whole number")
    number = int(text)
    if positive and number <= 0:
        raise _Bad(codes.NOT_POSITIVE, f"{what}应大于 0 / {what} must be above 0")
    if number < 0:
        raise _Bad(codes.OUT_OF_RANGE, f"{what}不能为负 / {what} must not be negative")
    if number > limit:
        raise _Bad(
            codes.ABSURD_QUANTITY, f"{what} {number} 过大 / is over {limit:,}; check the digits"
        )
    return number


def _deadline(value: Cell, today: date) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        text = _text(value)
        try:
            day = date.fromisoformat(text.replace("/", "-").replace(".", "-"))
        except ValueError:
            raise _Bad(
                codes.BAD_DATE,
                f"截止日期 {text!r} 不是 YYYY-MM-DD 日期 / is not a date like 2030-12-31",
            ) from None
    if day < today:
        raise _Bad(
            codes.DEADLINE_PASSED,
            f"截止日期 {day} 已过 / the deadline {day} is in the past (today is {today}, "
            "China time)",
        )
    return day


def _choice(value: Cell, table: Mapping[str, str], what: str, allowed: str) -> str:
    text = _text(value)
    for token in [text, *re.split(r"[\s/|()（）]+", text)]:
        found = table.get(token) or table.get(token.lower())
        if found:
            return found
    raise _Bad(codes.BAD_CHOICE, f"{what} {text!r} 不是可选值 / must be one of: {allowed}")


def _category(value: Cell) -> str:
    text = _text(value)
    if text.isdigit() and 1 <= int(text) <= len(CATEGORIES):
        return CATEGORIES[int(text) - 1]
    for token in [text, *re.split(r"[\s/|()（）]+", text)]:
        if token in CATEGORIES:
            return token
        for zh, en in zip(CATEGORIES, CATEGORY_EN, strict=True):
            if token.casefold() == en.casefold():
                return zh
    raise _Bad(
        codes.UNKNOWN_CATEGORY,
        f"类别 {text!r} 不在目录中 / unknown category; use one of: {'、'.join(CATEGORIES)}",
    )


def _plain(key: str, value: Cell, *, required: bool) -> str:
    text = _text(value)
    if isinstance(value, date) and key != "deadline":
        raise _Bad(codes.BAD_TYPE, f"{COLUMNS[key][0]}应为文字 / this cell should be text")
    if required and not text:
        raise _Bad(codes.MISSING_VALUE, f"{COLUMNS[key][0]}不能为空 / {key} is required")
    limit = _LIMITS.get(key, 100)
    if len(text) > limit:
        raise _Bad(
            codes.TOO_LONG, f"{COLUMNS[key][0]}超过 {limit} 字 / longer than {limit} characters"
        )
    if key == "unit" and len(text.encode("utf-8")) > 32:
        raise _Bad(codes.TOO_LONG, "单位超过 32 字节 / the unit is over 32 UTF-8 bytes")
    if key == "title" and len(text.encode("utf-8")) > MAX_TITLE_BYTES:
        raise _Bad(
            codes.TOO_LONG,
            f"标题超过 {MAX_TITLE_BYTES} 字节（约 66 个汉字） / the title is over "
            f"{MAX_TITLE_BYTES} UTF-8 bytes (about 66 Chinese characters)",
        )
    kind = pii.find(text)
    if kind is not None:
        # never echo the cell: error answers are shown and shared
        what = "身份证号" if kind == "id_number" else "手机号"
        raise _Bad(
            codes.PERSONAL_DATA_IN_TEXT,
            f"含有{what}，项目库是公开的，请删除 / contains a {kind.replace('_', ' ')}; the "
            "library is public: give a role, not a person",
        )
    return text


# ------------------------------------------------------------------ one row


def _row_need(
    cells: Mapping[str, Cell], county: int, today: date
) -> tuple[NeedContent | None, list[tuple[str | None, str, str]]]:
    """A need from one row's cells, or the problems of each bad cell as (key, code, message)."""
    bad: list[tuple[str | None, str, str]] = []
    got: dict[str, Any] = {}

    def take(key: str, fn: Any) -> None:
        value = cells.get(key)
        if key in REQUIRED and not _text(value):
            bad.append((key, codes.MISSING_VALUE, f"{COLUMNS[key][0]}不能为空 / {key} is required"))
            return
        try:
            got[key] = fn(value)
        except _Bad as exc:
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
        lambda v: _choice(
            v, _KINDS, "资源类型 resource kind", "资金 funds, 物资 goods, 服务 service"
        ),
    )
    take("deadline", lambda v: _deadline(v, today))

    kind = got.get("resource_kind")
    unit = got.get("unit", "")
    quantity_cell = cells.get("quantity")
    if not _text(quantity_cell):
        bad.append(("quantity", codes.MISSING_VALUE, "数量不能为空 / quantity is required"))
    elif kind is not None:
        try:
            if kind == "funds":
                quantity = yuan_to_fen(quantity_cell, "数量 quantity")
                if quantity <= 0:
                    raise _Bad(codes.NOT_POSITIVE, "数量应大于 0 / quantity must be above 0")
            else:
                quantity = _whole(quantity_cell, "数量 quantity", positive=True, limit=MAX_QUANTITY)
            got["quantity"] = quantity
        except _Bad as exc:
            bad.append(("quantity", exc.code, exc.message))
    else:
        # the kind is bad: the quantity can still be seen to be no positive number
        try:
            if yuan_to_fen(quantity_cell, "数量 quantity") <= 0:
                raise _Bad(codes.NOT_POSITIVE, "数量应大于 0 / quantity must be above 0")
        except _Bad as exc:
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

    unit_of = {"funds": "fen", "service": "hour"}
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
                "unit": unit_of.get(str(kind), unit),
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


# ------------------------------------------------------------------ files


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LibraryError(
            "文件不是 UTF-8 编码，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或直接上传 .xlsx / "
            "the file is not UTF-8: save it as CSV UTF-8, or upload the .xlsx",
            code=codes.BAD_ENCODING,
        ) from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _Bad(
                codes.BAD_CSV, f"不是有效的 CSV 行 / not a valid CSV row ({exc}); check the quotes"
            ) from None
        yield number, list(cells)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    from openpyxl import load_workbook  # slow to import; only when an XLSX comes

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
        if unpacked > MAX_XLSX_UNPACKED:
            raise _not_a_sheet("解压后过大 / it unpacks to over 20 MB")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        # the sheet named 需求表 (or needs) when there is one, else the first
        named = [w for w in book.worksheets if w.title.lower().startswith(("需求表", "needs"))]
        sheet = (named or book.worksheets)[0]
        rows = list(sheet.iter_rows(max_col=MAX_COLUMNS, max_row=MAX_ROWS + 200, values_only=True))
        book.close()
    except LibraryError:
        raise
    except Exception:  # noqa: BLE001 - openpyxl fails in many ways on a broken file
        raise _not_a_sheet("无法读取 / openpyxl cannot read it") from None
    for number, cells in enumerate(rows, start=1):
        yield number, list(cells)


def _not_a_sheet(why: str) -> LibraryError:
    return LibraryError(
        f"不是可读取的 CSV 或 XLSX 需求表（{why}） / not a readable CSV or XLSX need list; "
        "start from the template (下载模板)",
        code=codes.BAD_FILE,
    )


def _format(name: str, data: bytes) -> str:
    suffix = PurePath(name).suffix.lower()
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if data[:8] == bytes.fromhex("d0cf11e0a1b11ae1"):
        raise _not_a_sheet("旧版 .xls，请另存为 .xlsx / an old .xls: save it as .xlsx")
    if suffix in (".xlsx", ".xlsm"):
        raise _not_a_sheet("不是 XLSX / not an XLSX file")
    if suffix not in ("", ".csv", ".txt") or b"\x00" in data:
        raise _not_a_sheet(f"{suffix or '二进制'} 文件 / a {suffix or 'binary'} file")
    return "csv"


def _blank(cells: Sequence[Cell]) -> bool:
    return not any(_text(c) for c in cells)


def county_for(session: Session, county: int | str | None, address: str | None) -> int:
    """The county a list is checked for: `county` as given, else the county whose office
    `address` is (registrations are public facts). Publishing checks the signer again."""
    if county not in (None, ""):
        return require_county(county).code  # type: ignore[arg-type]
    if not address:
        raise LibraryError(
            "请给出县级代码或县级账户地址 / give the county code (county) or the county "
            "office's address (address)",
            code=codes.MISSING_VALUE,
            field="county",
        )
    if not is_address(address):
        raise LibraryError(
            "address 不是 0x 地址 / address is not a 0x address of 20 bytes",
            code=codes.INVALID_ADDRESS,
            field="address",
        )
    held = ownership.county_of(session, to_checksum_address(address))
    if held is None:
        raise LibraryError(
            f"{address} 不是已登记的县级账户 / is not a registered county office; give county",
            code=codes.NOT_REGISTERED,
            field="address",
        )
    return held


def parse_need_list(
    data: bytes, county: int | str, *, name: str = "", today: date | None = None
) -> NeedList:
    """Reads a need list (CSV or XLSX, told apart by content, then `name`) for `county` and
    checks every cell; bad data goes into `errors`, never raises. Only a file that is no
    CSV or XLSX at all (bad_file, bad_encoding), too large (file_too_large) or a bad county
    raises a LibraryError."""
    county_code = require_county(county).code
    if len(data) > MAX_FILE_BYTES:
        raise LibraryError(
            f"文件超过 {MAX_FILE_BYTES // 1000} KB / the file is over {MAX_FILE_BYTES:,} bytes; "
            f"a list holds at most {MAX_ROWS} needs",
            code=codes.FILE_TOO_LARGE,
        )
    today = today or datetime.now(BEIJING).date()
    fmt = _format(name, data)
    out = NeedList(county=county_code)
    header: list[str | None] | None = None
    written: dict[str, str] = {}
    seen: dict[str, int] = {}
    count = 0
    rows = _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(data)
    number = 1
    while True:
        try:
            number, cells = next(rows)
        except StopIteration:
            break
        except _Bad as bad:
            out.errors.append(CellError(number + 1, None, bad.code, bad.message))
            break
        if _blank(cells) or _text(cells[0]).startswith("#"):
            continue
        if header is None:
            header = _read_header(cells, number, written, out.errors)
            if header is None:
                return out
            continue
        extra = [c for c in cells[len(header) :] if _text(c)]
        if extra:
            out.errors.append(
                CellError(
                    number,
                    None,
                    codes.WRONG_COLUMN_COUNT,
                    f"本行比表头多出 {len(extra)} 个单元格 / this row has cells beyond the "
                    f"header's {len(header)} columns",
                )
            )
            continue
        count += 1
        if count > MAX_ROWS:
            out.errors.append(
                CellError(
                    number,
                    None,
                    codes.TOO_MANY_LINES,
                    f"一张需求表最多 {MAX_ROWS} 行，请拆分 / a list holds at most {MAX_ROWS} "
                    "needs; split the file",
                )
            )
            break
        values = {k: v for k, v in zip(header, cells, strict=False) if k is not None}
        need, bad_cells = _row_need(values, county_code, today)
        # in the order of the file's columns, as a person reads the row
        bad_cells.sort(key=lambda b: header.index(b[0]) if b[0] in header else len(header))
        for key, code, message in bad_cells:
            where = _cell_name(header.index(key), number) if key in header else None
            column = written.get(key) if key else None
            out.errors.append(CellError(number, column, code, message, where))
        if need is None:
            continue
        fingerprint = need.model_dump_json()
        if fingerprint in seen:
            out.errors.append(
                CellError(
                    number,
                    None,
                    codes.DUPLICATE_LINE,
                    f"与第{seen[fingerprint]}行相同 / the same need as row {seen[fingerprint]}",
                )
            )
            continue
        seen[fingerprint] = number
        out.needs.append(need)
        out.rows.append(number)
    if header is None:
        out.errors.append(
            CellError(1, None, codes.EMPTY_FILE, "文件是空的 / the file has no header row")
        )
    elif not out.needs and not out.errors:
        out.errors.append(
            CellError(2, None, codes.EMPTY_FILE, "表头下没有需求 / no needs under the header")
        )
    return out


def _cell_name(index: int, row: int) -> str:
    """A1-style name of the cell in 0-based column `index` of `row` ("F3")."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{letters}{row}"


def _read_header(
    cells: Sequence[Cell], number: int, written: dict[str, str], errors: list[CellError]
) -> list[str | None] | None:
    """The column key of each header cell; fills `written` (key → header text as written)."""
    header: list[str | None] = []
    ok = True
    for index, cell in enumerate(cells):
        text = _text(cell).lstrip("\ufeff")
        key = _column_key(text) if text else None
        if text and key is None:
            errors.append(
                CellError(
                    number,
                    text,
                    codes.BAD_HEADER,
                    f"未知的列 / unknown column; use the template's headers: "
                    f"{'、'.join(zh for zh, _, _ in COLUMNS.values())}",
                    _cell_name(index, number),
                )
            )
            ok = False
        elif key is not None and key in written:
            errors.append(
                CellError(
                    number,
                    text,
                    codes.BAD_HEADER,
                    f"与“{written[key]}”重复 / the same column as {written[key]!r}",
                    _cell_name(index, number),
                )
            )
            ok = False
        elif key is not None:
            written[key] = text
        header.append(key)
    for key in REQUIRED:
        if key not in written:
            zh, en, _ = COLUMNS[key]
            errors.append(
                CellError(number, None, codes.BAD_HEADER, f"缺少列“{zh}” / the header lacks {en}")
            )
            ok = False
    return header if ok else None


# ------------------------------------------------------------------ the template


def _example(today: date) -> dict[str, Cell]:
    return {
        "title": "村集体茶叶加工设备 tea processing machines",
        "village": "者楼村",
        "category": "产业发展",
        "mode": "造血",
        "beneficiaries": 320,
        "budget": "150000.00",
        "resource_kind": "物资",
        "quantity": 2,
        "unit": "台",
        "item": "茶叶杀青机",
        "deadline": date(today.year + 1, 12, 31),
        "contact_role": "县乡村振兴局产业股",
        "description": "用于村集体茶厂，带动脱贫户务工增收。",
    }


NOTE = (
    "# 每行一个需求、一种资源；需要多种资源时请分行填写。以 # 开头的行不读取。"
    " / One need per row, with one resource; ask for several resources on several rows."
    " Rows starting with # are skipped."
)


def _header_cells() -> list[str]:
    return [f"{zh} {en}" for zh, en, _ in COLUMNS.values()]


def template_csv(today: date | None = None) -> bytes:
    """The need-list template as CSV UTF-8 with a BOM (so Excel reads the Chinese)."""
    example = _example(today or datetime.now(BEIJING).date())
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(_header_cells())
    writer.writerow([_text(example[k]) for k in COLUMNS])
    writer.writerow([NOTE])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def template_xlsx(today: date | None = None) -> bytes:
    """The need-list template as XLSX: a frozen bilingual header row, an example row, choice
    lists on 类别 / 方式 / 资源类型, and a sheet 填写说明 describing each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    example = _example(today or datetime.now(BEIJING).date())
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "需求表 needs"
    sheet.append(_header_cells())
    sheet.append([example[k] for k in COLUMNS])
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, key in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=i)
        cell.font, cell.fill = bold, fill
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 30 if key in ("title", "description") else 16
        if key == "deadline":
            for row in range(2, MAX_ROWS + 2):
                sheet.cell(row=row, column=i).number_format = "yyyy-mm-dd"
    choices = {
        "category": ",".join(CATEGORIES),
        "mode": "输血,造血",
        "resource_kind": "资金,物资,服务",
    }
    for key, values in choices.items():
        letter = sheet.cell(row=1, column=list(COLUMNS).index(key) + 1).column_letter
        rule = DataValidation(type="list", formula1=f'"{values}"', allow_blank=True)
        rule.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        sheet.add_data_validation(rule)
    notes = book.create_sheet("填写说明 notes")
    notes.append(["列 column", "说明 what to write"])
    for key, (zh, en, what) in COLUMNS.items():
        need = "必填 required" if key in REQUIRED else "选填 optional"
        notes.append([f"{zh} {en}", f"{need}：{what}"])
    notes.append([])
    notes.append([NOTE.removeprefix("# ")])
    notes.column_dimensions["A"].width = 24
    notes.column_dimensions["B"].width = 100
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def describe_columns() -> str:
    """The column list as text, for `bangfu library template` and the docs."""
    lines = []
    for key, (zh, en, what) in COLUMNS.items():
        need = "必填 required" if key in REQUIRED else "选填 optional"
        lines.append(f"{zh} {en} ({need}): {what}")
    return "\n".join(lines) + "\n"
