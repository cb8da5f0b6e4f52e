"""The server side of bulk deliveries: opens an upload for a signed DeliveryBatch, ingests
its streamed lines, hands the finished batch to the relayer, and serves two-level line proofs.

A batch is k `lines.DeliveryLine`s; their RFC 9162 root is signed once in a
`DeliveryBatch` record that goes on chain as one log leaf (DESIGN §3.3). The file formats
are in `files`, the batch record in `build`, the framing in `wire`, the line checks and
writes in `receive`; the client helpers that read files, sign and upload live in
`ledger.sdk.batch_client`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ledger.batches.files import MAX_BATCH_LINES
from ledger.batches.receive import FLUSH_LINES, LineReceiver, insert_lines_sql
from ledger.core.aid_kinds import DeliveryBatch
from ledger.core.eip712 import Domain
from ledger.core.errors import BatchError, ConflictError, LedgerError, NotFoundError, RecordError
from ledger.core.hexes import hex0x
from ledger.core.merkle import MerkleTree
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.outbox import Relayer
from ledger.relayer.rules import check_batch_shape, check_batch_signer
from ledger.store.batch_models import BatchLine, BatchUpload
from ledger.store.db import Database
from ledger.store.models import IndexerCheckpoint, LogEntry

__all__ = ["BatchService", "UploadInfo"]


@dataclass(frozen=True)
class UploadInfo:
    """An upload as the API answers it (FastAPI serves this dataclass as is)."""

    upload_id: str
    batch_id: str
    signer: str
    status: str
    line_count: int
    lines_received: int
    error_code: str | None = None
    error: str | None = None

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


class BatchService:
    """The server side of bulk deliveries over one database and relayer."""

    def __init__(self, db: Database, relayer: Relayer, domain: Domain) -> None:
        self.db = db
        self.relayer = relayer
        self.domain = domain
        self._cache_lock = threading.Lock()
        self._batch_trees: dict[str, MerkleTree] = {}
        self._log_tree: MerkleTree | None = None
        self.insert_sql = insert_lines_sql(db)

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
        rid = hex0x(rec.id)
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
        return LineReceiver(self.db, self.insert_sql, row, start)

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
        signed = signed_from_bytes(row.record_bytes)
        rec = signed.record
        assert isinstance(rec, DeliveryBatch)
        try:
            if row.lines_root != hex0x(rec.batch_root):
                raise BatchError(
                    f"the lines' root is {row.lines_root}, but the signed batch root is "
                    f"{hex0x(rec.batch_root)}: the lines are not the ones that were signed",
                    code="batch_root_mismatch",
                )
            totals = json.loads(row.totals or "{}")
            signed_totals = {
                hex0x(c): int(q) for c, q in zip(rec.commitment_ids, rec.quantities, strict=True)
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
            rec = signed_from_bytes(entry.record_bytes).record
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
                    "bytes": hex0x(entry.record_bytes),
                    "leaf_hash": entry.leaf_hash,
                    "index": entry.leaf_index,
                },
                "log": {
                    "size": cp.log_size,
                    "root": cp.log_root,
                    "inclusion": [
                        hex0x(h) for h in log_tree.inclusion_proof(entry.leaf_index, cp.log_size)
                    ],
                },
                "batch": {
                    "line_bytes": hex0x(line.line_bytes),
                    "line_index": index,
                    "line_count": rec.line_count,
                    "batch_root": hex0x(rec.batch_root),
                    "inclusion": [hex0x(h) for h in tree.inclusion_proof(index)],
                },
                "consistency": None,
                "chain": {
                    "chain_id": entry.chain_id,
                    "contract": self.domain.verifying_contract,
                    "block": cp.last_block,
                },
            }
