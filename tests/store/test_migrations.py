"""The Alembic layout: one head per feature branch, and migration 0007_anchor_fields adds the
anchor's title, budget and end date to a database made before it (rows keep defaults),
on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from ledger.store.db import Database, alembic_config


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
