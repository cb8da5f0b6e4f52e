"""The follow-up story in the browser (real chromium, real anvil, real database): the
civil-affairs office sets the rate (10 %) with the admin key in its workspace; a county
office opens a follow-up round on a 100-line delivery batch from its workspace, waits for the
seed block, visits the sampled households on a phone-sized screen (390 px, no sideways
scroll) and signs one "not received" and the rest "received in full"; the not-received line
shows up as a finding in the periodic report the civil-affairs office downloads, and on the
portal's follow-up page."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.core.fields import BEIJING
from ledger.core.hexes import hex0x
from ledger.core.sample import sample_indices
from ledger.sdk.batch_client import BatchClient, sign_batch
from ledger.store.models import CommitmentRow, LogEntry
from tests.conftest import ChainEnv
from tests.factories import (
    COUNTY_NAME_A,
    ORG_NAME_A,
    Pump,
    make_lines,
    on_chain_commitment,
)
from tests.workspace_ui.browserkit import (
    Stage,
    expect,
    needs_chromium,
    no_sideways,
    record_ids,
    refresh_until,
    refused_at,
    shoot_here,
    wait_confirmed,
)
from tests.workspace_ui.conftest import browser, bundle_built, stage  # noqa: F401 - fixtures

# A chain of this module's own, so that the report holds this story's records only.
pytestmark = [needs_chromium, pytest.mark.own_chain]
RATE = 1_000  # 10 %: 10 of 100 lines


def _indexed(svc: LedgerService, model: Any, record_id: str) -> bool:
    with svc.db.read() as session:
        found = session.scalar(select(model.record_id).where(model.record_id == record_id))
        return found is not None


def _until(done: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_follow_up_round_with_one_not_received_is_a_finding(
    stage: Stage,  # noqa: F811 - the fixture imported above
    pump: Pump,
    svc: LedgerService,
    http: TestClient,
    svc_env: ChainEnv,
) -> None:
    a = stage.actors
    with (
        stage.role("follow-up-county", a.county_a) as county,
        stage.role("follow-up-admin", a.admin) as admin,
    ):
        # ---- the civil-affairs office sets the rate: 10 %, signed with the admin key
        admin.open("/workspace/civil")
        mpg = admin.page
        refused_at(mpg, "#fr-percent", "101", "#fr-submit", "0 到 100")
        mpg.fill("#fr-percent", "10")
        mpg.click("#fr-submit")
        admin.confirm("回访比例交易", "1000 基点 bps（10%）")
        expect(mpg.locator("#fr-message")).to_contain_text("回访比例已设为 10%", timeout=120_000)
        expect(mpg.locator("#fr-current")).to_contain_text("10%")
        assert svc_env.ledger.follow_up_rate() == RATE

        cid = on_chain_commitment(svc_env, 300)
        pump.start()  # the relayer and the indexer, as `bangfu run` runs them
        _until(lambda: _indexed(svc, CommitmentRow, hex0x(cid)))
        lines = make_lines(cid, 100, quantity=3)
        signed = sign_batch(lines, a.org_a.key, svc_env.domain)
        BatchClient(http).upload(signed, [line.line_bytes() for line in lines])
        batch_id = hex0x(signed.id)
        _until(lambda: _indexed(svc, LogEntry, batch_id))

        county.start("/workspace/county", COUNTY_NAME_A)
        pg = county.page
        # ---- the county opens a round on its batch
        batch_row = pg.locator(f"#fu-batches li[data-batch='{batch_id}']")
        refresh_until(county, "#fu-refresh", batch_row)
        expect(batch_row).to_contain_text(ORG_NAME_A)
        expect(batch_row).to_contain_text("100 行 lines")
        expect(batch_row).to_contain_text("抽 sample 10")
        batch_row.locator("button").click()
        county.confirm("开启回访", "10 of 100")
        expect(pg.locator("#fu-open-message")).to_contain_text("回访轮次已提交")
        (round_id,) = record_ids(county)
        wait_confirmed(county, round_id)

        # ---- before the seed block the list says so; then the sample is drawn
        round_row = pg.locator(f"#fu-rounds li[data-round='{round_id}']")
        refresh_until(county, "#fu-refresh", round_row)
        round_row.locator("button").click()
        expect(pg.locator("#fu-round-message")).to_contain_text("种子区块尚未产生")
        svc_env.w3.provider.make_request("anvil_mine", ["0x6"])  # type: ignore[arg-type]
        round_row.locator("button").click()
        expect(pg.locator("#fu-round-message")).to_contain_text("任何人可复算")
        cards = pg.locator("#fu-sample li.fu-line")
        expect(cards).to_have_count(10)
        seed_block = int(pg.locator("#fu-round-facts").inner_text().rsplit(" ", 1)[-1])
        seed = bytes(svc_env.w3.eth.get_block(seed_block)["hash"])
        drawn = sample_indices(seed, signed.id, 100, RATE)
        shown = [int(x) for x in cards.evaluate_all("els => els.map(e => e.dataset.line)")]
        assert shown == drawn  # the list is the sample anyone recomputes from the chain
        first = cards.first
        expect(first).to_contain_text("大米 rice")
        expect(first).to_contain_text("3 斤")
        expect(first).to_contain_text(hex0x(lines[drawn[0]].beneficiary)[:10])

        # ---- on a phone: the list and its forms fit 390 px
        shoot_here(county, "follow-up-county-list", "the follow-up list", "#follow-up")

        # ---- one household did not receive it; a note with a phone number is refused
        pg.set_viewport_size({"width": 390, "height": 800})
        pg.check(f"#fu-o-{drawn[0]}-3")
        pg.fill(f"#fu-n-{drawn[0]}", "户主电话 13812345678")
        first.locator("button[type=submit]").click()
        expect(pg.locator(f"#fu-m-{drawn[0]}")).to_contain_text("手机号")
        pg.fill(f"#fu-n-{drawn[0]}", "邻居说未见物资")
        first.locator("button[type=submit]").click()
        county.confirm("回访结果", "未收到 not received")
        expect(pg.locator(f"#fu-m-{drawn[0]}")).to_contain_text("已提交")
        for index in drawn[1:3]:
            pg.check(f"#fu-o-{index}-1")
            pg.locator(f"#fu-sample li[data-line='{index}'] button[type=submit]").click()
            county.confirm("回访结果", "全部收到")
            expect(pg.locator(f"#fu-m-{index}")).to_contain_text("已提交")
        no_sideways(pg, "the follow-up list")
        pg.set_viewport_size({"width": 1280, "height": 900})
        ids = record_ids(county)
        assert len(ids) == 4
        for rid in ids:
            wait_confirmed(county, rid)
        not_received = ids[2]  # newest first: the three results, then the round

        # ---- the finding: the periodic report the civil-affairs office downloads
        admin.goto("/workspace/civil")
        month = datetime.now(BEIJING).strftime("%Y-%m")
        mpg.fill("#rp-period", month)
        mpg.fill("#rp-province", "52")
        for _ in range(60):  # the indexer lands the results a moment after they confirm
            with mpg.expect_download() as info:
                mpg.click("#report-xlsx")
            book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
            cells = [
                " ".join(str(c) for c in row if c is not None)
                for sheet in book.worksheets
                for row in sheet.iter_rows(values_only=True)
            ]
            finding = [c for c in cells if "回访：未收到" in c]
            if finding:
                break
            mpg.wait_for_timeout(500)
        assert len(finding) == 1, cells[-20:]
        assert not_received in finding[0] and ORG_NAME_A in finding[0]
        assert not any("回访：" in c and "全部收到" in c for c in cells)

        # ---- and on the public portal's follow-up page
        county.page.goto(stage.base + "/follow-up")
        row = county.page.locator(f"#follow-up-rounds tr[data-round='{round_id}']")
        expect(row).to_contain_text(COUNTY_NAME_A)
        expect(row).to_contain_text("10 / 100")
        expect(row.locator("td").nth(4)).to_have_text("1")  # 未收到
        for role in (county, admin):
            role.assert_nothing_leaked()
