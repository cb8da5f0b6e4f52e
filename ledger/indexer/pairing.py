"""Indexing of the pairing program's records (docs/programs.md): a Pairing (kind 7)
becomes a `pairings` row, a PairingAcceptance (kind 8) a `pairing_acceptances` row, and a
CommitmentSource (kind 11) that names a pairing a `pairing_commitments` row. Called from
`LogApplier._project`, in chain order, in the indexer's transaction; a rebuild from the
chain goes through the same function and so writes the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.core.records import Kind, SignedRecord
from ledger.indexer.rows import record_row
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow

__all__ = ["KINDS", "project"]

#: The kinds this module indexes (kind 11 only for its pairing part).
KINDS = frozenset({Kind.PAIRING, Kind.PAIRING_ACCEPTANCE, Kind.COMMITMENT_SOURCE})

_ZERO = bytes(32)


def project(session: Session, signed: SignedRecord, rid: str, loc: dict[str, Any]) -> None:
    """Writes the row of one pairing-program record; `loc` is its chain location."""
    r: Any = signed.record
    if signed.kind == Kind.PAIRING:
        session.add(record_row(PairingRow, r, record_id=rid, org=signed.signer, **loc))
    elif signed.kind == Kind.PAIRING_ACCEPTANCE:
        session.add(record_row(PairingAcceptanceRow, r, record_id=rid, signer=signed.signer, **loc))
    elif signed.kind == Kind.COMMITMENT_SOURCE and bytes(r.pairing_id) != _ZERO:
        session.add(record_row(PairingCommitmentRow, r, record_id=rid, org=signed.signer, **loc))
