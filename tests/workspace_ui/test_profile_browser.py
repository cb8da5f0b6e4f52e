"""The organization's profile (机构简介) in a real headless chromium, against a real anvil and
database: the organization imports its keystore, a personal phone number in the contact role
is refused at the field (nothing is sent), then the profile is signed in the dialog by
keyboard and shown on the public organization page under the chain's name. No request
carries the key or the password. Screenshots at 1280 and 390 px go to
test-artifacts/workspace/ (profile-*.png)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.workspace.models import OrgProfile
from tests.factories import ORG_AUTHORITY, ORG_CODE_A, ORG_NAME_A, ChainEnv

from .browserkit import (
    ARTIFACTS,
    Role,
    Stage,
    expect,
    needs_chromium,
    no_sideways,
    refused_at,
    shoot_here,
)

# A chain of this module's own: the portal names an organization by its latest registration, and
# other modules re-register and revoke the shared chain's keys.
pytestmark = [needs_chromium, pytest.mark.own_chain]

DESCRIPTION = "贵州乡村发展基金会在黔西南州开展产业帮扶、助学和养老照护项目。"


def _puts(role: Role) -> list[Any]:
    return [r for r in role.requests if r.method == "PUT" and "/profile" in r.url]


def test_profile_signed_in_the_browser(
    stage: Stage,
    svc_env: ChainEnv,
    svc: Any,
) -> None:
    with stage.role("profile", svc_env.actors.org_a) as org:
        pg = org.page
        org.open("/workspace/org")
        # the credit code comes from the key's registration; no profile yet
        expect(pg.locator("#p-org")).to_have_value(ORG_CODE_A)
        expect(pg.locator("#profile-message")).to_contain_text("尚无简介")

        # a personal phone number: refused at its field, nothing sent
        pg.fill("#p-desc", DESCRIPTION)
        refused_at(
            pg, "#p-contact", "王经理 138 0013 8000", "#profile-submit", "不要填写个人手机号"
        )
        expect(pg.locator("#p-contact-error")).to_contain_text("no personal phone numbers")
        expect(pg.locator("#p-contact")).to_be_focused()
        assert _puts(org) == []
        pg.fill("#p-website", "http://not-https.example.org")
        pg.fill("#p-contact", "项目部")
        pg.click("#profile-submit")
        expect(pg.locator("#p-website-error")).to_contain_text("https://")
        assert _puts(org) == []

        # by keyboard: fill, submit with Enter, confirm in the dialog with Enter
        pg.fill("#p-website", "https://gzxc.example.org")
        pg.focus("#p-contact")
        pg.keyboard.press("Enter")
        dialog = pg.locator("#sign-dialog")
        expect(dialog).to_be_visible()
        for text in (DESCRIPTION, "项目部", "https://gzxc.example.org", ORG_CODE_A, "版本 version"):
            expect(dialog).to_contain_text(text)
        pg.screenshot(path=str(ARTIFACTS / "profile-dialog-1280.png"))
        expect(pg.locator("#sign-ok")).to_be_focused()
        pg.keyboard.press("Enter")
        expect(pg.locator("#profile-message")).to_contain_text("version 1")
        assert len(_puts(org)) == 1
        with svc.db.read() as s:
            row = s.get(OrgProfile, ORG_CODE_A)
            assert row is not None and row.contact_role == "项目部"
            assert row.signer == svc_env.actors.org_a.address

        # the section as the organization left it, at both widths
        shoot_here(org, "profile-workspace", "the profile", "section[aria-labelledby='profile-h']")

        # the public page: titled by the chain's name, the signed profile beside its facts
        for width in (1280, 390):
            pg.set_viewport_size({"width": width, "height": 900})
            pg.goto(f"{stage.base}/orgs/{ORG_CODE_A}")
            assert pg.title().startswith(ORG_NAME_A)
            expect(pg.locator("h1")).to_contain_text(ORG_NAME_A)
            expect(pg.locator("#profile-description")).to_contain_text(DESCRIPTION)
            expect(pg.locator("#org-type")).to_contain_text("基金会")
            expect(pg.locator("#org-authority")).to_contain_text(ORG_AUTHORITY)
            expect(pg.locator("#org-contact")).to_have_text("项目部")
            expect(pg.locator("#profile-signed")).to_contain_text("signed by the organization")
            pg.screenshot(path=str(ARTIFACTS / f"profile-portal-{width}.png"), full_page=True)
            if width == 390:
                no_sideways(pg, "the organization's portal page")
        org.assert_nothing_leaked()
