"""SQLAlchemy models of the read model, the outbox, roles and indexer checkpoints.

Ids and hashes are stored as 0x-prefixed lowercase hex (66 chars), addresses checksummed.
Every indexed row descends from a `LogEntry`, which says where on chain it came from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HEX32 = String(66)
ADDRESS = String(42)


class Base(DeclarativeBase):
    pass


def created_column() -> Mapped[datetime]:
    """When the row was written, by the database's clock."""
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def updated_column() -> Mapped[datetime]:
    """When the row last changed, by the database's clock."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


#: Outbox statuses of a record that counts: waiting, in flight or on chain.
LIVE_STATUSES = ("queued", "sent", "confirmed")
#: The same as SQL, word for word the condition of the partial index `ix_outbox_live_kind`:
#: a query reaches that index only by writing this very condition (both databases match a
#: partial index's condition against the query's, and neither does so with bound values).
OUTBOX_LIVE = "status IN (" + ", ".join(f"'{s}'" for s in LIVE_STATUSES) + ")"


class OutboxRecord(Base):
    """A signed record the API acknowledged; the relayer owns it until it is confirmed."""

    __tablename__ = "outbox"
    # The rules' "live rows of one kind" (rules_common.pending_rows) without reading the
    # whole outbox. Partial, so that no other query can take it: with a plain index on the
    # kind, both databases (PostgreSQL before its statistics) read every row of a kind for
    # lookups that name a few record ids (ledger/store/planner.py).
    __table_args__ = (
        Index(
            "ix_outbox_live_kind",
            "kind",
            sqlite_where=text(OUTBOX_LIVE),
            postgresql_where=text(OUTBOX_LIVE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(HEX32, unique=True)
    kind: Mapped[int] = mapped_column(Integer)
    signer: Mapped[str] = mapped_column(ADDRESS, index=True)
    record_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    # main referenced id (need, commitment, delivery or flagged record) and quantity, so
    # pending records count in reference and over-delivery checks before they are indexed
    ref_id: Mapped[str | None] = mapped_column(HEX32, index=True)
    quantity: Mapped[int | None] = mapped_column(BigInteger)
    # queued → sent → confirmed; failed (with error) when the chain refuses it for good
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    tx_hash: Mapped[str | None] = mapped_column(HEX32, index=True)
    sender: Mapped[str | None] = mapped_column(ADDRESS)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    block_number: Mapped[int | None] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str | None] = mapped_column(HEX32)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = updated_column()


class OutboxShare(Base):
    """What a pending delivery or batch in the outbox delivers against each commitment, so
    the over-delivery check is two indexed sums rather than a parse of pending records."""

    __tablename__ = "outbox_shares"

    record_id: Mapped[str] = mapped_column(
        HEX32, ForeignKey("outbox.record_id", ondelete="CASCADE"), primary_key=True
    )
    commitment_id: Mapped[str] = mapped_column(HEX32, primary_key=True, index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)


class SentTransaction(Base):
    """One relayer transaction (a multicall of outbox records): its nonce and fees."""

    __tablename__ = "sent_transactions"

    tx_hash: Mapped[str] = mapped_column(HEX32, primary_key=True)
    sender: Mapped[str] = mapped_column(ADDRESS)
    nonce: Mapped[int] = mapped_column(BigInteger)
    max_fee: Mapped[int] = mapped_column(BigInteger)
    priority_fee: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    record_count: Mapped[int] = mapped_column(Integer)
    # pending → mined | replaced | dropped
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_sent_sender_nonce", "sender", "nonce"),)


class NonceState(Base):
    """The next nonce of each sending account, advanced in the same transaction as a send."""

    __tablename__ = "nonces"

    sender: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class LogEntry(Base):
    """A leaf of the on-chain log, from its RecordAppended event."""

    __tablename__ = "log_entries"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(HEX32, unique=True)
    kind: Mapped[int] = mapped_column(Integer, index=True)
    signer: Mapped[str] = mapped_column(ADDRESS, index=True)
    leaf_hash: Mapped[str] = mapped_column(HEX32)
    record_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(HEX32)
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(HEX32, index=True)
    log_index: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("chain_id", "block_hash", "tx_hash", "log_index", name="uq_log_position"),
    )


class ChainLocation:
    """Where on chain a list row's record is: copied from its `LogEntry` when the row is
    written (migration 0010_read_model), so a public list is one indexed range scan with no
    join against the log. Nullable only because the columns were added to existing tables;
    the indexer always fills them."""

    leaf_index: Mapped[int] = mapped_column(BigInteger, nullable=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, nullable=True)
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str] = mapped_column(HEX32, nullable=True)
    tx_hash: Mapped[str] = mapped_column(HEX32, nullable=True)
    log_index: Mapped[int] = mapped_column(Integer, nullable=True)
    block_time: Mapped[int] = mapped_column(BigInteger, nullable=True)


#: The location columns every list row carries (with `block_time`, which each has).
LOCATION_COLUMNS = (
    "leaf_index",
    "chain_id",
    "block_number",
    "block_hash",
    "block_time",
    "tx_hash",
    "log_index",
)


def keyset(table: str, *prefixes: tuple[str, ...]) -> tuple[Index, ...]:
    """Indexes for newest-first keyset pages: by leaf index alone and after each filter
    prefix (county; county and category; category; organization; ...)."""
    out = [Index(f"ix_{table}_leaf", "leaf_index")]
    for prefix in prefixes:
        out.append(Index(f"ix_{table}_{'_'.join(prefix)}_leaf", *prefix, "leaf_index"))
    return tuple(out)


def entry_fk() -> Mapped[str]:
    """A read-model row's key: its record's id, whose log entry takes the row with it when a
    reorg rolls the entry back."""
    return mapped_column(
        HEX32, ForeignKey("log_entries.record_id", ondelete="CASCADE"), primary_key=True
    )


class ProjectAnchorRow(ChainLocation, Base):
    __tablename__ = "project_anchors"

    record_id: Mapped[str] = entry_fk()
    project_id: Mapped[str] = mapped_column(HEX32, index=True)
    project_kind: Mapped[int] = mapped_column(Integer)
    county: Mapped[int] = mapped_column(Integer, index=True)
    category: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(HEX32)
    version: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(ADDRESS)
    # the anchor's human-readable fields, as on chain (migration 0007_anchor_fields)
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    budget: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    end_date: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = keyset("project_anchors", ("county",))


class CommitmentRow(ChainLocation, Base):
    __tablename__ = "commitments"

    record_id: Mapped[str] = entry_fk()
    need_id: Mapped[str] = mapped_column(HEX32, index=True)
    match_id: Mapped[str] = mapped_column(HEX32)
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    county: Mapped[int] = mapped_column(Integer, index=True)
    category: Mapped[int] = mapped_column(Integer, index=True)
    resource_kind: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(64))
    due_date: Mapped[int] = mapped_column(BigInteger)
    terms_hash: Mapped[str] = mapped_column(HEX32)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed: Mapped[int] = mapped_column(BigInteger, default=0)
    block_time: Mapped[int] = mapped_column(BigInteger, index=True)

    __table_args__ = keyset(
        "commitments", ("county",), ("county", "category"), ("category",), ("org",), ("need_id",)
    )


class DeliveryRow(ChainLocation, Base):
    """A single delivery record, or (with `batch` true) a delivery batch's share of one
    commitment; a batch serving n commitments has n rows, one per commitment."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(
        HEX32, ForeignKey("log_entries.record_id", ondelete="CASCADE"), index=True
    )
    commitment_id: Mapped[str] = mapped_column(HEX32, index=True)
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    county: Mapped[int] = mapped_column(Integer, index=True)
    category: Mapped[int] = mapped_column(Integer, index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int] = mapped_column(BigInteger, index=True)
    evidence_hash: Mapped[str] = mapped_column(HEX32)
    beneficiary_count: Mapped[int] = mapped_column(Integer)
    beneficiary_root: Mapped[str] = mapped_column(HEX32)
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    line_count: Mapped[int] = mapped_column(Integer, default=1)
    receipted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("record_id", "commitment_id", name="uq_delivery_share"),
        *keyset(
            "deliveries",
            ("county",),
            ("county", "category"),
            ("category",),
            ("org",),
            ("commitment_id",),
        ),
    )


class ReceiptRow(ChainLocation, Base):
    __tablename__ = "receipts"

    record_id: Mapped[str] = entry_fk()
    delivery_id: Mapped[str] = mapped_column(HEX32, index=True)
    commitment_id: Mapped[str] = mapped_column(HEX32, index=True)
    county: Mapped[int] = mapped_column(Integer, index=True)
    category: Mapped[int] = mapped_column(Integer, index=True)
    org: Mapped[str] = mapped_column(ADDRESS, index=True)
    signer: Mapped[str] = mapped_column(ADDRESS)
    confirmed_quantity: Mapped[int] = mapped_column(BigInteger)
    note_hash: Mapped[str] = mapped_column(HEX32)

    __table_args__ = keyset("receipts", ("county",), ("commitment_id",))


class FlagRow(ChainLocation, Base):
    __tablename__ = "flags"

    record_id: Mapped[str] = entry_fk()
    target_id: Mapped[str] = mapped_column(HEX32, index=True)
    auditor: Mapped[str] = mapped_column(ADDRESS)
    reason_code: Mapped[int] = mapped_column(Integer)
    note_hash: Mapped[str] = mapped_column(HEX32)

    __table_args__ = keyset("flags")


class TotalCounters:
    """The counters of a totals row (`CommitmentTotal`, `GroupTotal`): how many commitments,
    and what they committed, delivered and confirmed, each amount in two exact halves
    (hi * 2^32 + lo)."""

    commitments: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_hi: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_lo: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered_hi: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered_lo: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed_hi: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed_lo: Mapped[int] = mapped_column(BigInteger, default=0)


class CommitmentTotal(TotalCounters, Base):
    """The totals, maintained by the indexer in the same transaction as the leaves (migration
    0010_read_model): per county, category, organization, resource kind and unit, how many
    commitments, and what they committed, delivered and confirmed. Any public grouping (by
    county, category or organization, narrowed by the others) is a sum over these rows, not
    over every commitment.

    Each amount may pass 2^63 (SQLite's integer), so it is kept in two exact halves,
    value = hi * 2^32 + lo with 0 <= lo < 2^32 (`ledger.store.aggregates`)."""

    __tablename__ = "commitment_totals"

    county: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    category: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    org: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    resource_kind: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (
        Index("ix_commitment_totals_category", "category"),
        Index("ix_commitment_totals_org", "org"),
    )


class GroupTotal(TotalCounters, Base):
    """The same totals summed per one grouping (`dimension`: county, category, org, or all
    with `member` ""), maintained with `CommitmentTotal`, so an unfiltered public totals
    page reads a few dozen rows however many organizations serve however many counties."""

    __tablename__ = "group_totals"

    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)
    member: Mapped[str] = mapped_column(String(42), primary_key=True)
    resource_kind: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)


class RoleEvent(Base):
    """A role granted or revoked on chain (AccessControl events and our registrations).

    The current roles are the latest event per (address, role); keeping events rather than
    a mutable table makes rolling back a reorg a delete.
    """

    __tablename__ = "role_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(ADDRESS, index=True)
    role: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    county: Mapped[int | None] = mapped_column(Integer, index=True)
    org_code: Mapped[str | None] = mapped_column(String(32), index=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(HEX32)
    tx_hash: Mapped[str] = mapped_column(HEX32)
    log_index: Mapped[int] = mapped_column(Integer)
    # What a registration event carries (None on RoleGranted/RoleRevoked rows).
    name: Mapped[str | None] = mapped_column(String(200))
    org_type: Mapped[int | None] = mapped_column(Integer)
    authority: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("chain_id", "block_hash", "tx_hash", "log_index", name="uq_role_position"),
    )


class Organization(Base):
    """Facts about an organization keyed by its credit code: its name (filled by the indexer
    from its latest OrganizationRegistered on chain) and an optional English name."""

    __tablename__ = "organizations"

    org_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))


class IndexedBlock(Base):
    """Recent blocks the indexer processed, to find the fork point after a reorg."""

    __tablename__ = "indexed_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(HEX32)
    parent_hash: Mapped[str] = mapped_column(HEX32)


class IndexerCheckpoint(Base):
    """Where the indexer stands: the last block it processed, and the log at that block."""

    __tablename__ = "indexer_checkpoints"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(ADDRESS)
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str] = mapped_column(HEX32)
    log_size: Mapped[int] = mapped_column(BigInteger, default=0)
    log_root: Mapped[str] = mapped_column(HEX32)
    updated_at: Mapped[datetime] = updated_column()
