"""What one send round decides before its write transaction: which queued records go in
the next multicall, which the contract would refuse (failed for good), which wait for a
reference still in flight, and which are already on chain (found, or a conflict).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web3.exceptions import ContractCustomError, ContractLogicError

from ledger.core.codes import ROLLED_BACK
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import SignedRecord
from ledger.evm.contract import LedgerContract, revert_error
from ledger.relayer.chain import OnChain, locate
from ledger.store import alarms
from ledger.store.models import OutboxRecord

#: Refusals that a record still in flight (e.g. its need's anchor, the pairing or fund a
#: commitment source cites) may cure. Not a missing batch, follow-up round or grievance:
#: those records are refused for good at once (tests/programs rely on it).
MISSING_REFERENCE = frozenset(
    {
        "UnknownNeed",
        "UnknownCommitment",
        "UnknownDelivery",
        "UnknownRecord",
        "UnknownPairing",
        "UnknownFund",
    }
)
MAX_DEFERRALS = 50


@dataclass
class SendPlan:
    """What one send round decided from JSON-RPC answers, before its write transaction."""

    good: list[int] = field(default_factory=list)  # outbox ids to send, in order
    calls: list[bytes] = field(default_factory=list)
    gas: int = 0
    failed: dict[int, tuple[str, str]] = field(default_factory=dict)
    deferred: set[int] = field(default_factory=set)
    found: dict[int, OnChain] = field(default_factory=dict)
    conflict: dict[int, OnChain] = field(default_factory=dict)


def estimate_gas(ledger: LedgerContract, sender: str, calls: list[bytes]) -> int | None:
    """The gas of the multicall of `calls` from `sender`, or None if it would revert."""
    try:
        return int(ledger.w3.eth.estimate_gas(ledger.multicall_tx(sender, calls)))  # type: ignore[arg-type]
    except (ContractCustomError, ContractLogicError, ValueError):
        return None


def plan_send(
    ledger: LedgerContract,
    rows: Sequence[tuple[int, str, bytes, int]],
    sender: str,
    inflight: bool,
    confirmations: int,
) -> SendPlan:
    """Which of `rows` (outbox id, record id, bytes, attempts) one transaction from
    `sender` sends, and what becomes of the others."""
    signed = [signed_from_bytes(data) for _, _, data, _ in rows]
    calls = [ledger.submit_calldata(s) for s in signed]
    gas = estimate_gas(ledger, sender, calls)
    if gas is not None:
        return SendPlan(good=[r[0] for r in rows], calls=calls, gas=gas)
    plan = _weed(ledger, rows, signed, sender, inflight, confirmations)
    if not plan.good:
        return plan
    gas = estimate_gas(ledger, sender, plan.calls)
    if gas is None:
        # Dependent records in one batch (a delivery after its commitment) cannot be
        # simulated together on some nodes: send one at a time.
        plan.good, plan.calls = plan.good[:1], plan.calls[:1]
        gas = estimate_gas(ledger, sender, plan.calls) or 2_000_000
    plan.gas = gas
    return plan


def _weed(
    ledger: LedgerContract,
    rows: Sequence[tuple[int, str, bytes, int]],
    signed: Sequence[SignedRecord],
    sender: str,
    inflight: bool,
    confirmations: int,
) -> SendPlan:
    """Finds the records of a batch the contract would refuse, simulating them in order
    (a commitment may depend on an anchor earlier in the same batch). A record whose
    reference is still in flight in another of our transactions is deferred to a later
    pass; a record id already used on chain is found (the same leaf) or a conflict (a
    different one); any other refusal fails the record for good, with the contract's
    reason."""
    plan = SendPlan()
    head: int | None = None
    for (oid, _rid, _data, attempts), record in zip(rows, signed, strict=True):
        call = ledger.submit_calldata(record)
        try:
            ledger.w3.eth.call(ledger.multicall_tx(sender, [*plan.calls, call]))  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError) as exc:
            err = revert_error(ledger.abi, exc)
            if err.code == "RecordIdUsed":
                where = locate(
                    ledger.w3, ledger.contract.address, ledger.deployment.block, record.id
                )
                if where is None:
                    plan.deferred.add(oid)  # used, but its event not visible yet
                elif where.leaf_hash != record.leaf_hash():
                    plan.conflict[oid] = where
                else:
                    head = int(ledger.w3.eth.block_number) if head is None else head
                    if where.block_number + confirmations <= head:
                        plan.found[oid] = where
                    else:
                        plan.deferred.add(oid)
                continue
            if err.code in MISSING_REFERENCE and inflight and attempts < MAX_DEFERRALS:
                plan.deferred.add(oid)
                continue
            plan.failed[oid] = (err.code, err.message)
            continue
        plan.good.append(oid)
        plan.calls.append(call)
    return plan


def mark_found(row: OutboxRecord, where: OnChain) -> None:
    """Already on chain with the same bytes (sent before a crash, re-included after a
    reorg, or relayed by someone else): confirmed where it is."""
    row.status = "confirmed"
    row.block_number, row.block_hash, row.leaf_index = (
        where.block_number,
        where.block_hash,
        where.index,
    )
    if row.error_code == ROLLED_BACK:
        row.error_code, row.error = None, None


def mark_conflict(session: Session, row: OutboxRecord, where: OnChain) -> None:
    """The chain holds a different record under this id: never 'confirmed'."""
    message = (
        f"记录编号冲突：链上第 {where.index} 号叶子是同一编号的另一条记录 / record id "
        f"conflict: leaf {where.index} (block {where.block_number}) holds a different "
        f"record under {row.record_id}, leaf hash 0x{where.leaf_hash.hex()}"
    )
    row.status, row.error_code, row.error = "conflict", "record_id_conflict", message
    row.tx_hash = None
    count = session.scalar(
        select(func.count()).select_from(OutboxRecord).where(OutboxRecord.status == "conflict")
    )
    alarms.raise_alarm(
        session,
        alarms.RECORD_CONFLICT,
        "relayer",
        message,
        record_id=row.record_id,
        leaf_index=where.index,
        chain_leaf_hash="0x" + where.leaf_hash.hex(),
        outbox_leaf_hash="0x" + signed_from_bytes(row.record_bytes).leaf_hash().hex(),
        conflicts=int(count or 0),
    )
