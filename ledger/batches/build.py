"""The batch record: the signed DeliveryBatch made from a batch's lines (their RFC 9162 root
and per-commitment totals) and its derived id.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.core.errors import BatchError
from ledger.core.lines import DeliveryLine, batch_totals, derive_id, scoped_id
from ledger.core.merkle import Frontier
from ledger.core.records import DeliveryBatch

__all__ = ["batch_id_for", "build_batch"]


def batch_id_for(signer: str, batch_root: bytes, evidence_hash: bytes) -> bytes:
    """The batch id is derived, so signing the same lines again makes the same record and a
    rerun of an interrupted upload resumes it instead of starting a second batch."""
    digest = derive_id("DeliveryBatch", bytes.fromhex(signer[2:]), batch_root, evidence_hash)
    return scoped_id(signer, digest)  # the contract wants ids that start with their signer


def build_batch(
    lines: Sequence[DeliveryLine], signer: str, evidence_hash: bytes = bytes(32)
) -> DeliveryBatch:
    """The DeliveryBatch record of `lines` (root over their leaf hashes, totals)."""
    if not lines:
        raise BatchError("a batch needs at least one line", code="empty_batch")
    root = Frontier(line.leaf_hash() for line in lines).root()
    cids, qtys = batch_totals(lines)
    return DeliveryBatch(
        id=batch_id_for(signer, root, evidence_hash),
        commitment_ids=cids,
        quantities=qtys,
        line_count=len(lines),
        batch_root=root,
        evidence_hash=evidence_hash,
    )
