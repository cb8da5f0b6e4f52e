"""Receiving an upload's lines: each framed line is checked against the signed batch and
written in chunks, with the running tree and totals, so an interrupted upload resumes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select, update

from ledger.batches.files import MAX_ITEM_CHARS, MAX_LINE_QUANTITY
from ledger.batches.wire import FrameReader
from ledger.core.errors import BatchError, ConflictError, RecordError
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import Frontier, leaf_hash
from ledger.core.records import DeliveryBatch, SignedRecord
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


def _check_line(line_bytes: bytes, index: int, commitments: set[bytes]) -> DeliveryLine:
    try:
        line = DeliveryLine.from_bytes(line_bytes)
    except (RecordError, UnicodeDecodeError):
        raise BatchError(
            f"line {index} is not a well-formed delivery line", code="bad_line", line_index=index
        ) from None
    if line.commitment_id not in commitments:
        raise BatchError(
            f"line {index} delivers against commitment {hex0x(line.commitment_id)}, which the "
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

    def __init__(self, db: Database, insert_sql: str, row: BatchUpload, start: int) -> None:
        self.db = db
        self.insert_sql = insert_sql
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
        with db.read() as session:
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
            cid = hex0x(line.commitment_id)
            self.totals[cid] = self.totals.get(cid, 0) + line.quantity
            self.pending.append(line_row(self.batch_id, index, line_bytes, leaf, line))
        return len(self.pending)

    def flush(self) -> int:
        """Writes the waiting lines and the new held count in one transaction."""
        if not self.pending:
            return self.held
        rows, self.pending = self.pending, []
        new_held = self.held + len(rows)
        complete = new_held == self.line_count
        with self.db.write() as session:
            values: dict[str, Any] = {"lines_received": new_held}
            if complete:
                values["lines_root"] = hex0x(self.frontier.root())
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
            session.connection().exec_driver_sql(self.insert_sql, rows)
        self.held = new_held
        return new_held
