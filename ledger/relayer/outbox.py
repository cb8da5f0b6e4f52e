"""The outbox: signed records accepted for sending, durable before anyone is told
"accepted".

`Relayer.accept` checks each record locally (signature, role, unused id, references, no
over-delivery, plus the pre-checks the composition root passes, such as the library's
match rule) and writes the accepted ones to the outbox in one database transaction (group
commit). How a row is written is `outbox_rows`' part, which also takes back the records a
lost chain history dropped (`requeue_lost`, `enqueue_signed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from ledger.core.errors import ConflictError, LedgerError
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.lookups import CACHE_KEY, CheckCache, hex0x, projects_known
from ledger.relayer.outbox_rows import delivery_shares, insert_queued
from ledger.relayer.rules import PreCheck, check_record
from ledger.store.db import Database
from ledger.store.models import LogEntry, OutboxRecord
from ledger.store.planner import prefer_indexes


@dataclass(frozen=True)
class Acceptance:
    """What the API answers for one submitted record."""

    record_id: str
    kind: str
    status: str
    duplicate: bool
    outbox_id: int


@dataclass
class _Request:
    records: Sequence[SignedRecord]
    #: a thread's future (`submit`), or an event loop's (`accept_async`) with its loop
    answer: Future[list[Acceptance]] | asyncio.Future[list[Acceptance]] = field(
        default_factory=Future
    )
    loop: asyncio.AbstractEventLoop | None = None
    result: list[Acceptance] | None = None
    error: Exception | None = None

    def settle(self) -> None:
        """Hands the outcome to whoever waits: after the commit, never before. An event
        loop's future is settled on its loop (`_settle_on_loop`)."""
        if self.answer.done():  # an awaiting request that was cancelled (client gone)
            return
        if self.error is not None:
            self.answer.set_exception(self.error)
        elif self.result is not None:
            self.answer.set_result(self.result)
        else:  # unreachable: every request of a batch gets a result or an error
            self.answer.set_exception(RuntimeError("the outbox writer left a request open"))


def _settle_on_loop(requests: list[_Request]) -> None:
    for request in requests:
        request.settle()


def _settle_all(batch: Sequence[_Request]) -> None:
    """Settles each request of a committed batch: a thread's future at once, and the
    requests of each event loop in one callback on that loop (one wake-up per loop and
    batch, not one per request)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
    for request in batch:
        if request.loop is None:
            request.settle()
        else:
            by_loop.setdefault(request.loop, []).append(request)
    for loop, requests in by_loop.items():
        # a closed loop raises RuntimeError: nobody is waiting there any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_on_loop, requests)


class Relayer:
    """Accepts signed records into the outbox. Safe to share between threads and event loops.

    One writer thread owns the outbox's writes (group commit): it takes every submission
    waiting, checks and writes them in one database transaction, each in its own savepoint
    where a refusal has something to undo, and answers each after that one commit, so one
    fsync serves many requests. Checks and writes are serialized, so two concurrent
    deliveries cannot both pass the over-delivery check, also between API processes: the
    write lock serializes their writers, and a writer that finds outbox rows it did not
    write since its last commit (`_outbox_mark`) drops the delivered totals it holds. The
    contract remains the final guard. `submit` hands a submission to the writer and returns
    a future (an async route awaits it without holding a thread); `accept` waits for it.
    """

    def __init__(self, db: Database, pre_checks: Sequence[PreCheck] = ()) -> None:
        self.db = db
        #: rules beyond the contract's, run after them (the composition root passes them)
        self.pre_checks = tuple(pre_checks)
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        #: lookups the accept path repeats, kept a few seconds (tests drop it to see new roles)
        self.cache = CheckCache()
        #: the outbox's highest row id when our last batch committed: another value at the
        #: next batch means another writer (a second API process, the relayer requeueing)
        #: added rows our cached delivered totals do not count
        self._outbox_mark: int | None = None

    def accept(self, records: Sequence[SignedRecord], *, atomic: bool = True) -> list[Acceptance]:
        """Checks every record, then writes them to the outbox, all or none of them.

        One bad record refuses the whole submission (nothing of it is written). The answer
        comes only after the outbox rows are committed. Resubmitting a record already
        accepted (same bytes) answers its current status with `duplicate`.
        """
        return self.submit(records).result()

    def submit(self, records: Sequence[SignedRecord]) -> Future[list[Acceptance]]:
        """Queues a submission for the writer; the future answers as `accept` does, once
        the outbox rows are committed (or the submission is refused)."""
        request = _Request(records)
        self._queue.put(request)
        self._ensure_writer()
        assert isinstance(request.answer, Future)
        return request.answer

    async def accept_async(self, records: Sequence[SignedRecord]) -> list[Acceptance]:
        """`accept` for a coroutine: the event loop is not held while the writer works, and
        is woken once per committed batch."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Acceptance]] = loop.create_future()
        self._queue.put(_Request(records, answer=answer, loop=loop))
        self._ensure_writer()
        return await answer

    def close(self) -> None:
        """Stops the writer once it has answered every submission queued before."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._writer_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_forever, name="outbox-writer", daemon=True
                )
                self._writer.start()

    def _write_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Request]) -> None:
        try:
            try:
                self._write_batch(batch, fast=True)
            except _Retry:
                # A write failed part-way through a submission written without its own
                # savepoint: nothing of the batch was committed. Write it again the
                # careful way.
                self.cache.forget()
                for request in batch:
                    request.result, request.error = None, None
                self._write_batch(batch, fast=False)
        except BaseException as exc:  # noqa: BLE001 - the writer must outlive any batch
            # Whether the commit happened is not known: nobody is told "accepted" (a
            # resubmission answers the record's status, with `duplicate`).
            for request in batch:
                if request.error is None:
                    request.result = None
                    request.error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
        finally:
            _settle_all(batch)

    def _write_batch(self, batch: list[_Request], *, fast: bool) -> None:
        """Checks and writes every submission of `batch` in one transaction: one fsync.

        The ids the batch uses and the projects its anchors name are looked up once for
        the whole batch (two queries), so a single new record costs one INSERT. On the
        `fast` path a one-record submission gets no savepoint of its own: its checks run
        before its only write, so a refusal has nothing to undo; a write that fails after
        all raises `_Retry`, which rolls the whole batch back to be written again with a
        savepoint each."""
        mark: int | None = None
        try:
            with self.db.write() as session:
                session.info[CACHE_KEY] = self.cache
                prefer_indexes(session)
                if session.scalar(_OUTBOX_MARK) != self._outbox_mark:
                    self.cache.forget_delivered()
                known = _prefetch(session, batch, self.cache)
                for request in batch:
                    records = request.records
                    if fast and len(records) == 1 and _no_undo(known, records[0]):
                        wrote = [False]
                        try:
                            request.result = self._accept_in(session, records, known, wrote)
                        except LedgerError as exc:
                            if wrote[0]:
                                raise _Retry from exc
                            self.cache.forget_records(records)
                            request.error = exc
                        except Exception as exc:
                            raise _Retry from exc
                        continue
                    savepoint = session.begin_nested()
                    try:
                        request.result = self._accept_in(session, records, known, [False])
                        savepoint.commit()
                    except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                        savepoint.rollback()
                        self.cache.forget_records(records)
                        for signed in records:  # what it wrote is gone: ask the database
                            known.pop(hex0x(signed.id), None)
                        request.error = exc
                mark = session.scalar(_OUTBOX_MARK)
        except _Retry:
            self._outbox_mark = None
            raise
        except Exception as exc:  # noqa: BLE001 - the commit failed: nobody was accepted
            self._outbox_mark = None
            self.cache.forget()
            for request in batch:
                if request.error is None:
                    request.result, request.error = None, exc
        else:
            self._outbox_mark = mark
        finally:
            self.cache.end_batch()

    def _accept_in(
        self,
        session: Session,
        records: Sequence[SignedRecord],
        known: dict[str, _Existing | None],
        wrote: list[bool],
    ) -> list[Acceptance]:
        results: list[Acceptance] = []
        seen: set[str] = set()
        for signed in records:
            rid = hex0x(signed.id)
            if rid in seen:
                raise ConflictError(
                    f"record {rid} appears twice in one submission",
                    code="duplicate_in_submission",
                )
            seen.add(rid)
            data = signed.canonical_bytes()
            # Our outbox row of this id, if any, and the chain's leaf bytes: looked up for
            # the whole batch, or here (one round trip) for an id the batch did not know.
            if rid in known:
                existing = known[rid]
            else:
                found = session.execute(_EXISTING, {"rid": rid}).first()
                existing = None if found is None else _Existing(*found)
            if existing is not None and existing.id is not None:
                if existing.record_bytes != data:
                    raise ConflictError(
                        f"record id {rid} is already used by a different record",
                        code="RecordIdUsed",
                    )
                if existing.status != "failed":
                    status = str(existing.status)
                    results.append(Acceptance(rid, signed.kind.slug, status, True, existing.id))
                    continue
                wrote[0] = True
                session.execute(delete(OutboxRecord).where(OutboxRecord.id == existing.id))
            elif existing is not None and existing.on_chain not in (None, data):
                raise ConflictError(
                    f"record id {rid} is already used on chain", code="RecordIdUsed"
                )
            check_record(session, signed)
            for check in self.pre_checks:
                check(session, signed)
            wrote[0] = True
            oid = insert_queued(session, signed, data)
            known[rid] = _Existing(oid, data, "queued", None)
            for cid, qty in delivery_shares(signed):
                self.cache.add_delivered(cid, qty)
            self.cache.accepted(signed)
            results.append(Acceptance(rid, signed.kind.slug, "queued", False, oid))
        return results

    def status(self, record_ids: Iterable[str]) -> dict[str, OutboxRecord]:
        ids = [r.lower() for r in record_ids]
        with self.db.read() as session:
            rows = session.scalars(select(OutboxRecord).where(OutboxRecord.record_id.in_(ids)))
            out = {row.record_id: row for row in rows}
            for row in out.values():
                session.expunge(row)
            return out


_ids = select(bindparam("rid", type_=OutboxRecord.record_id.type).label("rid")).subquery()
#: Our outbox row of a record id (id, bytes, status) and the bytes of its leaf on chain.
_EXISTING = select(
    OutboxRecord.id,
    OutboxRecord.record_bytes,
    OutboxRecord.status,
    select(LogEntry.record_bytes)
    .where(LogEntry.record_id == _ids.c.rid)
    .limit(1)
    .scalar_subquery()
    .label("on_chain"),
).select_from(_ids.outerjoin(OutboxRecord, OutboxRecord.record_id == _ids.c.rid))


class _Retry(Exception):
    """A fast-path write failed after it started: the batch is written again with
    savepoints."""


class _Existing(NamedTuple):
    """What the database holds under a record id: our outbox row (id, bytes, status; all
    None if none) and the bytes of the leaf on chain (None if none)."""

    id: int | None
    record_bytes: bytes | None
    status: str | None
    on_chain: bytes | None


#: Above this many records a batch's ids are looked up one by one (a bounded IN list).
PREFETCH_MAX = 2000

_rids = bindparam("rids", expanding=True, type_=OutboxRecord.record_id.type)
_OUTBOX_ROWS = select(
    OutboxRecord.record_id, OutboxRecord.id, OutboxRecord.record_bytes, OutboxRecord.status
).where(OutboxRecord.record_id.in_(_rids))
_LOG_ROWS = select(LogEntry.record_id, LogEntry.record_bytes).where(LogEntry.record_id.in_(_rids))
#: The outbox's highest row id (the primary key's last entry: one index step).
_OUTBOX_MARK = select(func.max(OutboxRecord.id))


def _prefetch(
    session: Session, batch: Sequence[_Request], cache: CheckCache
) -> dict[str, _Existing | None]:
    """What the database holds under each record id of `batch` (None: nothing), in two
    queries; and tells `cache` which of the projects its anchors name no version of
    is known yet, in one more."""
    rids = list(dict.fromkeys(hex0x(s.id) for r in batch for s in r.records))
    if not rids or len(rids) > PREFETCH_MAX:
        return {}
    known: dict[str, _Existing | None] = dict.fromkeys(rids)
    on_chain: dict[str, bytes] = {}
    for rid, data in session.execute(_LOG_ROWS, {"rids": rids}):
        on_chain.setdefault(rid, data)
    for rid, oid, data, status in session.execute(_OUTBOX_ROWS, {"rids": rids}):
        known[rid] = _Existing(oid, data, status, on_chain.get(rid))
    for rid, data in on_chain.items():
        if known[rid] is None:
            known[rid] = _Existing(None, None, None, data)
    pids = {
        hex0x(getattr(s.record, "project_id", b""))
        for r in batch
        for s in r.records
        if s.kind == Kind.PROJECT_ANCHOR
    }
    if pids:
        cache.begin_batch(pids - projects_known(session, pids))
    return known


def _no_undo(known: dict[str, _Existing | None], signed: SignedRecord) -> bool:
    """Whether accepting `signed` writes nothing before its checks pass (no failed row of
    its id to delete first), so that its refusal needs no savepoint."""
    rid = hex0x(signed.id)
    if rid not in known:
        return False
    existing = known[rid]
    return existing is None or existing.status != "failed"
