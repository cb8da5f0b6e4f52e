"""A grievance (申诉) filed from the portal on a phone and answered in the county workspace,
in a real headless chromium against a real anvil and database: a villager with no account
opens a need project at 390 px, files a grievance (with contact details) through the
portal form, and gets a filing number; the county office registers it and answers it in
its workspace, each signed in the dialog; the villager's grievance page then shows the
registration and the answer, and the project page counts it. No page scrolls sideways at
390 px, no CSP violation, and the contact is on no page. Screenshots go to
test-artifacts/workspace/ (grievance-*.png)."""

from __future__ import annotations

from typing import Any

from tests.browser import watched_page
from tests.factories import Chain, ChainEnv, Pump, Stack, body

from .browserkit import (
    ARTIFACTS,
    Stage,
    expect,
    needs_chromium,
    no_sideways,
    shoot_here,
    wait_confirmed,
)

pytestmark = needs_chromium

TEXT = "村里领到的化肥比公示的少了三袋。"
CONTACT = "联系人 李大姐 13611112222"
ANSWER = "经核实，少发三袋，已于本周补发。"


def test_grievance_filed_on_a_phone_and_answered_by_the_county(
    stage: Stage,
    env: ChainEnv,
    svc: Any,
    st: Stack,
    pump: Pump,
    http: Any,
) -> None:
    base = stage.base
    n = Chain(env.domain, env.actors.county_a, env.actors.org_a).need()
    assert http.post("/api/v1/records", json=body(n)).status_code == 202
    st.settle()
    pid = "0x" + n.record.project_id.hex()  # type: ignore[attr-defined]
    pump.start()

    with (
        # the villager: a phone-sized browser with no key at all
        watched_page(stage.browser, viewport={"width": 390, "height": 844}, locale="zh-CN") as pg,
        stage.role("grievance-county", env.actors.county_a) as county,
    ):
        pg.goto(f"{base}/projects/{pid}")
        expect(pg.locator("#g-open")).to_have_text("0")
        pg.click("#file-grievance")
        expect(pg.locator("#g-project")).to_have_value(pid)
        no_sideways(pg, "the grievance form")
        pg.screenshot(path=str(ARTIFACTS / "grievance-form-390.png"), full_page=True)
        # personal data in the public text: refused on the form, the text kept to fix
        pg.fill("#g-text", TEXT + "请打 13611112222")
        pg.click("#g-submit")
        expect(pg.locator("#grievance-error")).to_contain_text("手机号")
        expect(pg.locator("#g-text")).to_have_value(TEXT + "请打 13611112222")
        pg.fill("#g-text", TEXT)
        pg.fill("#g-contact", CONTACT)
        pg.click("#g-submit")
        expect(pg.locator("#receipt")).to_contain_text("已收到您的申诉")
        filing = pg.locator("#receipt-no").inner_text()
        assert filing.startswith("SS-")
        no_sideways(pg, "the filer's receipt")
        pg.screenshot(path=str(ARTIFACTS / "grievance-receipt-390.png"), full_page=True)
        expect(pg.locator("#g-status")).to_have_attribute("data-status", "filed")

        # the county office registers it, then answers it
        county.start("/workspace/county", "县乡村振兴部门")
        cp = county.page
        item = cp.locator(f"#grievance-list li[data-filing='{filing}']")
        expect(item).to_contain_text(TEXT)
        expect(item).not_to_contain_text("李大姐")
        item.locator("button[data-register]").click()
        county.confirm("登记申诉", filing, TEXT, shot="grievance-register-1280")
        expect(cp.locator(f"#gr-msg-{filing}")).to_contain_text("登记已提交")
        reg_id = cp.locator("#records li[data-record]").first.get_attribute("data-record")
        assert reg_id
        wait_confirmed(county, reg_id)
        cp.click("#grievance-refresh")
        form = cp.locator(f"form[data-answer='{filing}']")
        expect(form).to_be_visible()
        form.locator("select").select_option("1")
        form.locator("textarea").fill(ANSWER)
        form.locator("button[type=submit]").click()
        county.confirm("答复申诉", "成立 upheld", ANSWER, shot="grievance-answer-1280")
        expect(cp.locator(f"#ga-msg-{filing}")).to_contain_text("答复已提交")
        ans_id = cp.locator("#records li[data-record]").first.get_attribute("data-record")
        assert ans_id and ans_id != reg_id
        wait_confirmed(county, ans_id)
        cp.click("#grievance-refresh")
        expect(cp.locator(f"#grievance-list li[data-filing='{filing}']")).to_have_attribute(
            "data-status", "answered"
        )
        shoot_here(county, "grievance-county", "the county's grievance list", "#grievances")
        # the filer's contact: the signed-in county office reads it on request, privately
        done = cp.locator(f"#grievance-list li[data-filing='{filing}']")
        done.locator("button[data-show-contact]").click()
        expect(done.locator(f"[data-contact='{filing}']")).to_contain_text(CONTACT)
        county.assert_nothing_leaked()

        # the villager's page shows the registration and the answer
        pg.goto(f"{base}/grievances/{filing}")
        expect(pg.locator("#g-status")).to_have_attribute("data-status", "answered")
        expect(pg.locator("#g-registration")).to_contain_text("北京时间")
        expect(pg.locator("#g-outcome")).to_contain_text("成立")
        expect(pg.locator("#g-answer")).to_have_text(ANSWER)
        no_sideways(pg, "the grievance page")
        pg.screenshot(path=str(ARTIFACTS / "grievance-answered-390.png"), full_page=True)
        assert "李大姐" not in pg.content() and "13611112222" not in pg.content()
        pg.goto(f"{base}/projects/{pid}")
        expect(pg.locator("#g-answered")).to_have_text("1")
        expect(pg.locator("#g-upheld")).to_have_text("1")
        no_sideways(pg, "the project page")
