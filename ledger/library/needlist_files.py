"""A need-list file's rows of cells: CSV (UTF-8, with or without a BOM) or XLSX, told apart
by content, then by name; the size limits that bound a file before it is read (an XLSX's
unpacked size too, so a zip bomb is refused before openpyxl unpacks a byte of it).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import PurePath

from ledger.core import codes
from ledger.core.errors import LibraryError
from ledger.library.needlist_cells import BadCell, Cell
from ledger.library.needlist_columns import MAX_ROWS

__all__ = ["MAX_FILE_BYTES", "MAX_XLSX_UNPACKED", "file_rows"]

#: The largest file taken (500 full rows fit in a fraction of it).
MAX_FILE_BYTES = 1_000_000
#: An XLSX is a zip: the sum of its members' unpacked sizes is bounded too (a zip bomb is
#: refused before openpyxl unpacks a byte of it).
MAX_XLSX_UNPACKED = 20_000_000
#: Cells read per row: columns beyond the known ones are never looked at.
MAX_COLUMNS = 40


def file_rows(data: bytes, name: str = "") -> Iterator[tuple[int, list[Cell]]]:
    """The rows of a need-list file with their spreadsheet numbers (from 1). A file too large
    (file_too_large) or no CSV or XLSX at all (bad_file) is refused at once; a file that is
    not UTF-8 (bad_encoding) as its rows are read, and a CSV row that cannot be read raises
    BadCell (bad_csv) when it is reached."""
    if len(data) > MAX_FILE_BYTES:
        raise LibraryError(
            f"文件超过 {MAX_FILE_BYTES // 1000} KB / the file is over {MAX_FILE_BYTES:,} bytes; "
            f"a list holds at most {MAX_ROWS} needs",
            code=codes.FILE_TOO_LARGE,
        )
    return _xlsx_rows(data) if _format(name, data) == "xlsx" else _csv_rows(data)


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
            raise BadCell(
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
