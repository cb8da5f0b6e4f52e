"""The sending worker: gets the outbox's queued records on chain.

`RelayWorker` sends queued records in multicall transactions with a local nonce manager,
replaces stuck transactions with a fee bump, marks records confirmed only at the
configured depth, and (through its `Reconciler`) sends again any record that later
disappears from the chain.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session
from web3 import Web3
from web3.exceptions import TransactionNotFound

from ledger.core.events import RECORD_APPENDED_TOPIC
from ledger.evm.batch import raw_batch
from ledger.evm.contract import LedgerContract, submit_calldata_of
from ledger.evm.deploy import fee_fields
from ledger.evm.profiles import GasModel, check_node
from ledger.relayer.gas import GasModel as RecordGas
from ledger.relayer.nonces import NonceManager, record_sent
from ledger.relayer.outbox import ROLLED_BACK
from ledger.relayer.planning import SendPlan, estimate_gas, mark_conflict, mark_found, plan_send
from ledger.relayer.reconcile import Reconciler
from ledger.store import alarms
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


@dataclass
class WorkerStats:
    """What a worker did since it started (for logs and tests)."""

    sent_txs: int = 0
    sent_records: int = 0
    confirmed: int = 0
    failed: int = 0
    requeued: int = 0
    replaced: int = 0
    conflicts: int = 0
    #: multicalls whose gas limit came from the gas model, and those that were estimated
    modelled: int = 0
    estimated: int = 0
    #: multicalls sent on the model that reverted (their records were queued again)
    model_reverts: int = 0


class RelayWorker:
    """Sends queued outbox records and follows them to confirmation.

    No pass holds the database's write lock while it waits on JSON-RPC: each reads what it
    needs, asks the node, then applies its decisions in one short write transaction that
    re-checks the rows it touches are still as it read them.
    """

    def __init__(
        self,
        db: Database,
        ledger: LedgerContract,
        senders: Sequence[LocalAccount],
        *,
        confirmations: int = 0,
        batch_size: int = 200,
        gas_margin: float = 1.25,
        stuck_after: float = 30.0,
        max_inflight: int = 8,
        window: int = 64,
        gas_model: GasModel = "eip1559",
        linger: float = 0.25,
        gas: RecordGas | None = None,
    ) -> None:
        if not senders:
            raise ValueError("the relayer needs at least one sending account")
        self.db = db
        self.ledger = ledger
        self.w3 = ledger.w3
        self.senders = list(senders)
        self.confirmations = confirmations
        self.batch_size = batch_size
        self.gas_margin = gas_margin
        self.stuck_after = stuck_after
        self.max_inflight = max_inflight
        #: how long a part-full multicall may wait for more records while one of ours is
        #: already pending (with nothing pending, it goes at once)
        self.linger = linger
        self._partial_since: float | None = None
        #: how soon an idle worker asks again for receipts while one of its transactions
        #: is pending: the record's wait for "confirmed" is then the block's, not the poll's
        self.receipt_poll = 0.1
        self._awaiting = False
        self.nonces = NonceManager(db, self.w3)
        self.stats = WorkerStats()
        self._next_sender = 0
        self._deferred: set[str] = set()
        self.chain_id = int(self.w3.eth.chain_id)
        # a profile the node disagrees with (EIP-1559 on a legacy chain) fails here, at start
        check_node(self.w3, gas_model)
        self.gas_model = gas_model
        self._halt_logged = False
        #: per-kind gas per record, measured from the node's estimates (ledger.relayer.gas)
        self.gas = gas if gas is not None else RecordGas()
        #: kinds of the pending multicalls whose gas limit the model gave, by tx hash
        self._modelled: dict[str, list[int]] = {}
        #: pending transactions the node answered for, and when: each is asked again only
        #: after `known_recheck` seconds (or once it is stuck), not on every pass
        self._seen_pending: dict[str, float] = {}
        self.known_recheck = 1.0
        self.reconciler = Reconciler(db, ledger, self.senders, self.nonces, window=window)

    # ---- one pass ---------------------------------------------------------------
    def run_once(self) -> int:
        """One pass: reconcile the chain, confirm, replace stuck, send. Returns work done.

        While history is rewritten (an alarm only `bangfu recover --accept-new-history`
        resolves) the worker reconciles and confirms but sends nothing."""
        self._deferred = set()
        work = self.reconcile()
        work += self.confirm()
        if self.halted():
            return work
        work += self.replace_stuck()
        work += self.send_queued()
        return work

    def reconcile(self) -> int:
        """Queues again the confirmed records the chain no longer holds (see Reconciler)."""
        requeued = self.reconciler.reconcile()
        self.stats.requeued += requeued
        return requeued

    def halted(self) -> bool:
        with self.db.read() as session:
            halted = alarms.is_active(session, alarms.HISTORY_REWRITTEN)
        if halted and not self._halt_logged:
            log.warning(
                "history rewritten: sending is held until `bangfu recover --accept-new-history`"
            )
        self._halt_logged = halted
        return halted

    def run_forever(self, stop: threading.Event, poll: float = 0.5) -> None:
        while not stop.is_set():
            try:
                work = self.run_once()
            except Exception:
                log.exception("relayer pass failed; retrying")
                work = 0
            if not work:
                self._idle(stop, poll)

    def _idle(self, stop: threading.Event, poll: float) -> None:
        """Waits before the next pass: `poll`, or `linger` while a part-full multicall
        waits for more records. Meanwhile, while a transaction of ours is not mined, it
        asks for receipts alone every `receipt_poll` seconds and ends the wait as soon as
        one settles records, so "confirmed" follows the block rather than the poll; a
        whole pass (reconcile, replace, send) still runs at the poll's pace."""
        wait = poll if self._partial_since is None else min(poll, self.linger)
        deadline = time.monotonic() + wait
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not self._awaiting:
                stop.wait(left)
                return
            stop.wait(min(left, self.receipt_poll))
            try:
                if self.confirm():
                    return
            except Exception:  # noqa: BLE001 - the next pass reports it
                return

    # ---- sending -----------------------------------------------------------------
    def _fees(self) -> tuple[int, int]:
        """(max fee, tip) under EIP-1559; (gas price, 0) under legacy or zero-price gas."""
        fields = fee_fields(self.w3, self.gas_model)
        if "gasPrice" in fields:
            return fields["gasPrice"], 0
        return fields["maxFeePerGas"], fields["maxPriorityFeePerGas"]

    def _apply_plan(self, session: Session, plan: SendPlan, rows: dict[int, OutboxRecord]) -> None:
        for oid, (code, message) in plan.failed.items():
            if oid in rows:
                row = rows[oid]
                row.status, row.error_code, row.error = "failed", code, message
                self.stats.failed += 1
        for oid in plan.deferred:
            if oid in rows:
                rows[oid].attempts += 1
                self._deferred.add(rows[oid].record_id)
        for oid, where in plan.found.items():
            if oid in rows:
                mark_found(rows[oid], where)
                self.reconciler.confirmed_at(where.block_number)
                self.stats.confirmed += 1
        for oid, where in plan.conflict.items():
            if oid in rows:
                mark_conflict(session, rows[oid], where)
                self.stats.conflicts += 1

    def send_queued(self) -> int:
        """Sends up to `max_inflight` multicall transactions of queued records."""
        sent = 0
        for _ in range(self.max_inflight):
            with self.db.read() as session:
                inflight = int(
                    session.scalar(
                        select(func.count())
                        .select_from(SentTransaction)
                        .where(SentTransaction.status == "pending")
                    )
                    or 0
                )
                if inflight >= self.max_inflight * len(self.senders):
                    break
                selected = session.execute(
                    select(
                        OutboxRecord.id,
                        OutboxRecord.record_id,
                        OutboxRecord.record_bytes,
                        OutboxRecord.attempts,
                        OutboxRecord.kind,
                    )
                    .where(
                        OutboxRecord.status == "queued",
                        OutboxRecord.record_id.not_in(self._deferred),
                    )
                    .order_by(OutboxRecord.id)
                    .limit(self.batch_size)
                ).all()
                rows = [(int(i), str(r), bytes(d), int(a or 0)) for i, r, d, a, _ in selected]
                kinds = [int(k) for *_, k in selected]
            if not rows:
                self._partial_since = None
                break
            if len(rows) < self.batch_size and not self._send_partial(inflight):
                break
            sender = self.senders[self._next_sender % len(self.senders)]
            self._next_sender += 1
            plan, modelled = self._plan(rows, kinds, sender.address, inflight)
            fees = self._fees() if plan.good else None
            chain_nonce = self.nonces.chain_nonce(sender.address) if plan.good else None
            raw: bytes | None = None
            with self.db.write() as session:
                queued = set(
                    session.scalars(
                        select(OutboxRecord.id).where(
                            OutboxRecord.id.in_([r[0] for r in rows]),
                            OutboxRecord.status == "queued",
                        )
                    )
                )
                others = set(plan.failed) | set(plan.deferred) | set(plan.found)
                others |= set(plan.conflict)
                if others & queued:  # the plan's other outcomes: rare, row by row
                    current = {
                        r.id: r
                        for r in session.scalars(
                            select(OutboxRecord).where(OutboxRecord.id.in_(others & queued))
                        )
                    }
                    self._apply_plan(session, plan, current)
                good = [oid for oid in plan.good if oid in queued]
                if good and len(good) == len(plan.good):
                    raw, tx_hash, nonce, max_fee, tip = self._sign(
                        session, sender, plan.calls, plan.gas, fees=fees, chain_nonce=chain_nonce
                    )
                    record_sent(
                        session, tx_hash, sender.address, nonce, max_fee, tip, raw, len(good)
                    )
                    if modelled:
                        self._modelled[tx_hash] = kinds
                    # One statement for the whole multicall (its rows are still queued: the
                    # write lock is held since they were read above).
                    session.execute(
                        update(OutboxRecord)
                        .where(OutboxRecord.id.in_(good))
                        .values(
                            status="sent",
                            tx_hash=tx_hash,
                            sender=sender.address,
                            nonce=nonce,
                            attempts=OutboxRecord.attempts + 1,
                            sent_at=datetime.now(UTC),
                        )
                        .execution_options(synchronize_session=False)
                    )
            if raw is None:
                continue
            # Durable before broadcast: a crash here leaves a pending tx we rebroadcast.
            self._broadcast(raw)
            self.stats.sent_txs += 1
            self.stats.sent_records += len(plan.good)
            sent += 1
        return sent

    def _plan(
        self,
        rows: Sequence[tuple[int, str, bytes, int]],
        kinds: Sequence[int],
        sender: str,
        inflight: int,
    ) -> tuple[SendPlan, bool]:
        """The next multicall of `rows` (and whether its gas limit is the model's). Each
        record is decoded once. Records never sent before go with the gas model's limit,
        or, for a kind it has not measured, the node's estimate of the whole multicall
        (which the model learns from). A record sent before (its multicall reverted, or
        it was deferred) and a multicall the node would refuse go through `plan_send`,
        which finds the records the contract would refuse."""
        if not any(attempts for *_, attempts in rows):
            calls = [submit_calldata_of(d) for _, _, d, _ in rows]
            good = [r[0] for r in rows]
            gas = self.gas.limit(kinds)
            if gas is not None:
                self.stats.modelled += 1
                return SendPlan(good=good, calls=calls, gas=gas), True
            gas = estimate_gas(self.ledger, sender, calls)
            if gas is not None:
                self.stats.estimated += 1
                self.gas.measured(kinds, gas)
                return SendPlan(good=good, calls=calls, gas=gas), False
        self.stats.estimated += 1
        plan = plan_send(self.ledger, rows, sender, bool(inflight), self.confirmations)
        return plan, False

    def _send_partial(self, inflight: int) -> bool:
        """Whether to send a multicall that is not full now. A full one goes as soon as its
        records wait; a part-full one goes at once when nothing of ours is pending (a lone
        record is not held back), else after `linger` seconds, so that under load the
        records that keep arriving fill multicalls instead of spending pending slots and
        nonces on small ones."""
        if not inflight:
            self._partial_since = None
            return True
        now = time.monotonic()
        if self._partial_since is None:
            self._partial_since = now
        if now - self._partial_since >= self.linger:
            self._partial_since = None
            return True
        return False

    def _sign(
        self,
        session: Session,
        sender: LocalAccount,
        calls: list[bytes],
        gas: int,
        *,
        fees: tuple[int, int] | None = None,
        chain_nonce: int | None = None,
    ) -> tuple[bytes, str, int, int, int]:
        with self.nonces.lock(sender.address):
            nonce = self.nonces.next_nonce(session, sender.address, chain_nonce)
            self.nonces.advance(session, sender.address, nonce)
            max_fee, tip = fees or self._fees()
            raw, tx_hash = self._signed_tx(sender, calls, gas, nonce, (max_fee, tip))
            return raw, tx_hash, nonce, max_fee, tip

    def _signed_tx(
        self, sender: LocalAccount, calls: list[bytes], gas: int, nonce: int, fees: tuple[int, int]
    ) -> tuple[bytes, str]:
        """The raw bytes and hash of the multicall of `calls`, signed by `sender`."""
        tx = {
            "to": self.ledger.contract.address,
            "data": self.ledger.multicall_data(calls),
            "value": 0,
            "nonce": nonce,
            "gas": int(gas * self.gas_margin) + 50_000,
            "chainId": self.chain_id,
        }
        if self.gas_model == "eip1559":
            tx.update({"maxFeePerGas": fees[0], "maxPriorityFeePerGas": fees[1], "type": 2})
        else:  # a legacy transaction: the only kind FISCO BCOS and zero-price chains take
            tx["gasPrice"] = fees[0]
        signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
        return bytes(signed.raw_transaction), signed.hash.to_0x_hex()

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - "already known"/"nonce too low" are fine
            log.info("broadcast: %s", exc)

    # ---- confirming --------------------------------------------------------------
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
