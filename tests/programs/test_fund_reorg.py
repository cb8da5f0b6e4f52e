"""Special funds through a chain reorganization (`anvil_reorg`), on a private anvil: the
draws and contributions of the vanished blocks leave the read model with their log entries,
the relayer sends them again, and afterwards the fund's totals equal the contract's and the
read model equals a rebuild from the chain alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.app import LedgerService
from ledger.indexer.fund import totals_differences
from ledger.store.fund_models import FundContributionRow, FundDrawRow
from tests.factories import ChainEnv, matched, stack
from tests.programs.test_fund import contribution, funds_commitment, make_fund, source
from tests.service.test_reorg import assert_exactly_once, reorg

pytestmark = pytest.mark.own_chain


def counts(svc: LedgerService) -> tuple[int, int]:
    with svc.db.read() as s:
        draws = s.scalar(select(func.count()).select_from(FundDrawRow))
        money = s.scalar(select(func.count()).select_from(FundContributionRow))
    return int(draws or 0), int(money or 0)


def test_fund_rows_follow_a_reorg(own_chain: ChainEnv, svc: LedgerService, tmp_path: Path) -> None:
    env = own_chain
    a = env.actors
    st = stack(svc, a.relayers, batch_size=2)
    fund, _ = make_fund(a.org_a, env.domain, pledged=1_000)
    need, match = matched(st, a.county_a, a.org_a)
    c1 = funds_commitment(a.org_a, env.domain, need, match, 600)
    first = [fund, c1, source(a.org_a, env.domain, c1.id, fund.id, 600)]
    svc.relayer.accept(first)
    st.settle()
    before = int(env.w3.eth.block_number)
    c2 = funds_commitment(a.org_a, env.domain, need, match, 400)
    second = [
        c2,
        source(a.org_a, env.domain, c2.id, fund.id, 400),
        contribution(a.org_a, env.domain, fund.id, 700),
    ]
    svc.relayer.accept(second)
    st.settle()
    assert counts(svc) == (2, 1)
    depth = int(env.w3.eth.block_number) - before
    reorg(env, depth, [])
    assert env.ledger.fund_totals(fund.id) == (1_000, 600)
    st.indexer.run_once()  # sees the fork: the vanished draw and contribution roll back
    assert counts(svc) == (1, 0)
    # the relayer sends the vanished records again
    st.settle(timeout=180)
    assert counts(svc) == (2, 1)
    assert env.ledger.fund_totals(fund.id) == (1_000, 1_000)
    with svc.db.read() as s:
        assert totals_differences(s, env.ledger) == []
    assert_exactly_once(env, svc, [*first, *second], tmp_path)
