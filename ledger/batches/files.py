"""Batch files: the CSV and JSON Lines formats of bulk deliveries, their columns and the
checks of every line, so that a file is refused line by line before anything is signed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ledger.core.fields import BEIJING
from ledger.core.headers import header_key
from ledger.core.lines import DeliveryLine, pseudonym
from ledger.core.records import MAX_BATCH_COMMITMENTS

__all__ = [
    "COLUMNS",
    "MAX_BATCH_LINES",
    "MAX_COMMITMENTS",
    "MAX_ITEM_CHARS",
    "MAX_LINE_QUANTITY",
    "LineProblem",
    "ParsedFile",
    "describe_columns",
    "line_from_row",
    "parse_file",
    "parse_time",
    "valid_id_number",
]

#: A batch record's commitments: the contract's bound (MAX_BATCH_COMMITMENTS, 256).
MAX_COMMITMENTS = MAX_BATCH_COMMITMENTS
MAX_BATCH_LINES = 2_000_000
#: Larger than any real single hand-out (10^12 fen is 10 billion yuan); a typo guard.
MAX_LINE_QUANTITY = 10**12
MAX_ITEM_CHARS = 100
MAX_UNIT_BYTES = 32
EARLIEST = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp())
#: Dates without a time are days in China Standard Time.

#: Columns of a batch file: key → (Chinese name, English description). Header cells may be
#: the key, the Chinese name, or both ("数量 quantity").
COLUMNS: dict[str, tuple[str, str]] = {
    "commitment_id": ("承诺编号", "id of the commitment delivered against, 0x + 64 hex"),
    "item": ("物品或服务", "what was delivered, up to 100 characters"),
    "quantity": ("数量", "a positive whole number in the commitment's unit (funds: fen 分)"),
    "unit": ("单位", "unit, up to 32 UTF-8 bytes, e.g. 斤, kg, 分, 小时"),
    "delivered_at": ("交付日期", "YYYY-MM-DD (China time), ISO 8601 time, or Unix seconds"),
    "beneficiary": ("受益人假名", "pseudonym HMAC-SHA256(county key, ID number), 0x + 64 hex"),
    "id_number": ("身份证号", "18-character ID number; turned into the pseudonym on your machine"),
    "evidence_hash": ("凭证哈希", "optional SHA-256 of the evidence (photo, signed list), 0x-hex"),
}
REQUIRED = ("commitment_id", "item", "quantity", "unit", "delivered_at")
_ALIASES = {zh: key for key, (zh, _) in COLUMNS.items()} | {key: key for key in COLUMNS}
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class LineProblem:
    """One bad line of a batch file: where, which column, and what to do."""

    line: int
    code: str
    message: str
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ParsedFile:
    """The good lines of a file (with their line numbers) and every problem found."""

    lines: list[DeliveryLine] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    format: str = "csv"

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.lines)


def _hex32(value: str, column: str) -> bytes:
    if not _HEX32.match(value):
        raise _Bad(column, "bad_hex", f"{column} must be 0x followed by 64 hex digits")
    return bytes.fromhex(value[2:])


class _Bad(Exception):
    def __init__(self, column: str | None, code: str, message: str) -> None:
        super().__init__(message)
        self.column, self.code, self.message = column, code, message


def valid_id_number(text: str) -> bool:
    """GB 11643: 17 digits and a check character (0-9 or X) computed from them."""
    if not _ID_NUMBER.match(text):
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17]


def parse_time(value: str, *, now: float | None = None) -> int:
    """Unix seconds from YYYY-MM-DD (China time), ISO 8601, or Unix seconds; sane range only."""
    text = value.strip()
    try:
        if text.isdigit():
            ts = int(text)
        elif len(text) == 10:
            d = date.fromisoformat(text)
            ts = int(datetime(d.year, d.month, d.day, tzinfo=BEIJING).timestamp())
        else:
            dt = datetime.fromisoformat(text)
            ts = int((dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)).timestamp())
    except ValueError:
        raise _Bad(
            "delivered_at", "bad_date", f"delivered_at {text!r} is not YYYY-MM-DD or Unix seconds"
        ) from None
    latest = (now if now is not None else datetime.now(UTC).timestamp()) + 86_400
    if not EARLIEST <= ts <= latest:
        raise _Bad(
            "delivered_at", "absurd_date", f"delivered_at {text!r} is before 2015 or in the future"
        )
    return ts


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Bad(key, "bad_type", f"{key} must be text or a whole number")
    return str(value).strip()


def line_from_row(row: Mapping[str, Any], county_key: bytes | None) -> DeliveryLine:
    """One DeliveryLine from a row of named values; raises _Bad naming the column."""
    for key in REQUIRED:
        if not _text(row, key):
            raise _Bad(key, "missing_value", f"{key} ({COLUMNS[key][0]}) is empty")
    commitment_id = _hex32(_text(row, "commitment_id"), "commitment_id")
    item = _text(row, "item")
    if len(item) > MAX_ITEM_CHARS:
        raise _Bad("item", "too_long", f"item is longer than {MAX_ITEM_CHARS} characters")
    qty_text = _text(row, "quantity")
    if not qty_text.lstrip("-").isdigit():
        raise _Bad("quantity", "bad_type", f"quantity {qty_text!r} is not a whole number")
    quantity = int(qty_text)
    if quantity <= 0:
        raise _Bad("quantity", "not_positive", f"quantity {quantity} must be positive")
    if quantity > MAX_LINE_QUANTITY:
        raise _Bad(
            "quantity", "absurd_quantity", f"quantity {quantity} is over {MAX_LINE_QUANTITY:,}"
        )
    unit = _text(row, "unit")
    if len(unit.encode("utf-8")) > MAX_UNIT_BYTES:
        raise _Bad("unit", "too_long", f"unit is longer than {MAX_UNIT_BYTES} UTF-8 bytes")
    delivered_at = parse_time(_text(row, "delivered_at"))
    pseudo_text, id_number = _text(row, "beneficiary"), _text(row, "id_number").upper()
    if pseudo_text and id_number:
        raise _Bad(
            "id_number", "both_beneficiary_columns", "give beneficiary or id_number, not both"
        )
    if pseudo_text:
        beneficiary = _hex32(pseudo_text, "beneficiary")
    elif id_number:
        if not valid_id_number(id_number):
            # Never echo the ID number: error reports are shared and logged.
            raise _Bad("id_number", "bad_id_number", "id_number is not a valid 18-character ID")
        if county_key is None:
            raise _Bad(
                "id_number",
                "county_key_needed",
                "id_number needs the county key file (--county-key) to make the pseudonym",
            )
        beneficiary = pseudonym(county_key, id_number)
    else:
        raise _Bad("beneficiary", "missing_value", "give beneficiary (pseudonym) or id_number")
    evidence_text = _text(row, "evidence_hash")
    evidence = _hex32(evidence_text, "evidence_hash") if evidence_text else bytes(32)
    return DeliveryLine(commitment_id, item, quantity, unit, delivered_at, beneficiary, evidence)


def _decoded_lines(raw: BinaryIO, problems: list[LineProblem]) -> Iterator[str]:
    for number, data in enumerate(raw, start=1):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(
                LineProblem(
                    number,
                    "bad_encoding",
                    "this line is not UTF-8; save the file as UTF-8 (Excel: CSV UTF-8)",
                )
            )
            text = "\n"
        if number == 1:
            text = text.lstrip("\ufeff")
        yield text


def _csv_rows(
    raw: BinaryIO, problems: list[LineProblem]
) -> Iterator[tuple[int, Mapping[str, Any] | None]]:
    reader = csv.reader(_decoded_lines(raw, problems))
    header: list[str | None] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # A field over csv.field_size_limit() (131,072 characters), a NUL, or a broken
            # quote: a problem of this line, never a traceback. The reader goes on with the
            # next line.
            too_large = "field larger than field limit" in str(exc)
            problems.append(
                LineProblem(
                    reader.line_num,
                    "field_too_large" if too_large else "bad_csv",
                    f"字段超过 {csv.field_size_limit():,} 个字符 / a field is longer than "
                    f"{csv.field_size_limit():,} characters; check the quotes on this line"
                    if too_large
                    else f"不是有效的 CSV 行 / this line is not valid CSV ({exc}); check quotes",
                )
            )
            if header is None:
                return
            yield reader.line_num, None
            continue
        number = reader.line_num
        if not cells or not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [header_key(c, _ALIASES) for c in cells]
            unknown = [c for c, k in zip(cells, header, strict=True) if k is None and c.strip()]
            missing = [k for k in REQUIRED if k not in header]
            if not ("beneficiary" in header or "id_number" in header):
                missing.append("beneficiary|id_number")
            if unknown or missing:
                problems.append(
                    LineProblem(
                        number,
                        "bad_header",
                        "the header "
                        + (f"lacks {', '.join(missing)}" if missing else "")
                        + ("; " if missing and unknown else "")
                        + (f"has unknown column(s) {', '.join(unknown)}" if unknown else "")
                        + "; see `bangfu batch template`",
                    )
                )
                return
            continue
        if len(cells) != len(header):
            problems.append(
                LineProblem(
                    number,
                    "wrong_column_count",
                    f"{len(cells)} cells, but the header has {len(header)}",
                )
            )
            yield number, None
            continue
        yield number, {k: v for k, v in zip(header, cells, strict=True) if k}
    if header is None:
        problems.append(LineProblem(1, "bad_header", "the file has no header line"))


def _jsonl_rows(
    raw: BinaryIO, problems: list[LineProblem]
) -> Iterator[tuple[int, Mapping[str, Any] | None]]:
    for number, text in enumerate(_decoded_lines(raw, problems), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            problems.append(LineProblem(number, "bad_json", "this line is not a JSON object"))
            yield number, None
            continue
        if not isinstance(obj, dict):
            problems.append(LineProblem(number, "bad_json", "this line is not a JSON object"))
            yield number, None
            continue
        keys = {k: header_key(str(k), _ALIASES) for k in obj}
        unknown = [k for k, v in keys.items() if v is None]
        if unknown:
            problems.append(
                LineProblem(number, "unknown_field", f"unknown field(s) {', '.join(unknown)}")
            )
            yield number, None
            continue
        yield number, {key: obj[k] for k, key in keys.items() if key is not None}


def parse_file(
    path: Path | str, county_key: bytes | None = None, *, max_problems: int = 1000
) -> ParsedFile:
    """Reads a CSV or JSON Lines batch file and checks every line; never raises for bad data.

    Duplicate lines (the same line bytes twice) are problems too. Reading stops collecting
    problem details after `max_problems` (the count goes on).
    """
    path = Path(path)
    fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    out = ParsedFile(format=fmt)
    problems: list[LineProblem] = []
    seen: dict[bytes, int] = {}
    with path.open("rb") as raw:
        rows = _jsonl_rows(raw, problems) if fmt == "jsonl" else _csv_rows(raw, problems)
        for number, row in rows:
            if row is None:
                continue
            try:
                line = line_from_row(row, county_key)
            except _Bad as bad:
                problems.append(LineProblem(number, bad.code, bad.message, bad.column))
                continue
            leaf = line.leaf_hash()
            if leaf in seen:
                problems.append(
                    LineProblem(
                        number, "duplicate_line", f"the same delivery as line {seen[leaf]}", None
                    )
                )
                continue
            seen[leaf] = number
            out.lines.append(line)
            out.line_numbers.append(number)
    if not out.lines and not problems:
        problems.append(LineProblem(1, "empty_file", "the file has no delivery lines"))
    if len(out.lines) > MAX_BATCH_LINES:
        problems.append(
            LineProblem(
                out.line_numbers[MAX_BATCH_LINES],
                "too_many_lines",
                f"a batch holds at most {MAX_BATCH_LINES:,} lines; split the file",
            )
        )
    commitments = {line.commitment_id for line in out.lines}
    if len(commitments) > MAX_COMMITMENTS:
        problems.append(
            LineProblem(
                1,
                "too_many_commitments",
                f"{len(commitments)} commitments; a batch serves at most {MAX_COMMITMENTS}",
            )
        )
    problems.sort(key=lambda p: p.line)
    out.problems = problems[:max_problems] if len(problems) > max_problems else problems
    return out


def describe_columns() -> str:
    """The column list as text, for `bangfu batch template` and the docs."""
    buf = io.StringIO()
    for key, (zh, en) in COLUMNS.items():
        need = "required" if key in REQUIRED else "optional"
        buf.write(f"{key:14} {zh}  ({need}) {en}\n")
    return buf.getvalue()
