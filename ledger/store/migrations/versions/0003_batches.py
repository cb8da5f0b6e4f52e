"""bulk delivery batches: upload sessions and their lines

Revision ID: 0003_batches
Revises: 0001_core
Create Date: 2026-11-29 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_batches"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_uploads",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=66), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("record_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("lines_received", sa.Integer(), nullable=False),
        sa.Column("lines_root", sa.String(length=66), nullable=True),
        sa.Column("totals", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("upload_id"),
        sa.UniqueConstraint("batch_id"),
    )
    op.create_index("ix_batch_uploads_signer", "batch_uploads", ["signer"])
    op.create_index("ix_batch_uploads_status", "batch_uploads", ["status"])
    op.create_table(
        "batch_lines",
        sa.Column("batch_id", sa.String(length=66), nullable=False),
        sa.Column("line_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=66), nullable=False),
        sa.Column("commitment_id", sa.String(length=66), nullable=False),
        sa.Column("beneficiary", sa.String(length=66), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=False),
        sa.Column("evidence_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "line_index"),
    )


def downgrade() -> None:
    op.drop_table("batch_lines")
    op.drop_index("ix_batch_uploads_status", table_name="batch_uploads")
    op.drop_index("ix_batch_uploads_signer", table_name="batch_uploads")
    op.drop_table("batch_uploads")
