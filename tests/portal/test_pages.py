"""Portal pages over plain HTTP (no JavaScript): each renders, is bilingual with lang
attributes, stays under 300 KB, and every listing's CSV download parses."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.web import render
from ledger.config import PROJECT_ROOT
from ledger.core.record_types import RECORD_TYPES
from ledger.store.queries import csv_shapes
from ledger.tools.proofcheck import ProofCheckError, verify_bundle
from tests.conftest import COUNTY_A, COUNTY_B, ORG_CODE_A, ORG_CODE_B

from .conftest import World, listing_pages

LIMIT = 300 * 1024


def pages(world: World) -> list[str]:
    return [
        *listing_pages(),
        "/?kind=service",
        f"/projects/{world.needs['school']}",
        "/verify",
        f"/verify?id={world.records['c:funds']}",
    ]


def test_every_page_renders_in_both_languages_without_js(client: TestClient, world: World):
    for path in pages(world):
        for lang, html_lang in (("", "zh-CN"), ("en", "en")):
            url = path + (("&" if "?" in path else "?") + "lang=en" if lang else "")
            res = client.get(url)
            assert res.status_code == 200, (url, res.text[:300])
            assert res.headers["content-type"].startswith("text/html")
            body = res.text
            assert f'<html lang="{html_lang}">' in body, url
            assert len(res.content) < LIMIT, (url, len(res.content))
            # the language switch keeps the page (and its query) and flips the language
            switch = re.search(r'id="lang-switch" href="([^"]+)"', body)
            assert switch, url
            target = switch.group(1).replace("&amp;", "&")
            assert target.split("?")[0] == path.split("?")[0]
            assert ("lang=en" in target) == (lang == ""), (url, target)
            # every form control has a label
            for control in re.findall(r'<(?:input|select|textarea)[^>]*id="([^"]+)"', body):
                assert f'for="{control}"' in body or "hidden" in body, (url, control)


def test_home_shows_totals_and_charts(client: TestClient):
    body = client.get("/").text
    # ¥120,000 + ¥50,000 committed in funds, ¥120,000 delivered, ¥115,000 confirmed
    assert "¥170,000.00" in body
    assert "¥120,000.00" in body
    assert "¥115,000.00" in body
    for chart in ("chart-category", "chart-county", "chart-time"):
        assert f'<svg id="{chart}"' in body
    assert "★ " in body  # the key county is highlighted
    assert "民生保障" in body
    en = client.get("/?lang=en").text
    assert "livelihood security" in en and "民生保障" not in en
    # goods are charted one unit at a time: boxes are never added to another unit
    goods = client.get("/?kind=goods").text
    assert 'value="goods:箱" selected' in goods and "物资 (箱)" in goods


def test_library_filters_and_search(client: TestClient, world: World):
    all_needs = client.get("/needs").text
    for name in ("school", "clinic", "tea", "training"):
        assert world.needs[name] in all_needs
    assert world.needs["supply"] not in all_needs
    only_b = client.get(f"/needs?county={COUNTY_B}").text
    assert world.needs["tea"] in only_b and world.needs["school"] not in only_b
    health = client.get("/needs?category=8").text
    assert world.needs["clinic"] in health and world.needs["tea"] not in health
    # ids start with their owner's address (the county's, for both): the prefix goes past it
    by_prefix = client.get("/needs", params={"q": world.needs["clinic"][:50]}).text
    assert world.needs["clinic"] in by_prefix and world.needs["school"] not in by_prefix
    key_only = client.get("/needs?key=1").text
    assert world.needs["school"] in key_only and world.needs["tea"] not in key_only
    supply = client.get("/supply").text
    assert world.needs["supply"] in supply and world.needs["school"] not in supply
    assert "乡村医疗物资捐赠" in supply
    # Chinese full-text search over the library's titles and descriptions, and county names
    lunch = client.get("/needs", params={"q": "营养午餐"}).text
    assert world.needs["school"] in lunch and world.needs["clinic"] not in lunch
    assert "者楼小学营养午餐" in lunch
    cehang = client.get("/needs", params={"q": "册亨"}).text
    assert world.needs["clinic"] in cehang and world.needs["tea"] not in cehang
    # junk filters are ignored or refused, never a server error
    assert client.get("/needs?county=abc&category=99").status_code == 200
    assert client.get("/needs?page=0").status_code == 422


def test_project_timeline_in_chain_order(client: TestClient, world: World):
    body = client.get(f"/projects/{world.needs['school']}").text
    stages = re.findall(r'data-stage="(\w+)"', body)
    assert stages == [
        "published",
        "matched",
        "committed",
        "delivered",
        "delivered",
        "confirmed",
        "confirmed",
    ]
    for name in ("anchor:school", "c:funds", "d:funds1", "d:funds2", "r:funds1", "r:funds2"):
        assert f"/verify?id={world.records[name]}" in body
        assert f"/api/v1/proofs/bundle/{world.records[name]}" in body
    assert "/tx/0x" in body
    assert "<h1>者楼小学营养午餐</h1>" in body
    assert "贵州乡村发展基金会</a>（社会组织）接单" in body  # the accepted match: the org took it
    # the library's stored content hashes to the anchored content hash
    assert 'id="content-check" class="ok"' in body
    assert "¥80,000.00" in body  # deliveries shown in the commitment's unit
    flagged = client.get(f"/projects/{world.needs['clinic']}").text
    assert re.findall(r'data-stage="(\w+)"', flagged)[-1] == "flagged"
    assert "县点单" in flagged and f"/projects/{world.needs['supply']}" in flagged


def test_org_and_county_scorecards(client: TestClient):
    a = client.get(f"/orgs/{ORG_CODE_A}").text
    assert "贵州乡村发展基金会" in a
    # fully delivered before its due date, but the county confirmed 115,000 of 120,000
    assert re.search(r'id="rate-fulfilment">100%<', a)
    assert re.search(r'id="rate-on-time">100%<', a)
    assert re.search(r'id="rate-confirmed">0%<', a)
    b = client.get(f"/orgs/{ORG_CODE_B}?lang=en").text
    assert re.search(r'id="rate-fulfilment">0%<', b)
    assert re.search(r'id="rate-on-time">0%<', b)  # the goods were due yesterday
    county = client.get(f"/counties/{COUNTY_A}").text
    assert "chart-county-category" in county
    assert "key county" in client.get(f"/counties/{COUNTY_A}?lang=en").text


def test_bad_input_gives_clear_pages_not_server_errors(client: TestClient):
    for url, status in (
        ("/projects/0x1234", 400),
        ("/projects/0x" + "ab" * 32, 404),
        ("/orgs/NOPE", 404),
        ("/counties/12", 400),
        ("/counties/999999", 404),
        ("/tx/0x" + "00" * 32, 404),
        ("/verify?id=0xzz", 404),
        ("/verify?id=0x" + "11" * 32, 404),
        ("/portal/static/../app.py", 404),
        ("/commitments?cursor=garbage", 400),
    ):
        res = client.get(url)
        assert res.status_code == status, (url, res.status_code, res.text[:200])
        if not url.startswith("/portal/static/"):  # a page's error is a page, in its language
            assert res.headers["content-type"].startswith("text/html"), url
            assert 'lang="zh-CN"' in res.text, url
    english = client.get("/counties/12?lang=en")
    assert english.status_code == 400 and 'lang="en"' in english.text
    assert "a county code is 6 digits" in english.text


def _csv(client: TestClient, url: str) -> list[dict[str, str]]:
    res = client.get(url)
    assert res.status_code == 200, url
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(res.content.decode("utf-8-sig"))))


def test_csv_downloads_parse(client: TestClient, world: World):
    # headers are bilingual: the Chinese label, then the field name
    needs = _csv(client, "/needs?format=csv")
    assert {r["项目编号 project_id"] for r in needs} == {
        world.needs[n] for n in ("school", "clinic", "tea", "training")
    }
    school = next(r for r in needs if r["项目编号 project_id"] == world.needs["school"])
    # yuan as an exact decimal, not fen: 12,000,000 fen committed
    assert school["承诺资金（元） funds_committed_yuan"] == "120000.00"
    assert school["类别 category_zh"] == "民生保障"
    assert school["项目名称 title"]
    assert school["县名 county_name"].endswith("县")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", school["发布时间（北京时间） published"])
    assert [r["县代码 county"] for r in _csv(client, f"/needs?format=csv&county={COUNTY_B}")] == [
        str(COUNTY_B)
    ]
    assert len(_csv(client, "/supply?format=csv")) == 1
    commitments = _csv(client, "/commitments?format=csv")
    assert {r["记录编号 record_id"] for r in commitments} == {
        world.records[n] for n in ("c:funds", "c:goods", "c:tea")
    }
    assert {r["机构代码 org_code"] for r in commitments} == {ORG_CODE_A, ORG_CODE_B}
    assert all(r["机构名称 org_name"] for r in commitments)
    orgs = {r["机构代码 org_code"]: r for r in _csv(client, "/orgs?format=csv")}
    assert orgs[ORG_CODE_A]["完成率 fulfilment_rate"] == "1.0000"
    assert orgs[ORG_CODE_A]["名称 name"]
    assert len(_csv(client, f"/orgs/{ORG_CODE_B}?format=csv")) == 2
    # one row per county and resource kind: money and goods never share a cell
    counties = {
        (r["县代码 county"], r["资源类型 resource"]): r
        for r in _csv(client, "/counties?format=csv")
    }
    funds_b = counties[(str(COUNTY_B), "资金 funds")]
    assert funds_b["金额（元） amount_yuan"] == "50000.00" and funds_b["单位 unit"] == ""
    assert all(
        r["重点帮扶县 key_county"] == "是 yes"
        for (c, _), r in counties.items()
        if c == str(COUNTY_A)
    )
    for (_, kind), r in counties.items():
        assert bool(r["金额（元） amount_yuan"]) == (kind == "资金 funds")
        assert bool(r["数量（物资或服务） quantity"]) == (kind != "资金 funds")
    assert len(_csv(client, f"/counties/{COUNTY_A}?format=csv")) == 2
    timeline = _csv(client, f"/projects/{world.needs['school']}?format=csv")
    assert [r["阶段代码 stage_code"] for r in timeline][:3] == ["published", "matched", "committed"]
    assert [r["阶段 stage"] for r in timeline][:3] == [
        "发布 published",
        "对接 matched",
        "承诺 committed",
    ]


def test_commitment_csvs_have_one_shape(client: TestClient, world: World):
    """The portal's commitment downloads (filtered, an organization's, a county's) and the
    export's are one shape."""
    shape = csv_shapes.columns("commitments")
    assert shape[0] == "项目名称 project_title"
    for url in (
        "/commitments?format=csv",
        f"/orgs/{ORG_CODE_B}?format=csv",
        f"/counties/{COUNTY_A}?format=csv",
        "/api/v1/exports/commitments.csv",
    ):
        res = client.get(url)
        assert res.status_code == 200, url
        header = next(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
        assert header == shape, url


def test_proof_bundles_verify_against_the_chain(client: TestClient, world: World):
    ledger = world.service.ledger()
    for name, kind in (("anchor:school", 1), ("c:funds", 2), ("r:funds2", 4), ("f:goods", 5)):
        bundle = client.get(f"/api/v1/proofs/bundle/{world.records[name]}").json()
        if name in world.signed:
            assert bundle["record"]["bytes"] == "0x" + world.signed[name].canonical_bytes().hex()
        assert int(bundle["record"]["bytes"][4:6], 16) == kind
        onchain = ledger.log_root(bundle["chain"]["block"])
        summary = verify_bundle(bundle, "0x" + onchain.hex())
        assert summary["ok"]
        tampered = json.loads(json.dumps(bundle))
        h = tampered["log"]["inclusion"][0]
        tampered["log"]["inclusion"][0] = h[:-1] + ("0" if h[-1] != "0" else "1")
        with pytest.raises(ProofCheckError):
            verify_bundle(tampered)


def test_verify_page_embeds_type_strings_that_match_the_records_module(
    client: TestClient, world: World
):
    body = client.get(f"/verify?id={world.records['d:funds1']}").text
    embedded = json.loads(
        re.search(r'<script type="application/json" id="type-strings">(.*?)</script>', body).group(
            1
        )
    )
    expected = {str(int(k)): cls.type_string() for k, cls in RECORD_TYPES.items()}
    assert embedded == expected
    source = (PROJECT_ROOT / "web" / "verifier.js").read_text()
    for kind, type_string in expected.items():
        assert f'{kind}: "{type_string}"' in source
    assert 'id="server-check"' in body and "inclusion proof verifies" not in body
    assert "包含证明通过" in body


def test_pages_work_when_the_js_bundle_is_missing(
    client: TestClient, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    static = tmp_path / "static"
    shutil.copytree(render.STATIC, static, ignore=shutil.ignore_patterns("dist"))
    monkeypatch.setattr(render, "STATIC", static)
    body = client.get(f"/verify?id={world.records['c:funds']}").text
    assert 'id="no-bundle"' in body and "dist/verify.js" not in body
    assert client.get("/portal/static/portal.css").status_code == 200
    assert client.get("/portal/static/dist/verify.js").status_code == 404


NODE_CHECK = """
import { verifyBundle } from "./web/verifier.js";
const bundles = JSON.parse(await new Response(process.stdin).text());
console.log(JSON.stringify(bundles.map((b) => verifyBundle(b).checks.map((c) => [c.name, c.ok]))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_verifier_accepts_real_bundles_and_rejects_bit_flips(client: TestClient, world: World):
    if not (PROJECT_ROOT / "node_modules" / "@noble" / "curves").is_dir():
        pytest.skip("npm ci has not installed @noble/curves")
    bundles = []
    for name in ("anchor:school", "c:funds", "d:funds1", "r:funds1", "f:goods"):
        bundles.append(client.get(f"/api/v1/proofs/bundle/{world.records[name]}").json())
    good = bundles[1]
    flip_proof = json.loads(json.dumps(good))
    p = flip_proof["log"]["inclusion"][-1]
    flip_proof["log"]["inclusion"][-1] = p[:-1] + ("0" if p[-1] != "0" else "1")
    flip_sig = json.loads(json.dumps(good))  # one bit of s: leaf hash no longer matches
    raw = bytearray.fromhex(flip_sig["record"]["bytes"][2:])
    raw[-2] ^= 1
    flip_sig["record"]["bytes"] = "0x" + raw.hex()
    forged = json.loads(json.dumps(good))  # bytes and leaf consistent, signature not
    import hashlib

    forged["record"]["bytes"] = "0x" + raw.hex()
    forged["record"]["leaf_hash"] = "0x" + hashlib.sha256(b"\0" + bytes(raw)).hexdigest()
    out = subprocess.run(
        ["node", "--input-type=module", "-e", NODE_CHECK],
        input=json.dumps([*bundles, flip_proof, flip_sig, forged]),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
    )
    results = json.loads(out.stdout)
    for checks in results[:5]:
        assert checks == [
            ["leaf", True],
            ["record", True],
            ["inclusion", True],
            ["signature", True],
        ]
    assert dict(results[5])["inclusion"] is False and dict(results[5])["signature"] is True
    assert dict(results[6])["leaf"] is False
    assert dict(results[7])["leaf"] is True and dict(results[7])["inclusion"] is False
    assert dict(results[7])["signature"] is False
