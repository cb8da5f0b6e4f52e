"""The portal as a person reads it, checked on the rendered pages of the demo-like ledger:
names and titles instead of hex, yuan with separators, goods with their units and never
added to money, Beijing time (labelled), and due dates exactly as entered. A hex id may
appear only inside an href or a copyable detail, `<code class="id">`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import ClassVar

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.web import data, render
from api.web.amounts import per_kind
from api.web.i18n import Lang
from ledger.core import display
from ledger.core.aid_kinds import Commitment
from ledger.sdk.fields import record_from_fields
from ledger.store.models import CommitmentRow, LogEntry
from ledger.store.queries.totals import Total, Triple
from tests.conftest import COUNTY_A, COUNTY_B, ORG_CODE_A, ORG_CODE_B
from tests.factories import AUDITOR_NAME, COUNTY_NAME_A, ORG_NAME_A, ORG_NAME_B

from .conftest import World, listing_pages

HEX64 = re.compile(r"0x[0-9a-fA-F]{64}")
#: a shortened id (`0x1bcb8e56…`) is hex too
HEX_RUN = re.compile(r"0x[0-9a-fA-F]{8,}")


class VisibleText(HTMLParser):
    """The text a reader sees: no tags or attributes, nothing inside script/style, and
    nothing inside a copyable detail (`<code class="id">`)."""

    SKIP: ClassVar[set[str]] = {"script", "style", "textarea"}
    #: elements a reader sees apart: their text is separated by a space
    BLOCKS: ClassVar[set[str]] = {
        "dt",
        "dd",
        "td",
        "th",
        "tr",
        "li",
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "section",
    }

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "input", "meta", "link", "img", "rect", "line", "circle", "polyline"):
            return
        classes = (dict(attrs).get("class") or "").split()
        if tag in self.BLOCKS:
            self.parts.append(" ")
        self.stack.append((tag, tag in self.SKIP or (tag == "code" and "id" in classes)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append(" ")
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, text: str) -> None:
        if not any(hidden for _, hidden in self.stack):
            self.parts.append(text)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def pages(world: World) -> list[str]:
    """Every portal page this helper renders (tx and verify are the verifier's)."""
    return [
        *listing_pages(),
        f"/orgs/{ORG_CODE_B}",
        f"/counties/{COUNTY_B}",
        *(f"/projects/{pid}" for pid in world.needs.values()),
        "/projects/0x1234",
    ]


def test_no_hex_where_a_name_or_title_exists(client: TestClient, world: World) -> None:
    for path in pages(world):
        for lang in ("", "?lang=en" if "?" not in path else "&lang=en"):
            text = visible(client.get(path + lang).text)
            assert not HEX64.search(text), (path + lang, HEX64.findall(text)[:3])
            assert not HEX_RUN.search(text), (path + lang, HEX_RUN.findall(text)[:3])


def test_commitments_name_project_org_and_county(client: TestClient) -> None:
    body = client.get("/commitments").text
    text = visible(body)
    for words in ("者楼小学营养午餐", "村卫生室医疗设备", "开阳富硒茶产业", ORG_NAME_A, ORG_NAME_B):
        assert words in text, words
    assert COUNTY_NAME_A in text and "黔西南布依族苗族自治州" in text and "开阳县" in text
    assert ORG_CODE_A not in text  # the credit code is a filter value, not what a row says
    # amounts: yuan with separators, right-aligned, goods in their unit
    assert "¥120,000.00" in text and "¥115,000.00" in text and "500 箱" in text
    assert not re.search(r"\b1?20000\.00\b|\b12000000\b", text)
    assert re.search(r'<td class="num"[^>]*><span class="amt">¥120,000.00</span>', body)
    # the filters name counties and organizations
    assert re.search(rf'<option value="{COUNTY_A}"[^>]*>册亨县（黔西南布依族苗族自治州）', body)
    assert re.search(rf'<option value="{ORG_CODE_A}"[^>]*>{ORG_NAME_A}</option>', body)
    only_a = visible(client.get(f"/commitments?org={ORG_CODE_A}").text)
    assert "者楼小学营养午餐" in only_a and "开阳富硒茶产业" not in only_a
    assert "Guizhou Rural Fund" in visible(client.get("/commitments?lang=en").text)


def test_times_are_beijing_time_and_say_so(client: TestClient, world: World) -> None:
    with world.service.db.read() as s:
        at = s.scalar(
            select(LogEntry.block_time).where(LogEntry.record_id == world.records["c:funds"])
        )
    assert at
    utc = datetime.fromtimestamp(at, UTC)
    beijing = (utc + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    text = visible(client.get(f"/projects/{world.needs['school']}").text)
    assert f"{beijing} 北京时间" in text
    assert utc.strftime("%Y-%m-%d %H:%M") not in text and " UTC" not in text
    en = visible(client.get(f"/projects/{world.needs['school']}?lang=en").text)
    assert f"{beijing} Beijing time" in en
    home = visible(client.get("/").text)
    assert "按区块时间，北京时间日" in home and "UTC" not in home


def test_a_due_date_reads_as_it_was_entered(world: World) -> None:
    """A due date typed as 2027-03-31 (a Beijing date, as the SDK and CLI read it) is
    2027-03-30 in UTC; the commitment tables show 2027-03-31."""
    record = record_from_fields(
        "commitment",
        {
            "needId": world.needs["school"],
            "matchId": "0x" + "00" * 32,
            "resourceKind": "funds",
            "quantity": 9_000_000,
            "unit": "fen",
            "dueDate": "2027-03-31",
            "termsHash": "0x" + "11" * 32,
        },
        signer="0x" + "33" * 20,
    )
    assert isinstance(record, Commitment)
    assert datetime.fromtimestamp(record.due_date, UTC).date().isoformat() == "2027-03-30"
    row = CommitmentRow(
        record_id="0x" + "22" * 32,
        need_id=world.needs["school"],
        match_id="0x" + "00" * 32,
        org="0x" + "33" * 20,
        county=COUNTY_A,
        category=10,
        resource_kind=1,
        quantity=9_000_000,
        unit="fen",
        due_date=record.due_date,
        terms_hash="0x" + "11" * 32,
        delivered=0,
        confirmed=0,
        block_time=record.due_date - 86_400,
    )
    with world.service.db.read() as s:
        views = data.commitment_views(s, [row])
    html = render.templates.get_template("_commitment_rows.html").render(
        L=Lang("zh"), t=Lang("zh").t, rows=views
    )
    text = visible(html)
    assert "2027-03-31" in text and "2027-03-30" not in text
    assert "¥90,000.00" in text and "者楼小学营养午餐" in text


def test_goods_are_never_added_to_money(client: TestClient) -> None:
    # 册亨县: ¥120,000.00 of funds and 500 boxes of goods; never "¥120,500" or "120,500"
    for path in ("/counties", f"/counties/{COUNTY_A}", "/", f"/orgs/{ORG_CODE_B}"):
        text = visible(client.get(path).text)
        assert "120,500" not in text and "120500" not in text, path
        assert "500 箱" in text, path
    counties = client.get("/counties").text
    row = re.search(r"<tr class=\"key\">.*?</tr>", counties, re.S)
    assert row, counties
    cells = visible(row.group(0))
    assert "¥120,000.00" in cells and "500 箱" in cells and "物资（箱）" in cells
    kaiyang = visible(client.get(f"/counties/{COUNTY_B}").text)
    assert "¥50,000.00" in kaiyang and "箱" not in kaiyang


def test_large_sums_read_in_wan(client: TestClient) -> None:
    assert display.amount(1_234_567_800, 1, large=True) == "1,234.57 万元"
    # the demo's sums are under 万元's threshold: the home cards keep the exact yuan
    assert "¥170,000.00" in visible(client.get("/").text)


def test_timeline_names_matches_flags_and_signers(client: TestClient, world: World) -> None:
    text = visible(client.get(f"/projects/{world.needs['clinic']}").text)
    # the county ordered the organization's supply project, both by name
    assert "县点单" in text and "乡村医疗物资捐赠" in text and ORG_NAME_B in text
    assert "对接编号" not in text
    # the flag: the auditor by name, the flagged delivery in words, the reason in words
    assert AUDITOR_NAME in text and "逾期交付" in text and "原因代码" not in text
    assert re.search(r"标记了 交付 200 箱（签名方 黔南公益服务中心）", text), text
    # signers by name and role
    assert f"{COUNTY_NAME_A}（县级乡村振兴部门）发布需求项目" in text
    school = visible(client.get(f"/projects/{world.needs['school']}").text)
    assert f"{ORG_NAME_A}（社会组织）接单" in school
    assert f"{ORG_NAME_A} 交付 ¥80,000.00" in school
    assert f"{COUNTY_NAME_A} 确认收到 ¥80,000.00" in school
    en = visible(client.get(f"/projects/{world.needs['clinic']}?lang=en").text)
    assert "late delivery" in en and AUDITOR_NAME in en


def test_supply_project_shows_owner_regions_capacity_and_orders(
    client: TestClient, world: World
) -> None:
    body = client.get(f"/projects/{world.needs['supply']}").text
    text = visible(body)
    assert f"发布方 {ORG_NAME_B}（社会组织）" in text
    assert "服务地区 贵州省" in text and "医疗包 2,000 箱" in text
    assert "县 0" not in text and "/counties/0" not in body
    assert "县级乡村振兴部门" not in text
    assert f"{ORG_NAME_B}（社会组织）发布供给项目" in text
    orders = re.search(r'<table class="data stack" id="orders">.*?</table>', body, re.S)
    assert orders
    row = visible(orders.group(0))
    assert "村卫生室医疗设备" in row and "册亨县" in row and "点单" in row and "500 箱" in row
    assert f"/projects/{world.needs['clinic']}" in orders.group(0)
    # the tea need the organization took directly (接单 citing no supply project), marked so
    assert "开阳富硒茶产业" in row and "本组织直接接单，未引用本供给项目" in row
    # the supply library names its owner, not a county
    supply_page = client.get("/supply").text
    supply = visible(supply_page)
    assert ORG_NAME_B in supply
    # what was committed under the orders that cite it; no county menu for supply projects
    assert "500 箱 / 200 箱 / 0 箱" in supply
    assert 'id="county"' not in supply_page


def test_status_names_follow_the_lifecycle() -> None:
    assert render.STATUS_NAMES["in_progress"] == ("执行中", "in progress")


def test_totals_per_kind_keep_funds_hours_and_goods_apart() -> None:
    """A county served with 400 service hours and no money shows 400 小时, not ¥0.00; funds
    in two unit texts fold (both fen); goods stay one line per unit."""
    rows = [
        Total(COUNTY_A, 3, "hour", Triple(400, 100, 50, 1)),
        Total(COUNTY_B, 1, "fen", Triple(5_000_000, 0, 0, 1)),
        Total(COUNTY_B, 1, "", Triple(1_000_000, 0, 0, 1)),
        Total(COUNTY_B, 2, "箱", Triple(500, 200, 0, 1)),
        Total(COUNTY_B, 2, "kg", Triple(70, 0, 0, 1)),
    ]
    lines = per_kind(rows)
    assert lines[COUNTY_A] == [(3, "", Triple(400, 100, 50, 1))]
    assert [(rk, unit, t.committed) for rk, unit, t in lines[COUNTY_B]] == [
        (1, "", 6_000_000),
        (2, "kg", 70),
        (2, "箱", 500),
    ]
    zh = Lang("zh")
    served = render.templates.env.from_string(
        '{% import "_names.html" as n with context %}{{ n.lines(rows, "committed") }}'
    ).render(L=zh, t=zh.t, rows=lines[COUNTY_A])
    assert visible(served) == "400 小时"
