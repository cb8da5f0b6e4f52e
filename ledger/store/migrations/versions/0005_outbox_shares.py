"""outbox shares: per-commitment quantities of pending deliveries and batches

Revision ID: 0005_outbox_shares
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_outbox_shares"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_shares",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("commitment_id", sa.String(length=66), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["outbox.record_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id", "commitment_id"),
    )
    op.create_index("ix_outbox_shares_commitment_id", "outbox_shares", ["commitment_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_shares_commitment_id", table_name="outbox_shares")
    op.drop_table("outbox_shares")
