"""The library over HTTP through the SDK: owners sign every write and read what they sign;
drafts are private; published content changes only as a new signed version; bad input and
personal data are 4xx naming the field."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.core.errors import ApiError, LedgerError
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.library import content as project_content
from ledger.library import messages, proofs
from ledger.library.messages import LIBRARY_PROJECT
from ledger.sdk.client import BangfuClient
from tests.factories import ORG_CODE_A
from tests.library.forms import need, supply, sync


def _client(svc, account=None) -> BangfuClient:
    return BangfuClient(http=TestClient(create_app(svc)), account=account)


def test_sdk_signed_flow_end_to_end(svc, env):
    a = env.actors
    county, org, admin = _client(svc, a.county_a), _client(svc, a.org_a), _client(svc, a.admin)
    public = _client(svc)
    draft = county.library_create("need", need(title="黔西南州蜂蜜合作社冷库建设"))
    pid = draft["project_id"]
    assert pid[2:42] == a.county_a.address[2:].lower()
    # the wallet shows the human fields beside the hash, in both documents
    for typed in (draft["typed_data"], draft["request_typed_data"]):
        m = typed["message"]
        assert m["title"] == "黔西南州蜂蜜合作社冷库建设" and m["budget"] == 50_000_000
        assert m["endDate"] == int(need()["deadline"].replace("-", ""))
    # a draft is its owner's alone
    assert county.library_project(pid)["status"] == "draft"
    with pytest.raises(ApiError) as info:
        public.library_project(pid)
    assert info.value.code == "unknown_project"
    with pytest.raises(ApiError):
        _client(svc, a.county_b).library_project(pid)
    assert pid not in [p["project_id"] for p in public.request("GET", "/api/v1/library/projects")]
    county.library_edit(pid, need(title="黔西南州蜂蜜合作社冷库建设项目"))
    done = county.library_publish(pid)
    assert done["status"] == "published" and done["version"] == 1
    hits = public.request("GET", "/api/v1/library/projects", params={"q": "蜂蜜合作社冷库"})
    assert pid in [h["project_id"] for h in hits]

    # the attack of issue 12: an unsigned PUT cannot touch published content
    r = public.http.put(
        f"/api/v1/library/projects/{pid}", json={"content": need(title="【已取消】请联系转账")}
    )
    assert r.status_code == 401 and r.json()["code"] == "signature_required"
    assert public.library_project(pid)["content"]["title"] == "黔西南州蜂蜜合作社冷库建设项目"

    # the owner's change is a new version; version 1 stays as it was
    county.library_edit(pid, need(title="黔西南州蜂蜜合作社冷库建设（二期）"))
    versions = public.request("GET", f"/api/v1/library/projects/{pid}/versions")
    assert [v["version"] for v in versions] == [1, 2]
    assert "二期" not in versions[0]["content_json"] and "二期" in versions[1]["content_json"]

    # 接单: the organization proposes, the county accepts; both messages are stored
    sid = org.library_create("supply", supply(), org_code=ORG_CODE_A)["project_id"]
    org.library_publish(sid)
    proposed = org.library_propose(pid, direction="take", org_code=ORG_CODE_A, note="可提供技术员")
    assert proposed["proposal_message"]["needTitle"] == "黔西南州蜂蜜合作社冷库建设（二期）"
    assert proposed["proposal_message"]["needVersion"] == 2
    accepted = county.library_answer(proposed["match_id"])
    assert accepted["status"] == "accepted" and accepted["response_message"]["action"] == "accept"
    assert county.library_transition(pid, "matched")["version"] == 3
    assert county.library_push(pid, limit=3) is not None
    # 点单 the other way round: the county orders the supply project, the org declines
    ordered = county.library_propose(pid, direction="order", supply_id=sid)
    assert org.library_answer(ordered["match_id"], "decline")["status"] == "declined"

    # the key-county list: admin-signed, versioned; an old version cannot come back
    assert admin.library_load_key_counties([522327], source="国乡振发 sample")["version"] == 1
    assert admin.library_load_key_counties([522327, 522326], source="第二版")["version"] == 2
    with pytest.raises(ApiError) as info:
        admin.library_load_key_counties([522327], source="旧名单", version=1)
    assert info.value.code == "list_version_not_newer"
    with pytest.raises(ApiError) as info:
        county.library_load_key_counties([522327], source="县冒充", version=9)
    assert info.value.code == "not_admin"
    codes = [k["code"] for k in public.request("GET", "/api/v1/library/key-counties")]
    assert codes == [522326, 522327]


def test_sdk_refuses_to_sign_what_the_server_misstates(svc, env):
    county = _client(svc, env.actors.county_a)
    draft = county.library_create("need", need())
    forged = copy.deepcopy(draft)
    forged["content_json"] = forged["content_json"].replace("油茶", "转账")
    with pytest.raises(LedgerError) as info:
        county._sign_to_sign(forged)
    assert info.value.code == "to_sign_mismatch"
    forged = copy.deepcopy(draft)
    forged["request_typed_data"]["message"]["title"] = "别的标题"
    with pytest.raises(LedgerError) as info:
        county._sign_to_sign(forged)
    assert info.value.code == "to_sign_mismatch"


def _signed_draft_body(svc, env, content, signed_content=None):
    key = env.actors.county_a
    pid = "0x" + new_id(key.address).hex()
    message = project_content.project_message(
        ProjectKind.NEED,
        pid,
        project_content.parse_content(ProjectKind.NEED, signed_content or need()),
        action="draft",
        status="published",
        version=1,
        org_code=None,
        nonce=messages.new_nonce(),
        expiry=messages.MAX_LIFETIME // 2 + int(__import__("time").time()),
    )
    sig = messages.sign(LIBRARY_PROJECT, message, svc.domain, key.key)
    return {"content": content, "message": message, "signature": sig}


def test_bad_input_is_4xx(svc, env):
    client = TestClient(create_app(svc))
    for content, code in [
        (need(county="52232"), "bad_county_code"),
        (need(county=999999), "unknown_county"),
        (need(category="不存在"), "unknown_category"),
        (need(resources=[{"kind": "goods", "quantity": 0}]), "invalid_project"),
        (need(description="长" * 5000), "invalid_project"),
        (need(title="长" * 70), "invalid_project"),  # 210 UTF-8 bytes: the anchor takes 200
        (need(title="另一个标题"), "message_mismatch"),  # signed fields ≠ the content sent
    ]:
        r = client.post("/api/v1/library/needs", json=_signed_draft_body(svc, env, content))
        assert 400 <= r.status_code < 500 and r.json()["code"] == code, r.text
    r = client.post(
        "/api/v1/library/needs", json={"content": need(), "message": {"x": 1}, "signature": "0x12"}
    )
    assert r.status_code == 422 and r.json()["code"] == "bad_message"
    assert client.get("/api/v1/library/projects/0x12").status_code == 422
    assert client.get("/api/v1/library/projects", params={"county": 12}).status_code == 422


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"title": "请联系13800138000转账"}, "title"),
        ({"description": "负责人身份证 52232719900101123X"}, "description"),
        ({"description": "电话 +86 138-0013-8000"}, "description"),
        ({"village": "者楼村１３９００１３９０００"}, "village"),
        ({"contact_role": "村主任 13912345678"}, "contact_role"),
        (
            {"resources": [{"kind": "goods", "quantity": 5, "item": "张三 522327199001011234"}]},
            "resources.0.item",
        ),
    ],
)
def test_personal_data_refused_per_field(svc, env, override, field):
    client = TestClient(create_app(svc))
    body = _signed_draft_body(svc, env, need(**override))
    r = client.post("/api/v1/library/needs", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "personal_data_in_text" and r.json()["field"] == field


def test_personal_data_accepted_look_alikes_and_other_texts(svc, env):
    from ledger.library import actions, pii

    # numbers that are not an ID or mobile number pass: budgets, dates, landlines, codes
    ok = need(
        description="预算 500000000 分，2026年12月31日前，办公电话 0859-1234567，91520000MA6DKTQX0C"
    )
    pid = actions.create_draft(svc, ProjectKind.NEED, ok, env.actors.county_a.key)
    assert pid
    with pytest.raises(pii.PersonalDataError) as info:
        actions.create_draft(
            svc,
            ProjectKind.SUPPLY,
            supply(description="联系 13800138000"),
            env.actors.org_a.key,
        )
    assert info.value.fields["field"] == "description"
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), env.actors.county_a.key)
    with pytest.raises(pii.PersonalDataError) as info:
        actions.propose_match(
            svc,
            env.actors.org_a.key,
            nid,
            direction="take",
            org_code=ORG_CODE_A,
            note="请打 13800138000",
        )
    assert info.value.fields["field"] == "note"


def test_demo_library_call_sites(svc, env, tmp_path):
    """`bangfu demo` publishes and matches through the signed SDK calls, once per key: a
    second pass finds what the first made instead of making it again."""
    from ledger.cli.commands import demo_steps, demo_world

    a = env.actors
    client = _client(svc)
    state = demo_world.DemoState.load(tmp_path, env.domain)
    county, org = demo_world.Actor(a.county_a, "册亨县"), demo_world.Actor(a.org_a, "org")
    nid = demo_steps.publish(client, state, "need/0", "needs", county, need())
    sid = demo_steps.publish(client, state, "supply/0", "supply", org, supply(), ORG_CODE_A)
    mid = demo_steps.take(client, state, "match/0", nid, ORG_CODE_A, org, county)
    assert demo_steps.publish(client, state, "need/0", "needs", county, need()) == nid
    assert demo_steps.take(client, state, "match/0", nid, ORG_CODE_A, org, county) == mid
    assert client.request("GET", f"/api/v1/library/matches/{mid}")["match"]["status"] == "accepted"
    assert client.request("GET", f"/api/v1/library/projects/{sid}")["status"] == "published"


def test_anchored_human_fields_are_served_from_the_read_model(svc, env):
    """Once indexed, each anchored version's title, budget and end date are what the chain
    says: in the library's versions and proof answers, in the public projects list and on
    the portal's project page; a version not indexed yet says so (null)."""
    a = env.actors
    county, public = _client(svc, a.county_a), _client(svc)
    body = need(title="黔西南州蜂蜜合作社冷库建设", budget_fen=12_345_600, deadline="2027-03-31")
    pid = county.library_create("need", body)["project_id"]
    county.library_publish(pid)
    http = public.http
    before = http.get(f"/api/v1/library/projects/{pid}/versions").json()
    assert [v["anchored"] for v in before] == [None]  # queued, not on chain yet
    sync(svc, env)
    want = {"title": "黔西南州蜂蜜合作社冷库建设", "budget": 12_345_600, "end_date": 20270331}
    versions = http.get(f"/api/v1/library/projects/{pid}/versions").json()
    assert [v["anchored"] for v in versions] == [want]
    proof = http.get(f"/api/v1/library/projects/{pid}/versions/1/proof").json()
    assert proof["anchored"] == want
    proofs.verify_version_proof(proof)
    items = http.get("/api/v1/public/projects", params={"project": pid}).json()["items"]
    assert [(i["project_id"], {k: i[k] for k in want}) for i in items] == [(pid, want)]
    page = http.get(f"/projects/{pid}")
    assert page.status_code == 200 and "「黔西南州蜂蜜合作社冷库建设」" in page.text
