"""Indexing of the pairing program's records (docs/programs.md): a Pairing (kind 7)
becomes a `pairings` row, a PairingAcceptance (kind 8) a `pairing_acceptances` row, and a
CommitmentSource (kind 11) that names a pairing a `pairing_commitments` row (`ROWS`).
`LogApplier._project` writes them, in chain order, in the indexer's transaction; a rebuild
from the chain goes through the same function and so writes the same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.core.records import Kind
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow

if TYPE_CHECKING:
    from ledger.indexer.apply import ProgramRows

__all__ = ["KINDS", "ROWS"]

#: Each pairing-program record's row (`ledger.indexer.apply.ProgramRows`): its table, the
#: column its signer goes in, and for a CommitmentSource the field that must name a pairing
#: for the source to cite one.
ROWS: ProgramRows = {
    Kind.PAIRING: (PairingRow, "org", None),
    Kind.PAIRING_ACCEPTANCE: (PairingAcceptanceRow, "signer", None),
    Kind.COMMITMENT_SOURCE: (PairingCommitmentRow, "org", "pairing_id"),
}

#: The kinds this module indexes (kind 11 only for its pairing part).
KINDS = frozenset(ROWS)
