"""Reconciling the outbox with a chain that went back: every confirmed record whose block
is no longer the chain's block at that height (a reorg, a chain restarted from an older
state, a rewritten history), or that the contract no longer knows, is queued again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from web3 import Web3

from ledger.core.record_types import signed_from_bytes
from ledger.evm.contract import LedgerContract
from ledger.relayer.chain import RECORD_KIND, OnChain, block_hashes, locate
from ledger.relayer.nonces import NonceManager
from ledger.relayer.outbox_rows import requeue_lost
from ledger.store.db import Database
from ledger.store.models import OutboxRecord, SentTransaction
from ledger.store.planner import not_by_index

#: A confirmed outbox row; the status index is not the way to it (most rows are confirmed):
#: the block index is (ledger/store/planner.py).
CONFIRMED_ROW = not_by_index(OutboxRecord.status) == "confirmed"

log = logging.getLogger("bangfu.relayer")


@dataclass
class Reconciler:
    """The relayer's check of its confirmed records against the chain, one pass at a time.

    It keeps a mark (a block number and its hash) below which every confirmed record was
    found in place, so a later pass checks only what lies above while that block stands.
    `window` is how far below the head that mark is set.
    """

    db: Database
    ledger: LedgerContract
    senders: Sequence[LocalAccount]
    nonces: NonceManager
    window: int = 64
    # Every confirmed record at or below this block was checked against the chain while
    # this block had this hash: while it still has, they are all still there. None (at
    # start) means: check every confirmed record once.
    _anchor: tuple[int, str] | None = field(default=None, init=False)
    # The first pass also asks the contract about every confirmed record id (recordKind,
    # in multicalls), so a chain that lost records without changing block hashes (a
    # hand-repaired state file) is caught too.
    _ids_checked: bool = field(default=False, init=False)
    #: A pass finds nothing new while the chain's newest block is the one the last pass
    #: saw and no record was confirmed since, so such passes are skipped (a pass costs
    #: several JSON-RPC calls, and the worker passes many times a block under load); but
    #: one runs at least every `recheck` seconds whatever the chain says.
    recheck: float = 5.0
    _seen: tuple[str, float] | None = field(default=None, init=False)
    _dirty: bool = field(default=True, init=False)

    @property
    def w3(self) -> Web3:
        return self.ledger.w3

    def confirmed_at(self, block_number: int) -> None:
        """A record was just confirmed at `block_number`: below the mark, check all again."""
        self._dirty = True
        if self._anchor is not None and block_number <= self._anchor[0]:
            self._anchor = None

    def record_kinds(self, ids: Sequence[bytes]) -> list[int]:
        """`recordKind(id)` of each id, 500 to a multicall eth_call."""
        out: list[int] = []
        for i in range(0, len(ids), 500):
            calls = [RECORD_KIND + bytes(rid).rjust(32, b"\0") for rid in ids[i : i + 500]]
            raw = self.w3.eth.call(
                {"to": self.ledger.contract.address, "data": self.ledger.multicall_data(calls)}
            )
            (results,) = abi_decode(["bytes[]"], bytes(raw))
            out.extend(int.from_bytes(r, "big") for r in results)
        return out

    def _absent(self, gone: set[int]) -> list[int]:
        """Outbox ids of confirmed records (outside the blocks already known gone) that the
        contract does not know."""
        with self.db.read() as session:
            rows = [
                (oid, rid)
                for oid, rid, number in session.execute(
                    select(OutboxRecord.id, OutboxRecord.record_id, OutboxRecord.block_number)
                    .where(OutboxRecord.status == "confirmed")
                    .order_by(OutboxRecord.id)
                ).all()
                if number not in gone
            ]
        if not rows:
            return []
        kinds = self.record_kinds([bytes.fromhex(rid[2:]) for _, rid in rows])
        return [oid for (oid, _), kind in zip(rows, kinds, strict=True) if kind == 0]

    def reconcile(self) -> int:
        """Compares every confirmed record with the chain and queues again each one whose
        block is no longer the chain's block at that height (a reorg, a chain restarted from
        an older state, a rewritten history). The first pass checks them all; later passes
        check the records above a block whose hash is unchanged since it was checked. Returns
        the number of records queued again."""
        latest: Any = self.w3.eth.get_block("latest")
        newest, now = bytes(latest["hash"]).hex(), time.monotonic()
        seen = self._seen
        if not self._dirty and seen and seen[0] == newest and now - seen[1] < self.recheck:
            return 0
        work = self._reconcile(int(latest["number"]))
        self._dirty, self._seen = False, (newest, now)
        return work

    def _reconcile(self, head: int) -> int:
        anchor = self._anchor
        if anchor is not None:
            now = block_hashes(self.w3, [anchor[0]]).get(anchor[0])
            if now != anchor[1]:
                anchor = None
        low = anchor[0] if anchor is not None else -1
        with self.db.read() as session:
            blocks = [
                (int(n), h)
                for n, h in session.execute(
                    select(OutboxRecord.block_number, OutboxRecord.block_hash)
                    .where(
                        CONFIRMED_ROW,
                        OutboxRecord.block_number.is_not(None),
                        OutboxRecord.block_number > low,
                    )
                    .distinct()
                ).all()
            ]
            unplaced = [
                (r.id, r.record_id, r.record_bytes)
                for r in session.scalars(
                    select(OutboxRecord).where(CONFIRMED_ROW, OutboxRecord.block_number.is_(None))
                )
            ]
        canonical = block_hashes(self.w3, [n for n, _ in blocks])
        gone = [(n, h) for n, h in blocks if canonical.get(n) != h]
        lost_ids: list[int] = []
        if not self._ids_checked:
            lost_ids += self._absent({n for n, _ in gone})
            self._ids_checked = True
        placed: dict[int, OnChain] = {}
        for oid, _rid, data in unplaced:
            signed = signed_from_bytes(data)
            where = locate(
                self.w3, self.ledger.contract.address, self.ledger.deployment.block, signed.id
            )
            if where is None or where.leaf_hash != signed.leaf_hash():
                lost_ids.append(oid)
            else:
                placed[oid] = where
        mark = head - self.window
        if not gone and not lost_ids and not placed:
            if mark > 0 and (anchor is None or mark > anchor[0]):
                h = block_hashes(self.w3, [mark]).get(mark)
                self._anchor = (mark, h) if h is not None else anchor
            else:
                self._anchor = anchor
            return 0
        chain_nonces = (
            {s.address: self.nonces.chain_nonce(s.address) for s in self.senders} if gone else {}
        )
        work = 0
        with self.db.write() as session:
            for number, block_hash in gone:
                why = (
                    f"区块 {number} 已不在链上，重新发送 / block {number} ({block_hash}) is no "
                    "longer on the chain: sending the record again"
                )
                for row in session.scalars(
                    select(OutboxRecord).where(
                        CONFIRMED_ROW,
                        OutboxRecord.block_number == number,
                        OutboxRecord.block_hash == block_hash,
                    )
                ):
                    requeue_lost(session, row, why)
                    work += 1
            for oid in lost_ids:
                lost = session.get(OutboxRecord, oid)
                if lost is not None and lost.status == "confirmed":
                    requeue_lost(
                        session,
                        lost,
                        "链上没有该记录 / the record is not on the chain: sending it again",
                    )
                    work += 1
            for oid, where in placed.items():
                found = session.get(OutboxRecord, oid)
                if found is not None and found.status == "confirmed" and found.block_number is None:
                    found.block_number, found.block_hash = where.block_number, where.block_hash
                    found.leaf_index = where.index
            if gone:
                for tx in session.scalars(
                    select(SentTransaction).where(SentTransaction.status == "pending")
                ):
                    tx.status = "dropped"
                    for row in session.scalars(
                        select(OutboxRecord).where(OutboxRecord.tx_hash == tx.tx_hash)
                    ):
                        row.status, row.tx_hash = "queued", None
                for sender in self.senders:
                    with self.nonces.lock(sender.address):
                        self.nonces.resync(session, sender.address, chain_nonces[sender.address])
        if gone:
            log.warning(
                "%d confirmed records are no longer on chain (blocks %s..%s): queued again",
                work,
                min(n for n, _ in gone),
                max(n for n, _ in gone),
            )
        self._anchor = None  # check again from the bottom next pass
        return work
