"""The session rule of `ledger.store.db`: writes hold the write lock from their start and
never nest, reads cannot write, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ledger.config import Settings
from ledger.core.errors import NestedWriteError
from ledger.store.db import Database
from ledger.store.locktrace import read_trace, sum_by_writer


def _add_counter(database: Database) -> None:
    """The table `counter` with one row, c = 0."""
    with database.write() as s:
        s.execute(text("CREATE TABLE counter (name VARCHAR(20) PRIMARY KEY, n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES ('c', 0)"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    _add_counter(database)
    yield database
    database.dispose()


@contextmanager
def _pair(url: str) -> Iterator[tuple[Database, Database]]:
    """Two processes' worth of connections to one database holding the counter."""
    first, second = Database(url), Database(url)
    try:
        _add_counter(first)
        yield first, second
    finally:
        first.dispose()
        second.dispose()


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two processes' worth of connections to one SQLite file holding the counter."""
    with _pair(f"sqlite:///{tmp_path / 'c.sqlite3'}") as pair:
        yield pair


def _value(s: Session) -> int:
    return int(s.execute(text("SELECT n FROM counter WHERE name = 'c'")).scalar_one())


def _increment(database: Database, pause: float = 0.0) -> None:
    """A read-then-write: what the library, the checkpointer and the batches do."""
    with database.write() as s:
        n = _value(s)
        time.sleep(pause)
        s.execute(text("UPDATE counter SET n = :n WHERE name = 'c'"), {"n": n + 1})


def test_a_write_is_committed_when_its_block_ends(db: Database, database_url: str) -> None:
    _increment(db)
    other = Database(database_url)  # another process's view
    try:
        with other.read() as s:
            assert _value(s) == 1
    finally:
        other.dispose()


def test_a_read_session_refuses_every_write(db: Database) -> None:
    with db.read() as s:
        assert _value(s) == 0  # reading is what it is for
    for statement in (
        "UPDATE counter SET n = 5",
        "INSERT INTO counter VALUES ('d', 1)",
        "DELETE FROM counter",
    ):
        with pytest.raises(DBAPIError), db.read() as s:
            s.execute(text(statement))
    with db.read() as s:
        assert _value(s) == 0
    # the pooled connection went back writable: the next write session writes
    _increment(db)
    with db.read() as s:
        assert _value(s) == 1


def test_a_read_session_is_one_snapshot(db: Database, database_url: str) -> None:
    """Every statement of a read sees the database as it was at its first read, even when
    another process commits in between (the public answer cache names an answer by the
    version it read first): SQLite's WAL, and REPEATABLE READ READ ONLY on PostgreSQL."""
    other = Database(database_url)
    try:
        with db.read() as s:
            assert _value(s) == 0
            _increment(other)  # another process's commit, in the middle of the read
            assert _value(s) == 0, "the read saw a commit made after its first read"
            if not db.is_sqlite:
                assert s.execute(text("SHOW transaction_isolation")).scalar() == "repeatable read"
                assert s.execute(text("SHOW transaction_read_only")).scalar() == "on"
        with db.read() as s:
            assert _value(s) == 1  # the next read sees it
        with db.write() as s:  # a write is READ COMMITTED, as before
            if not db.is_sqlite:
                assert s.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
                assert s.execute(text("SHOW transaction_read_only")).scalar() == "off"
    finally:
        other.dispose()


def test_a_nested_write_fails_at_once(db: Database) -> None:
    with db.write() as s:
        s.execute(text("UPDATE counter SET n = 7"))
        with pytest.raises(NestedWriteError), db.write():
            pass
    with db.read() as s:
        assert _value(s) == 7  # the outer write still committed
    with db.write() as s:  # and the thread may write again afterwards
        s.execute(text("UPDATE counter SET n = 8"))
    # a read inside a write is fine (it takes no lock)
    with db.write() as s, db.read() as r:
        assert _value(r) == 8
        s.execute(text("UPDATE counter SET n = 9"))


def test_there_is_no_deferred_read_write_session() -> None:
    """The wrong way can't be written: `Database` offers only `read()` and `write()`."""
    public = {name for name in vars(Database) if not name.startswith("_")}
    assert {"read", "write"} <= public
    assert not public & {"session", "sessions"}
    db = Database("sqlite://")
    try:
        assert not any(hasattr(db, name) for name in ("session", "sessions"))
    finally:
        db.dispose()


@pytest.fixture
def two_anywhere(database_url: str) -> Iterator[tuple[Database, Database]]:
    """The same on SQLite or PostgreSQL."""
    with _pair(database_url) as pair:
        yield pair


def test_concurrent_read_then_write_waits_instead_of_failing(
    two_anywhere: tuple[Database, Database],
) -> None:
    """Two processes' worth of connections incrementing one counter, on SQLite and on
    PostgreSQL: each write waits for the lock (none fails with "database is locked", none
    with a serialization error) and no increment is lost, because the lock is taken before
    the read (SQLite's BEGIN IMMEDIATE; a transaction-level advisory lock on PostgreSQL,
    whose READ COMMITTED would otherwise let both read n and both write n + 1)."""
    first, second = two_anywhere
    errors: list[BaseException] = []

    def work(database: Database) -> None:
        try:
            for _ in range(10):
                _increment(database, pause=0.005)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with first.read() as s:
        assert _value(s) == 20


def test_the_old_deferred_read_then_write_fails_when_another_writer_commits_between(
    two: tuple[Database, Database],
) -> None:
    """Why the rule exists: a deferred transaction that read before another connection
    committed cannot write at all (SQLite answers "database is locked" at once)."""
    first, second = two
    # a plain deferred transaction on the bare engine: what the removed `session()` was
    deferred = sessionmaker(first.engine)
    with (
        pytest.raises(OperationalError, match="database is locked"),
        deferred() as s,
        s.begin(),
    ):
        n = _value(s)
        _increment(second)  # another process writes in between
        s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    with first.read() as s:
        assert _value(s) == 1


def _traced_db(url: str, trace: Path) -> Database:
    return Database(url, Settings(write_lock_trace=trace, database_url=url))


def _writes_the_counter(database: Database, pause: float = 0.0) -> None:
    with database.write() as s:
        s.execute(text("UPDATE counter SET n = n + 1 WHERE name = 'c'"))
        time.sleep(pause)


def test_the_write_lock_trace_names_each_writer_and_its_wait(
    database_url: str, tmp_path: Path
) -> None:
    """Settings.write_lock_trace: a line per committed write transaction, naming the
    function that wrote, with the time it waited for the one write lock and held it; a
    write that rolls back leaves no line, and without the setting nothing is written."""
    trace = tmp_path / "write-lock.trace"
    first, second = _traced_db(database_url, trace), _traced_db(database_url, trace)
    try:
        _add_counter(first)
        holder = threading.Thread(target=_writes_the_counter, args=(first, 0.4))
        holder.start()
        time.sleep(0.1)  # the holder has the lock: the second writer waits for it
        _increment(second)
        holder.join()
        with pytest.raises(ZeroDivisionError), second.write() as s:
            s.execute(text("UPDATE counter SET n = 100 WHERE name = 'c'"))
            _ = 1 / 0
    finally:
        first.dispose()
        second.dispose()
    entries = read_trace(trace)
    assert [e.writer for e in entries] == ["_add_counter", "_writes_the_counter", "_increment"]
    assert {e.pid for e in entries} == {os.getpid()}
    made, holder_entry, waiter = entries
    # The second writer waited while the first held the lock for its 0.4 s.
    assert holder_entry.held_ms >= 400 and waiter.waited_ms >= 200 > made.waited_ms
    assert 0 <= holder_entry.commit_ms <= holder_entry.held_ms
    use = sum_by_writer(entries, lambda pid: "test")
    assert use[("test", "_writes_the_counter")].held == holder_entry.held_ms / 1000
    plain = Database(database_url)
    try:
        _writes_the_counter(plain)
    finally:
        plain.dispose()
    assert len(read_trace(trace)) == 3
