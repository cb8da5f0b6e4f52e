"""The six record kinds of the aid flow (kinds 1-6): a project's anchor, a commitment to a need,
a delivery against it, the county's receipt, an auditor's flag, and a delivery batch.

Each is a `Record` (`ledger.core.records` makes their bytes); `ledger.core.record_types` maps
a kind number or slug to its class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ledger.core.fields import FlagReason, ProjectKind, ResourceKind
from ledger.core.lines import derive_id, scoped_id
from ledger.core.records import Kind, Record

__all__ = ["Commitment", "Delivery", "DeliveryBatch", "Flag", "ProjectAnchor", "Receipt"]


@dataclass(frozen=True)
class ProjectAnchor(Record):
    KIND: ClassVar[Kind] = Kind.PROJECT_ANCHOR
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("project_id", "bytes32"),
        ("project_kind", "uint8"),
        ("county", "uint32"),
        ("category", "uint8"),
        ("title", "string"),
        ("budget", "uint128"),
        ("end_date", "uint32"),
        ("content_hash", "bytes32"),
        ("version", "uint32"),
    )
    project_id: bytes = b""
    project_kind: int = ProjectKind.NEED
    county: int = 0
    category: int = 1
    #: UTF-8, 1..MAX_TITLE_BYTES bytes; signed so that a wallet shows it.
    title: str = ""
    #: fen: a need's budget; a supply's funds capacity, or 0.
    budget: int = 0
    #: YYYYMMDD in Beijing time (a need's deadline, a supply's period end), or 0.
    end_date: int = 0
    content_hash: bytes = bytes(32)
    version: int = 1

    @staticmethod
    def anchor_id(project_id: bytes, version: int) -> bytes:
        """Anchors have derived ids, scoped to the project's owner (the first 20 bytes of
        the project id, who alone may anchor its versions), so nobody can take them first."""
        return scoped_id(project_id[:20], derive_id("ProjectAnchor", project_id, version))


@dataclass(frozen=True)
class Commitment(Record):
    KIND: ClassVar[Kind] = Kind.COMMITMENT
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("need_id", "bytes32"),
        ("match_id", "bytes32"),
        ("resource_kind", "uint8"),
        ("quantity", "uint128"),
        ("unit", "bytes32"),
        ("due_date", "uint64"),
        ("terms_hash", "bytes32"),
    )
    need_id: bytes = bytes(32)
    match_id: bytes = bytes(32)
    resource_kind: int = ResourceKind.FUNDS
    quantity: int = 0
    unit: bytes = bytes(32)
    due_date: int = 0
    terms_hash: bytes = bytes(32)


@dataclass(frozen=True)
class Delivery(Record):
    KIND: ClassVar[Kind] = Kind.DELIVERY
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("commitment_id", "bytes32"),
        ("quantity", "uint128"),
        ("delivered_at", "uint64"),
        ("evidence_hash", "bytes32"),
        ("beneficiary_count", "uint32"),
        ("beneficiary_root", "bytes32"),
    )
    commitment_id: bytes = bytes(32)
    quantity: int = 0
    delivered_at: int = 0
    evidence_hash: bytes = bytes(32)
    beneficiary_count: int = 0
    beneficiary_root: bytes = bytes(32)


@dataclass(frozen=True)
class Receipt(Record):
    KIND: ClassVar[Kind] = Kind.RECEIPT
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("delivery_id", "bytes32"),
        ("confirmed_quantity", "uint128"),
        ("note_hash", "bytes32"),
    )
    delivery_id: bytes = bytes(32)
    confirmed_quantity: int = 0
    note_hash: bytes = bytes(32)


@dataclass(frozen=True)
class Flag(Record):
    KIND: ClassVar[Kind] = Kind.FLAG
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("record_id", "bytes32"),
        ("reason_code", "uint16"),
        ("note_hash", "bytes32"),
    )
    record_id: bytes = bytes(32)
    reason_code: int = FlagReason.OTHER
    note_hash: bytes = bytes(32)


@dataclass(frozen=True)
class DeliveryBatch(Record):
    KIND: ClassVar[Kind] = Kind.DELIVERY_BATCH
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("commitment_ids", "bytes32[]"),
        ("quantities", "uint128[]"),
        ("line_count", "uint32"),
        ("batch_root", "bytes32"),
        ("evidence_hash", "bytes32"),
    )
    commitment_ids: tuple[bytes, ...] = field(default_factory=tuple)
    quantities: tuple[int, ...] = field(default_factory=tuple)
    line_count: int = 0
    batch_root: bytes = bytes(32)
    evidence_hash: bytes = bytes(32)
