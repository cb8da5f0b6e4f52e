"""The program record kinds (kinds 7-15, docs/programs.md): pairings (结对帮扶) and their
acceptance, special funds and their contributions, a commitment's source, follow-up rounds and
their results, grievances and their answers.

Each is a `Record` (`ledger.core.records` makes their bytes); `ledger.core.record_types` maps
a kind number or slug to its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ledger.core.lines import derive_id, scoped_id
from ledger.core.records import Kind, Record

__all__ = [
    "CommitmentSource",
    "FollowUp",
    "FollowUpRound",
    "Fund",
    "FundContribution",
    "Grievance",
    "GrievanceAnswer",
    "Pairing",
    "PairingAcceptance",
]


@dataclass(frozen=True)
class Pairing(Record):
    """An organization's proposal to pair with a county (结对帮扶); see docs/programs.md."""

    KIND: ClassVar[Kind] = Kind.PAIRING
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("county", "uint32"),
        ("start_date", "uint32"),
        ("end_date", "uint32"),
        ("categories", "uint16"),
        ("funds_target", "uint128"),
        ("projects_target", "uint32"),
        ("hours_target", "uint32"),
        ("designated", "bool"),
        ("terms_hash", "bytes32"),
    )
    county: int = 0
    #: YYYYMMDD in Beijing time; start_date <= end_date.
    start_date: int = 0
    end_date: int = 0
    #: bit (c-1) set for each focus category c in 1..10.
    categories: int = 0
    #: fen.
    funds_target: int = 0
    projects_target: int = 0
    hours_target: int = 0
    #: designated assistance (定点帮扶).
    designated: bool = False
    terms_hash: bytes = bytes(32)


@dataclass(frozen=True)
class PairingAcceptance(Record):
    KIND: ClassVar[Kind] = Kind.PAIRING_ACCEPTANCE
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("pairing_id", "bytes32"),
        ("county", "uint32"),
    )
    pairing_id: bytes = bytes(32)
    county: int = 0


@dataclass(frozen=True)
class Fund(Record):
    """A special fund (专项基金) opened inside an organization. The sponsor's name is never
    in it: `sponsor_hash` is SHA-256(salt ‖ name), kept off chain with the name."""

    KIND: ClassVar[Kind] = Kind.FUND
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("name", "string"),
        ("sponsor_kind", "uint8"),
        ("sponsor_hash", "bytes32"),
        ("sponsor_public", "bool"),
        ("pledged", "uint128"),
        ("purpose_hash", "bytes32"),
    )
    name: str = ""
    sponsor_kind: int = 1
    sponsor_hash: bytes = bytes(32)
    sponsor_public: bool = False
    #: fen.
    pledged: int = 0
    purpose_hash: bytes = bytes(32)


@dataclass(frozen=True)
class FundContribution(Record):
    KIND: ClassVar[Kind] = Kind.FUND_CONTRIBUTION
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("fund_id", "bytes32"),
        ("amount", "uint128"),
        ("received_date", "uint32"),
        ("evidence_hash", "bytes32"),
    )
    fund_id: bytes = bytes(32)
    #: fen.
    amount: int = 0
    received_date: int = 0
    evidence_hash: bytes = bytes(32)


@dataclass(frozen=True)
class CommitmentSource(Record):
    """The pairing a commitment serves and/or the fund it draws `fund_amount` fen from."""

    KIND: ClassVar[Kind] = Kind.COMMITMENT_SOURCE
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("commitment_id", "bytes32"),
        ("pairing_id", "bytes32"),
        ("fund_id", "bytes32"),
        ("fund_amount", "uint128"),
    )
    commitment_id: bytes = bytes(32)
    pairing_id: bytes = bytes(32)
    fund_id: bytes = bytes(32)
    fund_amount: int = 0

    @staticmethod
    def source_id(commitment_id: bytes) -> bytes:
        """One source per commitment, with an id derived from it and scoped to its signer."""
        return scoped_id(commitment_id[:20], derive_id("CommitmentSource", commitment_id))


@dataclass(frozen=True)
class FollowUpRound(Record):
    KIND: ClassVar[Kind] = Kind.FOLLOW_UP_ROUND
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("batch_id", "bytes32"),
        ("county", "uint32"),
        ("seed_block", "uint64"),
        ("rate_bps", "uint16"),
    )
    batch_id: bytes = bytes(32)
    county: int = 0
    seed_block: int = 0
    rate_bps: int = 0


@dataclass(frozen=True)
class FollowUp(Record):
    KIND: ClassVar[Kind] = Kind.FOLLOW_UP
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("round_id", "bytes32"),
        ("line_index", "uint32"),
        ("line_hash", "bytes32"),
        ("outcome", "uint8"),
        ("quantity", "uint128"),
        ("note_hash", "bytes32"),
    )
    round_id: bytes = bytes(32)
    line_index: int = 0
    line_hash: bytes = bytes(32)
    outcome: int = 1
    #: what arrived, for outcome 2 (received in part) only.
    quantity: int = 0
    note_hash: bytes = bytes(32)


@dataclass(frozen=True)
class Grievance(Record):
    KIND: ClassVar[Kind] = Kind.GRIEVANCE
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("project_id", "bytes32"),
        ("record_id", "bytes32"),
        ("grievance_hash", "bytes32"),
        ("filed_at", "uint64"),
    )
    project_id: bytes = bytes(32)
    record_id: bytes = bytes(32)
    grievance_hash: bytes = bytes(32)
    filed_at: int = 0


@dataclass(frozen=True)
class GrievanceAnswer(Record):
    KIND: ClassVar[Kind] = Kind.GRIEVANCE_ANSWER
    SCHEMA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "bytes32"),
        ("grievance_id", "bytes32"),
        ("outcome", "uint8"),
        ("answer_hash", "bytes32"),
    )
    grievance_id: bytes = bytes(32)
    outcome: int = 1
    answer_hash: bytes = bytes(32)
