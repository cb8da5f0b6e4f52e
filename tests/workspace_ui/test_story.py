"""Issue 14's story, entirely in the browser (real chromium, real anvil, real database), each
role in its own browser context with its own key, none of them known to the chain before:

1. the civil-affairs office registers a county office and an organization by name;
2. the county imports a need list of three needs, one with a bad cell; it fixes the cell and
   publishes all three;
3. the organization takes one need (接单), and the county orders a supply project for
   another (点单); both are accepted from the inbox;
4. the organization commits, delivers with a photo as evidence (a tampered upload first is
   refused and stores nothing) and uploads a 100-line batch;
5. the county confirms receipt from its inbox, where the evidence opens;
6. the auditor flags one record and runs the audit, which passes;
7. an expired session is told so and reads nothing;
8. the public portal shows it all with names.

No request in the story carries a private key or a password: every request body, header and
URL is captured and searched.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import update

from ledger.app import LedgerService
from ledger.library.regions import org_code_check_char
from ledger.workspace.models import SignInSession
from tests.factories import Pump

from .browserkit import (
    ARTIFACTS,
    Role,
    Stage,
    expect,
    needs_chromium,
    publish_supply,
    record_ids,
    run_audit,
    shoot,
    sync_api,
    wait_confirmed,
)

# A chain of this module's own: the inbox lists the newest 200 rows and the audit reads the whole
# chain, so other modules' records (forged ones among them) stay out.
pytestmark = [needs_chromium, pytest.mark.own_chain]

COUNTY = 522328  # 安龙县: no key of the test chain holds it
COUNTY_NAME = "安龙县"
ORG_NAME = "黔西南州助农公益促进会"
AUTHORITY = "黔西南州民政局"
SUPPLY_TITLE = "春耕农资包 spring farming kits"
NEED_HEADER = "标题,类别,方式,受益人数,预算（元）,资源类型,数量,单位,截止日期,联系人角色"
NEEDS = [
    ("安龙县坡脚村大米帮扶", "民生保障", "输血", "60", "5000", "物资", "800", "斤"),
    ("安龙县春耕农资", "产业发展", "造血", "120", "30000", "资金", "30000", "元"),
    ("安龙县留守儿童课后辅导", "特殊群体关爱", "造血", "45", "0", "服务", "200", "小时"),
]


def org_code() -> str:
    """A 民政-registered social group's credit code (51…) with a valid check character."""
    first17 = "51522300MJ" + os.urandom(4).hex().upper().translate(str.maketrans("", "", "IOSVZ"))
    first17 = (first17 + "1234567")[:17]
    return first17 + org_code_check_char(first17)


def need_list(deadline: str, bad_row: int | None = None) -> str:
    rows = []
    for i, (title, category, mode, people, budget, kind, qty, unit) in enumerate(NEEDS):
        if i == bad_row:
            people = "四十五"  # not a number: 受益人数 of the third need
        rows.append(
            f"{title},{category},{mode},{people},{budget},{kind},{qty},{unit},{deadline},村委会"
        )
    return "\ufeff" + "\r\n".join([NEED_HEADER, *rows]) + "\r\n"


def register(admin: Role, action: str, account: str, *expect_text: str, **fields: str) -> None:
    pg = admin.page
    pg.select_option("#g-action", action)
    pg.fill("#g-account", account)
    for selector, value in fields.items():
        if selector == "g-type":
            pg.select_option("#g-type", value)
        else:
            pg.fill(f"#{selector}", value)
    message = pg.locator("#register-message")
    before = message.inner_text()
    pg.click("#register")
    admin.confirm("登记交易", *expect_text)
    sync_api.expect(message).not_to_have_text(before, timeout=60_000)
    sync_api.expect(message).to_contain_text("已登记")


def test_the_story_in_the_browser(
    stage: Stage,
    pump: Pump,
    svc: LedgerService,
    tmp_path: Path,
) -> None:
    base = stage.base
    a = stage.actors
    pump.start()
    code = org_code()
    with (
        stage.role("story-admin", a.admin) as admin,
        stage.role("story-county", Account.create()) as county,
        stage.role("story-org", Account.create()) as org,
        stage.role("story-auditor", a.auditor) as auditor,
    ):
        # ---- 1. the civil-affairs office registers the county office and the organization
        admin.open("/workspace/civil")
        mpg = admin.page
        register(
            admin,
            "register_county",
            county.account.address,
            COUNTY_NAME,
            **{"g-county": str(COUNTY)},
        )
        register(
            admin,
            "register_org",
            org.account.address,
            ORG_NAME,
            code,
            **{"g-org": code, "g-name": ORG_NAME, "g-type": "1", "g-authority": AUTHORITY},
        )
        expect(mpg.locator("#registrations")).to_contain_text(ORG_NAME, timeout=60_000)
        expect(mpg.locator("#registrations")).to_contain_text(COUNTY_NAME)
        # the periodic report of a period, downloaded from the same page (PDF)
        mpg.fill("#rp-period", str(date.today().year))
        mpg.fill("#rp-province", "52")
        with mpg.expect_download() as info:
            mpg.click("#report-pdf")
        report = Path(info.value.path()).read_bytes()
        assert report.startswith(b"%PDF")
        assert info.value.suggested_filename == f"bangfu-report-52-{date.today().year}.pdf"

        # ---- 2. the county imports a need list: a bad cell blocks it until fixed
        county.start("/workspace/county", COUNTY_NAME)
        pg = county.page
        deadline = (date.today() + timedelta(days=90)).isoformat()
        bad = tmp_path / "需求表-bad.csv"
        bad.write_text(need_list(deadline, bad_row=2), encoding="utf-8")
        pg.set_input_files("#list-file", str(bad))
        pg.click("#list-check")
        error = pg.locator("#list-errors tr[data-row='4']")
        expect(error).to_contain_text("受益人数")
        expect(pg.locator("#list-publish")).to_be_disabled()
        expect(pg.locator("#list-message")).to_contain_text("改正前不能发布")
        pg.screenshot(path=str(ARTIFACTS / "story-county-list-errors-1280.png"), full_page=True)
        good = tmp_path / "需求表.csv"
        good.write_text(need_list(deadline), encoding="utf-8")
        pg.set_input_files("#list-file", str(good))
        pg.click("#list-check")
        expect(pg.locator("#list-message")).to_contain_text("3 个需求全部通过检查")
        expect(pg.locator("#list-errors")).to_be_hidden()
        pg.click("#list-publish")
        county.confirm(
            NEEDS[0][0], NEEDS[1][0], NEEDS[2][0], COUNTY_NAME, shot="sign-need-list-1280"
        )
        expect(pg.locator("#list-message")).to_contain_text("3 个需求已发布", timeout=120_000)
        published = pg.eval_on_selector_all(
            "#published li[data-project]", "els => els.map(e => [e.textContent, e.dataset.project])"
        )
        by_title = dict(published)  # the list names each need by its title, not its id
        assert sorted(by_title) == sorted(n[0] for n in NEEDS), published
        for rid in record_ids(county):
            wait_confirmed(county, rid)

        # ---- 3. 接单 on the rice need; the organization publishes a supply project, and the
        # county orders it (点单) for the farming need; each side accepts from its inbox
        org.start("/workspace/org", ORG_NAME)
        opg = org.page
        rice = by_title[NEEDS[0][0]]
        opg.click("#needs-refresh")
        opg.click(f"#need-list button[data-need='{rice}']")
        opg.fill("#t-note", "两周内送达")
        opg.click("#take")
        org.confirm("接单", NEEDS[0][0])
        expect(opg.locator("#take-message")).to_contain_text("对接编号")
        take_id = opg.input_value("#c-match")

        publish_supply(org, SUPPLY_TITLE, "化肥、种子与技术指导", [1], f"{COUNTY}", "30000")
        org.confirm(SUPPLY_TITLE, "¥30,000.00 元")
        expect(opg.locator("#supply-message")).to_contain_text("供给项目已发布")
        supply_id = re.findall(r"0x[0-9a-f]{64}", opg.locator("#supply-message").inner_text())[-1]
        wait_confirmed(org, record_ids(org)[0])

        pg.click("#supply-refresh")
        pg.click(f"#supply-list button[data-supply='{supply_id}']")
        pg.fill("#o-need", by_title[NEEDS[1][0]])
        pg.click("#order")
        county.confirm("点单", SUPPLY_TITLE, NEEDS[1][0])
        expect(pg.locator("#order-message")).to_contain_text("点单已发出")
        order_id = re.findall(r"0x[0-9a-f]{64}", pg.locator("#order-message").inner_text())[-1]

        pg.click("#inbox-refresh")
        pg.click(f"#inbox-proposals button[data-action='accept'][data-match='{take_id}']")
        county.confirm("接受", NEEDS[0][0])
        expect(pg.locator("#inbox-message")).to_contain_text("已接受")
        opg.click("#inbox-refresh")
        opg.click(f"#inbox-proposals button[data-action='accept'][data-match='{order_id}']")
        org.confirm("接受", SUPPLY_TITLE)
        expect(opg.locator("#inbox-message")).to_contain_text("已接受")

        # ---- 4. the organization commits on the rice need and delivers with a photo
        expect(opg.locator("#c-match")).to_have_value(take_id)
        opg.fill("#c-need", rice)
        opg.fill("#c-match", take_id)
        opg.select_option("#c-kind", "goods")
        opg.fill("#c-quantity", "800")
        opg.fill("#c-unit", "斤")
        opg.fill("#c-due", (date.today() + timedelta(days=30)).isoformat())
        opg.fill("#c-terms", "一次送达")
        opg.click("#commit")
        org.confirm("承诺", "800 斤", "北京时间")
        expect(opg.locator("#commit-message")).to_contain_text("承诺已提交")
        commitment_id = record_ids(org)[0]
        wait_confirmed(org, commitment_id)

        photo = tmp_path / "送达照片.png"
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(256))
        digest = hashlib.sha256(photo.read_bytes()).hexdigest()
        evidence_dir = svc.settings.evidence_path

        # a tampered upload first: the bytes change on the way, the server refuses them
        def tamper(route: Any) -> None:
            body = route.request.post_data_buffer.replace(photo.read_bytes()[-16:], b"\0" * 16)
            route.continue_(post_data=body)

        opg.route("**/api/v1/evidence", tamper)
        opg.set_input_files("#d-file", str(photo))
        opg.fill("#d-quantity", "600")
        opg.fill("#d-beneficiaries", "60")
        opg.click("#deliver")
        org.confirm("证据文件", "image/png")
        expect(opg.locator("#delivery-message")).to_contain_text("哈希不符")
        expect(opg.locator("#delivery-message")).to_contain_text("evidence_hash_mismatch")
        assert not (evidence_dir / digest).exists()
        assert record_ids(org)[0] == commitment_id  # no delivery was signed
        opg.unroute("**/api/v1/evidence")

        opg.click("#deliver")
        org.confirm("证据文件", "image/png")
        org.confirm("交付", "600")
        expect(opg.locator("#delivery-message")).to_contain_text("交付已提交")
        assert (evidence_dir / digest).read_bytes() == photo.read_bytes()
        delivery_id = record_ids(org)[0]
        wait_confirmed(org, delivery_id)

        # a 100-line batch on the same commitment: 600 + 100 × 1 斤 of the 800 committed
        today = date.today().isoformat()
        header = "承诺编号,物品或服务,数量,单位,交付日期,受益人假名"
        lines = [f"{commitment_id},大米,1,斤,{today},0x{os.urandom(32).hex()}" for _ in range(100)]
        batch = tmp_path / "batch.csv"
        batch.write_text("\r\n".join([header, *lines]))
        opg.set_input_files("#batch-file", str(batch))
        opg.click("#batch-check")
        expect(opg.locator("#batch-message")).to_contain_text("All 100 lines pass")
        opg.click("#batch-send")
        org.confirm("批量交付", "100")
        expect(opg.locator("#batch-progress-text")).to_have_text("100 / 100", timeout=120_000)
        wait_confirmed(org, record_ids(org)[0])

        # ---- 5. the county confirms receipt from its inbox; the evidence opens there
        pg.click("#inbox-refresh")
        row = pg.locator(f"#inbox-receipts li:has(button[data-delivery='{delivery_id}'])")
        expect(row).to_contain_text(ORG_NAME)
        link = row.locator("a")
        evidence = httpx.get(base + str(link.get_attribute("href")), cookies=cookies_of(county))
        assert evidence.status_code == 200 and evidence.content == photo.read_bytes()
        row.locator("button").click()
        expect(pg.locator("#r-delivery")).to_have_value(delivery_id)
        pg.fill("#r-quantity", "580")
        pg.fill("#r-note", "短少 20 斤，已说明")
        pg.click("#receipt")
        county.confirm("签收", "580")
        expect(pg.locator("#receipt-message")).to_contain_text("签收已提交")
        receipt_id = record_ids(county)[0]
        wait_confirmed(county, receipt_id)

        # ---- 6. the auditor flags the receipt's shortfall
        auditor.open("/workspace/audit")
        apg = auditor.page
        apg.fill("#f-record", receipt_id)
        apg.select_option("#f-reason", "3")
        apg.fill("#f-note", "签收少于交付，待核")
        apg.click("#flag")
        auditor.confirm("签收不足")
        expect(apg.locator("#flag-message")).to_contain_text("标记已提交")
        wait_confirmed(auditor, record_ids(auditor)[0])
        # ... signs in and runs the audit over the chain and this database: it passes (the
        # shortfall and the flag are anomalies, not integrity findings)
        auditor.sign_in()
        auditor.goto("/workspace/audit")
        auditor.unlock()
        run_audit(auditor)
        expect(apg.locator("#audit-verdict")).to_have_text("通过 passed")

        # ---- 7. an expired session says so and shows nothing
        with svc.db.write() as s:
            s.execute(
                update(SignInSession)
                .where(SignInSession.address == county.account.address)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        pg.click("#inbox-refresh")
        expect(pg.locator("#inbox-message")).to_contain_text("已过期")
        expect(pg.locator("#inbox-message")).to_contain_text("expired")
        expect(pg.locator("#inbox-proposals li")).to_have_count(0)

        # ---- 8. the public portal shows it with names
        public = stage.role("story-public", Account.create())
        try:
            ppg = public.page
            ppg.goto(base + "/orgs")
            expect(ppg.locator("main")).to_contain_text(ORG_NAME)
            ppg.goto(base + f"/orgs/{code}")
            expect(ppg.locator("h1")).to_contain_text(ORG_NAME)
            ppg.goto(base + "/counties")
            expect(ppg.locator("main")).to_contain_text(COUNTY_NAME)
            ppg.goto(base + f"/projects/{rice}")
            expect(ppg.locator("main")).to_contain_text(NEEDS[0][0])
            expect(ppg.locator("main")).to_contain_text(ORG_NAME)
            for path, name in ((f"/orgs/{code}", "org"), (f"/projects/{rice}", "project")):
                for width in (1280, 390):
                    ppg.set_viewport_size({"width": width, "height": 900})
                    ppg.goto(base + path)
                    ppg.screenshot(
                        path=str(ARTIFACTS / f"story-portal-{name}-{width}.png"), full_page=True
                    )
        finally:
            public.context.close()

        shoot(county, ["/county"])
        shoot(org, ["/org"])
        shoot(admin, ["/civil"])
        shoot(auditor, ["/audit"])
        for role in (admin, county, org, auditor):
            role.assert_nothing_leaked()


def cookies_of(role: Role) -> dict[str, str]:
    return {c["name"]: c["value"] for c in role.context.cookies()}
