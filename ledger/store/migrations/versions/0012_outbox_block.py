"""outbox: an index on the block a confirmed record is in

The relayer's reconcile pass asks which blocks hold our confirmed records since the last
block it trusts; without this index that read every confirmed row of the outbox on each
pass (the cost grew with the outbox).

Revision ID: 0012_outbox_block
Revises: 0001_core
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_outbox_block"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_block_number", "outbox", ["block_number"])


def downgrade() -> None:
    op.drop_index("ix_outbox_block_number", table_name="outbox")
