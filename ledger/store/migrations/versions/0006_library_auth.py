"""library auth: used nonces of signed library writes, versioned key-county lists, and the
signed match messages

Revision ID: 0006_library_auth
Revises: 0002_library
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_library_auth"
down_revision: str | None = "0002_library"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "library_nonces",
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=66), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signer", "nonce"),
    )
    op.create_index("ix_library_nonces_expiry", "library_nonces", ["expiry"])
    op.create_table(
        "library_key_county_lists",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("message_json", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("library_matches") as batch:
        batch.add_column(sa.Column("proposal_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("response_message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("library_matches") as batch:
        batch.drop_column("response_message")
        batch.drop_column("proposal_message")
    op.drop_table("library_key_county_lists")
    op.drop_index("ix_library_nonces_expiry", table_name="library_nonces")
    op.drop_table("library_nonces")
