"""Grievances (申诉) end to end on a real anvil and real databases: filed by anyone through
the API and the portal form, refused with personal data or too often, registered and
answered by the county through signed records, refused with a named error when forged,
replayed, by the wrong role or county, for a filing that does not exist, or twice; shown
with names and Beijing times; and the same rows after a rebuild from the chain alone."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.core.grievances import answer_hash, canonical_text, grievance_hash
from ledger.core.hexes import hex0x
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord
from ledger.indexer.rebuild import digest, table_rows
from ledger.store import models
from ledger.store.grievance_models import GrievanceAnswerRow, GrievanceRow
from tests.factories import (
    COUNTY_A,
    COUNTY_NAME_A,
    Chain,
    ChainEnv,
    Stack,
    body,
    grievance_answer,
    grievance_registration,
    post_grievance_answer,
    rebuilt,
    refused,
)
from tests.workspace.helpers import signed_in

TEXT = "大米发放数量与公示不符，我们村只收到一半。"


def anchored_need(http: TestClient, st: Stack, env: ChainEnv) -> tuple[str, SignedRecord]:
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    n = flow.need()
    assert http.post("/api/v1/records", json=body(n)).status_code == 202
    st.settle()
    return hex0x(n.record.project_id), n  # type: ignore[attr-defined]


def file(http: TestClient, pid: str, text: str = TEXT, **extra: Any) -> dict[str, Any]:
    r = http.post("/api/v1/grievances", json={"project_id": pid, "text": text, **extra})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def answer_refused(http: TestClient, answer: SignedRecord, text: str, code: str) -> None:
    """POST /api/v1/grievance-answers with `answer` and its `text` is refused: 422, `code`."""
    r = http.post("/api/v1/grievance-answers", json={"record": answer.to_json(), "text": text})
    refused(r, 422, code)


def test_filing_receipt_hash_is_the_canonical_text(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    pid, _ = anchored_need(http, st, env)
    filed = file(http, pid, "  " + TEXT + "\r\n")
    assert filed["filing_no"].startswith("SS-")
    assert filed["text"] == TEXT
    assert filed["county"] == COUNTY_A
    expected = canonical_text(filed["filing_no"], pid, filed["record_id"], filed["filed_at"], TEXT)
    assert filed["canonical_text"] == expected
    assert filed["grievance_hash"] == "0x" + hashlib.sha256(expected.encode()).hexdigest()
    assert filed["grievance_hash"] == grievance_hash(
        filed["filing_no"], pid, filed["record_id"], filed["filed_at"], TEXT
    )
    one = http.get(f"/api/v1/grievances/{filed['filing_no']}").json()
    assert (one["status"], one["registration"], one["answer"]) == ("filed", None, None)
    refused(http.get("/api/v1/grievances/SS-0000-0000"), 404, "unknown_filing")


def test_filing_refused_with_personal_data_unknown_project_and_foreign_record(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    pid, _ = anchored_need(http, st, env)
    for text in ("请打电话 13812345678 给我", "身份证 52232719800101123X 的人没领到"):
        r = http.post("/api/v1/grievances", json={"project_id": pid, "text": text})
        refused(r, 422, "personal_data_in_text")
        assert "申诉内容" in r.json()["detail"] and "public" in r.json()["detail"]
    refused(
        http.post("/api/v1/grievances", json={"project_id": hex0x(new_id()), "text": TEXT}),
        422,
        "unknown_need",
    )
    other_pid, other = anchored_need(http, st, env)
    refused(
        http.post(
            "/api/v1/grievances",
            json={"project_id": pid, "text": TEXT, "record_id": hex0x(other.id)},
        ),
        422,
        "record_not_of_project",
    )
    refused(
        http.post("/api/v1/grievances", json={"project_id": pid, "text": "短"}), 400, "bad_field"
    )
    # a record of the project itself is accepted
    filed = file(http, other_pid, record_id=hex0x(other.id))
    assert filed["record_id"] == hex0x(other.id)


def test_filing_is_rate_limited_per_address(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    pid, _ = anchored_need(http, st, env)
    for _ in range(5):
        file(http, pid)
    r = http.post("/api/v1/grievances", json={"project_id": pid, "text": TEXT})
    refused(r, 429, "too_many_grievances")
    assert int(r.headers["Retry-After"]) > 0
    assert "分钟" in r.json()["detail"] and "minutes" in r.json()["detail"]
    # the portal form shares the limit and says so on the form
    page = http.post("/grievances/new", data={"project_id": pid, "text": TEXT})
    assert page.status_code == 429 and "过于频繁" in page.text


def test_register_and_answer_with_every_refusal(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a = env.actors
    pid, _ = anchored_need(http, st, env)
    filed = file(http, pid, contact="村委会 王先生")

    # registrations refused: not filed, wrong fields, wrong county, wrong role, forged
    refused(
        http.post(
            "/api/v1/records",
            json=body(grievance_registration(env, filed, grievance_hash=new_id())),
        ),
        422,
        "grievance_not_filed",
    )
    refused(
        http.post(
            "/api/v1/records",
            json=body(grievance_registration(env, filed, filed_at=filed["filed_at"] - 60)),
        ),
        422,
        "grievance_filing_mismatch",
    )
    refused(
        http.post(
            "/api/v1/records", json=body(grievance_registration(env, filed, signer=a.county_b))
        ),
        422,
        "wrong_county",
    )
    refused(
        http.post("/api/v1/records", json=body(grievance_registration(env, filed, signer=a.org_a))),
        422,
        "missing_role",
    )
    good = grievance_registration(env, filed)
    forged = copy.deepcopy(good.to_json())
    forged["record"]["filedAt"] = filed["filed_at"] + 1
    refused(http.post("/api/v1/records", json={"records": [forged]}), 422, "bad_signature")

    r = http.post("/api/v1/records", json=body(good))
    assert r.status_code == 202, r.text
    # a second registration of the same filing, while the first is still pending
    refused(
        http.post("/api/v1/records", json=body(grievance_registration(env, filed))),
        409,
        "grievance_already_registered",
    )
    # the same record again is a replay: a duplicate, not a second leaf
    again = http.post("/api/v1/records", json=body(good))
    assert again.status_code == 202 and again.json()["accepted"][0]["duplicate"] is True
    st.settle()
    refused(
        http.post("/api/v1/records", json=body(grievance_registration(env, filed))),
        409,
        "grievance_already_registered",
    )
    one = http.get(f"/api/v1/grievances/{filed['filing_no']}").json()
    assert one["status"] == "registered"
    assert one["registration"]["record_id"] == hex0x(good.id)

    # answers refused: no text stored, text not matching, personal data, wrong county, role
    words = "经核查，该村少发放大米 500 斤，已责令补发。"
    refused(
        http.post("/api/v1/records", json=body(grievance_answer(env, good.id, words))),
        422,
        "answer_text_missing",
    )
    ans = grievance_answer(env, good.id, words)
    answer_refused(http, ans, words + "。", "answer_hash_mismatch")
    pii = "请联系 13900001111 领取"
    answer_refused(http, grievance_answer(env, good.id, pii), pii, "personal_data_in_text")
    answer_refused(
        http, grievance_answer(env, good.id, words, signer=a.county_b), words, "wrong_county"
    )
    answer_refused(
        http, grievance_answer(env, good.id, words, signer=a.org_a), words, "missing_role"
    )
    answer_refused(http, grievance_answer(env, new_id(), words), words, "unknown_grievance")
    answer_refused(http, grievance_answer(env, good.id, words, outcome=4), words, "invalid_outcome")
    r = http.post("/api/v1/grievance-answers", json={"record": ans.to_json(), "text": words})
    assert r.status_code == 202, r.text
    # a second answer, pending and then on chain
    answer_refused(
        http, grievance_answer(env, good.id, words, outcome=3), words, "grievance_already_answered"
    )
    st.settle()
    answer_refused(
        http, grievance_answer(env, good.id, words, outcome=3), words, "grievance_already_answered"
    )

    one = http.get(f"/api/v1/grievances/{filed['filing_no']}").json()
    assert one["status"] == "answered"
    assert one["answer"]["outcome"] == 1 and one["answer"]["text"] == words
    assert one["answer"]["outcome_zh"] == "成立"
    assert one["answer"]["answer_hash"] == answer_hash(words)
    listed = http.get("/api/v1/grievances", params={"county": COUNTY_A}).json()
    mine = [g for g in listed["items"] if g["filing_no"] == filed["filing_no"]]
    assert mine and mine[0]["status"] == "answered"
    counts = http.get("/api/v1/grievances", params={"project_id": pid}).json()["counts"]
    assert counts == {
        "filed": 1,
        "not_registered": 0,
        "open": 0,
        "answered": 1,
        "upheld": 1,
        "partly_upheld": 0,
        "not_upheld": 0,
    }

    # the chain holds the hashes the receipt and the answer text give
    assert env.ledger.record_kind(good.id) == 14
    assert env.ledger.record_kind(ans.id) == 15


def test_pages_show_names_beijing_time_and_counts(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    pid, need_rec = anchored_need(http, st, env)
    title = need_rec.record.title  # type: ignore[attr-defined]
    # the portal form, as a phone submits it (no script)
    form = http.get("/grievances/new", params={"project": pid})
    assert form.status_code == 200 and title in form.text and 'method="post"' in form.text
    assert "<script" not in form.text
    page = http.post(
        "/grievances/new", data={"project_id": pid, "text": TEXT, "contact": "微信 abc"}
    )
    assert page.status_code == 201, page.text
    assert "已收到您的申诉" in page.text and "微信 abc" not in page.text
    refused_page = http.post(
        "/grievances/new", data={"project_id": pid, "text": "我的手机 13800138000"}
    )
    assert refused_page.status_code == 422 and "手机号" in refused_page.text
    assert "13800138000" in refused_page.text  # the filer's own text, back in the form to edit
    filed_two = file(http, pid, "第二件：交付的物资质量很差。")
    with svc.db.read() as s:
        from ledger.store.grievance_models import GrievanceFiling

        first = s.scalars(
            select(GrievanceFiling)
            .where(GrievanceFiling.project_id == pid)
            .order_by(GrievanceFiling.filed_at, GrievanceFiling.filing_no)
        ).all()
    filed_one = next(f for f in first if f.text == TEXT)
    reg = grievance_registration(
        env,
        {
            "project_id": pid,
            "record_id": filed_one.record_id,
            "grievance_hash": filed_one.grievance_hash,
            "filed_at": filed_one.filed_at,
        },
    )
    assert http.post("/api/v1/records", json=body(reg)).status_code == 202
    st.settle()
    words = "部分属实：已补发一半。"
    post_grievance_answer(http, st, grievance_answer(env, reg.id, words, outcome=2), words)

    g = http.get(f"/grievances/{filed_one.filing_no}")
    assert g.status_code == 200
    for want in (
        TEXT,
        words,
        "部分成立",
        "北京时间",
        title,
        COUNTY_NAME_A,
        "/tx/0x",
        "/verify?id=",
    ):
        assert want in g.text, want
    en = http.get(f"/grievances/{filed_one.filing_no}", params={"lang": "en"})
    assert "partly upheld" in en.text and "Beijing time" in en.text
    proj = http.get(f"/projects/{pid}")
    assert proj.status_code == 200
    assert 'id="g-open">1<' in proj.text  # the second one, filed and not registered
    assert 'id="g-answered">1<' in proj.text and 'id="g-upheld">0<' in proj.text
    assert "其中县尚未登记 1 件" in proj.text
    assert filed_two["filing_no"] in proj.text
    assert http.get("/grievances/nonsense").status_code == 404


def test_rebuild_from_chain_makes_the_same_grievance_rows(
    env: ChainEnv,
    svc: LedgerService,
    st: Stack,
    http: TestClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    pid, _ = anchored_need(http, st, env)
    filed = file(http, pid)
    reg = grievance_registration(env, filed)
    assert http.post("/api/v1/records", json=body(reg)).status_code == 202
    st.settle()
    words = "不属实：台账显示已足额发放。"
    post_grievance_answer(http, st, grievance_answer(env, reg.id, words, outcome=3), words)
    with rebuilt(svc, tmp_path_factory.mktemp("rebuild"), "sqlite") as again:
        for model in (GrievanceRow, GrievanceAnswerRow):
            table = models.Base.metadata.tables[model.__tablename__]
            with svc.db.read() as live, again.read() as fresh:
                assert list(table_rows(live, table, ())) == list(table_rows(fresh, table, ()))
                assert list(table_rows(fresh, table, ()))
        live_digest, fresh_digest = digest(svc.db), digest(again)
        for name in ("grievances", "grievance_answers"):
            assert live_digest.tables[name] == fresh_digest.tables[name], name
            assert fresh_digest.counts[name] >= 1
        with again.read() as s:
            row = s.get(GrievanceRow, hex0x(reg.id))
            assert row is not None and row.grievance_hash == filed["grievance_hash"]
            assert row.county == COUNTY_A


def test_contact_is_read_only_by_the_signed_in_county_office(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    pid, _ = anchored_need(http, st, env)
    filed = file(http, pid, contact="村委会 王先生 13700001111")
    bare = file(http, pid)
    url = f"/api/v1/grievances/{filed['filing_no']}/contact"
    refused(http.get(url), 401, "session_required")
    signed_in(http, env.actors.county_b)
    refused(http.get(url), 403, "forbidden")
    signed_in(http, env.actors.org_a)
    refused(http.get(url), 403, "forbidden")
    signed_in(http, env.actors.county_a)
    r = http.get(url)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == {"filing_no": filed["filing_no"], "contact": "村委会 王先生 13700001111"}
    assert http.get(f"/api/v1/grievances/{bare['filing_no']}/contact").json()["contact"] is None
    refused(http.get("/api/v1/grievances/SS-0000-0000/contact"), 404, "unknown_filing")
    # the public answers never carry it
    assert "13700001111" not in http.get(f"/api/v1/grievances/{filed['filing_no']}").text
