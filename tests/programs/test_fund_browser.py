"""Browser story (专项基金): in a real headless chromium against a real anvil and database, the
organization opens a fund for an individual sponsor who did not consent to be named, draws on
it from the commitment form's "draw on a fund" block (the commitment and its source signed in
one confirmation), is stopped by the form before drawing past the pledge, and the fund's
public page shows pledged → committed in yuan — never the sponsor's name."""

from __future__ import annotations

from datetime import date, timedelta

from tests.factories import Pump, Stack, matched
from tests.workspace_ui.browserkit import (
    ARTIFACTS,
    Stage,
    expect,
    needs_chromium,
    refused_at,
    wait_confirmed,
)
from tests.workspace_ui.conftest import browser, bundle_built, stage  # noqa: F401 - fixtures

pytestmark = needs_chromium

SPONSOR = "赵六一"


def test_fund_opened_drawn_on_and_its_page_checked(
    stage: Stage,  # noqa: F811 - the fixture imported above
    st: Stack,
    pump: Pump,
) -> None:
    a = stage.actors
    need_id, match_id = matched(st, a.county_a, a.org_a)
    pump.start()
    with stage.role("fund-org", a.org_a) as org:
        org.open("/workspace/org")
        pg = org.page
        # ---- open a fund
        pg.fill("#fo-name", "乡村阅读专项基金")
        pg.select_option("#fo-kind", "2")
        pg.fill("#fo-sponsor", SPONSOR)
        pg.fill("#fo-pledged", "5000")
        pg.fill("#fo-purpose", "为册亨县乡村小学购买图书。")
        # without consent the sponsor's name may not be in the public name: refused here
        pg.fill("#fo-name", f"{SPONSOR}阅读基金")
        pg.click("#fund-submit")
        expect(pg.locator("#fo-public-error")).to_contain_text("不得出现其名称")
        pg.fill("#fo-name", "乡村阅读专项基金")
        pg.click("#fund-submit")
        org.confirm("开设专项基金", "乡村阅读专项基金", "¥5,000.00 元", "个人 individual", SPONSOR,
                    "不公开 never shown", shot="sign-fund-1280")  # fmt: skip
        expect(pg.locator("#fund-message")).to_contain_text("专项基金已提交")
        fund_id = pg.locator("#records li[data-record]").first.get_attribute("data-record")
        assert fund_id
        wait_confirmed(org, fund_id)
        pg.click("#funds-refresh")
        expect(pg.locator(f"#c-fund option[value='{fund_id}']")).to_have_count(1)

        # ---- commit 3,000 元 drawing 3,000 元 on the fund
        pg.fill("#c-need", need_id)
        pg.fill("#c-match", match_id)
        pg.select_option("#c-kind", "funds")
        pg.fill("#c-quantity", "3000")
        pg.fill("#c-due", (date.today() + timedelta(days=60)).isoformat())
        pg.select_option("#c-fund", fund_id)
        pg.fill("#c-fund-amount", "3000")
        pg.click("#commit")
        org.confirm("承诺", "动用专项基金", "乡村阅读专项基金", "¥3,000.00 元",
                    shot="sign-commit-with-fund-1280")  # fmt: skip
        expect(pg.locator("#commit-message")).to_contain_text("承诺已提交")
        ids = pg.eval_on_selector_all(
            "#records li[data-record]", "els => els.map(e => e.dataset.record)"
        )
        for rid in ids:
            wait_confirmed(org, rid)

        # ---- a second draw past what is left (2,000 元) is stopped by the form, nothing sent
        pg.click("#funds-refresh")
        expect(pg.locator(f"#c-fund option[value='{fund_id}']")).to_contain_text("¥2,000.00")
        sent = len([r for r in org.requests if r.method == "POST"])
        pg.select_option("#c-fund", fund_id)
        refused_at(pg, "#c-fund-amount", "2500", "#commit", "超过基金可用额")
        assert len([r for r in org.requests if r.method == "POST"]) == sent

        # ---- the fund's public page
        response = pg.goto(stage.base + f"/funds/{fund_id}")
        assert response is not None and response.status == 200
        assert "style-src 'self'" in response.headers["content-security-policy"]
        main = pg.locator("main")
        expect(main).to_contain_text("乡村阅读专项基金")
        expect(main).to_contain_text("¥5,000.00")
        expect(main).to_contain_text("¥3,000.00")
        expect(main).to_contain_text("出资方未同意公开名称")
        expect(main).to_contain_text("为册亨县乡村小学购买图书")
        expect(pg.locator("#fund-stages tr[data-stage='committed']")).to_contain_text("60%")
        assert SPONSOR not in pg.content()
        pg.screenshot(path=str(ARTIFACTS / "fund-page-1280.png"), full_page=True)
        org.assert_nothing_leaked()
