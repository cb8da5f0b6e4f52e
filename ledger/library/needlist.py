"""Need lists (需求表): a county's needs, one per row, read from CSV (UTF-8, with or without a
BOM) or XLSX and checked cell by cell, in one pass, into `NeedContent` data. Here are the
header, the rows and the problems found at their places; the columns are
`ledger.library.needlist_columns`, one row's cells `needlist_cells`, reading a file
`needlist_files` and the template to fill in `needlist_template`.

Nothing here writes. The answer is the good rows' content and every problem found, each at
its spreadsheet row (the header is row 1) and its column as the header writes it, so that a
list is fixed in one round. Publishing is then one signed draft and publish per need, by the
county's own key. The county comes from the caller (the signer's county), never from the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from eth_utils import is_address, to_checksum_address
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.errors import LibraryError
from ledger.core.fields import BEIJING
from ledger.library import ownership
from ledger.library.content import NeedContent
from ledger.library.needlist_cells import BadCell, Cell, cell_text, row_need
from ledger.library.needlist_columns import COLUMNS, MAX_ROWS, REQUIRED, column_key
from ledger.library.needlist_files import file_rows
from ledger.library.regions import require_county

__all__ = ["CellError", "NeedList", "county_for", "error_line", "parse_need_list"]


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


def _blank(cells: Sequence[Cell]) -> bool:
    return not any(cell_text(c) for c in cells)


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
    rows = file_rows(data, name)
    today = today or datetime.now(BEIJING).date()
    out = NeedList(county=county_code)
    header: list[str | None] | None = None
    written: dict[str, str] = {}
    seen: dict[str, int] = {}
    count = 0
    number = 1
    while True:
        try:
            number, cells = next(rows)
        except StopIteration:
            break
        except BadCell as bad:
            out.errors.append(CellError(number + 1, None, bad.code, bad.message))
            break
        if _blank(cells) or cell_text(cells[0]).startswith("#"):
            continue
        if header is None:
            header = _read_header(cells, number, written, out.errors)
            if header is None:
                return out
            continue
        extra = [c for c in cells[len(header) :] if cell_text(c)]
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
        need, bad_cells = row_need(values, county_code, today)
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
        text = cell_text(cell).lstrip("\ufeff")
        key = column_key(text) if text else None
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
