"""The pairing program's rows follow the chain: after a reorg removes an acceptance and a
commitment source, their rows go with their log entries and come back once the relayer
sends them again, and the read model equals a rebuild from the chain alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.app import LedgerService
from ledger.core.lines import new_id
from ledger.core.program_kinds import CommitmentSource, Pairing, PairingAcceptance
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow
from tests.factories import COUNTY_A, Chain, ChainEnv, Stack, matched
from tests.service.test_reorg import assert_exactly_once, reorg

# An anvil of this test alone: a reorg must not disturb other tests.
pytestmark = pytest.mark.own_chain


def test_reorg_then_rebuild_of_pairing_rows(
    svc_env: ChainEnv, svc: LedgerService, st: Stack, tmp_path: Path
) -> None:
    env = svc_env
    a = env.actors
    flow = Chain(env.domain, a.county_a, a.org_a)
    p = Pairing(
        id=new_id(a.org_a.address), county=COUNTY_A, start_date=20260101, end_date=20271231,
        categories=1, funds_target=1_000, projects_target=1, hours_target=0, designated=False,
        terms_hash=new_id(),
    ).sign(a.org_a.key, env.domain)  # fmt: skip
    nid, mid = matched(st, a.county_a, a.org_a)
    c = flow.commit(nid, mid, 10)
    svc.relayer.accept([p, c])
    st.settle()
    acc = PairingAcceptance(id=new_id(a.county_a.address), pairing_id=p.id, county=COUNTY_A)
    signed_acc = acc.sign(a.county_a.key, env.domain)
    svc.relayer.accept([signed_acc])
    st.settle()
    src = CommitmentSource(
        id=CommitmentSource.source_id(c.id), commitment_id=c.id, pairing_id=p.id
    ).sign(a.org_a.key, env.domain)
    svc.relayer.accept([src])
    st.settle()
    reorg(env, 2, [])
    assert env.ledger.record_kind(src.id) == 0
    st.settle(timeout=180)
    with svc.db.read() as s:
        for model in (PairingRow, PairingAcceptanceRow, PairingCommitmentRow):
            assert s.scalar(select(func.count()).select_from(model)) == 1, model
    assert_exactly_once(env, svc, [p, c, signed_acc, src], tmp_path)
