"""Indexing of the pairing program's records (docs/programs.md): a Pairing (kind 7)
becomes a `pairings` row, a PairingAcceptance (kind 8) a `pairing_acceptances` row, and a
CommitmentSource (kind 11) that names a pairing a `pairing_commitments` row. Called from
`LogApplier._project`, in chain order, in the indexer's transaction; a rebuild from the
chain goes through the same function and so writes the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow

__all__ = ["KINDS", "project"]

#: The kinds this module indexes (kind 11 only for its pairing part).
KINDS = frozenset({Kind.PAIRING, Kind.PAIRING_ACCEPTANCE, Kind.COMMITMENT_SOURCE})

_ZERO = bytes(32)


def project(session: Session, signed: SignedRecord, rid: str, loc: dict[str, Any]) -> None:
    """Writes the row of one pairing-program record; `loc` is its chain location."""
    r: Any = signed.record
    if signed.kind == Kind.PAIRING:
        session.add(
            PairingRow(
                record_id=rid,
                org=signed.signer,
                county=int(r.county),
                start_date=int(r.start_date),
                end_date=int(r.end_date),
                categories=int(r.categories),
                funds_target=int(r.funds_target),
                projects_target=int(r.projects_target),
                hours_target=int(r.hours_target),
                designated=bool(r.designated),
                terms_hash=hex0x(r.terms_hash),
                **loc,
            )
        )
    elif signed.kind == Kind.PAIRING_ACCEPTANCE:
        session.add(
            PairingAcceptanceRow(
                record_id=rid,
                pairing_id=hex0x(r.pairing_id),
                county=int(r.county),
                signer=signed.signer,
                **loc,
            )
        )
    elif signed.kind == Kind.COMMITMENT_SOURCE and bytes(r.pairing_id) != _ZERO:
        session.add(
            PairingCommitmentRow(
                record_id=rid,
                commitment_id=hex0x(r.commitment_id),
                pairing_id=hex0x(r.pairing_id),
                org=signed.signer,
                **loc,
            )
        )
