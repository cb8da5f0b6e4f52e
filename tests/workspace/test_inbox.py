"""The inbox from real library work and real records: 接单 and 点单 proposals wait for the
other side (with the typed data to sign), answers from the inbox are taken by the library,
deliveries wait for the county's 签收 until a receipt is indexed, and a commitment past its
due date and not delivered in full is overdue."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.fields import ProjectKind
from ledger.core.records import SignedRecord
from ledger.library import actions
from tests.factories import COUNTY_A, ORG_CODE_A, Chain, ChainEnv, Stack, body
from tests.library.forms import need, supply
from tests.workspace.helpers import sign_typed, signed_in

# A chain of this module's own: the inbox lists the newest 200 rows and the audit reads the whole
# chain, so other modules' records (forged ones among them) stay out.
pytestmark = pytest.mark.own_chain


def _hex(signed: SignedRecord) -> str:
    return "0x" + signed.id.hex()


def _inbox(http: TestClient, account: LocalAccount) -> dict[str, Any]:
    http.cookies.clear()
    signed_in(http, account)
    answer = http.get("/api/v1/inbox")
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    assert data["address"] == account.address
    return data


def _answer(http: TestClient, account: LocalAccount, item: dict[str, Any], action: str) -> Any:
    typed = item["respond"][f"{action}_typed_data"]
    assert typed["message"]["action"] == action
    return http.post(
        f"/api/v1/library/matches/{item['match_id']}/respond",
        json={"message": typed["message"], "signature": sign_typed(account, typed)},
    )


@pytest.fixture
def need_id(svc_env: ChainEnv, st: Stack) -> str:
    """A need county A published, on chain and indexed."""
    published = actions.create_and_publish(
        st.svc, ProjectKind.NEED, need(), svc_env.actors.county_a.key
    )
    st.settle()
    return published


def test_proposals_wait_for_the_other_side_and_are_answered_from_the_inbox(
    svc_env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient, need_id: str
) -> None:
    a = svc_env.actors
    supply_id = actions.create_and_publish(svc, ProjectKind.SUPPLY, supply(), a.org_a.key)
    draft_id = actions.create_draft(svc, ProjectKind.NEED, need(title="草稿需求"), a.county_a.key)
    st.settle()
    take = actions.propose_match(
        svc, a.org_a.key, need_id, direction="take", org_code=ORG_CODE_A, note="月底前送达"
    )
    order = actions.propose_match(
        svc, a.county_a.key, need_id, direction="order", supply_id=supply_id
    )

    county = _inbox(http, a.county_a)
    assert [p["match_id"] for p in county["proposals"]] == [take]
    item = county["proposals"][0]
    assert item["direction"] == "take"
    assert item["need_id"] == need_id
    assert item["need_title"] == "册亨县者楼村油茶产业帮扶"
    assert item["org_code"] == ORG_CODE_A
    assert (item["county"], item["county_name"]) == (COUNTY_A, "册亨县")
    assert item["note"] == "月底前送达"
    assert item["supply_id"] is None
    assert [p["match_id"] for p in county["sent_proposals"]] == [order]
    assert county["sent_proposals"][0]["respond"] is None
    assert county["sent_proposals"][0]["supply_title"] == "油茶种植技术与资金支持"
    assert [(d["project_id"], d["kind"], d["title"]) for d in county["drafts"]] == [
        (draft_id, "need", "草稿需求")
    ]
    # the county's published need went through the relayer: its anchor is a record
    assert county["records"] and all(r["kind"] == "project_anchor" for r in county["records"])
    assert {r["status"] for r in county["records"]} == {"confirmed"}

    org = _inbox(http, a.org_a)
    assert [p["match_id"] for p in org["proposals"]] == [order]
    assert [p["match_id"] for p in org["sent_proposals"]] == [take]
    assert org["drafts"] == []
    assert org["awaiting_receipt"] == []  # an organization signs for nothing

    # the org declines the 点单 from its inbox, the county accepts the 接单 from its own
    declined = _answer(http, a.org_a, org["proposals"][0], "decline")
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    county = _inbox(http, a.county_a)
    accepted = _answer(http, a.county_a, county["proposals"][0], "accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    county = _inbox(http, a.county_a)
    assert county["proposals"] == [] and county["sent_proposals"] == []
    # the other party's typed data is not theirs to sign: a county answering its own order
    assert _inbox(http, a.org_a)["proposals"] == []


def test_deliveries_await_receipt_and_late_commitments_are_overdue(
    svc_env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient, need_id: str
) -> None:
    a = svc_env.actors
    match_id = actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, need_id)
    flow = Chain(svc_env.domain, a.county_a, a.org_a)
    late = flow.commit(need_id, match_id, quantity=100)  # due 2026-01-01
    assert late.record.due_date < time.time()
    on_time = flow.sign(
        dataclasses.replace(
            flow.commit(need_id, match_id, quantity=50).record,
            due_date=int(time.time()) + 86_400 * 30,
        ),
        a.org_a,
    )
    flow.records.pop(-2)  # the commitment replaced just above
    sent = http.post("/api/v1/records", json=body(late, on_time))
    assert sent.status_code in (200, 202), sent.text
    st.settle()
    # delivered now: the inbox lists the newest deliveries first, and this module's chain
    # holds other tests' deliveries to the same county (dated 2025-01-01 by the factories)
    delivered = flow.sign(
        dataclasses.replace(flow.deliver(late, 40).record, delivered_at=int(time.time())),
        a.org_a,
    )
    flow.records.pop(-2)
    assert http.post("/api/v1/records", json=body(delivered)).status_code in (200, 202)
    st.settle()

    county = _inbox(http, a.county_a)
    waiting = [d for d in county["awaiting_receipt"] if d["commitment_id"] == _hex(late)]
    assert len(waiting) == 1
    d = waiting[0]
    assert d["delivery_id"] == _hex(delivered)
    assert d["need_title"] == "册亨县者楼村油茶产业帮扶"
    assert (d["quantity"], d["unit"], d["resource_kind"]) == (40, "斤", "goods")
    assert d["org_code"] == ORG_CODE_A
    assert d["evidence_hash"] == "0x" + delivered.record.evidence_hash.hex()
    assert d["evidence_url"] is None  # no file was uploaded for it
    overdue = {c["commitment_id"]: c for c in county["overdue"]}
    assert _hex(late) in overdue and _hex(on_time) not in overdue
    assert (overdue[_hex(late)]["quantity"], overdue[_hex(late)]["delivered"]) == (100, 40)
    assert overdue[_hex(late)]["due_on"] == "2026-01-01"

    org = _inbox(http, a.org_a)
    assert _hex(late) in {c["commitment_id"] for c in org["overdue"]}
    mine = {r["record_id"]: r for r in org["records"]}
    for rec in (late, on_time, delivered):
        assert mine[_hex(rec)]["status"] == "confirmed"
    assert org["records"][0]["record_id"] == _hex(delivered)  # newest first
    assert mine[_hex(delivered)]["kind"] == "delivery"
    # another county sees none of it
    other = _inbox(http, a.county_b)
    assert _hex(delivered) not in {x["delivery_id"] for x in other["awaiting_receipt"]}
    assert _hex(late) not in {c["commitment_id"] for c in other["overdue"]}

    # 签收: once the receipt is indexed the delivery no longer waits
    receipt = flow.confirm(delivered, 40)
    assert http.post("/api/v1/records", json=body(receipt)).status_code in (200, 202)
    st.settle()
    county = _inbox(http, a.county_a)
    assert _hex(delivered) not in {x["delivery_id"] for x in county["awaiting_receipt"]}
