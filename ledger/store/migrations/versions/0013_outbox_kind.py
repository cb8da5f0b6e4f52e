"""outbox: a partial index on the kind of the live rows

The relayer's rules for the program kinds (funds, follow-ups, grievances) ask for our live
outbox rows of one kind that are not indexed yet. Without an index holding the kind, that
read every row of the outbox, which is mostly deliveries, on each such check (the cost grew
with the outbox). The index is partial (its condition is models.OUTBOX_LIVE, written here
as it was then), so that only a query that writes that very condition can take it.

Revision ID: 0013_outbox_kind
Revises: 0012_outbox_block
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_outbox_kind"
down_revision: str | None = "0012_outbox_block"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

LIVE = "status IN ('queued', 'sent', 'confirmed')"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_live_kind",
        "outbox",
        ["kind"],
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_live_kind", table_name="outbox")
