"""The batch record: the signed DeliveryBatch made from a batch's lines (their RFC 9162 root
and per-commitment totals) and its derived id.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.batches.tree import lines_root
from ledger.core.aid_kinds import DeliveryBatch
from ledger.core.errors import BatchError
from ledger.core.lines import DeliveryLine, batch_totals, derive_id, scoped_id

__all__ = ["batch_id_for", "build_batch"]


def batch_id_for(signer: str, batch_root: bytes, evidence_hash: bytes) -> bytes:
    """The batch id is derived, so signing the same lines again makes the same record and a
    rerun of an interrupted upload resumes it instead of starting a second batch."""
    digest = derive_id("DeliveryBatch", bytes.fromhex(signer[2:]), batch_root, evidence_hash)
    return scoped_id(signer, digest)  # the contract wants ids that start with their signer


def build_batch(
    lines: Sequence[DeliveryLine],
    signer: str,
    evidence_hash: bytes = bytes(32),
    line_bytes: Sequence[bytes] | None = None,
) -> DeliveryBatch:
    """The DeliveryBatch record of `lines` (root over their leaf hashes, totals).

    `line_bytes`, if given, are the lines' bytes already made (the ones to upload), so they
    are not made a second time for the root; they must be `line.line_bytes()` of `lines`."""
    if not lines:
        raise BatchError("a batch needs at least one line", code="empty_batch")
    if line_bytes is not None and len(line_bytes) != len(lines):
        raise BatchError("one line's bytes per line", code="bad_line_count")
    root = lines_root(line_bytes if line_bytes is not None else (x.line_bytes() for x in lines))
    cids, qtys = batch_totals(lines)
    return DeliveryBatch(
        id=batch_id_for(signer, root, evidence_hash),
        commitment_ids=cids,
        quantities=qtys,
        line_count=len(lines),
        batch_root=root,
        evidence_hash=evidence_hash,
    )
