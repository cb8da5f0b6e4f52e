"""The workspaces in a real headless chromium (Debian's /usr/bin/chromium via Playwright),
against a real anvil and database: each role in its own browser context with its own key,
imported from a keystore v3 file. A wrong password and a form with bad input each show a
bilingual message and change nothing; the county publishes a need through the form, the
organization takes it (接单), the county accepts, the organization commits and delivers with
an evidence file, the county confirms receipt and the auditor flags the delivery; every record
reaches "confirmed". No request carries a private key or a password. Screenshots of every
workspace page at 1280 and 390 px go to test-artifacts/workspace/."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from eth_account import Account

from tests.conftest import COUNTY_A, ORG_CODE_A
from tests.factories import Pump

from .browserkit import (
    ARTIFACTS,
    Stage,
    expect,
    needs_chromium,
    publish_supply,
    record_ids,
    refused_at,
    shoot,
    wait_confirmed,
)

pytestmark = needs_chromium


def test_create_backup_and_clear(stage: Stage) -> None:
    """A key made in the browser: its backup is a keystore v3 file that opens with the
    password (as `bangfu` opens one); clearing asks first and then removes it."""
    with stage.role("new", Account.create()) as role:
        pg = role.page
        role.goto("/workspace")
        pg.fill("#create-password", role.password)
        refused_at(pg, "#create-password2", role.password + "x", "#create", "the passwords differ")
        assert role.stored() is None
        pg.fill("#create-password2", role.password)
        pg.click("#create")
        expect(pg.locator("#key-status")).to_contain_text("已解锁", timeout=120_000)
        address = pg.locator("#key-address").inner_text()
        assert role.stored()["address"] == address
        with pg.expect_download() as info:
            pg.click("#backup")
        backup = Path(info.value.path()).read_text()
        key = Account.decrypt(json.loads(backup), role.password)
        assert Account.from_key(key).address == address
        role.secrets = lambda: [key.hex().removeprefix("0x"), role.password]  # type: ignore[method-assign]
        # lock, then clear: the dialog warns, Esc keeps the key, 清除 removes it
        pg.click("#lock")
        pg.click("#clear")
        expect(pg.locator("#clear-dialog")).to_contain_text("永久丢失")
        expect(pg.locator("#clear-cancel")).to_be_focused()
        pg.keyboard.press("Escape")
        assert role.stored()["address"] == address
        pg.click("#clear")
        pg.click("#clear-ok")
        expect(pg.locator("#key-status")).to_contain_text("本设备没有密钥")
        assert role.stored() is None
        role.assert_nothing_leaked()


def test_a_key_file_with_a_15_byte_iv_opens(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    """eth-keyfile (older `bangfu keygen`, other tools) writes one key file in 256 with a
    15-byte AES-CTR iv, which ethers refuses as it stands: the workspace restores the iv's
    16 bytes and the key opens, to the same address."""
    import eth_keyfile.keyfile as kf

    real = kf.Random.get_random_bytes
    monkeypatch.setattr(kf.Random, "get_random_bytes", lambda n: b"\x00" + real(n - 1))
    with stage.role("short-iv", Account.create()) as role:
        doc = Account.encrypt(bytes(role.account.key), role.password, iterations=2**10)
        assert len(doc["crypto"]["cipherparams"]["iv"]) < 32
        role.keyfile.write_text(json.dumps(doc))
        role.import_key()
        assert role.stored()["address"] == role.account.address
        role.assert_nothing_leaked()


def test_roles_in_the_browser(stage: Stage, pump: Pump, tmp_path: Path) -> None:
    a = stage.actors
    pump.start()
    with (
        stage.role("county", a.county_a) as county,
        stage.role("org", a.org_a) as org,
        stage.role("auditor", a.auditor) as auditor,
        stage.role("admin", a.admin) as admin,
    ):
        # ---- keys: a wrong password first (message shown, nothing stored), then the right one
        pg = county.page
        county.goto("/workspace")
        expect(pg.locator("#key-status")).to_contain_text("本设备没有密钥")
        pg.set_input_files("#import-file", str(county.keyfile))
        refused_at(pg, "#import-password", "not the password", "#import", "口令错误")
        expect(pg.locator("#import-password-error")).to_contain_text("wrong password")
        assert county.stored() is None
        pg.fill("#import-password", county.password)
        pg.click("#import")
        expect(pg.locator("#key-address")).to_have_text(a.county_a.address)
        saved = county.stored()
        assert saved["address"] == a.county_a.address
        assert json.loads(saved["json"])["crypto"]  # the keystore, still encrypted
        assert a.county_a.key.hex().removeprefix("0x") not in json.dumps(saved)
        # lock, a wrong password to unlock: the stored key does not change
        pg.click("#lock")
        refused_at(pg, "#unlock-password", "wrong again", "#unlock", "口令错误")
        assert county.stored() == saved
        # clearing asks first: cancel keeps the key
        pg.click("#clear")
        expect(pg.locator("#clear-dialog")).to_contain_text("永久丢失")
        pg.click("#clear-cancel")
        assert county.stored() == saved
        county.unlock()
        county.signed_in()

        for role in (org, auditor, admin):
            role.import_key()

        # ---- the county publishes a need: bad input first (inline errors, nothing sent)
        county.goto("/workspace/county")
        county.unlock()
        expect(pg.locator("#key-role")).to_contain_text("county office")
        expect(pg.locator("#key-role")).to_contain_text("册亨县")
        expect(pg.locator("#n-county")).to_have_value(str(COUNTY_A))  # filled from the role
        sent_before = len([r for r in county.requests if r.method != "GET"])
        pg.fill("#n-county", "12345")
        pg.fill("#n-title", "")
        pg.click("#need-submit")
        expect(pg.locator("#n-county-error")).to_contain_text("6 位")
        expect(pg.locator("#n-title-error")).to_contain_text("title is required")
        expect(pg.locator("#n-title")).to_have_attribute("aria-invalid", "true")
        expect(pg.locator("#need-message")).to_contain_text("nothing was sent")
        pg.locator("#need-form").screenshot(path=str(ARTIFACTS / "county-need-errors-1280.png"))
        assert len([r for r in county.requests if r.method != "GET"]) == sent_before
        deadline = (date.today() + timedelta(days=120)).isoformat()
        pg.fill("#n-county", str(COUNTY_A))
        pg.fill("#n-title", "大米帮扶 浏览器发布")
        pg.select_option("#n-category", "民生保障")
        pg.check("#n-mode-relief")
        pg.fill("#n-beneficiaries", "120")
        pg.fill("#n-budget", "1234.5")
        pg.select_option("#n-kind", "goods")
        pg.fill("#n-quantity", "1000")
        pg.fill("#n-unit", "斤")
        pg.fill("#n-item", "大米")
        pg.fill("#n-deadline", deadline)
        pg.fill("#n-contact", "县乡村振兴局")
        pg.click("#need-submit")
        county.confirm(
            "大米帮扶 浏览器发布",
            "册亨县",
            "¥1,234.50 元",
            deadline,
            "民生保障",
            shot="sign-need-1280",
        )
        expect(pg.locator("#need-message")).to_contain_text("需求已发布")
        need_id = pg.locator("#published li").first.get_attribute("data-project")
        assert need_id and re.fullmatch(r"0x[0-9a-f]{64}", need_id)
        (anchor_id,) = record_ids(county)
        wait_confirmed(county, anchor_id)

        # ---- the organization takes it (接单)
        opg = org.page
        org.goto("/workspace/org")
        org.unlock()
        expect(opg.locator("#key-role")).to_contain_text(ORG_CODE_A)
        expect(opg.locator("#s-org")).to_have_value(ORG_CODE_A)
        opg.click("#needs-refresh")
        opg.click(f"#need-list button[data-need='{need_id}']")
        expect(opg.locator("#t-need")).to_have_value(need_id)
        opg.fill("#s-org", ORG_CODE_A)
        opg.fill("#t-note", "可在一个月内送达")
        opg.click("#take")
        org.confirm("接单", "大米帮扶 浏览器发布", "1,000 斤 大米")
        expect(opg.locator("#take-message")).to_contain_text("对接编号")
        match_id = opg.input_value("#c-match")
        assert re.fullmatch(r"0x[0-9a-f]{64}", match_id)

        # ---- the county accepts from its inbox
        pg.click("#inbox-refresh")
        pg.click(f"#inbox-proposals button[data-action='accept'][data-match='{match_id}']")
        county.confirm("接受", "大米帮扶 浏览器发布")
        expect(pg.locator("#inbox-message")).to_contain_text("已接受")

        # ---- the organization commits, then delivers with an evidence file
        opg.select_option("#c-kind", "goods")
        opg.fill("#c-quantity", "1000")
        opg.fill("#c-unit", "斤")
        opg.fill("#c-due", (date.today() + timedelta(days=60)).isoformat())
        opg.fill("#c-terms", "分两批送达")
        opg.set_viewport_size({"width": 390, "height": 800})
        opg.click("#commit")
        # the need is named in words, not only by its id
        org.confirm(
            "承诺",
            "物资 goods",
            "1,000 斤",
            "北京时间",
            "所承诺的需求",
            "大米帮扶 浏览器发布",
            shot="sign-commitment-390",
        )
        opg.set_viewport_size({"width": 1280, "height": 900})
        expect(opg.locator("#commit-message")).to_contain_text("承诺已提交")
        (commitment_id,) = record_ids(org)
        wait_confirmed(org, commitment_id)
        expect(opg.locator("#d-commitment")).to_have_value(commitment_id)
        photo = tmp_path / "delivery.png"
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
        opg.set_input_files("#d-file", str(photo))
        opg.fill("#d-quantity", "600")
        opg.fill("#d-beneficiaries", "40")
        opg.click("#deliver")
        org.confirm("证据文件", "image/png")
        org.confirm("交付", "600", "所交付的承诺", "1,000 斤", "大米帮扶 浏览器发布", "册亨县")
        expect(opg.locator("#delivery-message")).to_contain_text("交付已提交")
        digest = "0x" + hashlib.sha256(photo.read_bytes()).hexdigest()
        expect(opg.locator("#d-hash")).to_contain_text(digest)
        delivery_id = record_ids(org)[0]
        wait_confirmed(org, delivery_id)

        # ---- a 100-line CSV batch: one bad cell first (shown at its line, nothing signed),
        # then the fixed file, uploaded with a progress bar and confirmed
        today = date.today().isoformat()
        rows = [
            f"{commitment_id},大米 rice,1,斤,{today},0x{os.urandom(32).hex()}" for _ in range(100)
        ]
        header = (
            "承诺编号 commitment_id,物品或服务 item,数量 quantity,单位 unit,交付日期,受益人假名"
        )
        bad = tmp_path / "batch-bad.csv"
        bad.write_text("\n".join([header, *rows[:40], rows[40].replace(",1,", ",一,"), *rows[41:]]))
        opg.set_input_files("#batch-file", str(bad))
        opg.click("#batch-check")
        expect(opg.locator("#batch-errors tr[data-line='42']")).to_contain_text("quantity")
        expect(opg.locator("#batch-send")).to_be_disabled()
        good = tmp_path / "batch.csv"
        good.write_text("\ufeff" + "\r\n".join([header, *rows]) + "\r\n")
        opg.set_input_files("#batch-file", str(good))
        opg.click("#batch-check")
        expect(opg.locator("#batch-message")).to_contain_text("All 100 lines pass")
        expect(opg.locator("#batch-errors")).to_be_hidden()
        opg.click("#batch-send")
        org.confirm("批量交付", "100")
        expect(opg.locator("#batch-message")).to_contain_text("批量交付已提交")
        expect(opg.locator("#batch-progress-text")).to_have_text("100 / 100")
        wait_confirmed(org, record_ids(org)[0])

        # ---- the county confirms a receipt of 600
        pg.fill("#r-delivery", delivery_id)
        pg.fill("#r-quantity", "600")
        pg.click("#receipt")
        county.confirm("签收", "600", "所签收的交付", "交付数量", "大米帮扶 浏览器发布")
        expect(pg.locator("#receipt-message")).to_contain_text("签收已提交")
        receipt_id = record_ids(county)[0]
        wait_confirmed(county, receipt_id)

        # ---- the auditor flags the delivery; cancelling first signs nothing
        apg = auditor.page
        auditor.goto("/workspace/audit")
        auditor.unlock()
        # by keyboard alone: Tab moves through the labelled fields with a visible focus ring
        apg.select_option("#f-reason", "3")
        apg.focus("#f-record")
        apg.keyboard.type(delivery_id)
        for expected in ("f-reason", "f-note"):
            apg.keyboard.press("Tab")
            assert apg.evaluate("document.activeElement.id") == expected
            outline = apg.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("", "none"), f"no visible focus on #{expected}"
            label = apg.evaluate(
                "document.querySelector(`label[for=${document.activeElement.id}]`)?.textContent"
            )
            assert label, f"#{expected} has no label"
        apg.keyboard.type("签收与交付数量待核")
        apg.keyboard.press("Tab")
        assert apg.evaluate("document.activeElement.id") == "flag"
        apg.keyboard.press("Enter")
        expect(apg.locator("#sign-dialog")).to_contain_text("签收不足")
        apg.keyboard.press("Escape")
        expect(apg.locator("#flag-message")).to_contain_text("nothing was signed")
        assert not record_ids(auditor)
        apg.click("#flag")
        auditor.confirm("签收不足", "被标记的记录", "交付 delivery", "大米帮扶 浏览器发布")
        expect(apg.locator("#flag-message")).to_contain_text("标记已提交")
        flag_id = record_ids(auditor)[0]
        wait_confirmed(auditor, flag_id)

        # ---- the organization publishes a supply project; the county orders it (点单) for
        # its need and the organization accepts
        publish_supply(
            org,
            "冬季助学物资 winter school kits",
            "为乡村小学提供冬季学习用品",
            [2, 10],
            f"52, {COUNTY_A}",
            "50000",
        )
        org.confirm("冬季助学物资", "¥50,000.00 元", "人才培育")
        expect(opg.locator("#supply-message")).to_contain_text("供给项目已发布")
        supply_id = opg.locator("#supply-message").inner_text().split(": ")[-1].strip()
        assert re.fullmatch(r"0x[0-9a-f]{64}", supply_id)
        wait_confirmed(org, record_ids(org)[0])
        pg.click("#supply-refresh")
        pg.click(f"#supply-list button[data-supply='{supply_id}']")
        pg.fill("#o-need", need_id)
        pg.click("#order")
        county.confirm("点单", "冬季助学物资", "大米帮扶 浏览器发布")
        expect(pg.locator("#order-message")).to_contain_text("点单已发出")
        order_id = re.findall(r"0x[0-9a-f]{64}", pg.locator("#order-message").inner_text())[-1]
        opg.fill("#a-match", order_id)
        opg.click("#a-accept")
        org.confirm("接受", "冬季助学物资")
        expect(opg.locator("#answer-message")).to_contain_text("已接受")

        # ---- the civil-affairs office loads the key-county list, signed by the admin key
        mpg = admin.page
        admin.goto("/workspace/civil")
        admin.unlock()
        expect(mpg.locator("#kc-current")).to_contain_text("version 0")
        mpg.fill("#kc-codes", f"{COUNTY_A}, 520121")
        mpg.fill("#kc-source", "国乡振发〔2021〕号")
        mpg.click("#kc-submit")
        admin.confirm("册亨县", "开阳县", "国乡振发")
        expect(mpg.locator("#kc-message")).to_contain_text("version 1 loaded")
        expect(mpg.locator("#kc-current")).to_contain_text("2 个县")

        # ---- screenshots of every workspace page, each at 1280 and 390 px
        shoot(county, ["", "/county"])
        shoot(org, ["/org"])
        shoot(admin, ["/civil"])
        shoot(auditor, ["/audit"])

        for role in (county, org, auditor, admin):
            role.assert_nothing_leaked()
