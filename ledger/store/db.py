"""Engines and sessions: SQLite in WAL mode under var/, or PostgreSQL via psycopg 3;
schema created and upgraded by Alembic migrations only.
"""

from __future__ import annotations

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

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
            # Writers that read first (the relayer, the indexer) ask for IMMEDIATE: it takes
            # the write lock up front, waiting up to busy_timeout, where a deferred
            # transaction that reads and then writes would fail at once with "database is
            # locked" if another process wrote in between. Everything else stays deferred,
            # so WAL readers never wait and a request may open a second session.
            immediate = conn.get_execution_options().get("sqlite_immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Brings the schema to every newest migration (each feature area is its own branch)."""
    command.upgrade(alembic_config(url), "heads")


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str | None = None, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.url = normalize_url(url or settings.sqlalchemy_url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def migrate(self) -> None:
        migrate(self.url)

    @contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        `immediate` (SQLite): take the write lock when the transaction begins; for a
        writer that reads before it writes while other processes write too."""
        with self.sessions() as s, s.begin():
            if immediate and self.is_sqlite:
                s.connection(execution_options={"sqlite_immediate": True})
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
