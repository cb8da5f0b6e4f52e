"""The relayer's gas model (issue 16): a multicall's gas limit from per-kind gas per
record, measured from the node's estimates, so that a send round needs no
`eth_estimateGas`; a multicall the model under-gassed runs out of gas, and its records are
queued again and sent on an estimate, none lost. Against a real anvil and real databases."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from ledger.core.fields import ProjectKind
from ledger.core.records import Kind
from ledger.relayer.gas import MULTICALL_BASE, GasModel
from ledger.store.models import OutboxRecord
from tests.factories import COUNTY_A, ChainEnv, Stack, project_anchor

ANCHOR = int(Kind.PROJECT_ANCHOR)


def _accept_anchors(st: Stack, env: ChainEnv, n: int) -> list[str]:
    county = env.actors.county_a
    signed = [
        project_anchor(county.address, ProjectKind.NEED, county=COUNTY_A).sign(
            county.key, env.domain
        )
        for _ in range(n)
    ]
    return [a.record_id for a in st.svc.relayer.accept(signed)]


def _statuses(st: Stack, ids: list[str]) -> dict[str, str]:
    with st.svc.db.read() as s:
        q = select(OutboxRecord.record_id, OutboxRecord.status)
        return dict(s.execute(q.where(OutboxRecord.record_id.in_(ids))).tuples().all())


def test_the_model_is_measured_from_an_estimate_then_sends_without_one(
    st: Stack, env: ChainEnv
) -> None:
    worker = st.worker
    worker.gas = GasModel()
    first = _accept_anchors(st, env, 2)
    assert worker.send_queued() == 1
    assert (worker.stats.estimated, worker.stats.modelled) == (1, 0)  # no figure yet
    per = worker.gas.per_record(ANCHOR)
    assert per is not None and 40_000 < per < 400_000, per
    st.settle(first)
    later = _accept_anchors(st, env, 5)
    assert worker.send_queued() == 1
    assert (worker.stats.estimated, worker.stats.modelled) == (1, 1)  # on the model
    st.settle(later)
    assert worker.stats.model_reverts == 0
    assert set(_statuses(st, later).values()) == {"confirmed"}


def test_a_multicall_the_model_under_gasses_loses_no_record(st: Stack, env: ChainEnv) -> None:
    worker = st.worker
    # above the transactions' intrinsic gas, far below what the anchors' execution costs
    worker.gas = GasModel({ANCHOR: 30_000})
    worker.gas_margin = 1.0
    ids = _accept_anchors(st, env, 4)
    assert worker.send_queued() == 1
    assert worker.stats.modelled == 1
    assert set(_statuses(st, ids).values()) == {"sent"}
    # Automine mines the multicall (out of gas) just after the node took it: wait for its
    # receipt rather than for whatever a first confirm pass happens to find.
    with st.svc.db.read() as session:
        tx_hash = session.scalar(
            select(OutboxRecord.tx_hash).where(OutboxRecord.record_id == ids[0])
        )
    env.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    assert worker.confirm() == 4
    assert worker.stats.model_reverts == 1
    assert set(_statuses(st, ids).values()) == {"queued"}
    assert worker.gas.per_record(ANCHOR) is None  # to be measured again
    st.settle(ids)  # sent again on the node's estimate: every record confirmed
    assert set(_statuses(st, ids).values()) == {"confirmed"}
    assert worker.stats.estimated >= 1


def test_only_a_multicall_of_one_kind_is_a_measurement() -> None:
    model = GasModel()
    model.measured([ANCHOR, int(Kind.COMMITMENT)], 500_000)
    assert model.snapshot() == {}
    assert model.limit([ANCHOR]) is None  # not measured: the node estimates it
    model.measured([ANCHOR] * 4, 426_000)
    assert model.per_record(ANCHOR) == 100_000  # (426,000 - 26,000 overhead) / 4
    model.measured([ANCHOR] * 2, 150_000)  # a smaller figure does not lower it
    assert model.per_record(ANCHOR) == 100_000
    limit = model.limit([ANCHOR] * 10)
    assert limit is not None and limit >= MULTICALL_BASE + 10 * 100_000
    assert model.limit([ANCHOR, int(Kind.COMMITMENT)]) is None


def test_an_idle_worker_settles_a_record_when_its_block_comes_not_at_the_next_poll(
    st: Stack, env: ChainEnv
) -> None:
    """While a multicall of ours is not mined, an idle worker asks for receipts alone
    every `receipt_poll` seconds and ends its wait once they settle records: with a poll
    of 60 s, the wait ends when the block is mined, with the record confirmed."""
    worker = st.worker
    w3 = worker.w3
    ids = _accept_anchors(st, env, 1)
    stop = threading.Event()
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        assert worker.send_queued() == 1
        assert worker.confirm() == 0 and worker._awaiting
        idle = threading.Thread(target=worker._idle, args=(stop, 60.0))
        idle.start()
        time.sleep(3 * worker.receipt_poll)
        assert idle.is_alive() and _statuses(st, ids) == {ids[0]: "sent"}
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        idle.join(timeout=30)
        ended = not idle.is_alive()
    finally:
        stop.set()
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert ended, "the idle wait did not end when the block came"
    assert _statuses(st, ids) == {ids[0]: "confirmed"}
    assert worker.confirm() == 0 and not worker._awaiting
