"""Forks and rewritten history: where the chain left the blocks the indexer followed, the
read model rolled back to that point, and whether the chain's log still holds every
checkpoint the operator signed (if not, history was rewritten: an alarm, not a re-index)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.core.events import RECORD_APPENDED_TOPIC, decode_record_appended
from ledger.core.hexes import hex0x
from ledger.core.merkle import MerkleTree
from ledger.store import aggregates, alarms
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    FlagRow,
    IndexedBlock,
    IndexerCheckpoint,
    LogEntry,
    ProjectAnchorRow,
    ReceiptRow,
    RoleEvent,
)

__all__ = [
    "SignedCheckpoint",
    "appended_leaves",
    "fork_point",
    "recompute_commitment",
    "rewritten_history",
    "rollback",
    "signed_beyond",
    "tree_from",
]

#: (id, size, root hex, block) of a checkpoint the operator signed.
SignedCheckpoint = tuple[int, int, str, int]


def fork_point(
    known: Sequence[tuple[int, str]], head: int, block_hash: Callable[[int], str], oldest: int
) -> int:
    """The newest of the `known` (number, hash) blocks, newest first, that is still the
    chain's block at its height; `oldest` (the block before the deployment) if none is."""
    for number, known_hash in known:
        if number > head:
            continue
        try:
            if block_hash(number) == known_hash:
                return number
        except Exception:  # noqa: BLE001
            continue
    # Older than anything we kept: start again from the deployment.
    return oldest


def signed_beyond(session: Session, fork: int) -> tuple[int, list[SignedCheckpoint]]:
    """The log's size at block `fork`, and the signed checkpoints larger than that size:
    the ones a rollback to `fork` would drop leaves of."""
    fork_size = int(
        session.scalar(
            select(func.count()).select_from(LogEntry).where(LogEntry.block_number <= fork)
        )
        or 0
    )
    signed = [
        (int(c.id), int(c.size), c.root, int(c.block_number))
        for c in alarms.binding_checkpoints(session)
        if c.size > fork_size
    ]
    return fork_size, signed


def appended_leaves(
    get_logs: Callable[[int, int], list[dict[str, Any]]],
    start: int,
    head: int,
    block_range: int,
    first: int,
    end: int,
) -> dict[int, bytes]:
    """Leaf index → leaf hash of the chain's RecordAppended events from block `start` on,
    for the leaves `first` ≤ index < `end`, read `block_range` blocks at a time."""
    leaves: dict[int, bytes] = {}
    while start <= head and len(leaves) < end - first:
        stop = min(head, start + block_range - 1)
        for entry in get_logs(start, stop):
            if entry["topics"] and bytes(entry["topics"][0]) == RECORD_APPENDED_TOPIC:
                event = decode_record_appended(entry["topics"], entry["data"])
                if first <= event.index < end:
                    leaves[event.index] = event.leaf_hash
        start = stop + 1
    return leaves


def rewritten_history(
    tree: MerkleTree,
    fork: int,
    fork_size: int,
    signed: Sequence[SignedCheckpoint],
    leaves: dict[int, bytes],
    chain_state: tuple[int, bytes],
) -> LedgerError | None:
    """The chain's log (the indexed leaves below `fork_size`, then the chain's `leaves`)
    compared with each signed checkpoint: the error for the first it contradicts, or None."""
    want = max(size for _, size, _, _ in signed)
    chain_size, chain_root = chain_state
    chain_tree = MerkleTree(tree.leaf(i) for i in range(fork_size))
    for i in range(fork_size, want):
        if i not in leaves:
            break
        chain_tree.append(leaves[i])
    for cid, size, root, block in signed:
        chain_root_at = hex0x(chain_tree.root(size)) if size <= chain_tree.size else None
        if chain_root_at == root:
            continue
        return LedgerError(
            f"历史被改写：链上日志与已签名检查点 #{cid} 不一致 / history rewritten: the "
            f"chain's log (size {chain_size}, root {hex0x(chain_root)}) is not consistent "
            f"with checkpoint #{cid} this operator signed (size {size}, root {root}); the "
            "indexer keeps the signed history. Run `bangfu recover` to see what was lost",
            code=alarms.HISTORY_REWRITTEN,
            checkpoint_id=cid,
            checkpoint_size=size,
            checkpoint_root=root,
            checkpoint_block=block,
            chain_size=chain_size,
            chain_root=hex0x(chain_root),
            chain_root_at_checkpoint_size=chain_root_at,
            fork_block=fork,
            fork_size=fork_size,
        )
    return None


def rollback(session: Session, cursor: IndexerCheckpoint, fork: int, fork_hash: str) -> MerkleTree:
    """Deletes every row derived from blocks after `fork`, recomputes the totals they moved
    (each commitment's running amounts, and the maintained totals of every group they
    touch), moves the indexer's cursor back to `fork`, and returns the log's tree as it is
    now."""
    gone = select(LogEntry.record_id).where(LogEntry.block_number > fork)
    group = (CommitmentRow.county, CommitmentRow.category, CommitmentRow.org)
    touched = set(
        session.scalars(select(DeliveryRow.commitment_id).where(DeliveryRow.record_id.in_(gone)))
    )
    touched |= set(
        session.scalars(select(ReceiptRow.commitment_id).where(ReceiptRow.record_id.in_(gone)))
    )
    receipted = set(
        session.scalars(select(ReceiptRow.delivery_id).where(ReceiptRow.record_id.in_(gone)))
    )
    groups = {(int(a), int(b), c) for a, b, c in session.execute(
        select(*group).where(CommitmentRow.record_id.in_(gone)))}  # fmt: skip
    ids = sorted(touched)
    for i in range(0, len(ids), 500):
        stmt = select(*group).where(CommitmentRow.record_id.in_(ids[i : i + 500]))
        groups |= {(int(a), int(b), c) for a, b, c in session.execute(stmt)}
    for model in (ProjectAnchorRow, CommitmentRow, DeliveryRow, ReceiptRow, FlagRow):
        session.execute(delete(model).where(model.record_id.in_(gone)))
    session.execute(delete(LogEntry).where(LogEntry.block_number > fork))
    session.execute(delete(RoleEvent).where(RoleEvent.block_number > fork))
    session.execute(delete(IndexedBlock).where(IndexedBlock.number > fork))
    for delivery_id in receipted:
        for row in session.scalars(select(DeliveryRow).where(DeliveryRow.record_id == delivery_id)):
            row.receipted = False
    for cid in touched:
        recompute_commitment(session, cid)
    aggregates.recompute(session, groups)
    cursor.last_block = fork
    cursor.last_block_hash = fork_hash
    size = session.scalar(select(func.count()).select_from(LogEntry)) or 0
    session.flush()
    tree = tree_from(session)
    cursor.log_size = size
    cursor.log_root = hex0x(tree.root())
    return tree


def tree_from(session: Session) -> MerkleTree:
    """The log's Merkle tree from the indexed log entries."""
    hashes = session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.leaf_index))
    return MerkleTree(bytes.fromhex(h[2:]) for h in hashes)


def recompute_commitment(session: Session, cid: str) -> None:
    """A commitment's delivered and confirmed totals, summed again from its rows."""
    row = session.get(CommitmentRow, cid)
    if row is None:
        return
    row.delivered = int(
        session.scalar(
            select(func.coalesce(func.sum(DeliveryRow.quantity), 0)).where(
                DeliveryRow.commitment_id == cid
            )
        )
        or 0
    )
    row.confirmed = int(
        session.scalar(
            select(func.coalesce(func.sum(ReceiptRow.confirmed_quantity), 0)).where(
                ReceiptRow.commitment_id == cid
            )
        )
        or 0
    )
