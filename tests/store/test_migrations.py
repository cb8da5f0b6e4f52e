"""The Alembic layout: one head per feature branch, and migration 0007_anchor_fields adds the
anchor's title, budget and end date to a database made before it (rows keep defaults),
on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from ledger.store.db import MIGRATIONS_DIR, Database, alembic_config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def test_each_branch_has_one_head_and_every_revision_is_reachable() -> None:
    script = _script()
    heads = script.get_heads()
    assert len(heads) == len(set(heads))
    # every head descends from the core revision, and no two heads share a revision id
    for head in heads:
        lineage = [r.revision for r in script.iterate_revisions(head, "base")]
        assert lineage[-1] == "0001_core"
    assert "0007_anchor_fields" in heads
    assert script.get_revision("0007_anchor_fields").down_revision == "0001_core"


def test_anchor_fields_are_added_to_an_existing_database(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0001_core")
    db = Database(database_url)
    try:
        before = {c["name"] for c in inspect(db.engine).get_columns("project_anchors")}
        assert not before & {"title", "budget", "end_date"}
        db.migrate()
        cols = {c["name"]: c for c in inspect(db.engine).get_columns("project_anchors")}
        assert {"title", "budget", "end_date"} <= set(cols)
        assert not any(cols[c]["nullable"] for c in ("title", "budget", "end_date"))
        with db.read() as s:
            heads = set(s.execute(text("SELECT version_num FROM alembic_version")).scalars())
        assert heads == set(_script().get_heads())
        command.downgrade(cfg, "0007_anchor_fields@-1")
        after = {c["name"] for c in inspect(db.engine).get_columns("project_anchors")}
        assert not after & {"title", "budget", "end_date"}
    finally:
        db.dispose()


def test_registration_names_are_added_to_an_existing_database(database_url: str) -> None:
    """0008_registration_names adds the nullable name, org_type and authority columns to
    role_events of a database at the core revision, and its downgrade takes them out."""
    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0001_core")
    db = Database(database_url)
    names = {"name", "org_type", "authority"}
    try:
        before = {c["name"] for c in inspect(db.engine).get_columns("role_events")}
        assert not before & names
        db.migrate()
        cols = {c["name"]: c for c in inspect(db.engine).get_columns("role_events")}
        assert names <= set(cols)
        assert all(cols[c]["nullable"] for c in names)
        assert _script().get_revision("0008_registration_names").down_revision == "0001_core"
        command.downgrade(cfg, "0008_registration_names@-1")
        after = {c["name"] for c in inspect(db.engine).get_columns("role_events")}
        assert not after & names
    finally:
        db.dispose()


_FAILING_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "9999_fails_half_way"
down_revision = {heads!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("outbox", sa.Column("half_done", sa.Integer))
    raise RuntimeError("the upgrade fails half-way")


def downgrade() -> None:
    pass
"""


def test_an_upgrade_that_fails_half_way_leaves_the_schema_as_it_was(
    database_url: str, tmp_path: Path
) -> None:
    """One upgrade is one transaction on both databases (pysqlite would commit each DDL
    statement alone): a revision that fails after some DDL leaves no table, no column and
    no version of it, and a fresh database whose whole upgrade fails stays empty."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    heads = tuple(_script().get_heads())
    (scripts / "versions" / "9999_fails_half_way.py").write_text(
        _FAILING_REVISION.format(heads=heads), encoding="utf-8"
    )
    failing = alembic_config(database_url)
    failing.set_main_option("script_location", str(scripts))

    with pytest.raises(RuntimeError, match="half-way"):
        command.upgrade(failing, "heads")
    db = Database(database_url)
    try:
        assert inspect(db.engine).get_table_names() == []

        db.migrate()
        with db.engine.connect() as conn:
            versions = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
        assert versions == set(heads)
        with pytest.raises(RuntimeError, match="half-way"):
            command.upgrade(failing, "heads")
        names = inspect(db.engine).get_table_names()
        assert "half_done" not in names and "outbox" in names
        columns = {c["name"] for c in inspect(db.engine).get_columns("outbox")}
        assert "half_done" not in columns
        with db.engine.connect() as conn:
            after = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
        assert after == set(heads)
    finally:
        db.engine.dispose()
