"""Grievance rows follow the chain: after a reorg removes a county's registration and its
answer, their rows go with their log entries (the filing, off chain, stays and counts as
not registered), come back once the relayer sends the records again, and the read model
equals a rebuild from the chain alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from ledger.app import LedgerService
from ledger.store.grievance_models import GrievanceAnswerRow, GrievanceRow
from tests.factories import (
    Chain,
    ChainEnv,
    Stack,
    grievance_answer,
    grievance_registration,
    post_grievance_answer,
)
from tests.service.test_reorg import assert_exactly_once, reorg

# An anvil of this test alone: a reorg must not disturb other tests.
pytestmark = pytest.mark.own_chain


def _rows(svc: LedgerService) -> tuple[int, int]:
    with svc.db.read() as s:
        return (
            int(s.scalar(select(func.count()).select_from(GrievanceRow)) or 0),
            int(s.scalar(select(func.count()).select_from(GrievanceAnswerRow)) or 0),
        )


def test_reorg_then_rebuild_of_grievance_rows(
    svc_env: ChainEnv, svc: LedgerService, st: Stack, tmp_path: Path
) -> None:
    env = svc_env
    a = env.actors
    n = Chain(env.domain, a.county_a, a.org_a).need()
    svc.relayer.accept([n])
    st.settle()
    pid = "0x" + n.record.project_id.hex()  # type: ignore[attr-defined]
    with TestClient(create_app(svc)) as http:
        filed = http.post(
            "/api/v1/grievances", json={"project_id": pid, "text": "发放名单与实际不符。"}
        ).json()
        reg = grievance_registration(env, filed)
        svc.relayer.accept([reg])
        st.settle()
        words = "已核实并更正名单。"
        ans = grievance_answer(env, reg.id, words, outcome=2)
        post_grievance_answer(http, st, ans, words)
        assert _rows(svc) == (1, 1)

        reorg(env, 2, [])
        assert env.ledger.record_kind(reg.id) == 0 and env.ledger.record_kind(ans.id) == 0
        st.indexer.run_until_synced()
        assert _rows(svc) == (0, 0)
        gone = http.get(f"/api/v1/grievances/{filed['filing_no']}").json()
        assert gone["status"] == "filed" and gone["registration"] is None

        st.settle(timeout=180)
        assert _rows(svc) == (1, 1)
        back = http.get(f"/api/v1/grievances/{filed['filing_no']}").json()
        assert back["status"] == "answered" and back["answer"]["text"] == words
    assert_exactly_once(env, svc, [n, reg, ans], tmp_path)
