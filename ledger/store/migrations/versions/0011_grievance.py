"""programs: grievances (申诉) — filings, contacts kept apart, answer texts, and the
county's Grievance and GrievanceAnswer records as indexed

Revision ID: 0011_grievance
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_grievance"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _location() -> list[sa.Column]:
    return [
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "grievance_filings",
        sa.Column("filing_no", sa.String(length=16), nullable=False),
        sa.Column("grievance_hash", sa.String(length=66), nullable=False),
        sa.Column("project_id", sa.String(length=66), nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("filing_no"),
        sa.UniqueConstraint("grievance_hash"),
    )
    op.create_index("ix_grievance_filings_project_id", "grievance_filings", ["project_id"])
    op.create_index("ix_grievance_filings_county", "grievance_filings", ["county"])
    op.create_index("ix_grievance_filings_filed_at", "grievance_filings", ["filed_at"])
    op.create_table(
        "grievance_contacts",
        sa.Column("filing_no", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["filing_no"], ["grievance_filings.filing_no"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("filing_no"),
    )
    op.create_table(
        "grievance_answer_texts",
        sa.Column("answer_hash", sa.String(length=66), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("answer_hash"),
    )
    op.create_table(
        "grievances",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("project_id", sa.String(length=66), nullable=False),
        sa.Column("target_id", sa.String(length=66), nullable=False),
        sa.Column("grievance_hash", sa.String(length=66), nullable=False),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        *_location(),
        sa.ForeignKeyConstraint(["record_id"], ["log_entries.record_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_grievances_project_id", "grievances", ["project_id"])
    op.create_index("ix_grievances_grievance_hash", "grievances", ["grievance_hash"])
    op.create_index("ix_grievances_county", "grievances", ["county"])
    op.create_table(
        "grievance_answers",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("grievance_id", sa.String(length=66), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("answer_hash", sa.String(length=66), nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        *_location(),
        sa.ForeignKeyConstraint(["record_id"], ["log_entries.record_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_grievance_answers_grievance_id", "grievance_answers", ["grievance_id"])
    op.create_index("ix_grievance_answers_county", "grievance_answers", ["county"])


def downgrade() -> None:
    op.drop_table("grievance_answers")
    op.drop_table("grievances")
    op.drop_table("grievance_answer_texts")
    op.drop_table("grievance_contacts")
    op.drop_table("grievance_filings")
