"""The workspace pages and their data over HTTP (no browser): each page renders under the
portal's CSP with the bundle and the dialogs, county names are served for the forms, and the
roles of an address come from the indexed role events (a bad address is a bilingual 422)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import COUNTY_A, ORG_CODE_A, ChainEnv


@pytest.mark.parametrize(
    "path",
    ["/workspace", "/workspace/county", "/workspace/org", "/workspace/civil", "/workspace/audit"],
)
def test_pages_render_under_the_csp(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.text
    assert 'id="sign-dialog"' in html and 'id="key-status"' in html
    assert "<script>" not in html and "style=" not in html  # nothing inline
    assert 'href="/workspace"' in html  # the nav link


def test_county_names_and_roles(client: TestClient, svc_env: ChainEnv) -> None:
    names = client.get("/workspace/data/counties.json").json()
    assert names[str(COUNTY_A)].endswith("册亨县")
    a = svc_env.actors
    county = client.get(f"/workspace/data/roles/{a.county_a.address.lower()}").json()
    assert [(r["role"], r["county"]) for r in county] == [("COUNTY", COUNTY_A)]
    assert county[0]["county_name"].endswith("册亨县")
    org = client.get(f"/workspace/data/roles/{a.org_a.address}").json()
    assert [(r["role"], r["org_code"]) for r in org] == [("ORG", ORG_CODE_A)]
    assert client.get(f"/workspace/data/roles/{a.stranger.address}").json() == []
    bad = client.get("/workspace/data/roles/0x1234")
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_address"
    assert "地址无效" in bad.json()["detail"]
