"""/docs works offline: Swagger UI from local files (npm swagger-ui-dist, copied by `make
setup`) under a CSP that allows only 'self'. The browser test blocks every request that does
not go to the server itself and still sees the operations listed, with no CSP violation."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import DOCS_ASSETS
from ledger.config import PROJECT_ROOT
from tests.browser import launch, needs_chromium, sync_api, watched_page

from .conftest import Served

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "verify"


@pytest.fixture(scope="module")
def docs_built() -> None:
    """Swagger UI's files, copied as `make setup` does."""
    if not (DOCS_ASSETS / "swagger-ui-bundle.js").is_file():
        subprocess.run(["npm", "run", "--silent", "build:docs"], cwd=PROJECT_ROOT, check=True)


def test_docs_page_loads_only_local_files(docs_built: None, served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        r = http.get("/docs")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp
        assert "http" not in csp and "unsafe" not in csp and "sha256" not in csp
        assert "cdn" not in r.text and "<script>" not in r.text
        assert r.headers["x-frame-options"] == "DENY"
        for src in ("/portal/static/dist/swagger-ui/swagger-ui-bundle.js", "/docs/init.js"):
            asset = http.get(src)
            assert asset.status_code == 200, src
            assert asset.headers["content-type"].startswith("text/javascript"), src
        assert http.get("/portal/static/dist/swagger-ui/swagger-ui.css").status_code == 200
        # /redoc is gone (see api/app.py): it sends the reader to /docs
        r = http.get("/redoc", follow_redirects=False)
        assert r.status_code == 308 and r.headers["location"] == "/docs"


@pytest.fixture(scope="module")
def browser(docs_built: None) -> Iterator[object]:
    yield from launch(ARTIFACTS)


@needs_chromium
def test_docs_render_with_no_network(browser: object, served: Served) -> None:
    blocked: list[str] = []
    local = urlsplit(served.url).netloc

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == local:
            r.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            r.abort()  # type: ignore[attr-defined]

    with watched_page(browser, viewport={"width": 1280, "height": 900}) as page:
        page.route("**/*", route)
        page.goto(served.url + "/docs")
        expect = sync_api.expect
        expect(page.locator("html")).to_have_attribute("data-docs", "ready")
        ops = page.locator(".opblock")
        expect(ops.first).to_be_visible()
        expect(ops.nth(20)).to_be_attached()  # every operation is listed (waits for them)
        expect(page.locator(".info .title")).to_contain_text("帮扶链 Bangfu Ledger API")
        # open one operation: its parameters and responses render from the local document
        page.locator(".opblock-summary").first.click()
        expect(page.locator(".opblock.is-open .responses-wrapper")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "docs-offline.png"), full_page=False)
    assert not blocked, blocked
