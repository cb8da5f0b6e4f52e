"""household follow-up (回访): follow-up rounds and their signed results

Revision ID: 0011_followup
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_followup"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

HEX32 = sa.String(length=66)
ADDRESS = sa.String(length=42)


def _location() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", HEX32, nullable=True),
        sa.Column("tx_hash", HEX32, nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
    ]


def _entry_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "record_id",
        HEX32,
        sa.ForeignKey("log_entries.record_id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "follow_up_rounds",
        _entry_fk(),
        sa.Column("batch_id", HEX32, nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("seed_block", sa.BigInteger(), nullable=False),
        sa.Column("rate_bps", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("org", ADDRESS, nullable=False),
        sa.Column("signer", ADDRESS, nullable=False),
        *_location(),
        sa.UniqueConstraint("batch_id", "county", name="uq_follow_up_round"),
    )
    op.create_index("ix_follow_up_rounds_batch_id", "follow_up_rounds", ["batch_id"])
    op.create_index("ix_follow_up_rounds_org", "follow_up_rounds", ["org"])
    op.create_index("ix_follow_up_rounds_leaf", "follow_up_rounds", ["leaf_index"])
    op.create_index("ix_follow_up_rounds_county_leaf", "follow_up_rounds", ["county", "leaf_index"])
    op.create_table(
        "follow_ups",
        _entry_fk(),
        sa.Column("round_id", HEX32, nullable=False),
        sa.Column("batch_id", HEX32, nullable=False),
        sa.Column("line_index", sa.Integer(), nullable=False),
        sa.Column("line_hash", HEX32, nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("note_hash", HEX32, nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("org", ADDRESS, nullable=False),
        sa.Column("signer", ADDRESS, nullable=False),
        *_location(),
        sa.UniqueConstraint("round_id", "line_index", name="uq_follow_up_line"),
    )
    op.create_index("ix_follow_ups_round_id", "follow_ups", ["round_id"])
    op.create_index("ix_follow_ups_batch_id", "follow_ups", ["batch_id"])
    op.create_index("ix_follow_ups_org", "follow_ups", ["org"])
    op.create_index("ix_follow_ups_leaf", "follow_ups", ["leaf_index"])
    op.create_index("ix_follow_ups_county_leaf", "follow_ups", ["county", "leaf_index"])


def downgrade() -> None:
    op.drop_table("follow_ups")
    op.drop_table("follow_up_rounds")
