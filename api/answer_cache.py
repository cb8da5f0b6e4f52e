"""The public answers, cached in process by the read model's version.

Nothing a public list (but `projects`), total or record holds changes until the indexer
advances: `read_model_version` names the indexed log (size, root, the block it stands on)
and the role grants. So an answer computed in a read transaction that saw version V is the
answer for every later request that sees V. `AnswerCache` keeps the encoded bytes of such
answers, keyed by (V, route, validated parameters); a request takes V from the
`VersionClock` (below), and a hit sends the bytes with no query, no pydantic and no JSON
encoding.

It never serves an answer of another version: the key holds V. A miss reads V and then
computes the answer in one read transaction, which is one snapshot on both databases
(SQLite's WAL from its first read; REPEATABLE READ on PostgreSQL, `read_options`), so the
answer is V's. A reorg that rolls the log back changes V (size, root or tip block hash), so
the answers of the abandoned branch are never asked for again and age out of the LRU.

One cache per application (on `app.state`), bounded in bytes (LRU).

The version itself is held in memory for at most `public_version_max_age` (50 ms by
default; `VersionClock`): a commit through this process's engine ends it at once, and the
indexer's commits in another process are seen within that bound. So a hit or a 304 costs no
statement, and a public answer trails the indexer by at most that much.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ledger.app import LedgerService
from ledger.store.db import MODE_OPTION, READ
from ledger.store.queries.lists import read_model_version
from ledger.store.queries.orgs import org_codes

#: The default bound of one process's cache: the encoded answers' bytes.
MAX_BYTES = 64 * 1024 * 1024
#: An answer larger than this is not kept (it would push out many small ones).
MAX_ENTRY = 2 * 1024 * 1024

CACHE_CONTROL = "public, no-cache"
JSON = "application/json"

Key = tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    etag: str
    body: bytes


class VersionClock:
    """The read model's version as this process last read it, held for at most `max_age`
    seconds and dropped by any commit through the engine it watches (`watch`). A read that
    a commit overtook is not kept (the generation counts commits), so a commit in this
    process is never followed by an older version."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.reads = 0
        self._held: tuple[str, float, int] | None = None
        self._generation = 0

    def watch(self, engine: Any) -> None:
        """Ends the held version at every commit of a transaction that may write (a read
        transaction's end changes nothing)."""

        def committed(conn: Any) -> None:
            if conn.get_execution_options().get(MODE_OPTION) != READ:
                self.invalidate()

        event.listen(engine, "commit", committed)

    def invalidate(self) -> None:
        self._generation += 1
        self._held = None

    def current(self, read: Callable[[], str]) -> str:
        held = self._held
        now = time.monotonic()
        if held is not None and now - held[1] < self.max_age and held[2] == self._generation:
            return held[0]
        generation = self._generation
        version = read()
        self.reads += 1
        if self.max_age > 0 and generation == self._generation:
            self._held = (version, now, generation)
        return version


class AnswerCache:
    """A bytes-bounded LRU of encoded answers; safe to use from several threads."""

    def __init__(self, max_bytes: int = MAX_BYTES, *, max_age: float = 0.0) -> None:
        self.clock = VersionClock(max_age)
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Key, Answer] = OrderedDict()
        self._lock = threading.Lock()
        # the address → credit code map of the newest version read, (version, map)
        self._codes: tuple[str, dict[str, str]] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> Answer | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, key: Key, answer: Answer) -> None:
        cost = len(answer.body) + 200
        if cost > MAX_ENTRY or cost > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old.body) + 200
            self._items[key] = answer
            self.size += cost
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped.body) + 200

    def held_codes(self, version: str) -> dict[str, str] | None:
        """The address → credit code map (`org_codes`) of the read model at `version`, if
        held: it is made of the indexed role grants, which the version names."""
        held = self._codes
        return held[1] if held is not None and held[0] == version else None

    def keep_codes(self, version: str, codes: dict[str, str]) -> None:
        self._codes = (version, codes)


def cache_of(request: Request) -> AnswerCache:
    state = request.app.state
    cache: AnswerCache | None = getattr(state, "answer_cache", None)
    if cache is None:
        service = service_of(request)
        cache = AnswerCache(max_age=service.settings.public_version_max_age)
        cache.clock.watch(service.db.engine)
        state.answer_cache = cache
    return cache


def service_of(request: Request) -> LedgerService:
    service: LedgerService = request.app.state.service
    return service


def current_version(service: LedgerService) -> str:
    """The read model's version, in its own short read-only transaction on a pooled
    connection (no ORM session)."""
    with service.db.read_engine.connect() as conn:
        return read_model_version(conn)


def encode(content: Any) -> bytes:
    """JSON as FastAPI's JSONResponse writes it (compact, UTF-8), by orjson; amounts past
    64 bits, or types orjson does not know, by the standard encoder."""
    try:
        return orjson.dumps(content)
    except TypeError:
        import json

        return json.dumps(
            jsonable_encoder(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")


def _tag(version: str) -> str:
    return f'"{version}"'


def _matches(request: Request, tag: str) -> bool:
    sent = request.headers.get("if-none-match")
    if not sent:
        return False
    return sent.strip() == "*" or tag in (t.strip() for t in sent.split(","))


def _headers(tag: str) -> dict[str, str]:
    return {"ETag": tag, "Cache-Control": CACHE_CONTROL}


Compute = Callable[[Session, Callable[[], dict[str, str]]], Any]


def _compute(service: LedgerService, cache: AnswerCache, compute: Compute) -> tuple[str, bytes]:
    """One read transaction, one snapshot (`ledger.store.db.read_options`): the version
    read first names everything read after it, so the answer's bytes (and the organization
    map read for them) are that version's."""
    with service.db.read() as session:
        version = read_model_version(session)
        read: list[dict[str, str]] = []

        def codes() -> dict[str, str]:
            held = cache.held_codes(version)
            if held is None:
                held = org_codes(session)
                read.append(held)
            return held

        body = encode(compute(session, codes))
    if read:
        cache.keep_codes(version, read[0])
    return version, body


async def answer(request: Request, key: Key, compute: Compute) -> Response:
    """A cached public answer: 304 for a matching If-None-Match, the stored bytes for a
    hit, or `compute(session, codes)` run in a read transaction (in the thread pool) and
    stored. `key` names the route and its validated parameters."""
    service = service_of(request)
    cache = cache_of(request)
    version = cache.clock.current(lambda: current_version(service))
    tag = _tag(version)
    if _matches(request, tag):
        return Response(status_code=304, headers=_headers(tag))
    hit = cache.get((version, *key))
    if hit is None:
        version, body = await run_in_threadpool(_compute, service, cache, compute)
        tag = _tag(version)
        cache.put((version, *key), Answer(tag, body))
    else:
        body = hit.body
    return Response(content=body, media_type=JSON, headers=_headers(tag))


async def uncached(request: Request, compute: Compute) -> Response:
    """A public answer that is not cached (its content moves with off-chain state), encoded
    the same lean way."""
    service = service_of(request)

    def run() -> bytes:
        with service.db.read() as session:
            return encode(compute(session, lambda: org_codes(session)))

    return Response(content=await run_in_threadpool(run), media_type=JSON)
