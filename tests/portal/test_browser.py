"""The portal in a real headless browser (Debian's /usr/bin/chromium through Playwright):
open home, filter a list, open a project timeline, verify a record in the browser against
the chain, see a tampered proof rejected, switch the language. Screenshots of every page go
to test-artifacts/portal/."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from ledger.config import PROJECT_ROOT
from tests.browser import launch, needs_chromium, sync_api
from tests.conftest import COUNTY_A, COUNTY_B

from .conftest import Served

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "portal"
BUNDLE = PROJECT_ROOT / "api" / "web" / "static" / "dist" / "verify.js"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def bundle_built() -> None:
    """The verifier bundle, built from web/ as `npm run build:web` does at setup."""
    if not BUNDLE.exists():
        subprocess.run(["npm", "run", "--silent", "build:web"], cwd=PROJECT_ROOT, check=True)


@pytest.fixture(scope="module")
def browser(bundle_built: None) -> Iterator[object]:
    yield from launch(ARTIFACTS)


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_journey(page: object, served: Served) -> None:
    pg = page  # a playwright Page
    base, world = served.url, served.world
    expect = sync_api.expect

    # home: totals and the three server-rendered charts, under the portal's CSP
    response = pg.goto(base + "/")  # type: ignore[attr-defined]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    expect(pg.locator("html")).to_have_attribute("lang", "zh-CN")  # type: ignore[attr-defined]
    expect(pg.locator("#totals")).to_contain_text("¥170,000.00")  # type: ignore[attr-defined]
    for chart in ("#chart-category", "#chart-county", "#chart-time"):
        expect(pg.locator(chart)).to_be_visible()  # type: ignore[attr-defined]
    shot(pg, "01-home-zh")
    # keyboard: the first Tab reaches the skip link, which moves focus to the content
    pg.keyboard.press("Tab")  # type: ignore[attr-defined]
    expect(pg.locator("a.skip")).to_be_focused()  # type: ignore[attr-defined]
    pg.keyboard.press("Enter")  # type: ignore[attr-defined]
    expect(pg.locator("main")).to_be_focused()  # type: ignore[attr-defined]

    # needs library: filter by county with the form, by keyboard
    pg.click("nav >> text=需求项目库")  # type: ignore[attr-defined]
    rows = pg.locator("#projects tbody tr")  # type: ignore[attr-defined]
    expect(rows).to_have_count(4)
    pg.select_option("#county", str(COUNTY_B))  # type: ignore[attr-defined]
    pg.press("#q", "Enter")  # type: ignore[attr-defined]
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("开阳富硒茶产业")
    expect(rows.first.locator("a.project-link")).to_have_attribute(
        "href", f"/projects/{world.needs['tea']}"
    )
    shot(pg, "02-needs-filtered")
    pg.select_option("#county", "")  # type: ignore[attr-defined]
    pg.select_option("#category", "10")  # type: ignore[attr-defined]
    pg.click("#apply")  # type: ignore[attr-defined]
    expect(rows).to_have_count(1)

    # the project's timeline: every step links to its transaction and proof
    pg.click("a.project-link")  # type: ignore[attr-defined]
    steps = pg.locator("#timeline li.step")  # type: ignore[attr-defined]
    expect(steps).to_have_count(7)
    expect(steps.first).to_have_attribute("data-stage", "published")
    expect(steps.last).to_have_attribute("data-stage", "confirmed")
    shot(pg, "03-project-timeline")

    # verify the commitment step in the browser, against logRoot() read from anvil
    pg.locator("#timeline li.step[data-stage=committed] a.proof-link").click()  # type: ignore[attr-defined]
    expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")  # type: ignore[attr-defined]
    expect(pg.locator("#rpc")).to_have_value(world.service.settings.rpc_url)  # type: ignore[attr-defined]
    pg.click("#run")  # type: ignore[attr-defined]
    verdict = pg.locator("#verdict")  # type: ignore[attr-defined]
    expect(verdict).to_have_attribute("data-status", "ok")
    for name in ("leaf", "inclusion", "signature", "chain"):
        expect(pg.locator(f"#checks li[data-check={name}]")).to_have_class("ok")  # type: ignore[attr-defined]
    expect(pg.locator("#checks li[data-check=chain]")).to_contain_text("logRoot()")  # type: ignore[attr-defined]
    shot(pg, "04-verify-ok")

    # flip one bit of one inclusion-proof hash: the browser rejects it clearly
    bundle = json.loads(pg.input_value("#bundle"))  # type: ignore[attr-defined]
    h = bundle["log"]["inclusion"][0]
    bundle["log"]["inclusion"][0] = h[:-1] + format(int(h[-1], 16) ^ 1, "x")
    pg.fill("#bundle", json.dumps(bundle))  # type: ignore[attr-defined]
    pg.click("#run")  # type: ignore[attr-defined]
    expect(verdict).to_have_attribute("data-status", "fail")
    expect(verdict).to_contain_text("验证失败")
    expect(pg.locator("#checks li[data-check=inclusion]")).to_have_class("fail")  # type: ignore[attr-defined]
    shot(pg, "05-verify-tampered")

    # a bundle uploaded as a file, with a forged signer inside the record bytes
    raw = bytearray.fromhex(bundle["record"]["bytes"][2:])
    raw[60] ^= 0x01  # a byte of the stated signer
    import hashlib

    bundle["record"]["bytes"] = "0x" + raw.hex()
    bundle["record"]["leaf_hash"] = "0x" + hashlib.sha256(b"\0" + bytes(raw)).hexdigest()
    upload = ARTIFACTS / "forged-bundle.json"
    upload.write_text(json.dumps(bundle))
    pg.set_input_files("#bundle-file", str(upload))  # type: ignore[attr-defined]
    expect(pg.locator("#bundle")).to_have_value(json.dumps(bundle))  # type: ignore[attr-defined]
    pg.click("#run")  # type: ignore[attr-defined]
    expect(verdict).to_have_attribute("data-status", "fail")
    expect(pg.locator("#checks li[data-check=signature]")).to_have_class("fail")  # type: ignore[attr-defined]

    # switch the language: same page, English
    pg.click("#lang-switch")  # type: ignore[attr-defined]
    expect(pg.locator("html")).to_have_attribute("lang", "en")  # type: ignore[attr-defined]
    expect(pg.locator("h1")).to_have_text("Verify a record")  # type: ignore[attr-defined]
    assert "/verify" in pg.url and "lang=en" in pg.url  # type: ignore[attr-defined]
    pg.click("#run")  # type: ignore[attr-defined]
    expect(verdict).to_contain_text("Verified")
    shot(pg, "06-verify-en")

    # the remaining pages, in English, keep the language through navigation
    pg.click("nav >> text=Organizations")  # type: ignore[attr-defined]
    expect(pg.locator("html")).to_have_attribute("lang", "en")  # type: ignore[attr-defined]
    shot(pg, "07-orgs-en")
    pg.click("#orgs >> text=Guizhou Rural Fund")  # type: ignore[attr-defined]
    expect(pg.locator("#rate-fulfilment")).to_have_text("100%")  # type: ignore[attr-defined]
    shot(pg, "08-org-en")
    pg.goto(f"{base}/counties/{COUNTY_A}?lang=en")  # type: ignore[attr-defined]
    expect(pg.locator("h1")).to_contain_text("national key county")  # type: ignore[attr-defined]
    shot(pg, "09-county-en")
    pg.goto(f"{base}/commitments?lang=en")  # type: ignore[attr-defined]
    shot(pg, "10-commitments-en")
    pg.goto(f"{base}/?lang=en")  # type: ignore[attr-defined]
    shot(pg, "11-home-en")
    pg.goto(f"{base}/supply")  # type: ignore[attr-defined]
    shot(pg, "12-supply-zh")


def test_pages_work_with_javascript_disabled(browser: object, served: Served) -> None:
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.goto(served.url + "/needs")
    pg.fill("#q", str(COUNTY_A))
    pg.press("#q", "Enter")
    sync_api.expect(pg.locator("#projects tbody tr")).to_have_count(3)
    pg.click("a.project-link >> nth=0")
    sync_api.expect(pg.locator("#timeline li.step").first).to_be_visible()
    pg.goto(served.url + "/verify")
    sync_api.expect(pg.locator("noscript")).to_have_count(1)
    pg.screenshot(path=str(ARTIFACTS / "13-no-js-verify.png"), full_page=True)
    context.close()
