"""The library over HTTP: the owner signs typed data the API returns; bad input is a 4xx."""

from __future__ import annotations

from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from tests.library.conftest import need


def test_create_sign_publish_search(svc, env):
    client = TestClient(create_app(svc))
    county = env.actors.county_a
    r = client.post(
        "/api/v1/library/needs",
        json={"owner": county.address, "content": need(title="黔西南州蜂蜜合作社冷库建设")},
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    signature = Account.sign_typed_data(county.key, full_message=draft["typed_data"]).signature
    pid = draft["project_id"]
    r = client.post(
        f"/api/v1/library/projects/{pid}/publish", json={"signature": "0x" + bytes(signature).hex()}
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "published"
    hits = client.get("/api/v1/library/projects", params={"q": "蜂蜜合作社冷库"}).json()
    assert pid in [h["project_id"] for h in hits]
    # someone else's signature is refused
    r = client.put(f"/api/v1/library/projects/{pid}", json={"content": need(title="改")})
    typed = r.json()["typed_data"]
    bad = Account.sign_typed_data(env.actors.stranger.key, full_message=typed).signature
    r = client.post(
        f"/api/v1/library/projects/{pid}/publish", json={"signature": "0x" + bytes(bad).hex()}
    )
    assert r.status_code == 403 and r.json()["code"] == "not_project_owner"


def test_bad_input_is_4xx(svc, env):
    client = TestClient(create_app(svc))
    owner = env.actors.county_a.address
    for content, code in [
        (need(county="52232"), "bad_county_code"),
        (need(county=999999), "unknown_county"),
        (need(category="不存在"), "unknown_category"),
        (need(resources=[{"kind": "goods", "quantity": 0}]), "invalid_project"),
        (need(description="长" * 5000), "invalid_project"),
    ]:
        r = client.post("/api/v1/library/needs", json={"owner": owner, "content": content})
        assert 400 <= r.status_code < 500 and r.json()["code"] == code, r.text
    assert client.get("/api/v1/library/projects/0x12").status_code == 422
    assert client.get("/api/v1/library/projects", params={"county": 12}).status_code == 422
