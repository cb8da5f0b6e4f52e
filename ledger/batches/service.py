"""Bulk deliveries: the batch file formats and their checks, the batch tree, the upload wire
format, and the server side that ingests a streamed upload and serves two-level line proofs.

A batch is k `records.DeliveryLine`s; their RFC 9162 root is signed once in a
`DeliveryBatch` record that goes on chain as one log leaf (DESIGN §3.3). The client helpers
that read files, sign and upload live in `ledger.batch_client`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ledger.core.errors import ConflictError, LedgerError, NotFoundError, RecordError
from ledger.core.merkle import Frontier, MerkleTree, leaf_hash
from ledger.core.records import (
    MAX_BATCH_COMMITMENTS,
    DeliveryBatch,
    DeliveryLine,
    Domain,
    Kind,
    SignedRecord,
    batch_totals,
    derive_id,
    pseudonym,
    scoped_id,
)
from ledger.relayer.outbox import Relayer
from ledger.relayer.rules import check_batch_shape, check_batch_signer
from ledger.store.batch_models import BatchLine, BatchUpload
from ledger.store.db import Database
from ledger.store.models import IndexerCheckpoint, LogEntry

__all__ = [
    "COLUMNS",
    "MAX_BATCH_LINES",
    "BatchError",
    "BatchService",
    "FrameReader",
    "LineProblem",
    "ParsedFile",
    "UploadInfo",
    "batch_id_for",
    "build_batch",
    "frame",
    "parse_file",
]

#: A batch record's commitments: the contract's bound (MAX_BATCH_COMMITMENTS, 256).
MAX_COMMITMENTS = MAX_BATCH_COMMITMENTS
MAX_BATCH_LINES = 2_000_000
#: Larger than any real single hand-out (10^12 fen is 10 billion yuan); a typo guard.
MAX_LINE_QUANTITY = 10**12
MAX_ITEM_CHARS = 100
MAX_UNIT_BYTES = 32
#: A framed line is at most this long (fixed 121 bytes plus item and unit).
MAX_FRAME = 1024
EARLIEST = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp())
#: Dates without a time are days in China Standard Time.
CST = timezone(timedelta(hours=8))

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


class BatchError(RecordError):
    """A batch or one of its lines is refused; `problems` lists every bad line found."""

    code = "invalid_batch"


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


# ------------------------------------------------------------------ reading files


@dataclass(frozen=True)
class LineProblem:
    """One bad line of a batch file: where, which column, and what to do."""

    line: int
    code: str
    message: str
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
        }


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


def _column_key(cell: str) -> str | None:
    for token in re.split(r"[\s/|()（）]+", cell.strip().lstrip("\ufeff")):
        key = _ALIASES.get(token) or _ALIASES.get(token.lower())
        if key:
            return key
    return None


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
            ts = int(datetime(d.year, d.month, d.day, tzinfo=CST).timestamp())
        else:
            dt = datetime.fromisoformat(text)
            ts = int((dt if dt.tzinfo else dt.replace(tzinfo=CST)).timestamp())
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
            header = [_column_key(c) for c in cells]
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
        keys = {k: _column_key(str(k)) for k in obj}
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


# ------------------------------------------------------------------ the batch record


def batch_id_for(signer: str, batch_root: bytes, evidence_hash: bytes) -> bytes:
    """The batch id is derived, so signing the same lines again makes the same record and a
    rerun of an interrupted upload resumes it instead of starting a second batch."""
    digest = derive_id("DeliveryBatch", bytes.fromhex(signer[2:]), batch_root, evidence_hash)
    return scoped_id(signer, digest)  # the contract wants ids that start with their signer


def build_batch(
    lines: Sequence[DeliveryLine], signer: str, evidence_hash: bytes = bytes(32)
) -> DeliveryBatch:
    """The DeliveryBatch record of `lines` (root over their leaf hashes, totals)."""
    if not lines:
        raise BatchError("a batch needs at least one line", code="empty_batch")
    root = Frontier(line.leaf_hash() for line in lines).root()
    cids, qtys = batch_totals(lines)
    return DeliveryBatch(
        id=batch_id_for(signer, root, evidence_hash),
        commitment_ids=cids,
        quantities=qtys,
        line_count=len(lines),
        batch_root=root,
        evidence_hash=evidence_hash,
    )


# ------------------------------------------------------------------ upload wire format


def frame(line_bytes: bytes) -> bytes:
    """One line on the wire: length u32 big-endian ‖ line bytes."""
    return len(line_bytes).to_bytes(4, "big") + line_bytes


def iter_frames(lines: Iterable[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """Framed lines grouped into chunks of about `chunk` bytes, for a streaming body."""
    buf = bytearray()
    for line in lines:
        buf += frame(line)
        if len(buf) >= chunk:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


class FrameReader:
    """Splits a byte stream into framed lines; keeps an incomplete tail for the next chunk."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            size = int.from_bytes(buf[pos : pos + 4], "big")
            if size > MAX_FRAME or size == 0:
                raise BatchError(
                    f"a framed line claims {size} bytes; lines are 1..{MAX_FRAME} bytes. "
                    "Send length u32 ‖ line bytes for each line",
                    code="bad_frame",
                )
            if n - pos - 4 < size:
                break
            out.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line at the end (dropped if the stream ends here)."""
        return len(self._buf)


# ------------------------------------------------------------------ server side


@dataclass(frozen=True)
class UploadInfo:
    """What the API answers about an upload."""

    upload_id: str
    batch_id: str
    signer: str
    status: str
    line_count: int
    lines_received: int
    error_code: str | None = None
    error: str | None = None
    error_fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: BatchUpload) -> UploadInfo:
        return cls(
            row.upload_id,
            row.batch_id,
            row.signer,
            row.status,
            row.line_count,
            row.lines_received,
            row.error_code,
            row.error,
        )


def _check_line(line_bytes: bytes, index: int, commitments: set[bytes]) -> DeliveryLine:
    try:
        line = DeliveryLine.from_bytes(line_bytes)
    except (RecordError, UnicodeDecodeError):
        raise BatchError(
            f"line {index} is not a well-formed delivery line", code="bad_line", line_index=index
        ) from None
    if line.commitment_id not in commitments:
        raise BatchError(
            f"line {index} delivers against commitment {_hex(line.commitment_id)}, which the "
            "signed batch does not list",
            code="line_commitment_not_in_batch",
            line_index=index,
        )
    if not 0 < line.quantity <= MAX_LINE_QUANTITY:
        raise BatchError(
            f"line {index} has quantity {line.quantity}; it must be 1..{MAX_LINE_QUANTITY}",
            code="absurd_quantity",
            line_index=index,
        )
    if not line.item or len(line.item) > MAX_ITEM_CHARS or not line.unit:
        raise BatchError(
            f"line {index} has an empty or too long item or unit", code="bad_line", line_index=index
        )
    return line


class LineReceiver:
    """Takes the lines of one upload request, in order, writing them in chunks.

    Lines before the held count are skipped (a resumed client may resend some), so the
    upload is idempotent by line index; a gap is refused.
    """

    def __init__(self, service: BatchService, row: BatchUpload, start: int) -> None:
        self.service = service
        self.upload_id = row.upload_id
        self.batch_id = row.batch_id
        self.line_count = row.line_count
        self.held = row.lines_received
        record = SignedRecord.from_bytes(row.record_bytes).record
        assert isinstance(record, DeliveryBatch)
        self.commitments = set(record.commitment_ids)
        self.reader = FrameReader()
        self.next_index = start
        self.pending: list[tuple[Any, ...]] = []
        self.frontier = Frontier()
        self.totals: dict[str, int] = {}
        with service.db.read() as session:
            # Resuming: the tree and totals so far come from the durable lines themselves.
            for h in session.scalars(
                select(BatchLine.leaf_hash)
                .where(BatchLine.batch_id == self.batch_id)
                .order_by(BatchLine.line_index)
                .execution_options(yield_per=10_000)
            ):
                self.frontier.append(bytes.fromhex(h[2:]))
            for cid, qty in session.execute(
                select(BatchLine.commitment_id, func.sum(BatchLine.quantity))
                .where(BatchLine.batch_id == self.batch_id)
                .group_by(BatchLine.commitment_id)
            ):
                self.totals[cid] = int(qty)
        if self.frontier.size != self.held:
            raise ConflictError("the upload's lines changed while resuming; retry", code="busy")

    def feed(self, data: bytes) -> int:
        """Parses a chunk of the body; returns how many lines wait to be written."""
        for line_bytes in self.reader.feed(data):
            index = self.next_index
            self.next_index += 1
            if index < self.held:
                continue
            if index >= self.line_count:
                raise BatchError(
                    f"the signed batch has {self.line_count} lines; line {index} is one too many",
                    code="too_many_lines",
                    line_index=index,
                )
            line = _check_line(line_bytes, index, self.commitments)
            # from_bytes accepts only the exact encoding, so these bytes are the line's own.
            leaf = leaf_hash(line_bytes)
            self.frontier.append(leaf)
            cid = _hex(line.commitment_id)
            self.totals[cid] = self.totals.get(cid, 0) + line.quantity
            self.pending.append(
                (
                    self.batch_id,
                    index,
                    line_bytes,
                    _hex(leaf),
                    cid,
                    _hex(line.beneficiary),
                    line.quantity,
                    line.item,
                    line.unit,
                    line.delivered_at,
                    _hex(line.evidence_hash),
                )
            )
        return len(self.pending)

    def flush(self) -> int:
        """Writes the waiting lines and the new held count in one transaction."""
        if not self.pending:
            return self.held
        rows, self.pending = self.pending, []
        new_held = self.held + len(rows)
        complete = new_held == self.line_count
        with self.service.db.write() as session:
            values: dict[str, Any] = {"lines_received": new_held}
            if complete:
                values["lines_root"] = _hex(self.frontier.root())
                values["totals"] = json.dumps(self.totals, sort_keys=True)
            moved = session.execute(
                update(BatchUpload)
                .where(
                    BatchUpload.upload_id == self.upload_id,
                    BatchUpload.lines_received == self.held,
                    BatchUpload.status == "receiving",
                )
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
            if moved != 1:
                # Another request for the same upload got there first; the transaction rolls
                # back, and the client asks for the held count and resumes.
                raise ConflictError(
                    "another request is uploading lines of this batch; ask its status and resume",
                    code="busy",
                )
            # The driver's own executemany: SQLAlchemy's per-row parameter handling costs
            # more than the database does at these volumes.
            session.connection().exec_driver_sql(self.service.insert_sql, rows)
        self.held = new_held
        return new_held


class BatchService:
    """The server side of bulk deliveries over one database and relayer."""

    def __init__(self, db: Database, relayer: Relayer, domain: Domain) -> None:
        self.db = db
        self.relayer = relayer
        self.domain = domain
        self._cache_lock = threading.Lock()
        self._batch_trees: dict[str, MerkleTree] = {}
        self._log_tree: MerkleTree | None = None
        mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
        self.insert_sql = (
            f"INSERT INTO batch_lines ({', '.join(LINE_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(LINE_COLUMNS))})"
        )

    # ---- uploads -----------------------------------------------------------------
    def open(self, signed: SignedRecord) -> UploadInfo:
        """Starts (or finds again) the upload of a signed DeliveryBatch."""
        if signed.kind != Kind.DELIVERY_BATCH or not isinstance(signed.record, DeliveryBatch):
            raise BatchError("only a delivery_batch record opens a batch upload", code="bad_kind")
        if signed.domain != self.domain:
            raise BatchError("the record is signed for another deployment", code="wrong_domain")
        signed.verify()
        rec = signed.record
        try:
            # the contract's own shape rules, with its error names as codes: EmptyBatch,
            # BatchLengthMismatch, TooManyCommitments, CommitmentsNotSorted (so no repeats)
            check_batch_shape(rec.commitment_ids, rec.quantities, rec.line_count)
        except RecordError as err:
            raise BatchError(err.message, code=err.code) from None
        if rec.line_count > MAX_BATCH_LINES:  # this service's bound, not the contract's
            raise BatchError(
                f"批次明细行过多 / line_count must be 1..{MAX_BATCH_LINES}", code="bad_line_count"
            )
        rid = _hex(rec.id)
        data = signed.canonical_bytes()
        with self.db.write() as session:
            row = session.scalars(select(BatchUpload).where(BatchUpload.batch_id == rid)).first()
            if row is not None:
                if row.record_bytes != data:
                    raise ConflictError(
                        f"batch id {rid} is already used by a different record", code="RecordIdUsed"
                    )
                if row.status != "refused":
                    return UploadInfo.of(row)
                session.delete(row)
                session.flush()
            on_chain = select(LogEntry.leaf_index).where(LogEntry.record_id == rid)
            if session.scalar(on_chain) is not None:
                raise ConflictError(f"batch {rid} is already on chain", code="RecordIdUsed")
            # No upload (and no held id) for a signer who could never deliver this batch.
            check_batch_signer(session, signed)
            row = BatchUpload(
                upload_id=os.urandom(16).hex(),
                batch_id=rid,
                signer=signed.signer,
                record_bytes=data,
                line_count=rec.line_count,
                lines_received=0,
                status="receiving",
            )
            session.add(row)
            session.flush()
            return UploadInfo.of(row)

    def _row(self, session: Session, upload_id: str) -> BatchUpload:
        row = session.get(BatchUpload, upload_id)
        if row is None:
            raise NotFoundError(
                f"no batch upload {upload_id}; start again with POST /api/v1/batches",
                code="upload_not_found",
            )
        return row

    def info(self, upload_id: str) -> UploadInfo:
        with self.db.read() as session:
            return UploadInfo.of(self._row(session, upload_id))

    def receiver(self, upload_id: str, start: int) -> LineReceiver:
        with self.db.read() as session:
            row = self._row(session, upload_id)
            session.expunge(row)
        if row.status != "receiving":
            raise ConflictError(
                f"upload {upload_id} is {row.status}; it takes no more lines",
                code=f"upload_{row.status}",
            )
        if start < 0 or start > row.lines_received:
            raise ConflictError(
                f"the server holds {row.lines_received} lines; resume from line "
                f"{row.lines_received}, not {start}",
                code="upload_gap",
                lines_received=row.lines_received,
            )
        return LineReceiver(self, row, start)

    def refuse(self, upload_id: str, err: LedgerError) -> None:
        """Marks an upload refused and deletes its lines: nothing half-written stays."""
        with self.db.write() as session:
            row = self._row(session, upload_id)
            session.execute(delete(BatchLine).where(BatchLine.batch_id == row.batch_id))
            row.status, row.error_code, row.error = "refused", err.code, err.message
            row.lines_received = 0
            row.lines_root = row.totals = None

    def ingest(self, upload_id: str, start: int, chunks: Iterable[bytes]) -> UploadInfo:
        """The whole upload step for a synchronous caller: receive, write, finish."""
        rx = self.receiver(upload_id, start)
        try:
            for chunk in chunks:
                if rx.feed(chunk) >= FLUSH_LINES:
                    rx.flush()
            rx.flush()
        except BatchError as err:
            self.refuse(upload_id, err)
            raise
        return self.finish(upload_id) if rx.held == rx.line_count else self.info(upload_id)

    def finish(self, upload_id: str) -> UploadInfo:
        """Checks the received lines against the signed record and hands it to the relayer.

        The lines are durable before this runs; the record enters the outbox through
        `Relayer.accept` (its own transaction). A crash in between leaves the upload
        "receiving" with every line held, and calling finish again completes it.
        """
        with self.db.read() as session:
            row = self._row(session, upload_id)
            session.expunge(row)
        if row.status == "accepted":
            return UploadInfo.of(row)
        if row.status != "receiving":
            raise ConflictError(f"upload {upload_id} is {row.status}", code=f"upload_{row.status}")
        if row.lines_received != row.line_count or row.lines_root is None:
            raise ConflictError(
                f"the server holds {row.lines_received} of {row.line_count} lines; send the rest "
                f"from line {row.lines_received}",
                code="upload_incomplete",
                lines_received=row.lines_received,
            )
        signed = SignedRecord.from_bytes(row.record_bytes)
        rec = signed.record
        assert isinstance(rec, DeliveryBatch)
        try:
            if row.lines_root != _hex(rec.batch_root):
                raise BatchError(
                    f"the lines' root is {row.lines_root}, but the signed batch root is "
                    f"{_hex(rec.batch_root)}: the lines are not the ones that were signed",
                    code="batch_root_mismatch",
                )
            totals = json.loads(row.totals or "{}")
            signed_totals = {
                _hex(c): int(q) for c, q in zip(rec.commitment_ids, rec.quantities, strict=True)
            }
            if totals != signed_totals:
                raise BatchError(
                    "the lines' totals per commitment differ from the signed quantities",
                    code="batch_totals_mismatch",
                )
            try:
                self.relayer.accept([signed])
            except RecordError as err:
                if err.code == "OverDelivery":
                    self._name_over_delivery(row.batch_id, err)
                raise
        except LedgerError as err:
            self.refuse(upload_id, err)
            raise
        with self.db.write() as session:
            stored = self._row(session, upload_id)
            stored.status = "accepted"
            return UploadInfo.of(stored)

    def _name_over_delivery(self, batch_id: str, err: LedgerError) -> None:
        """Adds the first line that takes its commitment past what was committed."""
        cid = err.fields.get("commitment_id")
        committed = err.fields.get("committed")
        would_be = err.fields.get("would_be_delivered")
        if not isinstance(cid, str) or not isinstance(committed, int):
            return
        with self.db.read() as session:
            batch_qty = session.scalar(
                select(func.sum(BatchLine.quantity)).where(
                    BatchLine.batch_id == batch_id, BatchLine.commitment_id == cid
                )
            )
            allowance = committed - (int(would_be or 0) - int(batch_qty or 0))
            running = 0
            for index, qty in session.execute(
                select(BatchLine.line_index, BatchLine.quantity)
                .where(BatchLine.batch_id == batch_id, BatchLine.commitment_id == cid)
                .order_by(BatchLine.line_index)
                .execution_options(yield_per=10_000)
            ):
                running += qty
                if running > allowance:
                    err.fields["line_index"] = int(index)
                    err.message = (
                        f"line {index} (0-based, in upload order) takes commitment {cid} past "
                        f"its {committed} committed: {err.message}"
                    )
                    return

    # ---- lines and proofs ------------------------------------------------------------
    def line(self, batch_id: str, index: int) -> BatchLine:
        with self.db.read() as session:
            row = session.get(BatchLine, (batch_id.lower(), index))
            if row is None:
                raise NotFoundError(f"batch {batch_id} has no line {index}", code="line_not_found")
            session.expunge(row)
            return row

    def _batch_tree(self, session: Session, batch_id: str, line_count: int) -> MerkleTree:
        with self._cache_lock:
            tree = self._batch_trees.get(batch_id)
        if tree is None or tree.size != line_count:
            tree = MerkleTree(
                bytes.fromhex(h[2:])
                for h in session.scalars(
                    select(BatchLine.leaf_hash)
                    .where(BatchLine.batch_id == batch_id)
                    .order_by(BatchLine.line_index)
                    .execution_options(yield_per=50_000)
                )
            )
            with self._cache_lock:
                if len(self._batch_trees) >= 8:
                    self._batch_trees.pop(next(iter(self._batch_trees)))
                self._batch_trees[batch_id] = tree
        return tree

    def _log(self, session: Session) -> tuple[MerkleTree, IndexerCheckpoint]:
        cp = session.scalars(select(IndexerCheckpoint).limit(1)).first()
        if cp is None or cp.log_size == 0:
            raise NotFoundError("nothing is indexed yet; try again later", code="not_indexed_yet")
        with self._cache_lock:
            tree = self._log_tree
        if tree is None or tree.size < cp.log_size:
            start = tree.size if tree is not None else 0
            tree = tree if tree is not None else MerkleTree()
            for h in session.scalars(
                select(LogEntry.leaf_hash)
                .where(LogEntry.leaf_index >= start, LogEntry.leaf_index < cp.log_size)
                .order_by(LogEntry.leaf_index)
            ):
                tree.append(bytes.fromhex(h[2:]))
            with self._cache_lock:
                self._log_tree = tree
        if tree.root(cp.log_size) != bytes.fromhex(cp.log_root[2:]):
            # A rolled-back chain rewrote the end of the log: rebuild from the index.
            tree = MerkleTree(
                bytes.fromhex(h[2:])
                for h in session.scalars(
                    select(LogEntry.leaf_hash)
                    .where(LogEntry.leaf_index < cp.log_size)
                    .order_by(LogEntry.leaf_index)
                )
            )
            with self._cache_lock:
                self._log_tree = tree
        return tree, cp

    def line_proof(self, batch_id: str, index: int) -> dict[str, Any]:
        """A "bangfu-proof/1" bundle for one line: line → batch root → log root."""
        batch_id = batch_id.lower()
        with self.db.read() as session:
            entry = session.scalars(select(LogEntry).where(LogEntry.record_id == batch_id)).first()
            if entry is None or entry.kind != int(Kind.DELIVERY_BATCH):
                raise NotFoundError(
                    f"batch {batch_id} is not on chain and indexed yet; try again later",
                    code="batch_not_indexed",
                )
            rec = SignedRecord.from_bytes(entry.record_bytes).record
            assert isinstance(rec, DeliveryBatch)
            line = session.get(BatchLine, (batch_id, index))
            if line is None:
                raise NotFoundError(
                    f"batch {batch_id} has no line {index} (it has {rec.line_count})",
                    code="line_not_found",
                )
            tree = self._batch_tree(session, batch_id, rec.line_count)
            if tree.root() != rec.batch_root:
                raise LedgerError(
                    f"the stored lines of batch {batch_id} no longer match its signed root; "
                    "run `bangfu audit`",
                    code="batch_lines_tampered",
                )
            log_tree, cp = self._log(session)
            if entry.leaf_index >= cp.log_size:
                raise NotFoundError("the batch is not indexed yet", code="batch_not_indexed")
            return {
                "format": "bangfu-proof/1",
                "record": {
                    "bytes": _hex(entry.record_bytes),
                    "leaf_hash": entry.leaf_hash,
                    "index": entry.leaf_index,
                },
                "log": {
                    "size": cp.log_size,
                    "root": cp.log_root,
                    "inclusion": [
                        _hex(h) for h in log_tree.inclusion_proof(entry.leaf_index, cp.log_size)
                    ],
                },
                "batch": {
                    "line_bytes": _hex(line.line_bytes),
                    "line_index": index,
                    "line_count": rec.line_count,
                    "batch_root": _hex(rec.batch_root),
                    "inclusion": [_hex(h) for h in tree.inclusion_proof(index)],
                },
                "consistency": None,
                "chain": {
                    "chain_id": entry.chain_id,
                    "contract": self.domain.verifying_contract,
                    "block": cp.last_block,
                },
            }


#: batch_lines columns in the order LineReceiver builds its rows.
LINE_COLUMNS = (
    "batch_id",
    "line_index",
    "line_bytes",
    "leaf_hash",
    "commitment_id",
    "beneficiary",
    "quantity",
    "item",
    "unit",
    "delivered_at",
    "evidence_hash",
)
#: Lines written per database transaction while receiving.
FLUSH_LINES = 5000


def describe_columns() -> str:
    """The column list as text, for `bangfu batch template` and the docs."""
    buf = io.StringIO()
    for key, (zh, en) in COLUMNS.items():
        need = "required" if key in REQUIRED else "optional"
        buf.write(f"{key:14} {zh}  ({need}) {en}\n")
    return buf.getvalue()
