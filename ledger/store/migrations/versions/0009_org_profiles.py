"""workspaces: organization profiles signed by the organization

Revision ID: 0009_org_profiles
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_org_profiles"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "org_profiles",
        sa.Column("org_code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact_role", sa.String(length=64), nullable=False),
        sa.Column("website", sa.String(length=200), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("message_json", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_code"),
    )


def downgrade() -> None:
    op.drop_table("org_profiles")
