"""A pairing proposed and accepted, entirely in the browser (real chromium, real anvil, real
database): the organization proposes a pairing with 册亨县 in its workspace (the signing
dialog shows the county, the period, the focus, the targets in yuan and designated
assistance), the county office sees the proposal in its workspace and signs its acceptance,
the organization's commitment form then offers the accepted pairing, the civil-affairs page
lists the key counties nobody is paired with, and the portal shows the pairing by name.
No request carries a key or a password. Screenshots go to test-artifacts/workspace/."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger.app import LedgerService
from ledger.library import key_counties
from tests.factories import COUNTY_A, ORG_NAME_A, Pump
from tests.workspace_ui.browserkit import (
    Stage,
    expect,
    needs_chromium,
    record_ids,
    refused_at,
    shoot_here,
    wait_confirmed,
)
from tests.workspace_ui.conftest import browser, bundle_built, stage  # noqa: F401 - fixtures

# A chain of this module's own, so the roles are as registered and no other pairing of the shared
# chain waits for this county.
pytestmark = [needs_chromium, pytest.mark.own_chain]


def test_pairing_proposed_and_accepted_in_the_browser(
    stage: Stage,  # noqa: F811 - the fixture imported above
    pump: Pump,
    svc: LedgerService,
) -> None:
    with svc.db.write() as s:
        key_counties.load_key_counties(s, [COUNTY_A, 522326], "test list")
    pump.start()
    a = stage.actors
    with (
        stage.role("pairing-org", a.org_a) as org,
        stage.role("pairing-county", a.county_a) as county,
        stage.role("pairing-civil", a.admin) as civil,
    ):
        org.open("/workspace/org")
        pg = org.page
        # a field left wrong is marked, nothing is sent
        refused_at(pg, "#pg-county", "12345", "#pairing-submit", "6 位数字")
        start = date.today()
        pg.fill("#pg-county", str(COUNTY_A))
        pg.fill("#pg-start", start.isoformat())
        pg.fill("#pg-end", (start + timedelta(days=3 * 365)).isoformat())
        pg.check("#pg-cat-1")
        pg.check("#pg-cat-4")
        pg.fill("#pg-funds", "300000")
        pg.fill("#pg-projects", "2")
        pg.fill("#pg-hours", "120")
        pg.check("#pg-designated")
        pg.fill("#pg-terms", "三年结对帮扶协议：产业发展与乡村治理")
        pg.click("#pairing-submit")
        org.confirm(
            "结对帮扶", "册亨县", "¥300,000.00", "产业发展", "乡村治理", "定点帮扶",
            start.isoformat(), shot="pairing-dialog-1280",
        )  # fmt: skip
        expect(pg.locator("#pairing-message")).to_contain_text("等待县里接受")
        pairing_id = record_ids(org)[0]
        wait_confirmed(org, pairing_id)

        county.open("/workspace/county")
        cp = county.page
        cp.click("#pairing-refresh")
        item = cp.locator(f"#pairing-proposals li[data-pairing='{pairing_id}']")
        expect(item).to_contain_text(ORG_NAME_A)
        expect(item).to_contain_text("¥300,000.00")
        shoot_here(county, "pairing-county-proposals", "the proposals", "#pairing-proposals")
        item.locator("button").click()
        county.confirm("接受结对", "册亨县", pairing_id)
        expect(cp.locator("#pairing-accept-message")).to_contain_text("已接受结对")
        wait_confirmed(county, record_ids(county)[0])

        # the commitment form now offers the accepted pairing
        pg.click("#c-pairing-refresh")
        expect(pg.locator(f"#c-pairing option[value='{pairing_id}']")).to_contain_text("册亨县")

        civil.open("/workspace/civil")
        expect(civil.page.locator("#oversight-unpaired")).to_contain_text("望谟县")
        expect(civil.page.locator("#oversight-unpaired")).not_to_contain_text("册亨县")

        portal = org.page
        portal.goto(stage.base + "/pairings")
        row = portal.locator(f"#pairing-{pairing_id}")
        expect(row).to_contain_text(ORG_NAME_A)
        expect(row).to_contain_text("已接受")
        expect(row).to_contain_text("定点帮扶")
        shoot_here(org, "pairing-portal", "the pairings page")
        for role in (org, county, civil):
            role.assert_nothing_leaked()
