"""Engines and sessions: SQLite in WAL mode under var/, or PostgreSQL via psycopg 3;
schema created and upgraded by Alembic migrations only.

The session rule (one for every writer: API routes, library, relayer, indexer, checkpointer,
batches, custodial):

* `Database.write()` is the only way to change the database. On SQLite its transaction
  begins `IMMEDIATE`: it takes the write lock up front, waiting up to busy_timeout for the
  other processes, so a transaction that reads and then writes can never fail half-way
  with "database is locked". On PostgreSQL it takes a transaction-level advisory lock
  (`WRITE_LOCK_KEY`) first, the same one lock, so that under READ COMMITTED a read-then-
  write cannot lose another process's update. Keep it short and never wait on JSON-RPC
  or HTTP inside it.
  One thread holds at most one: a `write()` inside another fails at once (on SQLite the
  inner one would wait for the outer one's lock for ever), so nesting is found by the first
  test that runs it, not by a deadlock in production.
* `Database.read()` is read-only, enforced by the database itself (`PRAGMA query_only` on
  SQLite, a `READ ONLY` transaction on PostgreSQL), so a write that slips into a read
  session fails loudly in the first test. Readers never wait for the write lock (WAL). A
  read is one snapshot on both (WAL from its first read; REPEATABLE READ on PostgreSQL).
* Both commit (or roll back) when their `with` block ends, so whatever the block did is
  durable before the code after it runs; the API answers only after that.
* There is no third way: the old deferred read-write `session()` is gone, so a transaction
  that reads and then writes without the lock cannot be written against this class.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ledger.config import Settings, get_settings
from ledger.core.errors import NestedWriteError
from ledger.store.locktrace import TraceEntry, open_trace

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MODE_OPTION = "bangfu_mode"
#: The PostgreSQL advisory lock every write transaction holds (one per database): "bangfu".
WRITE_LOCK_KEY = int.from_bytes(b"bangfu", "big")
READ, WRITE = "read", "write"


def normalize_url(url: str) -> str:
    """postgresql:// URLs use psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # SQLAlchemy's recipe: let it emit BEGIN itself, so SAVEPOINTs (the relayer's
            # group commit) work with pysqlite.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit (an acknowledged record) survives power loss, not just a crash.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # The mode comes from the session factory (Database.read/write): a write takes
            # the write lock up front (IMMEDIATE); a read may not write at all.
            mode = conn.get_execution_options().get(MODE_OPTION)
            conn.exec_driver_sql(f"PRAGMA query_only={1 if mode == READ else 0}")
            if mode == WRITE:
                _begin_immediate(conn)
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    # A read transaction is read-only and one snapshot (REPEATABLE READ), both set on the
    # connection by `read_options`, so psycopg opens it with one BEGIN.
    engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _postgres_begin(conn: Any) -> None:
        # SQLite's BEGIN IMMEDIATE, on PostgreSQL: a write takes the database's one write
        # lock up front (released at commit or rollback), so that a transaction that reads
        # and then writes cannot lose another process's update under READ COMMITTED.
        # It waits at most 30 s, as SQLite's busy_timeout (lock_timeout, for this
        # transaction only; one statement).
        if conn.get_execution_options().get(MODE_OPTION) == WRITE:
            conn.exec_driver_sql(
                "SELECT set_config('lock_timeout', '30s', true), "
                f"pg_advisory_xact_lock({WRITE_LOCK_KEY})"
            )

    return engine


#: How long a write waits for SQLite's write lock, and how often it asks for it meanwhile.
WRITE_LOCK_WAIT = 30.0
WRITE_LOCK_POLL = 0.001


def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE, asking again every millisecond while another process holds the
    write lock, for up to WRITE_LOCK_WAIT seconds.

    SQLite's own busy handler sleeps ever longer between tries (1, 2, 5, ... then 100 ms),
    so a process that writes now and then (the relayer, the indexer) waiting on one that
    writes all the time (the API's outbox writer under load, whose lock is free only for
    the moment between two commits) was measured waiting seconds: it asked too rarely to
    find the lock free. Asked every millisecond, it finds the next gap."""
    raw = conn.connection.dbapi_connection
    deadline = time.monotonic() + WRITE_LOCK_WAIT
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(WRITE_LOCK_POLL)
    finally:
        raw.execute("PRAGMA busy_timeout=30000")


def read_options(engine: Engine) -> dict[str, Any]:
    """The execution options of a read transaction: the mode, and on PostgreSQL read-only
    and REPEATABLE READ, so that every statement in it sees one snapshot, as a read
    transaction on SQLite's WAL does from its first read (the answer cache relies on it:
    the version it reads names everything the transaction reads after)."""
    if engine.dialect.name == "sqlite":
        return {MODE_OPTION: READ}
    return {MODE_OPTION: READ, "isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Brings the schema to every newest migration (each feature area is its own branch)."""
    command.upgrade(alembic_config(url), "heads")


class Database:
    """One engine and its session factories: `read()` and `write()` (see the module's rule)."""

    def __init__(self, url: str | None = None, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.url = normalize_url(url or settings.sqlalchemy_url)
        self.engine = make_engine(self.url)
        #: the engine of read transactions (`read_options`): read-only, one snapshot each
        self.read_engine = self.engine.execution_options(**read_options(self.engine))
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)
        self._writers = sessionmaker(
            self.engine.execution_options(**{MODE_OPTION: WRITE}), expire_on_commit=False
        )
        self._writing = threading.local()
        trace = settings.write_lock_trace
        #: `Settings.write_lock_trace`, opened for appending (ledger/store/locktrace.py)
        self._trace = None if trace is None else open_trace(settings.path(trace))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def migrate(self) -> None:
        migrate(self.url)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (the database refuses writes in it); ended on exit."""
        with self._readers() as s, s.begin():
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """The one way to write: a transaction that holds the write lock from its start
        (SQLite `BEGIN IMMEDIATE`), committed when the block ends without an error and
        rolled back otherwise. A commit that fails raises here, before any answer.

        Never nest it, and never wait on the network inside it."""
        if getattr(self._writing, "active", False):
            raise NestedWriteError(
                "a write session is already open in this thread; finish it before opening "
                "another (on SQLite the second would wait for the first's lock for ever)"
            )
        self._writing.active = True
        try:
            # The function that asked (beyond contextlib's __enter__), for the trace only.
            caller = "" if self._trace is None else sys._getframe(2).f_code.co_qualname
            asked = time.perf_counter()
            with self._writers() as s, s.begin():
                s.connection()  # BEGIN (IMMEDIATE) now, not at the first statement
                held = time.perf_counter()
                yield s
                committing = time.perf_counter()
            if self._trace is not None:
                self._traced(caller, asked, held, committing, time.perf_counter())
        finally:
            self._writing.active = False

    def _traced(
        self, caller: str, asked: float, held: float, committing: float, done: float
    ) -> None:
        """Appends the transaction to the write-lock trace (ledger/store/locktrace.py)."""
        assert self._trace is not None
        ms = 1000
        entry = TraceEntry(
            os.getpid(), caller, (held - asked) * ms, (done - held) * ms, (done - committing) * ms
        )
        os.write(self._trace, entry.line())

    def dispose(self) -> None:
        self.engine.dispose()
        if self._trace is not None:
            os.close(self._trace)
            self._trace = None
