"""Replacing the relay worker's stuck transactions: one pending too long is signed again
with the same nonce and higher fees, and one the node no longer knows is broadcast again,
or else its records are queued again under a fresh nonce."""

from __future__ import annotations

import time
from datetime import UTC

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from web3 import Web3
from web3.exceptions import TransactionNotFound

from ledger.evm.contract import submit_calldata_of
from ledger.relayer.nonces import record_sent
from ledger.relayer.planning import estimate_gas
from ledger.relayer.signing import MulticallSigning
from ledger.relayer.stats import WorkerStats
from ledger.store.db import Database
from ledger.store.models import OutboxRecord, SentTransaction


class StuckReplacing(MulticallSigning):
    """Replaces or re-broadcasts the pending multicalls that do not get mined (a part of
    `RelayWorker`, which sets these attributes)."""

    db: Database
    senders: list[LocalAccount]
    stats: WorkerStats
    stuck_after: float
    known_recheck: float
    _seen_pending: dict[str, float]

    def replace_stuck(self) -> int:
        """Re-signs transactions pending too long with the same nonce and ≥ 12.5% higher fees,
        and requeues those the node no longer knows (a restarted or rolled-back chain)."""
        cutoff = time.time() - self.stuck_after
        with self.db.read() as session:
            pending = [
                (str(h), str(sender), int(nonce), sent_at, int(fee), int(tip))
                for h, sender, nonce, sent_at, fee, tip in session.execute(
                    select(
                        SentTransaction.tx_hash,
                        SentTransaction.sender,
                        SentTransaction.nonce,
                        SentTransaction.sent_at,
                        SentTransaction.max_fee,
                        SentTransaction.priority_fee,
                    ).where(SentTransaction.status == "pending")
                )
            ]
        live = {p[0] for p in pending}
        self._seen_pending = {h: t for h, t in self._seen_pending.items() if h in live}
        if not pending:
            return 0
        work = 0
        drops: list[str] = []
        bumps: list[tuple[str, bytes, str, int, int, int, int, str]] = []
        lost_senders: set[str] = set()
        now = time.monotonic()
        for tx_hash, sender, nonce, sent_at, max_fee_old, tip_old in pending:
            at = sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at
            stuck = at.timestamp() < cutoff
            if not stuck and now - self._seen_pending.get(tx_hash, -1e9) < self.known_recheck:
                continue  # the node had it a moment ago, and it is not stuck yet
            known = self._known(tx_hash)
            if known == "pending":
                self._seen_pending[tx_hash] = now
            if not known:
                raw = self._raw(tx_hash)
                if raw is None:
                    continue
                chain_nonce = int(
                    self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "latest")
                )
                if chain_nonce > nonce:
                    continue  # mined by a replacement or about to be seen by confirm()
                # Signed and durable but never seen by the node (a crash between commit
                # and broadcast, or a node that restarted): send the same bytes again so
                # the nonce sequence stays gap-free. Only if the node still refuses them
                # are the records requeued under a fresh nonce.
                self._broadcast(raw)
                if self._known(tx_hash):
                    work += 1
                    continue
                drops.append(tx_hash)
                lost_senders.add(sender)
                continue
            if stuck and known == "pending":
                bump = self._prepare_bump(tx_hash, sender, nonce, max_fee_old, tip_old)
                if bump is not None:
                    bumps.append(bump)
        if not drops and not bumps:
            return work
        chain_nonces = {s: self.nonces.chain_nonce(s) for s in lost_senders}
        to_broadcast: list[bytes] = []
        with self.db.write() as session:
            for tx_hash in drops:
                tx = session.get(SentTransaction, tx_hash)
                if tx is None or tx.status != "pending":
                    continue
                tx.status = "dropped"
                for row in session.scalars(
                    select(OutboxRecord).where(OutboxRecord.tx_hash == tx_hash)
                ):
                    row.status, row.tx_hash = "queued", None
                    self.stats.requeued += 1
                work += 1
            for old_hash, raw, new_hash, nonce, max_fee, tip, count, sender in bumps:
                tx = session.get(SentTransaction, old_hash)
                if tx is None or tx.status != "pending":
                    continue
                record_sent(session, new_hash, sender, nonce, max_fee, tip, raw, count)
                tx.status = "replaced"
                for row in session.scalars(
                    select(OutboxRecord).where(OutboxRecord.tx_hash == old_hash)
                ):
                    row.tx_hash = new_hash
                to_broadcast.append(raw)
            for sender in lost_senders:
                still = session.scalar(
                    select(func.count())
                    .select_from(SentTransaction)
                    .where(SentTransaction.sender == sender, SentTransaction.status == "pending")
                )
                if not still:
                    with self.nonces.lock(sender):
                        self.nonces.resync(session, sender, chain_nonces[sender])
        # Durable before broadcast: the replacement's row is committed first.
        for raw in to_broadcast:
            self._broadcast(raw)
            self.stats.replaced += 1
            work += 1
        return work

    def _raw(self, tx_hash: str) -> bytes | None:
        """The signed bytes of our pending transaction `tx_hash`, or None if it is no longer
        pending (read only when it must be sent again: a multicall's bytes are large)."""
        with self.db.read() as session:
            tx = session.get(SentTransaction, tx_hash)
            return bytes(tx.raw) if tx is not None and tx.status == "pending" else None

    def _known(self, tx_hash: str) -> str | None:
        """ "mined", "pending" or None when the node does not know the transaction."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        return "mined" if tx.get("blockNumber") is not None else "pending"

    def _prepare_bump(
        self, tx_hash: str, sender_address: str, nonce: int, old_fee: int, old_tip: int
    ) -> tuple[str, bytes, str, int, int, int, int, str] | None:
        """Signs the replacement of a stuck transaction (same nonce, higher fees); the caller
        records it and broadcasts it after its write transaction."""
        sender = next((s for s in self.senders if s.address == sender_address), None)
        if sender is None or self.gas_model == "zero":  # at price 0 there is nothing to outbid
            return None
        with self.db.read() as session:
            data = [
                r.record_bytes
                for r in session.scalars(
                    select(OutboxRecord)
                    .where(OutboxRecord.tx_hash == tx_hash)
                    .order_by(OutboxRecord.id)
                )
            ]
        if not data:
            return None
        calls = [submit_calldata_of(d) for d in data]
        max_fee, tip = self._fees()
        if self.gas_model == "legacy":
            fees = (max(max_fee, old_fee * 9 // 8 + 1), 0)
        else:
            fees = (max(max_fee, old_fee * 9 // 8 + 1), max(tip, old_tip * 9 // 8 + 1))
        gas = estimate_gas(self.ledger, sender.address, calls) or 2_000_000
        raw, new_hash = self._signed_tx(sender, calls, gas, nonce, fees)
        return (
            tx_hash,
            raw,
            new_hash,
            nonce,
            fees[0],
            fees[1],
            len(data),
            sender.address,
        )
