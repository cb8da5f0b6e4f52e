"""Every portal and workspace page as a phone (390 px) and a desktop (1280 px) shows it, in
a real headless chromium: the document is never wider than the viewport (no sideways
scroll), and no visible text is smaller than 10 px — SVG chart text measured at the size it
is drawn (its font size times the drawing's scale on screen), CSS ::before labels included.
Screenshots go to test-artifacts/layout/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledger.config import PROJECT_ROOT
from ledger.store import queries
from tests.browser import launch, needs_chromium, watched_page
from tests.conftest import COUNTY_A, ORG_CODE_A

from .conftest import Served

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "layout"
WIDTHS = (390, 1280)
MIN_PX = 10.0

pytestmark = [needs_chromium, pytest.mark.browser]

#: Measures the page: its scroll width, and every visible text run smaller than MIN_PX.
MEASURE = """(minPx) => {
  const small = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!text) continue;
    const el = node.parentElement;
    if (!el || el.closest('title, script, style, option, noscript')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const shown = [...range.getClientRects()].some((r) => r.width > 0 && r.height > 0);
    if (!shown) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let size = parseFloat(style.fontSize);
    if (el instanceof SVGElement && el.getScreenCTM()) {
      const m = el.getScreenCTM();
      size *= Math.hypot(m.a, m.b);  // the drawing's scale on screen
    }
    if (size < minPx && !seen.has(el)) {
      seen.add(el);
      small.push(`${el.tagName.toLowerCase()} ${size.toFixed(1)}px: ${text.slice(0, 40)}`);
    }
  }
  for (const el of document.querySelectorAll('[data-label]')) {
    const before = getComputedStyle(el, '::before');
    if (before.content === 'none' || !el.getClientRects().length) continue;
    const size = parseFloat(before.fontSize);
    if (size < minPx) small.push(`${el.tagName.toLowerCase()}::before ${size.toFixed(1)}px`);
  }
  const doc = document.documentElement;
  return {
    width: Math.max(doc.scrollWidth, document.body.scrollWidth),
    viewport: window.innerWidth,
    small,
  };
}"""


def portal_pages(served: Served) -> list[tuple[str, str]]:
    """(name, path) of every portal page, each kind of page once, a few in English."""
    world = served.world
    with world.service.db.read() as s:
        tx = queries.get_record(s, world.records["c:funds"])["chain"]["tx_hash"]
    return [
        ("home", "/"),
        ("home-goods", "/?kind=goods"),
        ("home-en", "/?lang=en"),
        ("needs", "/needs"),
        ("needs-search", "/needs?q=%E5%86%8C%E4%BA%A8"),
        ("supply", "/supply"),
        ("commitments", "/commitments"),
        ("commitments-en", "/commitments?lang=en"),
        ("orgs", "/orgs"),
        ("org", f"/orgs/{ORG_CODE_A}"),
        ("counties", "/counties"),
        ("county", f"/counties/{COUNTY_A}"),
        ("need-project", f"/projects/{world.needs['school']}"),
        ("need-project-flagged", f"/projects/{world.needs['clinic']}"),
        ("supply-project", f"/projects/{world.needs['supply']}"),
        ("supply-project-en", f"/projects/{world.needs['supply']}?lang=en"),
        ("tx", f"/tx/{tx}"),
        ("verify", "/verify"),
        ("verify-record", f"/verify?id={world.records['c:goods']}"),
        ("error", "/projects/0x1234"),
        ("workspace", "/workspace"),
        ("workspace-county", "/workspace/county"),
        ("workspace-org", "/workspace/org"),
        ("workspace-civil", "/workspace/civil"),
        ("workspace-audit", "/workspace/audit"),
    ]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch(ARTIFACTS)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_no_text_is_tiny(browser: Any, served: Served, width: int) -> None:
    problems: list[str] = []
    viewport = {"width": width, "height": 900}
    with watched_page(browser, viewport=viewport, locale="zh-CN", device_scale_factor=1) as page:
        for name, path in portal_pages(served):
            response = page.goto(served.url + path, wait_until="load")
            assert response is not None
            if name != "error":
                assert response.status == 200, (path, response.status)
            page.screenshot(path=str(ARTIFACTS / f"{width}-{name}.png"), full_page=True)
            found = page.evaluate(MEASURE, MIN_PX)
            if found["width"] > found["viewport"]:
                problems.append(f"{path}: {found['width']} px wide in a {width} px viewport")
            problems.extend(f"{path}: {s}" for s in found["small"])
    assert not problems, "\n".join(problems)
