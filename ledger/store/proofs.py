"""Proofs from the read model: inclusion and consistency proofs and "bangfu-proof/1" bundles.

A process-wide `MerkleTree` of leaf hashes per database is extended from `log_entries` by
leaf index as the indexer appends, and rebuilt if the log went back (a reorg), so a proof at
a million leaves costs O(log n) hashes, not a scan.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.errors import NotFoundError, ProofError
from ledger.core.fields import parse_bytes32
from ledger.core.hexes import hex0x
from ledger.core.merkle import MerkleTree
from ledger.core.record_types import signed_from_bytes
from ledger.store.db import Database
from ledger.store.models import IndexerCheckpoint, LogEntry
from ledger.tools.proofcheck import FORMAT

__all__ = ["LogProofs", "proofs_for"]


@dataclass
class _Cache:
    tree: MerkleTree
    lock: threading.Lock


_CACHES: dict[str, _Cache] = {}
_CACHES_LOCK = threading.Lock()


class LogProofs:
    """Proofs over the log as the read model holds it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with _CACHES_LOCK:
            cache = _CACHES.get(db.url)
            if cache is None:
                cache = _CACHES[db.url] = _Cache(MerkleTree(), threading.Lock())
        self._cache = cache

    # ---- the cached tree -----------------------------------------------------------
    def _sync(self, session: Session) -> tuple[MerkleTree, int]:
        """The cached tree brought up to the indexed log; returns it and the indexed size."""
        cache = self._cache
        size = int(session.scalar(select(func.count()).select_from(LogEntry)) or 0)
        with cache.lock:
            tree = cache.tree
            if tree.size:
                last = session.scalar(
                    select(LogEntry.leaf_hash).where(LogEntry.leaf_index == tree.size - 1)
                )
                if (
                    tree.size > size
                    or last is None
                    or bytes.fromhex(last[2:]) != tree.leaf(tree.size - 1)
                ):
                    tree = cache.tree = MerkleTree()  # the log went back: rebuild
            while tree.size < size:
                rows = session.execute(
                    select(LogEntry.leaf_index, LogEntry.leaf_hash)
                    .where(LogEntry.leaf_index >= tree.size)
                    .order_by(LogEntry.leaf_index)
                    .limit(50_000)
                ).all()
                if not rows:
                    break
                for index, h in rows:
                    if index != tree.size:
                        raise ProofError(
                            f"the read model misses leaf {tree.size}; wait for the indexer",
                            code="log_incomplete",
                        )
                    tree.append(bytes.fromhex(h[2:]))
            return tree, min(size, tree.size)

    def _size(self, requested: int | None, current: int) -> int:
        if requested is None:
            return current
        if requested < 0 or requested > current:
            raise ProofError(
                f"size {requested} is outside the indexed log (0..{current}); ask for a size "
                "at most the current one",
                code="bad_size",
            )
        return requested

    # ---- answers ------------------------------------------------------------------------
    def root(self) -> dict[str, Any]:
        with self.db.read() as session:
            tree, size = self._sync(session)
            cp = session.get(IndexerCheckpoint, "main")
            return {
                "size": size,
                "root": hex0x(tree.root(size)),
                "block": cp.last_block if cp else None,
            }

    def _entry(self, session: Session, record: str | int) -> LogEntry:
        if isinstance(record, int):
            entry = session.get(LogEntry, record)
        else:
            rid = hex0x(parse_bytes32(record, "record_id"))
            entry = session.scalar(select(LogEntry).where(LogEntry.record_id == rid))
        if entry is None:
            raise NotFoundError(
                f"record {record} is not in the indexed log (yet); check its status or wait "
                "for the indexer",
                code="record_not_found",
            )
        return entry

    def inclusion(self, record: str | int, size: int | None = None) -> dict[str, Any]:
        """A record's bytes, leaf hash and index, and its inclusion proof at `size`."""
        with self.db.read() as session:
            tree, current = self._sync(session)
            entry = self._entry(session, record)
            n = self._size(size, current)
            if entry.leaf_index >= n:
                raise ProofError(
                    f"leaf {entry.leaf_index} is not in the tree of size {n}; ask for a larger "
                    "size",
                    code="bad_size",
                )
            return {
                "record_id": entry.record_id,
                "kind": entry.kind,
                "signer": entry.signer,
                "index": entry.leaf_index,
                "bytes": hex0x(entry.record_bytes),
                "leaf_hash": entry.leaf_hash,
                "block_number": entry.block_number,
                "tx_hash": entry.tx_hash,
                "size": n,
                "root": hex0x(tree.root(n)),
                "inclusion": [hex0x(h) for h in tree.inclusion_proof(entry.leaf_index, n)],
            }

    def consistency(self, old: int, new: int | None = None) -> dict[str, Any]:
        with self.db.read() as session:
            tree, current = self._sync(session)
            n = self._size(new, current)
            if old < 0 or old > n:
                raise ProofError(
                    f"old size {old} must be between 0 and the new size {n}", code="bad_size"
                )
            return consistency_section(tree, old, n)

    def _block_at_size(
        self, session: Session, size: int, cp: IndexerCheckpoint | None
    ) -> int | None:
        """The block at whose end the log held exactly `size` leaves, where logRoot() read from
        the chain equals the root of that size: the indexed head for the indexed size, else
        the block of leaf size-1. None when leaf `size` was appended in that same block (no
        block state has that size; a verifier reads the latest root and needs consistency)."""
        if cp is not None and size == cp.log_size:
            return int(cp.last_block)
        if size == 0:
            return None
        rows: dict[int, int] = {
            index: number
            for index, number in session.execute(
                select(LogEntry.leaf_index, LogEntry.block_number).where(
                    LogEntry.leaf_index.in_((size - 1, size))
                )
            )
        }
        last, after = rows.get(size - 1), rows.get(size)
        if last is None or (after is not None and after <= last):
            return None
        return int(last)

    def bundle(
        self, record: str | int, size: int | None = None, consistency_from: int | None = None
    ) -> dict[str, Any]:
        """A "bangfu-proof/1" bundle (see ledger/tools/proofcheck.py), optionally with a consistency
        proof from an older (e.g. witnessed) size up to the bundle's log size."""
        inc = self.inclusion(record, size)
        with self.db.read() as session:
            cp = session.get(IndexerCheckpoint, "main")
            entry = self._entry(session, record)
            chain_id = entry.chain_id
            contract = (
                cp.contract
                if cp
                else signed_from_bytes(entry.record_bytes).domain.verifying_contract
            )
            block = self._block_at_size(session, inc["size"], cp)
        cons = None
        if consistency_from is not None:
            c = self.consistency(consistency_from, inc["size"])
            cons = c
        return {
            "format": FORMAT,
            "record": {"bytes": inc["bytes"], "leaf_hash": inc["leaf_hash"], "index": inc["index"]},
            "log": {"size": inc["size"], "root": inc["root"], "inclusion": inc["inclusion"]},
            "batch": None,
            "consistency": cons,
            "chain": {"chain_id": chain_id, "contract": contract, "block": block},
        }


def proofs_for(db: Database) -> LogProofs:
    return LogProofs(db)


def consistency_section(tree: MerkleTree, old: int, new: int) -> dict[str, Any]:
    """A proof bundle's `consistency`: the log's first `old` leaves extended to `new` (RFC 9162
    §2.1.4), as the API answers and `bangfu verify` reads it."""
    return {
        "old_size": old,
        "old_root": hex0x(tree.root(old)),
        "new_size": new,
        "new_root": hex0x(tree.root(new)),
        "proof": [hex0x(h) for h in tree.consistency_proof(old, new)],
    }
