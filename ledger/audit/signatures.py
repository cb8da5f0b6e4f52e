"""Parsing and signature checks of the log's records, on a process pool: parsing and the
EIP-712 digest cost as much as the key recovery, so each record is handled once, off the
main process, while the main process fetches the next logs."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from ledger.audit.events import Boundary, RawRecord, RoleChange
from ledger.core.errors import RecordError
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import SignedRecord

__all__ = ["Event", "Parsed", "VerifyPool", "parse_verify_chunk"]

#: Signature checks are sent to the pool in chunks this size (pickling cost vs. balance).
CHUNK = 2_000

#: A parsed record, or None with the parse error; then the signature error, if any.
Parsed = tuple[SignedRecord | None, str | None, str | None]
#: What the pool hands back in chain order: records, role changes and range ends.
Event = RawRecord | RoleChange | Boundary


def parse_verify_chunk(datas: Sequence[bytes]) -> list[Parsed]:
    """Parses and signature-checks records (in a worker)."""
    out: list[Parsed] = []
    for data in datas:
        try:
            signed = signed_from_bytes(data)
        except RecordError as exc:
            out.append((None, exc.code, exc.message))
            continue
        try:
            signed.verify()
        except RecordError as exc:
            out.append((signed, exc.code, exc.message))
            continue
        out.append((signed, None, None))
    return out


class VerifyPool:
    """Events in chain order; records are parsed and verified in chunks on a process pool
    (one worker per core) and `apply` is called with each finished chunk, in order."""

    def __init__(self, workers: int, apply: Callable[[list[Event], list[Parsed]], None]) -> None:
        self.workers = workers or (os.cpu_count() or 1)
        self.pool = ProcessPoolExecutor(self.workers) if self.workers > 1 else None
        self.apply = apply
        self.events: list[Event] = []
        self.datas: list[bytes] = []
        self.inflight: deque[tuple[Future[list[Parsed]], list[Event]]] = deque()

    def add(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, RawRecord):
            self.datas.append(event.data)
            if len(self.datas) >= CHUNK:
                self._submit()

    def _submit(self) -> None:
        events, datas, self.events, self.datas = self.events, self.datas, [], []
        if self.pool is None:
            self.apply(events, parse_verify_chunk(datas))
            return
        self.inflight.append((self.pool.submit(parse_verify_chunk, datas), events))
        # bounded: enough chunks queued to keep every worker busy, not the whole log in memory
        while len(self.inflight) > 3 * self.workers:
            self._drain_one()

    def _drain_one(self) -> None:
        fut, events = self.inflight.popleft()
        self.apply(events, fut.result())

    def finish(self) -> None:
        try:
            if self.events:
                self._submit()
            while self.inflight:
                self._drain_one()
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
