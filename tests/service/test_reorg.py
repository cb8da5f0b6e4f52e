"""Chain reorganizations (`anvil_reorg`) while the relayer and the indexer run, on a private
anvil: the indexer rolls back to the fork point, the relayer sends again what vanished, and
afterwards every acknowledged record is on chain exactly once and the read model equals a
rebuild from the chain alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.core.records import SignedRecord
from ledger.indexer.rebuild import digest
from ledger.store.models import LogEntry, OutboxRecord, SentTransaction
from tests.factories import (
    Chain,
    ChainEnv,
    Stack,
    appended_ids,
    committed_and_delivered,
    rebuilt,
    stack,
)

# An anvil of this test alone: a reorg must not disturb other tests.
pytestmark = pytest.mark.own_chain


def reorg(env: ChainEnv, depth: int, txs: list[tuple[bytes, int]]) -> None:
    env.w3.provider.make_request(
        "anvil_reorg",  # type: ignore[arg-type]
        [depth, [["0x" + raw.hex(), offset] for raw, offset in txs]],
    )


def assert_exactly_once(
    env: ChainEnv, svc: LedgerService, records: list[SignedRecord], tmp: Path
) -> None:
    ids = ["0x" + s.id.hex() for s in records]
    on_chain = appended_ids(env, env.deployment.block)
    missing = [i for i in ids if on_chain.count(i) != 1]
    assert not missing, f"{len(missing)} acknowledged records are not on chain exactly once"
    assert len(on_chain) == len(set(on_chain)) == env.ledger.log_size()
    with svc.db.read() as s:
        assert set(s.scalars(select(OutboxRecord.status))) == {"confirmed"}
        indexed = list(s.scalars(select(LogEntry.leaf_index).order_by(LogEntry.leaf_index)))
    assert indexed == list(range(len(on_chain)))
    with rebuilt(svc, tmp) as again:
        live, fresh = digest(svc.db), digest(again)
        assert live == fresh, live.differences(fresh)


def test_reorg_during_indexing(own_chain: ChainEnv, svc: LedgerService, tmp_path: Path) -> None:
    env = own_chain
    st: Stack = stack(svc, env.actors.relayers, batch_size=3)
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    first = [flow.need() for _ in range(12)]
    svc.relayer.accept(first)
    st.settle()
    before = int(env.w3.eth.block_number)

    # Records the relayer got confirmed and the indexer indexed, in the newest blocks...
    second = [flow.need() for _ in range(12)]
    svc.relayer.accept(second)
    st.settle()
    head = int(env.w3.eth.block_number)
    depth = head - before
    assert depth >= 4
    with svc.db.read() as s:
        raws = [
            tx.raw
            for tx in s.scalars(
                select(SentTransaction)
                .where(SentTransaction.status == "mined")
                .order_by(SentTransaction.nonce.desc())
            )
        ][:depth]
    # ...vanish in a reorg that re-includes only the oldest of their transactions.
    reorg(env, depth, [(raws[-1], 0)])
    assert int(env.w3.eth.block_number) == head
    gone = [s for s in second if env.ledger.record_kind(s.id) == 0]
    assert gone, "the reorg removed nothing"

    # Half-way through, a second reorg while the indexer is catching up.
    third = [flow.need() for _ in range(6)]
    svc.relayer.accept(third)
    st.worker.run_once()
    st.indexer.run_once()
    reorg(env, 2, [])
    st.settle(timeout=180)
    assert_exactly_once(env, svc, first + second + third, tmp_path)


def test_reorg_then_rebuild_of_commitment_totals(
    own_chain: ChainEnv, svc: LedgerService, tmp_path: Path
) -> None:
    """Deliveries and receipts that vanish in a reorg leave the commitment totals as the
    chain has them once the relayer has sent them again."""
    env = own_chain
    st, flow, c, d = committed_and_delivered(env, svc)
    r = flow.confirm(d, 30)
    svc.relayer.accept([r])
    st.settle()
    reorg(env, 2, [])
    assert env.ledger.record_kind(r.id) == 0
    st.settle(timeout=180)
    assert env.ledger.commitment_totals(c.id)[1:] == (40, 30)
    assert_exactly_once(env, svc, [c, d, r], tmp_path)
