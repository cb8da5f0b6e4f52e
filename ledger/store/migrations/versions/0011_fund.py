"""special funds (专项基金): funds, their contributions and the commitments that draw on them
(indexed from the chain), and the off-chain details beside each fund (sponsor name and salt,
purpose text; ledger.store.fund_models)

Revision ID: 0011_fund
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_fund"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _location() -> list[sa.Column[object]]:
    return [
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
    ]


def _entry() -> sa.Column[object]:
    return sa.Column(
        "record_id",
        sa.String(length=66),
        sa.ForeignKey("log_entries.record_id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "funds",
        _entry(),
        sa.Column("org", sa.String(length=42), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sponsor_kind", sa.Integer(), nullable=False),
        sa.Column("sponsor_hash", sa.String(length=66), nullable=False),
        sa.Column("sponsor_public", sa.Boolean(), nullable=False),
        sa.Column("pledged", sa.BigInteger(), nullable=False),
        sa.Column("purpose_hash", sa.String(length=66), nullable=False),
        *_location(),
    )
    op.create_index("ix_funds_org", "funds", ["org"])
    op.create_index("ix_funds_leaf", "funds", ["leaf_index"])
    op.create_index("ix_funds_org_leaf", "funds", ["org", "leaf_index"])
    op.create_table(
        "fund_contributions",
        _entry(),
        sa.Column("fund_id", sa.String(length=66), nullable=False),
        sa.Column("org", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("received_date", sa.Integer(), nullable=False),
        sa.Column("evidence_hash", sa.String(length=66), nullable=False),
        *_location(),
    )
    op.create_index("ix_fund_contributions_fund_id", "fund_contributions", ["fund_id"])
    op.create_table(
        "fund_draws",
        _entry(),
        sa.Column("commitment_id", sa.String(length=66), nullable=False),
        sa.Column("fund_id", sa.String(length=66), nullable=False),
        sa.Column("pairing_id", sa.String(length=66), nullable=False),
        sa.Column("org", sa.String(length=42), nullable=False),
        sa.Column("fund_amount", sa.BigInteger(), nullable=False),
        *_location(),
    )
    op.create_index("ix_fund_draws_commitment_id", "fund_draws", ["commitment_id"], unique=True)
    op.create_index("ix_fund_draws_fund_id", "fund_draws", ["fund_id"])
    op.create_table(
        "fund_details",
        sa.Column("fund_id", sa.String(length=66), nullable=False),
        sa.Column("sponsor_name", sa.String(length=200), nullable=False),
        sa.Column("sponsor_salt", sa.String(length=66), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("fund_id"),
    )


def downgrade() -> None:
    op.drop_table("fund_details")
    op.drop_table("fund_draws")
    op.drop_table("fund_contributions")
    op.drop_table("funds")
