"""Helpers for the service tests: record makers, a service stack on a database, and loops
that drive the relayer and the indexer until records are settled on chain."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from web3 import Web3

from ledger.app import LedgerService
from ledger.config import Settings
from ledger.core.records import (
    Commitment,
    Delivery,
    Domain,
    ProjectAnchor,
    ProjectKind,
    Receipt,
    ResourceKind,
    SignedRecord,
    new_id,
    text32,
)
from ledger.indexer.worker import Indexer
from ledger.relayer.worker import RelayWorker
from ledger.store.models import LogEntry, OutboxRecord
from tests.conftest import COUNTY_A


def need(signer: str, county: int = COUNTY_A, category: int = 3) -> ProjectAnchor:
    """A new need project of `county`, its id scoped to the county office `signer`."""
    pid = new_id(signer)
    return ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, 1),
        project_id=pid,
        project_kind=ProjectKind.NEED,
        county=county,
        category=category,
        title="大米帮扶 rice for a county",
        budget=0,
        end_date=20301231,
        content_hash=new_id(signer),
        version=1,
    )


def commitment(signer: str, need_id: bytes, quantity: int = 100) -> Commitment:
    return Commitment(
        id=new_id(signer),
        need_id=need_id,
        match_id=new_id(),
        resource_kind=ResourceKind.GOODS,
        quantity=quantity,
        unit=text32("斤"),
        due_date=1_767_225_600,
        terms_hash=new_id(),
    )


def delivery(signer: str, commitment_id: bytes, quantity: int) -> Delivery:
    return Delivery(
        id=new_id(signer),
        commitment_id=commitment_id,
        quantity=quantity,
        delivered_at=1_735_689_600,
        evidence_hash=new_id(),
        beneficiary_count=3,
        beneficiary_root=new_id(),
    )


def receipt(signer: str, delivery_id: bytes, confirmed: int) -> Receipt:
    return Receipt(
        id=new_id(signer),
        delivery_id=delivery_id,
        confirmed_quantity=confirmed,
        note_hash=new_id(),
    )


def body(*signed: SignedRecord) -> dict[str, Any]:
    """The JSON body of POST /api/v1/records."""
    return {"records": [s.to_json() for s in signed]}


@dataclass
class Chain:
    """A flow of records: a need, a commitment, deliveries and receipts, signed by actors."""

    domain: Domain
    county: LocalAccount
    org: LocalAccount
    county_code: int = COUNTY_A
    records: list[SignedRecord] = field(default_factory=list)

    def sign(self, record: Any, key: LocalAccount) -> SignedRecord:
        signed: SignedRecord = record.sign(key.key, self.domain)
        self.records.append(signed)
        return signed

    def need(self) -> SignedRecord:
        return self.sign(need(self.county.address, self.county_code), self.county)

    def commit(self, need_id: str, match_id: str, quantity: int = 100) -> SignedRecord:
        """A commitment of the org to a need, citing an accepted match (see `matched`)."""
        rec = commitment(self.org.address, bytes.fromhex(need_id[2:]), quantity)
        return self.sign(dataclasses.replace(rec, match_id=bytes.fromhex(match_id[2:])), self.org)

    def deliver(self, commit_rec: SignedRecord, quantity: int) -> SignedRecord:
        return self.sign(delivery(self.org.address, commit_rec.id, quantity), self.org)

    def confirm(self, delivery_rec: SignedRecord, quantity: int) -> SignedRecord:
        return self.sign(receipt(self.county.address, delivery_rec.id, quantity), self.county)


NEED_CONTENT: dict[str, Any] = {
    "title": "大米帮扶 rice for a county",
    "category": "民生保障",
    "mode": "relief",
    "beneficiaries": 120,
    "budget_fen": 0,
    "resources": [{"kind": "goods", "quantity": 10_000, "unit": "斤", "item": "大米"}],
    "deadline": "2030-12-31",
    "contact_role": "县乡村振兴局",
}


def matched(
    st: Stack, county: LocalAccount, org: LocalAccount, county_code: int = COUNTY_A
) -> tuple[str, str]:
    """(need id, match id): a need the county publishes in the library and a match with
    the org that both sides accepted, which the relayer requires of every Commitment."""
    from ledger.library import actions

    need_id = actions.create_and_publish(
        st.svc, ProjectKind.NEED, {**NEED_CONTENT, "county": county_code}, county.key
    )
    st.settle()
    match_id = actions.create_and_accept_match(st.svc, county.key, org.key, need_id)
    return need_id, match_id


def service_for(settings: Settings, database_url: str) -> LedgerService:
    svc = LedgerService(settings.model_copy(update={"database_url": database_url}))
    svc.db.migrate()
    return svc


@dataclass
class Stack:
    svc: LedgerService
    indexer: Indexer
    worker: RelayWorker

    def step(self) -> int:
        return self.worker.run_once() + self.indexer.run_once()

    def settle(
        self,
        ids: Iterable[str] | None = None,
        *,
        timeout: float = 120,
        tick: Callable[[], None] | None = None,
    ) -> None:
        """Runs the relayer and the indexer until every record (or every outbox record) is
        confirmed by the relayer and indexed; fails the test on timeout."""
        wanted = None if ids is None else {i.lower() for i in ids}
        deadline = time.monotonic() + timeout
        while True:
            work = self.step()
            if tick is not None:
                tick()
            with self.svc.db.read() as s:
                q = select(OutboxRecord.record_id, OutboxRecord.status)
                rows = dict(s.execute(q).tuples().all())
                indexed = set(s.scalars(select(LogEntry.record_id)))
            if wanted is not None:
                rows = {k: v for k, v in rows.items() if k in wanted}
                assert set(rows) == wanted, f"missing from outbox: {wanted - set(rows)}"
            failed = {k: v for k, v in rows.items() if v == "failed"}
            assert not failed, f"records failed: {failed}"
            if all(v == "confirmed" for v in rows.values()) and set(rows) <= indexed:
                self.indexer.run_until_synced()
                return
            assert time.monotonic() < deadline, f"not settled: {rows}"
            if not work:
                time.sleep(0.05)


def stack(svc: LedgerService, relayers: Sequence[LocalAccount], **worker: Any) -> Stack:
    ledger = svc.ledger()
    indexer = Indexer(svc.db, ledger, block_range=worker.pop("block_range", 2000))
    indexer.run_until_synced()
    return Stack(svc, indexer, RelayWorker(svc.db, ledger, relayers, **worker))


def leaf_count(svc: LedgerService, record_id: str) -> int:
    with svc.db.read() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(LogEntry).where(LogEntry.record_id == record_id)
            )
            or 0
        )


def sender_nonces(w3: Web3, sender: str, first_block: int) -> list[int]:
    """Nonces of every mined transaction from `sender` since `first_block`, in order."""
    out: list[int] = []
    for n in range(first_block, int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["from"] == sender:  # type: ignore[index]
                out.append(int(tx["nonce"]))  # type: ignore[index]
    return out


def appended_ids(env: Any, first_block: int) -> list[str]:
    """Record ids of every RecordAppended event of the env's contract since `first_block`."""
    event = env.ledger.contract.events.RecordAppended()
    logs = env.w3.eth.get_logs(
        {
            "address": env.deployment.address,
            "fromBlock": first_block,
            "toBlock": "latest",
            "topics": [event.topic],
        }
    )
    return ["0x" + bytes(event.process_log(x)["args"]["recordId"]).hex() for x in logs]
