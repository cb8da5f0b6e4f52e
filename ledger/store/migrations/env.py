"""Alembic environment: runs migrations against the URL the ledger passes in.

All of one upgrade is one transaction, on SQLite too: pysqlite would otherwise commit each
DDL statement on its own (a sync each, and a crash half-way through an upgrade would leave
a schema that no revision describes). SQLite's DDL is transactional once SQLAlchemy emits
the BEGIN itself (its documented pysqlite recipe). Foreign keys stay off, as SQLite's
default, so that batch mode's copy-and-rename of a table does not cascade.
"""

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event, pool

from ledger.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:

        @event.listens_for(engine, "connect")
        def _no_implicit_commits(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            # Alembic's SQLite default is a transaction per revision; with the BEGIN above
            # SQLite can hold the whole upgrade in one, as PostgreSQL does.
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
