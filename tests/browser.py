"""What every browser test shares: Debian's chromium through Playwright (skipped when either
is missing), one chromium per module, and a page watcher that collects page errors and CSP
violations so the test can fail on them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("BANGFU_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh"
)


def launch(artifacts: Path) -> Iterator[Any]:
    """One headless chromium (for a module-scoped fixture to yield), screenshots to `artifacts`."""
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def watch(page: Any, errors: list[str], violations: list[str]) -> None:
    """Collects the page's uncaught errors and its CSP violations. The portal and workspace send
    a strict CSP (no inline script or style): the browser reports anything the pages do against
    it on the console, and the caller fails the test on it."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: violations.append(msg.text)
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
        else None,
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )


@contextmanager
def watched_page(browser: Any, **options: Any) -> Iterator[Any]:
    """A page in a browser context of its own (`options` for `new_context`), watched as
    `watch` does: on leaving, the context closes and the test fails on any page error or CSP
    violation the page met."""
    context = browser.new_context(**options)
    page = context.new_page()
    errors: list[str] = []
    violations: list[str] = []
    watch(page, errors, violations)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors
    assert not violations, violations
