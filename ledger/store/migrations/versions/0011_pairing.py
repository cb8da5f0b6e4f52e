"""programs: pairings (结对帮扶), their acceptance by the county, commitments citing them

Revision ID: 0011_pairing
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_pairing"
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
        sa.Column("block_time", sa.BigInteger(), nullable=True),
    ]


def _entry() -> sa.Column:
    return sa.Column(
        "record_id",
        sa.String(length=66),
        sa.ForeignKey("log_entries.record_id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "pairings",
        _entry(),
        sa.Column("org", sa.String(length=42), nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Integer(), nullable=False),
        sa.Column("end_date", sa.Integer(), nullable=False),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("funds_target", sa.BigInteger(), nullable=False),
        sa.Column("projects_target", sa.BigInteger(), nullable=False),
        sa.Column("hours_target", sa.BigInteger(), nullable=False),
        sa.Column("designated", sa.Boolean(), nullable=False),
        sa.Column("terms_hash", sa.String(length=66), nullable=False),
        *_location(),
    )
    op.create_index("ix_pairings_org", "pairings", ["org"])
    op.create_index("ix_pairings_county", "pairings", ["county"])
    op.create_table(
        "pairing_acceptances",
        _entry(),
        sa.Column("pairing_id", sa.String(length=66), nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        *_location(),
    )
    op.create_index("ix_pairing_acceptances_pairing_id", "pairing_acceptances", ["pairing_id"])
    op.create_table(
        "pairing_commitments",
        _entry(),
        sa.Column("commitment_id", sa.String(length=66), nullable=False),
        sa.Column("pairing_id", sa.String(length=66), nullable=False),
        sa.Column("org", sa.String(length=42), nullable=False),
        *_location(),
        sa.UniqueConstraint("commitment_id", name="uq_pairing_commitments_commitment_id"),
    )
    op.create_index("ix_pairing_commitments_pairing_id", "pairing_commitments", ["pairing_id"])


def downgrade() -> None:
    op.drop_table("pairing_commitments")
    op.drop_table("pairing_acceptances")
    op.drop_table("pairings")
