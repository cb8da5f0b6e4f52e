"""registration names: the name, organization type and registering authority that
CountyRegistered, OrganizationRegistered and AuditorRegistered carry on chain

The indexer stores them beside each role event; the audit compares them with the chain.
Rows indexed before this migration keep NULL: rebuild from the chain to fill them.

Revision ID: 0008_registration_names
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_registration_names"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot ALTER most things in place; PostgreSQL alters directly.
    with op.batch_alter_table("role_events") as batch:
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("org_type", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("authority", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("role_events") as batch:
        batch.drop_column("authority")
        batch.drop_column("org_type")
        batch.drop_column("name")
