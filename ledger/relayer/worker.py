"""The sending worker: gets the outbox's queued records on chain.

`RelayWorker` sends queued records in multicall transactions with a local nonce manager,
replaces stuck transactions with a fee bump (`replacing`), marks records confirmed only at
the configured depth (`confirming`), and (through its `Reconciler`) sends again any record
that later disappears from the chain.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ledger.evm.contract import LedgerContract, submit_calldata_of
from ledger.evm.profiles import GasModel, check_node
from ledger.relayer.confirming import Confirming
from ledger.relayer.gas import GasModel as RecordGas
from ledger.relayer.nonces import NonceManager, record_sent
from ledger.relayer.planning import SendPlan, estimate_gas, mark_conflict, mark_found, plan_send
from ledger.relayer.reconcile import Reconciler
from ledger.relayer.replacing import StuckReplacing
from ledger.relayer.stats import WorkerStats
from ledger.store import alarms
from ledger.store.db import Database
from ledger.store.models import OutboxRecord, SentTransaction

log = logging.getLogger("bangfu.relayer")


class RelayWorker(Confirming, StuckReplacing):
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
