"""What a rollback or a rewritten history lost, and the operator's way back (`bangfu recover`).

`assess` compares the read model and the outbox with the chain: the indexed leaves whose
blocks are gone, the acknowledged records no longer on chain, the signed checkpoint the
chain contradicts. `recover(accept_new_history=True)` resolves the `history_rewritten`
alarm (the old checkpoints stay stored as evidence, no longer binding), queues every lost
acknowledged record and every lost leaf that nobody queued again, so the relayer re-sends
each once, and lets the indexer follow the chain's history from its fork point.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from ledger.config import Settings
from ledger.core.codes import ROLLED_BACK
from ledger.core.record_types import signed_from_bytes
from ledger.evm.contract import LedgerContract
from ledger.relayer.chain import block_hashes, locate
from ledger.relayer.outbox_rows import enqueue_signed
from ledger.relayer.worker import RelayWorker
from ledger.store import alarms
from ledger.store.checkpoint_models import CheckpointRow
from ledger.store.db import Database
from ledger.store.models import IndexerCheckpoint, LogEntry, OutboxRecord


class Service(Protocol):
    """What recovery needs of the ledger service (`ledger.app.LedgerService` is one):
    recovery sits beside the app in the layers, so it names only the parts it uses."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    def ledger(self) -> LedgerContract: ...

    def relayer_accounts(self) -> list[LocalAccount]: ...


@dataclass
class LostLeaf:
    index: int
    record_id: str
    kind: int
    block_number: int
    #: "missing" (not on chain), "moved" (same record, another leaf) or "conflict"
    now: str
    in_outbox: bool


@dataclass
class Assessment:
    alarms: list[dict[str, Any]]
    chain_size: int
    chain_root: str
    index_size: int
    index_root: str | None
    index_block: int | None
    checkpoint: dict[str, Any] | None
    fork_block: int | None
    lost_blocks: list[int] = field(default_factory=list)
    lost_leaves: list[LostLeaf] = field(default_factory=list)
    #: acknowledged records (in our outbox) not on chain now, to be sent again
    lost_records: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    accepted: bool = False
    queued_from_log: int = 0

    @property
    def rewritten(self) -> bool:
        return any(a["code"] == alarms.HISTORY_REWRITTEN for a in self.alarms)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, default=str)


def _worker(service: Service) -> RelayWorker:
    return RelayWorker(
        service.db,
        service.ledger(),
        service.relayer_accounts(),
        confirmations=service.settings.confirmations,
    )


def assess(service: Service, *, reconcile: bool = True) -> Assessment:
    """Compares the read model and the outbox with the chain. With `reconcile`, the
    relayer's own reconciliation runs first, so every confirmed record whose block is gone
    is queued again (and the senders' nonces follow the chain)."""
    ledger = service.ledger()
    w3 = ledger.w3
    if reconcile:
        _worker(service).reconcile()
    chain_size, chain_root = ledger.log_state("latest")
    with service.db.read() as session:
        active = [alarms.as_dict(a) for a in alarms.active(session)]
        cp = session.get(IndexerCheckpoint, "main")
        binding = alarms.binding_checkpoint(session)
        checkpoint = (
            {"id": binding.id, "size": binding.size, "root": binding.root}
            if binding is not None
            else None
        )
        blocks = [
            (int(n), h)
            for n, h in session.execute(
                select(LogEntry.block_number, LogEntry.block_hash).distinct()
            ).all()
        ]
        rolled_back = [
            (r.record_id, r.record_bytes)
            for r in session.scalars(
                select(OutboxRecord).where(
                    OutboxRecord.status.in_(("queued", "sent")),
                    OutboxRecord.error_code == ROLLED_BACK,
                )
            )
        ]
        conflicts = list(
            session.scalars(select(OutboxRecord.record_id).where(OutboxRecord.status == "conflict"))
        )
        index_size = int(session.scalar(select(func.count()).select_from(LogEntry)) or 0)
    canonical = block_hashes(w3, [n for n, _ in blocks])
    gone = sorted(n for n, h in blocks if canonical.get(n) != h)
    kept = [n for n, h in blocks if canonical.get(n) == h and (not gone or n < gone[0])]
    report = Assessment(
        alarms=active,
        chain_size=chain_size,
        chain_root="0x" + chain_root.hex(),
        index_size=index_size,
        index_root=cp.log_root if cp else None,
        index_block=int(cp.last_block) if cp else None,
        checkpoint=checkpoint,
        fork_block=max(kept) if kept else None,
        lost_blocks=gone,
        conflicts=conflicts,
    )
    if gone:
        with service.db.read() as session:
            entries = [
                (e.leaf_index, e.record_id, e.kind, e.block_number, e.record_bytes)
                for e in session.scalars(
                    select(LogEntry)
                    .where(LogEntry.block_number >= gone[0])
                    .order_by(LogEntry.leaf_index)
                )
            ]
            ours = set(
                session.scalars(
                    select(OutboxRecord.record_id).where(
                        OutboxRecord.record_id.in_([e[1] for e in entries])
                    )
                )
            )
        for index, rid, kind, number, data in entries:
            signed = signed_from_bytes(data)
            where = locate(w3, ledger.contract.address, ledger.deployment.block, signed.id)
            now = (
                "missing"
                if where is None
                else "moved"
                if where.leaf_hash == signed.leaf_hash()
                else "conflict"
            )
            report.lost_leaves.append(LostLeaf(index, rid, kind, number, now, rid in ours))
    for rid, data in rolled_back:
        signed = signed_from_bytes(data)
        if locate(w3, ledger.contract.address, ledger.deployment.block, signed.id) is None:
            report.lost_records.append(rid)
    return report


def recover(service: Service, *, accept_new_history: bool = False) -> Assessment:
    """Reports what was lost; with `accept_new_history`, accepts the chain's history and
    queues everything lost so the relayer sends each record again, once."""
    report = assess(service)
    if not accept_new_history:
        return report
    missing = [leaf for leaf in report.lost_leaves if leaf.now == "missing" and not leaf.in_outbox]
    with service.db.write() as session:
        superseded = int(session.scalar(select(func.max(CheckpointRow.id))) or 0)
        for alarm in alarms.active(session, alarms.HISTORY_REWRITTEN):
            alarm.detail = json.dumps(
                {**alarms.detail(alarm), "superseded_checkpoint_id": superseded}, sort_keys=True
            )
        alarms.resolve(
            session,
            alarms.HISTORY_REWRITTEN,
            "operator accepted the chain's history with `bangfu recover --accept-new-history`; "
            f"checkpoints up to #{superseded} are kept as evidence",
        )
        alarms.resolve(session, alarms.INDEX_DIVERGED, "operator accepted the chain's history")
        if missing:
            rows = {
                e.leaf_index: e.record_bytes
                for e in session.scalars(
                    select(LogEntry).where(LogEntry.leaf_index.in_([m.index for m in missing]))
                )
            }
            for leaf in missing:
                if (
                    leaf.index in rows
                    and session.scalar(
                        select(OutboxRecord.id).where(OutboxRecord.record_id == leaf.record_id)
                    )
                    is None
                ):
                    enqueue_signed(
                        session,
                        signed_from_bytes(rows[leaf.index]),
                        why=(
                            f"第 {leaf.index} 号叶子（区块 {leaf.block_number}）已不在链上 / leaf "
                            f"{leaf.index} (block {leaf.block_number}) was lost with its history"
                        ),
                    )
                    report.queued_from_log += 1
    report.accepted = True
    report.lost_records += [m.record_id for m in missing]
    return report
