"""read model at scale: chain location on every list row, keyset indexes, maintained totals

Each list table (project anchors, commitments, deliveries, receipts, flags) gets its
record's chain location (leaf index, chain id, block number and hash, block time, tx hash,
log index), copied from log_entries here for rows indexed before, so a public list is an
indexed range scan newest first with no join against the log. commitment_totals holds the
totals per county, category, organization, resource kind and unit, and group_totals the same
summed per one grouping (county, category, org, or "all"); the indexer maintains both in the
same transaction as the leaves; they are filled here from the commitments.

Revision ID: 0010_read_model
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_read_model"
down_revision: str | None = "0001_core"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

LISTS = ("project_anchors", "commitments", "deliveries", "receipts", "flags")
LOCATION = (
    ("leaf_index", sa.BigInteger()),
    ("chain_id", sa.BigInteger()),
    ("block_number", sa.BigInteger()),
    ("block_hash", sa.String(length=66)),
    ("block_time", sa.BigInteger()),
    ("tx_hash", sa.String(length=66)),
    ("log_index", sa.Integer()),
)
#: filter prefixes of the newest-first keyset indexes, per table
KEYSETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "project_anchors": (("county",),),
    "commitments": (("county",), ("county", "category"), ("category",), ("org",), ("need_id",)),
    "deliveries": (
        ("county",),
        ("county", "category"),
        ("category",),
        ("org",),
        ("commitment_id",),
    ),
    "receipts": (("county",), ("commitment_id",)),
    "flags": (),
}
SPLIT = 1 << 32


def _indexes(table: str) -> list[tuple[str, list[str]]]:
    out = [(f"ix_{table}_leaf", ["leaf_index"])]
    for prefix in KEYSETS[table]:
        out.append((f"ix_{table}_{'_'.join(prefix)}_leaf", [*prefix, "leaf_index"]))
    return out


def upgrade() -> None:
    for table in LISTS:
        for name, type_ in LOCATION:
            if table == "commitments" and name == "block_time":
                continue  # commitments have carried their block time from the start
            op.add_column(table, sa.Column(name, type_, nullable=True))
        sets = ", ".join(
            f"{name} = (SELECT e.{name} FROM log_entries e WHERE e.record_id = {table}.record_id)"
            for name, _ in LOCATION
            if not (table == "commitments" and name == "block_time")
        )
        op.execute(f"UPDATE {table} SET {sets}")
        for name, cols in _indexes(table):
            op.create_index(name, table, cols)
    op.create_table(
        "commitment_totals",
        sa.Column("county", sa.Integer(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("org", sa.String(length=42), nullable=False),
        sa.Column("resource_kind", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("commitments", sa.BigInteger(), nullable=False),
        sa.Column("committed_hi", sa.BigInteger(), nullable=False),
        sa.Column("committed_lo", sa.BigInteger(), nullable=False),
        sa.Column("delivered_hi", sa.BigInteger(), nullable=False),
        sa.Column("delivered_lo", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_hi", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_lo", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("county", "category", "org", "resource_kind", "unit"),
    )
    op.create_index("ix_commitment_totals_category", "commitment_totals", ["category"])
    op.create_index("ix_commitment_totals_org", "commitment_totals", ["org"])
    halves = ", ".join(
        f"SUM({c} / {SPLIT}), SUM({c} % {SPLIT})" for c in ("quantity", "delivered", "confirmed")
    )
    rows = op.get_bind().execute(
        sa.text(
            f"SELECT county, category, org, resource_kind, unit, COUNT(*), {halves} "
            "FROM commitments GROUP BY county, category, org, resource_kind, unit"
        )
    )
    out = []
    for county, category, org, rk, unit, n, *h in rows:
        values = [int(h[i] or 0) * SPLIT + int(h[i + 1] or 0) for i in (0, 2, 4)]
        row = {"county": county, "category": category, "org": org, "resource_kind": rk}
        row |= {"unit": unit, "commitments": n}
        for name, v in zip(("committed", "delivered", "confirmed"), values, strict=True):
            row[f"{name}_hi"], row[f"{name}_lo"] = divmod(v, SPLIT)
        out.append(row)
    amounts = [f"{a}_{h}" for a in ("committed", "delivered", "confirmed") for h in ("hi", "lo")]
    if out:
        table = sa.table("commitment_totals", *(sa.column(c) for c in out[0]))
        op.bulk_insert(table, out)  # type: ignore[arg-type]
    op.create_table(
        "group_totals",
        sa.Column("dimension", sa.String(length=8), nullable=False),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("resource_kind", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("commitments", sa.BigInteger(), nullable=False),
        *(sa.Column(c, sa.BigInteger(), nullable=False) for c in amounts),
        sa.PrimaryKeyConstraint("dimension", "member", "resource_kind", "unit"),
    )
    groups: dict[tuple[str, str, int, str], list[int]] = {}
    for r in out:
        values = [
            r[f"{a}_hi"] * SPLIT + r[f"{a}_lo"] for a in ("committed", "delivered", "confirmed")
        ]
        for by, key in (("county", str(r["county"])), ("category", str(r["category"])),
                        ("org", r["org"]), ("all", "")):  # fmt: skip
            g = groups.setdefault((by, key, r["resource_kind"], r["unit"]), [0, 0, 0, 0])
            g[0] += r["commitments"]
            for i, v in enumerate(values):
                g[i + 1] += v
    rows_g = []
    for (by, key, rk, unit), (n, *vals) in groups.items():
        row = {"dimension": by, "member": key, "resource_kind": rk, "unit": unit, "commitments": n}
        for name, v in zip(("committed", "delivered", "confirmed"), vals, strict=True):
            row[f"{name}_hi"], row[f"{name}_lo"] = divmod(v, SPLIT)
        rows_g.append(row)
    if rows_g:
        table = sa.table("group_totals", *(sa.column(c) for c in rows_g[0]))
        op.bulk_insert(table, rows_g)  # type: ignore[arg-type]


def downgrade() -> None:
    op.drop_table("group_totals")
    op.drop_index("ix_commitment_totals_org", table_name="commitment_totals")
    op.drop_index("ix_commitment_totals_category", table_name="commitment_totals")
    op.drop_table("commitment_totals")
    for table in LISTS:
        for name, _ in _indexes(table):
            op.drop_index(name, table_name=table)
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(LOCATION):
                if table == "commitments" and name == "block_time":
                    continue
                batch.drop_column(name)
