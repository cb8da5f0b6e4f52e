"""A node that answered one `eth_getLogs` short (fewer RecordAppended logs than its blocks
hold, as anvil does under load or right after a restart) at a block where it keeps no state
to check the log root against (anvil after a restart keeps no historical state): the
indexer committed that range with the newest leaves missing. The next leaf then arrives
past the index's size. Seen in the crash matrix (anvil killed while writing its state): the
indexer stopped for ever with "log index 1010 arrived while the index holds 980 leaves".

It must instead read the blocks again from its newest leaf's block and catch up, to the
chain's own size and root, with no divergence alarm; and a gap that stays after reading
again is still a divergence."""

from __future__ import annotations

from typing import Any

import pytest

import ledger.indexer.worker as worker_module
from ledger.app import LedgerService
from ledger.core.events import RECORD_APPENDED_TOPIC, decode_record_appended
from ledger.core.hexes import hex0x
from ledger.indexer.integrity import MAX_SHORT_READS
from ledger.indexer.worker import Indexer
from ledger.store import alarms
from ledger.store.models import LogEntry
from tests.factories import Chain, ChainEnv, Stack, matched


class ShortNode(Indexer):
    """An indexer whose node drops the last `drop` RecordAppended logs of each answer."""

    drop = 0

    def _get_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        logs = super()._get_logs(start, end)
        appended = [i for i, e in enumerate(logs) if bytes(e["topics"][0]) == RECORD_APPENDED_TOPIC]
        gone = set(appended[len(appended) - self.drop :]) if self.drop else set()
        return [e for i, e in enumerate(logs) if i not in gone]


def _send(st: Stack, ids: list[str]) -> None:
    """Relays the records until each is confirmed on chain (not indexed)."""
    for _ in range(200):
        st.worker.run_once()
        if all(r.status == "confirmed" for r in st.svc.relayer.status(ids).values()):
            return
    raise AssertionError("the records were not confirmed")


def _indexed(svc: LedgerService, ids: list[str]) -> int:
    with svc.db.read() as s:
        return len(s.scalars(LogEntry.__table__.select().where(LogEntry.record_id.in_(ids))).all())


def test_a_short_read_where_the_node_keeps_no_state_is_read_again(
    env: ChainEnv, svc: LedgerService, st: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = env.actors
    flow = Chain(env.domain, a.county_a, a.org_a)
    nid, mid = matched(st, a.county_a, a.org_a)
    first = [flow.commit(nid, mid, q) for q in (10, 20, 30)]
    svc.relayer.accept(first)
    ids = [hex0x(c.id) for c in first]
    _send(st, ids)

    # one pass against a node that answers without its last two leaves and keeps no state
    short = ShortNode(svc.db, svc.ledger())
    short.drop = 2
    with monkeypatch.context() as m:
        m.setattr(worker_module, "log_state_if_kept", lambda ledger, block: None)
        short.run_until_synced()
    assert _indexed(svc, ids) == 1, "the short answer was not short"

    # the next record's leaf arrives past the index's size: read again, not stop
    late = flow.commit(nid, mid, 40)
    svc.relayer.accept([late])
    _send(st, [hex0x(late.id)])
    indexer = Indexer(svc.db, svc.ledger())  # a new process, as the supervisor restarts it
    indexer.run_until_synced()
    assert _indexed(svc, [*ids, hex0x(late.id)]) == 4
    size, root = svc.ledger().log_state()
    with svc.db.read() as s:
        cursor = indexer.cursor(s)
        assert (cursor.log_size, cursor.log_root) == (size, hex0x(root))
        assert not alarms.is_active(s, alarms.INDEX_DIVERGED)


def test_a_gap_that_stays_after_reading_again_is_a_divergence(
    env: ChainEnv, svc: LedgerService, st: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that keeps answering without a leaf in the middle (never a short read that
    heals): after a bounded number of readings the indexer stops with `index_diverged`."""
    a = env.actors
    flow = Chain(env.domain, a.county_a, a.org_a)
    nid, mid = matched(st, a.county_a, a.org_a)
    missing = svc.ledger().log_size()  # the leaf the node never gives
    records = [flow.commit(nid, mid, q) for q in (1, 2)]
    svc.relayer.accept(records)
    _send(st, [hex0x(c.id) for c in records])

    class HolesNode(Indexer):
        def _get_logs(self, start: int, end: int) -> list[dict[str, Any]]:
            return [
                e
                for e in super()._get_logs(start, end)
                if bytes(e["topics"][0]) != RECORD_APPENDED_TOPIC
                or decode_record_appended(e["topics"], e["data"]).index != missing
            ]

    monkeypatch.setattr(worker_module, "log_state_if_kept", lambda ledger, block: None)
    holes = HolesNode(svc.db, svc.ledger())
    with pytest.raises(worker_module.IndexerIntegrityError) as info:
        for _ in range(MAX_SHORT_READS + 2):
            holes.run_once()
    assert info.value.code == "index_diverged"
    with svc.db.read() as s:
        assert alarms.is_active(s, alarms.INDEX_DIVERGED)
    with svc.db.write() as s:  # this test's database only; leave no alarm to the fixture
        alarms.resolve(s, alarms.INDEX_DIVERGED, "test", source="test")
