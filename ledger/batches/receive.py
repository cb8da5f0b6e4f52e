"""Receiving an upload's lines: each framed line is checked against the signed batch and
written in chunks, with the running tree and totals, so an interrupted upload resumes.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from typing import Any

from sqlalchemy import func, select, update

from ledger.batches.files import MAX_ITEM_CHARS, MAX_LINE_QUANTITY
from ledger.batches.tree import LevelFrontier
from ledger.batches.wire import MAX_FRAME
from ledger.core.aid_kinds import DeliveryBatch
from ledger.core.errors import BatchError, ConflictError, RecordError
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine, LineFields, parse_line
from ledger.core.record_types import signed_from_bytes
from ledger.store.batch_models import BatchLine, BatchUpload
from ledger.store.db import Database

__all__ = ["FLUSH_LINES", "LINE_COLUMNS", "LineReceiver", "insert_lines_sql", "line_row"]

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
_sha256 = hashlib.sha256
#: A frame's length and the fixed fields of its line (`lines.parse_line`'s head without the
#: item's length), read in one unpack; the line's texts start at `_TEXT_AT` in the frame.
_FRAME_HEAD = struct.Struct(">IB32sQQQ32s32s")
_FRAME_HEAD_SIZE = _FRAME_HEAD.size
_TEXT_AT = _FRAME_HEAD_SIZE
_U32 = struct.Struct(">I")


def _bad_frame(size: int) -> BatchError:
    return BatchError(
        f"a framed line claims {size} bytes; lines are 1..{MAX_FRAME} bytes. "
        "Send length u32 ‖ line bytes for each line",
        code="bad_frame",
    )


def _check_frames(buf: bytes, pos: int) -> None:
    """Raises `bad_frame` if a frame from `pos` on claims a length no line has (the frames
    of a chunk are checked before its lines, as `wire.FrameReader` does)."""
    n = len(buf)
    while n - pos >= 4:
        size = _U32.unpack_from(buf, pos)[0]
        if size > MAX_FRAME or size == 0:
            raise _bad_frame(size)
        pos += 4 + size


def insert_lines_sql(db: Database) -> str:
    """The INSERT of one batch_lines row in the driver's own parameter style."""
    mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO batch_lines ({', '.join(LINE_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(LINE_COLUMNS))})"
    )


def line_row(
    batch_id: str, index: int, line_bytes: bytes, leaf: bytes, line: DeliveryLine
) -> tuple[Any, ...]:
    """One batch_lines row, its values in `LINE_COLUMNS` order (`batch_id` is 0x-hex)."""
    return (
        batch_id,
        index,
        line_bytes,
        hex0x(leaf),
        hex0x(line.commitment_id),
        hex0x(line.beneficiary),
        line.quantity,
        line.item,
        line.unit,
        line.delivered_at,
        hex0x(line.evidence_hash),
    )


def _check_line(line_bytes: bytes, index: int, commitments: set[bytes]) -> LineFields:
    """The line's fields (`DeliveryLine` order) if it may stand in this batch."""
    try:
        fields = parse_line(line_bytes)
    except (RecordError, UnicodeDecodeError):
        raise BatchError(
            f"line {index} is not a well-formed delivery line", code="bad_line", line_index=index
        ) from None
    cid, item, quantity, unit = fields[0], fields[1], fields[2], fields[3]
    if cid not in commitments:
        raise BatchError(
            f"line {index} delivers against commitment {hex0x(cid)}, which the "
            "signed batch does not list",
            code="line_commitment_not_in_batch",
            line_index=index,
        )
    if not 0 < quantity <= MAX_LINE_QUANTITY:
        raise BatchError(
            f"line {index} has quantity {quantity}; it must be 1..{MAX_LINE_QUANTITY}",
            code="absurd_quantity",
            line_index=index,
        )
    if not item or len(item) > MAX_ITEM_CHARS or not unit:
        raise BatchError(
            f"line {index} has an empty or too long item or unit", code="bad_line", line_index=index
        )
    return fields


class LineReceiver:
    """Takes the lines of one upload request, in order, writing them in chunks.

    Lines before the held count are skipped (a resumed client may resend some), so the
    upload is idempotent by line index; a gap is refused.
    """

    def __init__(self, db: Database, insert_sql: str, row: BatchUpload, start: int) -> None:
        self.db = db
        self.insert_sql = insert_sql
        self.upload_id = row.upload_id
        self.batch_id = row.batch_id
        self.line_count = row.line_count
        self.held = row.lines_received
        #: lines below this index were held when the request began (a resend skips them)
        self.held_before = self.held
        #: lines handed to a write so far (held, or being written)
        self.written = self.held
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._hexes: dict[bytes, str] = {}
        record = signed_from_bytes(row.record_bytes).record
        assert isinstance(record, DeliveryBatch)
        self.commitments = set(record.commitment_ids)
        #: (item, unit) of each text encoding (line bytes from 121 on) already checked
        self._texts: dict[bytes, tuple[str, str]] = {}
        #: an incomplete frame at the end of the body so far
        self._tail = b""
        self.next_index = start
        self.pending: list[tuple[Any, ...]] = []
        self.frontier = LevelFrontier()
        self.totals: dict[str, int] = {}
        with db.read() as session:
            # Resuming: the tree and totals so far come from the durable lines themselves.
            for part in session.scalars(
                select(BatchLine.leaf_hash)
                .where(BatchLine.batch_id == self.batch_id)
                .order_by(BatchLine.line_index)
                .execution_options(yield_per=FLUSH_LINES)
            ).partitions():
                self.frontier.extend([bytes.fromhex(h[2:]) for h in part])
            for cid, qty in session.execute(
                select(BatchLine.commitment_id, func.sum(BatchLine.quantity))
                .where(BatchLine.batch_id == self.batch_id)
                .group_by(BatchLine.commitment_id)
            ):
                self.totals[cid] = int(qty)
        if self.frontier.size != self.held:
            raise ConflictError("the upload's lines changed while resuming; retry", code="busy")

    def feed(self, data: bytes) -> int:
        """Parses a chunk of the body; returns how many lines wait to be written.

        Every `FLUSH_LINES` lines are handed to a write on its own thread (`_write_behind`),
        so the database writes them while the next lines are parsed; its error, if any, is
        raised by the next `feed` or `flush`."""
        try:
            self._take(data)
        except BaseException:
            self._wait(reraise=False)  # nothing of this upload is written after the error
            raise
        if len(self.pending) >= FLUSH_LINES:
            self._write_behind()
        return len(self.pending)

    def _take(self, data: bytes) -> None:
        """Cuts the framed lines out of the body, checks them and makes their rows, in one
        loop over the bytes (no list of lines, no call per line on the usual path).

        A line the quick checks do not pass whole (another version, a text not seen before
        in this upload, a commitment the batch does not list, a quantity out of range, a
        frame shorter than a line) goes through `_check_line`, which refuses it with the
        code it always had, or gives its fields. The frames of the whole chunk are checked
        before any line error is raised, as when the chunk was cut up front."""
        if self._error is not None:
            self._wait()
        buf = self._tail + data if self._tail else data
        n = len(buf)
        commitments, totals, pending = self.commitments, self.totals, self.pending
        leaves: list[bytes] = []
        append_leaf = leaves.append
        append_row = pending.append
        batch_id, held, line_count = self.batch_id, self.held_before, self.line_count
        hexes, texts = self._hexes, self._texts
        unpack_head = _FRAME_HEAD.unpack_from
        index = self.next_index
        pos = 0
        try:
            while n - pos >= 4:
                if n - pos >= _FRAME_HEAD_SIZE:
                    size, version, cid, qty_hi, qty, delivered_at, beneficiary, evidence = (
                        unpack_head(buf, pos)
                    )
                else:
                    size = _U32.unpack_from(buf, pos)[0]
                    version = 0
                if size > MAX_FRAME or size == 0:
                    raise _bad_frame(size)
                end = pos + 4 + size
                if end > n:
                    break
                if index < held:  # a resend of a line already held
                    index += 1
                    pos = end
                    continue
                if index >= line_count:
                    _check_frames(buf, end)
                    raise BatchError(
                        f"the signed batch has {line_count} lines; line {index} is one too many",
                        code="too_many_lines",
                        line_index=index,
                    )
                line_bytes = buf[pos + 4 : end]
                pair = texts.get(buf[pos + _TEXT_AT : end]) if version == 1 else None
                if (
                    pair is None
                    or cid not in commitments
                    or qty_hi
                    or not 0 < qty <= MAX_LINE_QUANTITY
                ):
                    try:
                        cid, item, qty, unit, delivered_at, beneficiary, evidence = _check_line(
                            line_bytes, index, commitments
                        )
                    except BatchError:
                        _check_frames(buf, end)
                        raise
                    if len(texts) > 4096:
                        texts.clear()
                    texts[line_bytes[_TEXT_AT - 4 :]] = (item, unit)
                else:
                    item, unit = pair
                # The quick path reads the same fixed fields as parse_line, and the texts it
                # takes from the cache were parsed from these exact bytes: the line is exact.
                leaf = _sha256(b"\x00" + line_bytes).digest()
                append_leaf(leaf)
                cid_hex = hexes.get(cid)
                if cid_hex is None:
                    cid_hex = hexes[cid] = hex0x(cid)
                evidence_hex = hexes.get(evidence)
                if evidence_hex is None:
                    if len(hexes) > 4096:
                        hexes.clear()
                    evidence_hex = hexes[evidence] = hex0x(evidence)
                totals[cid_hex] = totals.get(cid_hex, 0) + qty
                append_row(
                    (
                        batch_id,
                        index,
                        line_bytes,
                        "0x" + leaf.hex(),
                        cid_hex,
                        "0x" + beneficiary.hex(),
                        qty,
                        item,
                        unit,
                        delivered_at,
                        evidence_hex,
                    )
                )
                index += 1
                pos = end
        finally:
            # what was taken is in the tree (the rows and the tree agree)
            self.frontier.extend(leaves)
            self.next_index = index
            self._tail = buf[pos:]

    @property
    def torn(self) -> int:
        """Bytes of an incomplete line at the end (dropped if the stream ends here)."""
        return len(self._tail)

    def _write_behind(self) -> None:
        """Starts writing the waiting lines on a thread, after the write before them (one at
        a time, in order, so `lines_received` advances as the lines it counts)."""
        self._wait()
        rows, self.pending = self.pending, []
        complete = self.written + len(rows) == self.line_count
        root = hex0x(self.frontier.root()) if complete else None
        totals = json.dumps(self.totals, sort_keys=True) if complete else None
        self.written += len(rows)
        self._thread = threading.Thread(
            target=self._write_logged, args=(rows, root, totals), name="batch-lines"
        )
        self._thread.start()

    def _write_logged(
        self, rows: list[tuple[Any, ...]], root: str | None, totals: str | None
    ) -> None:
        try:
            self._write(rows, root, totals)
        except BaseException as exc:  # noqa: BLE001 - raised by the next feed or flush
            self._error = exc

    def _wait(self, *, reraise: bool = True) -> None:
        """Waits for the write in progress; raises its error (once)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and reraise:
            raise error

    def flush(self) -> int:
        """Writes the waiting lines and the new held count in one transaction, after any
        write still in progress; returns the held count."""
        if self.pending:
            self._write_behind()
        self._wait()
        return self.held

    def _write(self, rows: list[tuple[Any, ...]], root: str | None, totals: str | None) -> None:
        """One transaction: the lines and the held count that counts them."""
        new_held = self.held + len(rows)
        with self.db.write() as session:
            values: dict[str, Any] = {"lines_received": new_held}
            if root is not None:
                values["lines_root"] = root
                values["totals"] = totals
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
            session.connection().exec_driver_sql(self.insert_sql, rows)
        self.held = new_held
