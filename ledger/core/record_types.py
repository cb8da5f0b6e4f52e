"""Which record kinds there are: the class of each kind number and slug, the contract function
that submits each, and reading a signed record's bytes or JSON into the class of its kind.

The kinds are declared in `ledger.core.aid_kinds` (1-6) and `ledger.core.program_kinds`
(7-15); their bytes and the signed-record envelope are made in `ledger.core.records`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.core import aid_kinds, program_kinds
from ledger.core.eip712 import Domain
from ledger.core.errors import RecordError
from ledger.core.records import Kind, Record, SignedRecord

__all__ = [
    "BY_SLUG",
    "RECORD_TYPES",
    "SUBMIT_FUNCTION",
    "TYPED_SUBMIT",
    "record_type",
    "signed_from_bytes",
    "signed_from_json",
]

RECORD_TYPES: dict[Kind, type[Record]] = {
    cls.KIND: cls
    for cls in (
        aid_kinds.ProjectAnchor,
        aid_kinds.Commitment,
        aid_kinds.Delivery,
        aid_kinds.Receipt,
        aid_kinds.Flag,
        aid_kinds.DeliveryBatch,
        program_kinds.Pairing,
        program_kinds.PairingAcceptance,
        program_kinds.Fund,
        program_kinds.FundContribution,
        program_kinds.CommitmentSource,
        program_kinds.FollowUpRound,
        program_kinds.FollowUp,
        program_kinds.Grievance,
        program_kinds.GrievanceAnswer,
    )
}
BY_SLUG: dict[str, type[Record]] = {k.slug: cls for k, cls in RECORD_TYPES.items()}
#: The kinds with a typed submit function of their own (their structs have dynamic members);
#: every other kind goes through `submitRecord(kind, abi.encode(struct), signature)`.
TYPED_SUBMIT: dict[Kind, str] = {
    Kind.PROJECT_ANCHOR: "submitProjectAnchor",
    Kind.DELIVERY_BATCH: "submitDeliveryBatch",
    Kind.FUND: "submitFund",
}
#: The contract function that submits each kind.
SUBMIT_FUNCTION: dict[Kind, str] = {k: TYPED_SUBMIT.get(k, "submitRecord") for k in Kind}


def record_type(kind: int | str) -> type[Record]:
    """The record class for a kind number or slug (e.g. "commitment")."""
    try:
        if isinstance(kind, str):
            return BY_SLUG[kind]
        return RECORD_TYPES[Kind(kind)]
    except (KeyError, ValueError):
        raise RecordError(
            f"unknown record kind {kind!r}; use one of: {', '.join(BY_SLUG)}", code="unknown_kind"
        ) from None


def signed_from_bytes(data: bytes) -> SignedRecord:
    """Parses canonical record bytes (format version 1) into the record of their kind."""
    return SignedRecord.from_bytes(data, record_type)


def signed_from_json(data: Mapping[str, Any], domain: Domain) -> SignedRecord:
    """Parses {"kind", "record", "signature"[, "signer"]} and checks the signature."""
    return SignedRecord.from_json(data, domain, record_type)
