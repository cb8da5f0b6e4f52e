"""Records in words on the tx and verify pages (no JavaScript): signers by role and registered
name, projects by title, amounts in ¥ or with their units, Beijing time labelled 北京时间, and no
64-hex string in the visible text where a name exists (hex stays in links and in the raw
details one click away)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from ledger.core.records import SignedRecord
from ledger.core.words import describe
from ledger.store.models import LogEntry
from ledger.store.queries.words import describe_record, names_for
from tests.factories import AUDITOR_NAME, COUNTY_NAME_A, ORG_NAME_A, ORG_NAME_B

from .conftest import World

HEX64 = re.compile(r"0x[0-9a-fA-F]{64}")


class VisibleText(HTMLParser):
    """The text a reader sees with every <details> closed: nothing inside <head>, <script>,
    <textarea>, a `hidden` element, or a closed <details> other than its <summary>."""

    SKIP = frozenset({"script", "style", "head", "template", "textarea", "title"})
    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__()
        # (tag, is this element hidden, are its children hidden other than a <summary>)
        self.stack: list[tuple[str, bool, bool]] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        a = dict(attrs)
        if self.stack:
            ptag, phidden, pchildren = self.stack[-1]
            hidden = phidden if (ptag == "details" and tag == "summary") else pchildren
        else:
            hidden = False
        hidden = hidden or tag in self.SKIP or "hidden" in a
        children = hidden or (tag == "details" and "open" not in a)
        self.stack.append((tag, hidden, children))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.stack or not self.stack[-1][1]:
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        p = cls()
        p.feed(html)
        return " ".join(" ".join(p.parts).split())


def _entry(world: World, name: str) -> LogEntry:
    with world.service.db.read() as s:
        entry = s.query(LogEntry).filter_by(record_id=world.records[name]).one()
        s.expunge(entry)
        return entry


def test_the_tx_page_names_signers_and_hides_hex(client: TestClient, world: World) -> None:
    for name in ("c:funds", "d:goods", "r:funds1", "f:goods", "anchor:school"):
        tx = _entry(world, name).tx_hash
        res = client.get(f"/tx/{tx}")
        assert res.status_code == 200, res.text[:300]
        text = VisibleText.of(res.text)
        assert not HEX64.findall(text), (name, HEX64.findall(text), text[:600])
        assert "北京时间" in text
        # the hex is one click away, in the raw details
        assert world.records[name] in res.text
    body = VisibleText.of(client.get(f"/tx/{_entry(world, 'c:funds').tx_hash}").text)
    assert f"社会组织 {ORG_NAME_A}" in body
    assert "者楼小学营养午餐" in body and "¥120,000.00" in body
    body = VisibleText.of(client.get(f"/tx/{_entry(world, 'r:funds1').tx_hash}").text)
    assert f"县级乡村振兴部门 {COUNTY_NAME_A}" in body
    assert "¥80,000.00" in body and f"{ORG_NAME_A} 交付 ¥80,000.00" in body
    body = VisibleText.of(client.get(f"/tx/{_entry(world, 'f:goods').tx_hash}").text)
    assert f"审计员 {AUDITOR_NAME}" in body and "逾期交付" in body
    assert f"{ORG_NAME_B} 交付 200 箱" in body
    # English
    body = VisibleText.of(client.get(f"/tx/{_entry(world, 'c:funds').tx_hash}?lang=en").text)
    # the English name where the organizations table has one
    assert "organization Guizhou Rural Fund" in body and "Beijing time" in body
    assert not HEX64.findall(body)


def test_the_verify_page_shows_the_record_in_words(client: TestClient, world: World) -> None:
    res = client.get(f"/verify?id={world.records['c:funds']}")
    assert res.status_code == 200
    text = VisibleText.of(res.text)
    for words in (ORG_NAME_A, "¥120,000.00", "者楼小学营养午餐", "资金", "北京时间", "截止日期"):
        assert words in text, (words, text[:800])
    # no raw struct in view: no fen, no unit hex, no unix time, no English field names
    assert "12000000" not in text and "dueDate" not in text
    assert not HEX64.findall(text), HEX64.findall(text)
    # the raw struct is one click away
    raw = res.text[res.text.index('id="record-raw"') :]
    assert "dueDate" in raw and "12000000" in raw
    # a delivery's words name its commitment and need; a goods delivery has its unit
    text = VisibleText.of(client.get(f"/verify?id={world.records['d:goods']}").text)
    assert "200 箱" in text and "村卫生室医疗设备" in text and ORG_NAME_B in text
    text = VisibleText.of(client.get(f"/verify?id={world.records['anchor:tea']}").text)
    assert "开阳富硒茶产业" in text and "¥200,000.00" in text and "产业发展" in text


def test_the_due_date_reads_as_entered_in_beijing(world: World) -> None:
    """A due date stored as the end of a Beijing day reads back as that day, whatever UTC
    says; the block time is shown in Beijing time."""
    signed = world.signed["c:funds"]
    with world.service.db.read() as s:
        names = names_for(s, [signed])
    rec = signed.record
    # 2027-03-31 23:59:59 Beijing is 2027-03-31 15:59:59 UTC
    moved = SignedRecord(
        type(rec)(**{**rec.__dict__, "due_date": 1_806_508_799}),  # type: ignore[arg-type]
        signed.domain,
        signed.signer,
        signed.signature,
    )
    words = describe(moved, names, block_time=1_806_508_799)
    fields = {f.key: f for f in words.fields}
    assert fields["due_date"].zh == "2027-03-31（北京时间）"
    assert fields["recorded_at"].zh == "2027-03-31 23:59:59（北京时间）"
    assert fields["quantity"].zh == "¥120,000.00" and fields["quantity"].signed
    assert not fields["signer"].signed and not fields["need"].signed


def test_every_record_kind_has_words(world: World) -> None:
    with world.service.db.read() as s:
        for name, rid in world.records.items():
            w = describe_record(s, rid)
            assert w is not None, name
            assert w.summary_zh and w.summary_en, name
            assert not HEX64.findall(w.summary_zh), (name, w.summary_zh)
            keys = {f.key for f in w.fields}
            assert {"kind", "signer", "recorded_at"} <= keys, (name, keys)
        assert describe_record(s, "0x" + "11" * 32) is None
