"""outbox: the status index also orders by kind

The relayer's rules for the program kinds (funds, follow-ups, grievances) ask for our live
outbox rows of one kind that are not indexed yet. Without an index holding the kind, that
read every row of the outbox, which is mostly deliveries, on each such check (the cost grew
with the outbox). The status index becomes (status, kind): the queries that used it still
can, and no index is added to the insert every record takes.

Revision ID: 0013_outbox_kind
Revises: 0012_outbox_block
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_outbox_kind"
down_revision: str | None = "0012_outbox_block"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_status_kind", "outbox", ["status", "kind"])
    op.drop_index("ix_outbox_status", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.drop_index("ix_outbox_status_kind", table_name="outbox")
