"""Confirming the relay worker's transactions: receipts read from the raw JSON-RPC answer,
and a mined multicall's records marked confirmed once it is at the required depth (or
queued again if it reverted)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from ledger.core.codes import ROLLED_BACK
from ledger.core.events import RECORD_APPENDED_TOPIC
from ledger.evm.batch import raw_batch
from ledger.evm.contract import LedgerContract
from ledger.relayer.gas import GasModel as RecordGas
from ledger.relayer.reconcile import Reconciler
from ledger.relayer.stats import WorkerStats
from ledger.store.db import Database
from ledger.store.models import OutboxRecord, SentTransaction

_OUTBOX: Table = OutboxRecord.__table__  # type: ignore[assignment]
#: A confirmed multicall's rows, one parameter set each (executemany).
_CONFIRM = (
    update(_OUTBOX)
    .where(_OUTBOX.c.record_id == bindparam("rid"))
    .values(
        status="confirmed",
        block_number=bindparam("number"),
        block_hash=bindparam("hash"),
        leaf_index=bindparam("leaf"),
    )
)

log = logging.getLogger("bangfu.relayer")


@dataclass(frozen=True)
class Receipt:
    """What confirming needs of a transaction receipt, read from the raw JSON-RPC answer."""

    status: int
    block_number: int
    block_hash: str
    logs: tuple[Mapping[str, Any], ...]
    gas_used: int = 0

    @classmethod
    def from_rpc(cls, raw: Mapping[str, Any] | None) -> Receipt | None:
        if not raw or raw.get("blockNumber") is None:
            return None
        return cls(
            status=int(raw.get("status") or "0x0", 16),
            block_number=int(raw["blockNumber"], 16),
            block_hash=str(raw["blockHash"]).lower(),
            logs=tuple(raw.get("logs") or ()),
            gas_used=int(raw.get("gasUsed") or "0x0", 16),
        )

    def leaves(self, contract: str) -> dict[str, int]:
        """record id → leaf index of the RecordAppended events `contract` emitted."""
        topic = "0x" + RECORD_APPENDED_TOPIC.hex()
        out: dict[str, int] = {}
        for entry in self.logs:
            topics: Sequence[Any] = entry.get("topics") or []
            if (
                len(topics) >= 3
                and str(topics[0]).lower() == topic
                and str(entry.get("address", "")).lower() == contract.lower()
            ):
                out[str(topics[2]).lower()] = int(topics[1], 16)
        return out


class Confirming:
    """Follows the pending multicalls to confirmation (a part of `RelayWorker`, which sets
    these attributes)."""

    db: Database
    w3: Web3
    ledger: LedgerContract
    confirmations: int
    stats: WorkerStats
    gas: RecordGas
    reconciler: Reconciler
    _modelled: dict[str, list[int]]
    _awaiting: bool

    def confirm(self) -> int:
        """Marks records confirmed once their transaction is at the required depth."""
        with self.db.read() as session:
            pending = list(
                session.scalars(
                    select(SentTransaction.tx_hash).where(SentTransaction.status == "pending")
                )
            )
        self._awaiting = bool(pending)
        if not pending:
            return 0
        receipts = self._receipts(pending)
        self._awaiting = not all(receipts)
        # With no confirmations asked for, a receipt is deep enough: no head to ask for.
        head = int(self.w3.eth.block_number) if self.confirmations else None
        deep: list[tuple[str, Receipt]] = []
        for tx_hash, receipt in zip(pending, receipts, strict=True):
            if receipt and (head is None or receipt.block_number + self.confirmations <= head):
                deep.append((tx_hash, receipt))
        if not deep:
            return 0
        done = 0
        with self.db.write() as session:
            for tx_hash, receipt in deep:
                tx = session.get(SentTransaction, tx_hash)
                if tx is not None and tx.status == "pending":
                    done += self._settle(session, tx, receipt)
        return done

    def _receipts(self, tx_hashes: Sequence[str]) -> list[Receipt | None]:
        """The receipts of `tx_hashes` (None for one not mined), in one JSON-RPC batch and
        without web3's result formatters, which cost more than the node for a multicall
        of 200 records."""
        answers = raw_batch(self.w3, "eth_getTransactionReceipt", [[h] for h in tx_hashes])
        return [Receipt.from_rpc(a) for a in answers]

    def _settle(self, session: Session, tx: SentTransaction, receipt: Receipt) -> int:
        """Marks the records of a mined multicall confirmed (or queued again if it reverted),
        with Core statements: a multicall settles hundreds of rows at once."""
        mined = OutboxRecord.tx_hash == tx.tx_hash
        rids = list(session.scalars(select(OutboxRecord.record_id).where(mined)))
        mine = update(OutboxRecord).where(mined).execution_options(synchronize_session=False)
        # Other transactions with the same nonce were replacements that lost the race.
        session.execute(
            update(SentTransaction)
            .where(
                SentTransaction.sender == tx.sender,
                SentTransaction.nonce == tx.nonce,
                SentTransaction.tx_hash != tx.tx_hash,
                SentTransaction.status == "pending",
            )
            .values(status="replaced")
        )
        tx.status = "mined"
        kinds = self._modelled.pop(tx.tx_hash, None)
        if receipt.status != 1:
            if kinds is not None:
                # Sent on the model and reverted (out of gas, or a record the contract
                # refused): those kinds are measured again, these records estimated.
                self.gas.ran_out(kinds)
                self.stats.model_reverts += 1
                log.warning(
                    "a multicall sent on the gas model reverted (gas used %d); its %d "
                    "records are queued again",
                    receipt.gas_used,
                    len(rids),
                )
            # The whole multicall reverted: send the records again; weeding finds the bad one.
            session.execute(mine.values(status="queued", tx_hash=None))
            self.stats.requeued += len(rids)
            return len(rids)
        leaves = receipt.leaves(self.ledger.contract.address)
        number = receipt.block_number
        session.execute(mine.where(OutboxRecord.error_code == ROLLED_BACK).values(
            error_code=None, error=None))  # fmt: skip
        if rids:
            session.execute(
                _CONFIRM,
                [
                    {"rid": r, "number": number, "hash": receipt.block_hash, "leaf": leaves.get(r)}
                    for r in rids
                ],
            )
        self.stats.confirmed += len(rids)
        self.reconciler.confirmed_at(number)
        return len(rids)
