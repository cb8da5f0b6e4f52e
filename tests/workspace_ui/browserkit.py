"""What the workspace browser tests share: chromium through Playwright with the portal's CSP
checks, one `Role` per person (their own browser context, key file and password, the app they
use, and every request their pages sent), screenshots at 1280 and 390 px, a field refused
before anything is sent, and waiting for records."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from ledger.config import PROJECT_ROOT
from ledger.sdk.keys import encrypt_key
from tests.browser import needs_chromium, sync_api, watch
from tests.factories import Actors

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "workspace"
BUNDLE = PROJECT_ROOT / "api" / "web" / "static" / "dist" / "workspace.js"
PAGES = ["", "/county", "/org", "/civil", "/audit"]
TIMEOUT = 60_000

expect = sync_api.expect
# An assertion waits as long as an action does: on a loaded 2-core machine (two xdist workers,
# anvil, the relayer and chromium) decrypting and storing a key can take longer than
# Playwright's default 5 s.
expect.set_options(timeout=TIMEOUT)
__all__ = ["needs_chromium", "sync_api"]


class Role:
    """One person: a browser context of their own, their key file and password, the app served
    at `base` that their pages open, and every request their pages sent. As a context manager
    (`with Role(...) as org:`) it closes on leaving, and the test fails on any page error or
    CSP violation its pages met."""

    def __init__(
        self, browser: Any, name: str, account: LocalAccount, tmp: Path, base: str
    ) -> None:
        self.name = name
        self.account = account
        self.base = base
        self.password = f"pw-{name}-correct horse"
        self.keyfile = tmp / f"{name}.json"
        # a low scrypt cost keeps the test fast; the format is what `bangfu keygen` writes
        doc = encrypt_key(bytes(account.key), self.password, iterations=2**10)
        self.keyfile.write_text(json.dumps(doc))
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.requests: list[Any] = []
        self.errors: list[str] = []
        self.violations: list[str] = []
        self.page.on("request", lambda req: self.requests.append(req))
        watch(self.page, self.errors, self.violations)

    def __enter__(self) -> Role:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def goto(self, path: str) -> Any:
        """Opens the app's page at `path`, checks its CSP and waits until it is ready."""
        response = self.page.goto(self.base + path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        self.page.wait_for_selector("body[data-ready='1']")
        return response

    def stored(self) -> Any:
        """What IndexedDB holds for the key (read in the page)."""
        return self.page.evaluate(
            """() => new Promise((resolve, reject) => {
                 const r = indexedDB.open('bangfu-workspace', 1);
                 r.onupgradeneeded = () => r.result.createObjectStore('keys');
                 r.onsuccess = () => {
                   const tx = r.result.transaction('keys', 'readonly');
                   const g = tx.objectStore('keys').get('current');
                   g.onsuccess = () => { resolve(g.result || null); r.result.close(); };
                   g.onerror = () => reject(g.error);
                 };
                 r.onerror = () => reject(r.error);
               })"""
        )

    def import_key(self) -> None:
        """Imports the role's key file with its password on the keys page."""
        self.goto("/workspace")
        self.page.set_input_files("#import-file", str(self.keyfile))
        self.page.fill("#import-password", self.password)
        self.page.click("#import")
        expect(self.page.locator("#key-address")).to_have_text(self.account.address)

    def open(self, path: str) -> None:
        """Imports the key and opens `path` (a workspace page) with it unlocked, not signed
        in."""
        self.import_key()
        self.goto(path)
        self.unlock()

    def sign_in(self) -> None:
        """Signs in with the imported key (unlocking it first) and confirms the dialog."""
        self.goto("/workspace")
        self.unlock()
        self.signed_in()

    def signed_in(self) -> None:
        """Signs in with the key already unlocked on the keys page."""
        self.page.click("#sign-in")
        self.confirm("登录", self.base)
        expect(self.page.locator("#session-status")).to_contain_text("已登录")

    def start(self, path: str, role_text: str) -> None:
        """Imports the key, signs in, and opens `path` unlocked, the key's role naming
        `role_text`."""
        self.import_key()
        self.sign_in()
        self.goto(path)
        self.unlock()
        expect(self.page.locator("#key-role")).to_contain_text(role_text)

    def unlock(self) -> None:
        self.page.fill("#unlock-password", self.password)
        self.page.click("#unlock")
        sync_api.expect(self.page.locator("#key-status")).to_contain_text("已解锁")

    def confirm(self, *expect_text: str, shot: str | None = None) -> None:
        """Checks the signing dialog shows `expect_text`, then confirms it by keyboard."""
        dialog = self.page.locator("#sign-dialog")
        sync_api.expect(dialog).to_be_visible()
        for text in expect_text:
            sync_api.expect(dialog).to_contain_text(text)
        if shot:
            self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{shot}.png"))
        sync_api.expect(self.page.locator("#sign-ok")).to_be_focused()
        seq = dialog.get_attribute("data-seq")
        self.page.keyboard.press("Enter")
        # closed, or already open again for the next signature
        self.page.wait_for_function(
            "seq => { const d = document.getElementById('sign-dialog');"
            " return !d.open || d.dataset.seq !== seq; }",
            arg=seq,
        )

    def secrets(self) -> list[str]:
        key = self.account.key.hex().removeprefix("0x")
        return [key, key.upper(), self.password]

    def assert_nothing_leaked(self) -> None:
        assert self.requests
        for req in self.requests:
            body = req.post_data_buffer or b""
            text = body.decode("utf-8", "replace") + req.url + json.dumps(req.all_headers())
            for secret in self.secrets():
                assert secret not in text, f"{self.name}: a secret left in {req.method} {req.url}"

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors
        assert not self.violations, self.violations


@dataclass
class Stage:
    """What a workspace story plays on: one chromium, the app served at `base`, the chain's
    actors, and the test's own folder for key files; `role` makes each person."""

    browser: Any
    base: str
    actors: Actors
    tmp: Path

    def role(self, name: str, account: LocalAccount) -> Role:
        """A `Role` named `name` holding `account`'s key (use it as a context manager)."""
        return Role(self.browser, name, account, self.tmp, self.base)


def no_sideways(pg: Any, what: str) -> None:
    """At 390 px nothing on the page scrolls sideways (`what` names it in the failure)."""
    scroll = pg.evaluate("document.documentElement.scrollWidth")
    assert scroll <= 390, f"{what} scrolls sideways at 390 px ({scroll})"


def shoot(role: Role, pages: list[str]) -> None:
    """Each workspace page at 1280 and 390 px; at 390 nothing scrolls sideways."""
    pg = role.page
    for path in pages:
        name = path.strip("/") or "keys"
        for width in (1280, 390):
            pg.set_viewport_size({"width": width, "height": 900})
            role.goto("/workspace" + path)
            pg.screenshot(path=str(ARTIFACTS / f"{role.name}-{name}-{width}.png"), full_page=True)
            if width == 390:
                no_sideways(pg, path)
    pg.set_viewport_size({"width": 1280, "height": 900})


def shoot_here(role: Role, name: str, what: str, locator: str | None = None) -> None:
    """The page as it stands (or one `locator` of it) at 1280 and 390 px, to
    `<name>-<width>.png`; at 390 nothing scrolls sideways (`what` names it in the failure)."""
    pg = role.page
    for width in (1280, 390):
        pg.set_viewport_size({"width": width, "height": 900})
        path = str(ARTIFACTS / f"{name}-{width}.png")
        if locator:
            pg.locator(locator).screenshot(path=path)
        else:
            pg.screenshot(path=path, full_page=True)
        if width == 390:
            no_sideways(pg, what)
    pg.set_viewport_size({"width": 1280, "height": 900})


def refused_at(pg: Any, field: str, value: str, submit: str, message: str) -> None:
    """`value` in the form field `field` (a selector), then `submit` clicked: the field is
    marked with `message` (its `-error` text)."""
    pg.fill(field, value)
    pg.click(submit)
    expect(pg.locator(f"{field}-error")).to_contain_text(message)


def publish_supply(
    role: Role, title: str, desc: str, categories: list[int], regions: str, quantity: str
) -> None:
    """Publishes a funds supply project for a year from today through the organization form."""
    pg = role.page
    pg.fill("#s-title", title)
    pg.fill("#s-desc", desc)
    for category in categories:
        pg.check(f"#s-cat-{category}")
    pg.fill("#s-regions", regions)
    pg.select_option("#s-kind", "funds")
    pg.fill("#s-quantity", quantity)
    pg.fill("#s-start", date.today().isoformat())
    pg.fill("#s-end", (date.today() + timedelta(days=365)).isoformat())
    pg.click("#supply-submit")


def refresh_until(role: Role, button: str, item: Any) -> None:
    """Clicks `button` (a list's refresh) until the list shows `item` (a locator), every
    half second, 60 times at most; the caller's next expectation fails if it never does."""
    for _ in range(60):
        role.page.click(button)
        if item.count():
            return
        role.page.wait_for_timeout(500)


def record_ids(role: Role) -> list[str]:
    return role.page.eval_on_selector_all(
        "#records li[data-record]", "els => els.map(e => e.dataset.record)"
    )


def wait_confirmed(role: Role, record_id: str) -> None:
    """Waits until the page shows the record confirmed, then until the read model holds it
    (its inclusion proof answers): the relayer says "confirmed" on the receipt, and the
    indexer may write the lists a refresh reads a poll later."""
    status = role.page.locator(f"#records li[data-record='{record_id}'] .status")
    sync_api.expect(status).to_have_attribute("data-status", "confirmed", timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT / 1000
    while httpx.get(f"{role.base}/api/v1/proofs/record/{record_id}").status_code != 200:
        assert time.monotonic() < deadline, f"{record_id} was confirmed but never indexed"
        time.sleep(0.1)


def run_audit(role: Role) -> None:
    """Runs an audit by keyboard: focus the button, Enter, confirm the dialog with Enter."""
    pg = role.page
    pg.focus("#audit-run")
    pg.keyboard.press("Enter")
    role.confirm("运行审计", "AuditRun", shot="sign-audit-1280")
    sync_api.expect(pg.locator("#audit-latest")).not_to_have_attribute(
        "data-status", "running", timeout=TIMEOUT * 3
    )
