"""library: projects, anchored versions, matches, pushes, key counties

Revision ID: 0002_library
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_library"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

HEX32 = sa.String(66)
ADDRESS = sa.String(42)


def _now() -> sa.TextClause:
    return sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "library_projects",
        sa.Column("project_id", HEX32, primary_key=True),
        sa.Column("kind", sa.Integer(), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("owner", ADDRESS, nullable=False, index=True),
        sa.Column("county", sa.Integer(), index=True),
        sa.Column("org_code", sa.String(32), index=True),
        sa.Column("category", sa.Integer(), nullable=False, index=True),
        sa.Column("categories", sa.String(64), nullable=False),
        sa.Column("resource_kinds", sa.String(16), nullable=False),
        sa.Column("key_county", sa.Boolean(), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("draft_json", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now()),
    )
    op.create_table(
        "library_project_versions",
        sa.Column("project_id", HEX32, primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_json", sa.Text(), nullable=False),
        sa.Column("content_hash", HEX32, nullable=False),
        sa.Column("anchor_id", HEX32, nullable=False, unique=True),
        sa.Column("anchor_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("signer", ADDRESS, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
    )
    op.create_table(
        "library_matches",
        sa.Column("match_id", HEX32, primary_key=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("need_id", HEX32, nullable=False, index=True),
        sa.Column("supply_id", HEX32, nullable=False),
        sa.Column("county", sa.Integer(), nullable=False, index=True),
        sa.Column("org_code", sa.String(32), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("proposer", ADDRESS, nullable=False),
        sa.Column("proposal_signature", sa.String(132), nullable=False),
        sa.Column("responder", ADDRESS),
        sa.Column("response_signature", sa.String(132)),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
        sa.Column("responded_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "library_pushes",
        sa.Column("project_id", HEX32, primary_key=True),
        sa.Column("target", sa.String(64), primary_key=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
    )
    op.create_table(
        "library_key_counties",
        sa.Column("code", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=_now()),
    )


def downgrade() -> None:
    for table in (
        "library_key_counties",
        "library_pushes",
        "library_matches",
        "library_project_versions",
        "library_projects",
    ):
        op.drop_table(table)
