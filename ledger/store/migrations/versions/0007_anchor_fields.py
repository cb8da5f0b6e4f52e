"""project anchors' human-readable fields: title, budget (fen), end date (YYYYMMDD)

The contract's ProjectAnchor carries them (its MAX_QUANTITY bounds the budget at 2^63-1,
so BIGINT holds it); the indexer stores them and the audit compares them with the chain.
Rows indexed before this migration get the defaults ("", 0, 0): rebuild to fill them.

Revision ID: 0007_anchor_fields
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_anchor_fields"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project_anchors") as batch:
        batch.add_column(
            sa.Column("title", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("budget", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("end_date", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("project_anchors") as batch:
        batch.drop_column("end_date")
        batch.drop_column("budget")
        batch.drop_column("title")
