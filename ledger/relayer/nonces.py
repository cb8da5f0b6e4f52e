"""The sending accounts' nonces and the transactions signed with them.

Each account's next nonce lives in the database and advances in the same transaction
that records the signed transaction, so a crash can neither reuse nor skip one.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from ledger.store.db import Database
from ledger.store.models import NonceState, SentTransaction


class NonceManager:
    """One lock per sending account; the next nonce lives in the DB and advances in the
    same transaction that records the signed transaction, so none is reused or skipped.

    The chain's nonce is read by the caller before its write transaction (no JSON-RPC while
    the SQLite write lock is held) and passed in."""

    def __init__(self, db: Database, w3: Web3) -> None:
        self.db = db
        self.w3 = w3
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, sender: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sender, threading.Lock())

    def chain_nonce(self, sender: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending"))

    def next_nonce(self, session: Session, sender: str, chain_nonce: int | None = None) -> int:
        state = session.get(NonceState, sender)
        if state is None:
            start = self.chain_nonce(sender) if chain_nonce is None else chain_nonce
            state = NonceState(sender=sender, next_nonce=start)
            session.add(state)
            session.flush()
        elif chain_nonce is not None and chain_nonce != state.next_nonce:
            idle = not session.scalar(
                select(SentTransaction.tx_hash)
                .where(SentTransaction.sender == sender, SentTransaction.status == "pending")
                .limit(1)
            )
            if idle:
                # Nothing of ours is in flight, so the chain's nonce is the truth (a chain
                # restarted from an older state forgot some of ours): no gap, no reuse.
                state.next_nonce = chain_nonce
        return int(state.next_nonce)

    def advance(self, session: Session, sender: str, used: int) -> None:
        state = session.get(NonceState, sender)
        assert state is not None and state.next_nonce == used
        state.next_nonce = used + 1

    def resync(self, session: Session, sender: str, chain_nonce: int | None = None) -> int:
        """After the chain lost transactions: take the chain's nonce (nothing of ours is
        pending any more), so the next send fills the gap instead of waiting forever."""
        if chain_nonce is None:
            chain_nonce = self.chain_nonce(sender)
        state = session.get(NonceState, sender)
        if state is None:
            session.add(NonceState(sender=sender, next_nonce=chain_nonce))
        else:
            state.next_nonce = chain_nonce
        return chain_nonce


def record_sent(
    session: Session,
    tx_hash: str,
    sender: str,
    nonce: int,
    max_fee: int,
    tip: int,
    raw: bytes,
    count: int,
) -> None:
    """Records a signed transaction as pending. After a chain rollback the relayer can sign
    exactly the transaction it signed before (same records, nonce and fees, so the same
    hash): the old row is revived rather than inserted twice."""
    existing = session.get(SentTransaction, tx_hash)
    if existing is None:
        session.add(
            SentTransaction(
                tx_hash=tx_hash,
                sender=sender,
                nonce=nonce,
                max_fee=max_fee,
                priority_fee=tip,
                raw=raw,
                record_count=count,
                status="pending",
            )
        )
    else:
        existing.status = "pending"
        existing.sent_at = datetime.now(UTC)
    session.flush()
