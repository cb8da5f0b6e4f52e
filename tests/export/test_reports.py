"""Reports, indicators, IATI and CSV exports on a fixed demo ledger.

The demo ledger runs on a private anvil whose block times the test sets (2030), so every
figure is known in advance; the expected values below are computed by hand.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from api.app import create_app
from ledger.app import LedgerService
from ledger.core.aid_kinds import Commitment, Delivery, Flag, ProjectAnchor, Receipt
from ledger.core.fields import BEIJING, FlagReason, ResourceKind, text32
from ledger.core.lines import derive_id, scoped_id
from ledger.core.merkle import MerkleTree, verify_inclusion
from ledger.core.records import SignedRecord
from ledger.export import csv_export, iati
from ledger.export import indicators as ind
from ledger.export.report import build_report
from ledger.export.snapshot import (
    check_against_chain,
    load_key_counties,
    load_snapshot,
    parse_period,
    records_root,
)
from ledger.indexer.worker import Indexer
from ledger.store.models import LogEntry
from tests.conftest import COUNTY_A, COUNTY_B, ORG_CODE_A, ORG_CODE_B, ChainEnv, start_env


def ts(day: str, hms: str = "10:00:00") -> int:
    return int(datetime.fromisoformat(f"{day}T{hms}+08:00").timestamp())


#: Who signs each named record: its id is scoped to that address (set when it is made).
_SIGNERS: dict[str, str] = {}


def own(name: str, key: bytes) -> None:
    _SIGNERS[name] = Account.from_key(key).address


def rid(name: str) -> bytes:
    """A fixed id per name: scoped to the record's signer once `own` named it."""
    digest = derive_id("export-demo", name)
    signer = _SIGNERS.get(name)
    return digest if signer is None else scoped_id(signer, digest)


def hx(name: str) -> str:
    return "0x" + rid(name).hex()


@dataclass
class Demo:
    env: ChainEnv
    service: LedgerService
    key_file: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("export-demo")
    env = start_env(tmp)
    try:
        a = env.actors
        dom = env.domain

        def put(when: int, signed: SignedRecord) -> None:
            env.w3.provider.make_request("evm_setNextBlockTimestamp", [when])  # type: ignore[arg-type]
            env.ledger.submit(signed, a.relayers[0])

        def need(name: str, county: int, cat: int, key: bytes, when: int) -> None:
            own(name, key)
            pid = rid(name)
            anchor = ProjectAnchor(
                id=ProjectAnchor.anchor_id(pid, 1),
                project_id=pid,
                county=county,
                category=cat,
                title=TITLES[name],
            )
            put(when, anchor.sign(key, dom))

        def commit(name: str, need_name: str, rk: int, qty: int, unit: str, due: int,
                   key: bytes, when: int) -> None:  # fmt: skip
            own(name, key)
            c = Commitment(
                id=rid(name), need_id=rid(need_name), match_id=rid("m" + name), resource_kind=rk,
                quantity=qty, unit=text32(unit), due_date=due,
            )  # fmt: skip
            put(when, c.sign(key, dom))

        def deliver(name: str, c: str, qty: int, people: int, key: bytes, when: int) -> None:
            own(name, key)
            d = Delivery(
                id=rid(name), commitment_id=rid(c), quantity=qty, delivered_at=when - 60,
                evidence_hash=rid("e" + name), beneficiary_count=people,
                beneficiary_root=rid("b" + name) if people else bytes(32),
            )  # fmt: skip
            put(when, d.sign(key, dom))

        def receipt(name: str, d: str, qty: int, key: bytes, when: int) -> None:
            own(name, key)
            put(
                when,
                Receipt(id=rid(name), delivery_id=rid(d), confirmed_quantity=qty).sign(key, dom),
            )

        ka, kb = a.county_a.key, a.county_b.key
        oa, ob = a.org_a.key, a.org_b.key
        need("N1", COUNTY_A, 1, ka, ts("2030-06-20"))
        need("N2", COUNTY_B, 8, kb, ts("2030-07-02"))
        # 07:00 Beijing is 23:00 UTC the day before: the report must say 2030-07-03
        need("N3", COUNTY_A, 2, ka, ts("2030-07-03", "07:00:00"))
        commit("C1", "N1", ResourceKind.FUNDS, 100_000, "fen", ts("2030-08-31", "23:59:59"), oa,
               ts("2030-07-05"))  # fmt: skip
        commit("C2", "N2", ResourceKind.FUNDS, 50_000, "fen", ts("2030-07-31", "23:59:59"), ob,
               ts("2030-07-06"))  # fmt: skip
        commit("C3", "N2", ResourceKind.GOODS, 100, "斤", ts("2030-12-31", "23:59:59"), oa,
               ts("2030-07-07"))  # fmt: skip
        deliver("D1", "C1", 60_000, 0, oa, ts("2030-07-10"))
        receipt("R1", "D1", 60_000, ka, ts("2030-07-12"))
        deliver("D3", "C2", 20_000, 0, ob, ts("2030-07-15"))
        deliver("D2", "C1", 40_000, 5, oa, ts("2030-08-20"))
        receipt("R2", "D2", 30_000, ka, ts("2030-08-25"))
        deliver("D4", "C3", 50, 50, oa, ts("2030-09-01"))
        receipt("R4", "D4", 50, kb, ts("2030-09-02"))
        own("F1", a.auditor.key)
        flag = Flag(id=rid("F1"), record_id=rid("D2"), reason_code=FlagReason.RECEIPT_SHORTFALL)
        put(ts("2030-09-10"), flag.sign(a.auditor.key, dom))
        # after the 2030-Q3 cut-off: must not count in the Q3 report
        deliver("D5", "C2", 30_000, 0, ob, ts("2030-10-05"))

        service = LedgerService(env.settings)
        service.db.migrate()
        Indexer(service.db, service.ledger()).run_until_synced()
        key_file = tmp / "key-counties.txt"
        key_file.write_text(f"code\n{COUNTY_A}  # 册亨县\n")
        yield Demo(env, service, key_file)
    finally:
        env.chain.down()


Q3 = parse_period("2030-Q3")
#: The reports are made as of 2030-10-15 (Beijing), after the Q3 cut-off.
MADE = datetime.fromisoformat("2030-10-15T09:00:00+08:00")
TITLES = {
    "N1": "册亨县糯米蕉产业园冷库建设",
    "N2": "开阳县村卫生室设备更新",
    "N3": "册亨县留守儿童课后托管",
}
PUBLISHER = iati.Publisher("CN-USCI-11520000MB1539584E", "贵州省民政厅")
HEX64 = re.compile(r"0x[0-9a-fA-F]{64}")


def test_parse_period() -> None:
    assert Q3.start == ts("2030-07-01", "00:00:00") and Q3.end == ts("2030-10-01", "00:00:00")
    assert parse_period("2030-07").end == ts("2030-08-01", "00:00:00")
    assert parse_period("2030Q3") == parse_period("2030-q3") == Q3  # as people type it
    assert parse_period("2030-H2").start == ts("2030-07-01", "00:00:00")
    assert parse_period("2030-02-01..2030-02-28").end == ts("2030-03-01", "00:00:00")
    for bad in ("2030-Q5", "2030-13", "yesterday", "2030-03-01..2030-02-01"):
        with pytest.raises(Exception, match="period") as err:
            parse_period(bad)
        assert getattr(err.value, "code", "") == "bad_period"


def test_key_county_file(tmp_path: Path) -> None:
    good = tmp_path / "k.csv"
    good.write_text("county,name\n522327,册亨县\n520121,开阳县\n")
    assert load_key_counties(good) == {522327, 520121}
    bad = tmp_path / "bad.txt"
    bad.write_text("522327\n52232\n")
    with pytest.raises(Exception, match="6-digit"):
        load_key_counties(bad)


def _report(demo: Demo):  # type: ignore[no-untyped-def]
    with demo.service.db.read() as session:
        snap = load_snapshot(session, Q3.end, province=52)
    keys = load_key_counties(demo.key_file)
    return snap, build_report(snap, Q3, key_counties=keys, with_charts=False, generated=MADE)


def test_report_figures(demo: Demo) -> None:
    snap, report = _report(demo)
    # 3 anchors, 3 commitments, 4 deliveries, 3 receipts, 1 flag before the cut-off
    assert snap.log_size == 14
    assert check_against_chain(snap, demo.service.ledger()) is True
    totals = {r.cells["resource"]: r.cells for r in report.tables["totals"].rows}
    funds = totals["资金 funds"]
    assert (funds["commitments_period"], funds["committed_period"]) == (2, 150_000)
    assert (funds["delivered_period"], funds["confirmed_period"]) == (120_000, 90_000)
    assert funds["fulfilment_total"] == pytest.approx(0.8)
    goods = totals["物资 goods"]
    assert (goods["committed_total"], goods["delivered_total"], goods["confirmed_total"]) == (
        100, 50, 50,
    )  # fmt: skip
    assert goods["unit"] == "斤"
    # each totals row is one resource kind and unit: goods are never added to money
    shown = {r.cells["resource"]: r.text(report.tables["totals"].columns[3])
             for r in report.tables["totals"].rows}  # fmt: skip
    assert shown == {"资金 funds": "¥1,500.00", "物资 goods": "100 斤"}
    key = report.tables["key_counties"].rows
    assert [r.cells["county"] for r in key] == ["册亨县（黔西南布依族苗族自治州）"]
    assert [r.cells["code"] for r in key] == [COUNTY_A]
    assert key[0].cells["committed"] == 100_000
    assert key[0].cells["delivered"] == 100_000
    assert key[0].cells["confirmed"] == 90_000
    assert key[0].records == {hx(n) for n in ("C1", "D1", "D2", "R1", "R2")}
    other = report.tables["other_counties"].rows
    assert [(r.cells["county"], r.cells["commitments"], r.cells["in_kind"]) for r in other] == [
        ("开阳县（贵阳市）", 2, 1)
    ]
    assert other[0].cells["delivered"] == 20_000  # D5 is after the cut-off
    cats = {r.key: r.cells for r in report.tables["categories"].rows}
    assert cats["category/1"]["committed"] == 100_000
    assert cats["category/8"]["committed"] == 50_000
    orgs = {r.key: r.cells for r in report.tables["organizations"].rows}
    assert orgs[f"org/{ORG_CODE_A}"]["delivered"] == 100_000
    assert orgs[f"org/{ORG_CODE_B}"]["delivered"] == 20_000
    assert orgs[f"org/{ORG_CODE_A}"]["org"] == snap.org_names[ORG_CODE_A][0]
    # the one lifecycle rule: N1 is delivered in full but not confirmed in full (R2 < D2)
    open_needs = {r.cells["need"]: r.cells["status"] for r in report.tables["open_needs"].rows}
    assert open_needs == {
        TITLES["N1"]: "执行中 in progress",
        TITLES["N2"]: "执行中 in progress",
        TITLES["N3"]: "已发布 published",
    }
    assert [r.cells["commitment"] for r in report.tables["overdue"].rows] == [hx("C2")]
    assert report.tables["overdue"].rows[0].cells["need"] == TITLES["N2"]
    anomalies = sorted(
        (r.cells["kind"][:4], r.cells["record"]) for r in report.tables["anomalies"].rows
    )
    assert anomalies == sorted(
        [("逾期未交", hx("C2")), ("交付30", hx("D3")), ("签收少于", hx("R2"))]
    )
    flags = report.tables["flags"].rows
    assert [(r.cells["flag"], r.cells["target_id"]) for r in flags] == [(hx("F1"), hx("D2"))]
    assert flags[0].cells["reason"].startswith("签收少于交付")
    trend = {r.cells["month"]: r.cells for r in report.tables["trend"].rows}
    assert list(trend) == ["2030-07", "2030-08", "2030-09"]
    assert trend["2030-07"]["delivered"] == 80_000
    assert trend["2030-08"]["confirmed"] == 30_000
    assert report.title == "贵州省社会组织参与乡村振兴帮扶定期报告（2030年第三季度）"
    assert report.previous is not None and report.previous.label == "2030-Q2"
    text = "\n".join(report.narrative)
    assert "资金承诺 ¥1,500.00" in text and "物资承诺 100 斤" in text
    assert "上期 0.00 万元" in text  # nothing was committed in 2030-Q2
    assert "占本期承诺资金的 66.7%" in text  # ¥1,000 of ¥1,500 to 册亨县
    assert "截至 2030-10-01 00:00 北京时间" in text  # the cut-off: before the report date
    assert "审计员标记 1 条" in text


def test_anomalies_are_measured_at_the_report_date(demo: Demo) -> None:
    """A report made before its period ends measures "overdue" and "30 days without a
    receipt" at the day it is made, not at the period's end."""
    year = parse_period("2030")
    made = datetime.fromisoformat("2030-10-20T12:00:00+08:00")
    with demo.service.db.read() as session:
        snap = load_snapshot(session, year.end, province=52)
    report = build_report(snap, year, with_charts=False, generated=made)
    assert report.as_of == int(made.timestamp())
    # D5 (2030-10-05) is 15 days old on 10-20: not flagged; C3 is due 12-31: not overdue yet
    # (measured at the period's end, 2031-01-01, both would be); C2 is delivered in full by D5
    unreceipted = [
        r.cells["record"] for r in report.tables["anomalies"].rows
        if r.key.startswith("anomaly/unreceipted/")
    ]  # fmt: skip
    assert unreceipted == [hx("D3")]
    assert report.tables["overdue"].rows == []
    assert "截至 2030-10-20 12:00 北京时间" in report.tables["anomalies"].title
    assert "截至 2030-10-20 12:00 北京时间" in "".join(report.narrative)


def test_every_figure_ties_back_to_records(demo: Demo) -> None:
    snap, report = _report(demo)
    with demo.service.db.read() as session:
        entries = session.scalars(select(LogEntry).order_by(LogEntry.leaf_index)).all()
        leaves = [bytes.fromhex(e.leaf_hash[2:]) for e in entries]
        index = {e.record_id: e for e in entries}
    tree = MerkleTree(leaves)
    root = bytes.fromhex(snap.log_root[2:])
    assert tree.root(snap.log_size) == root
    seen = 0
    for table in report.tables.values():
        for row in table.rows:
            assert row.records_root == records_root(row.records)
            for record in row.records:
                entry = index[record]
                assert entry.leaf_index < snap.log_size  # nothing after the cut-off
                proof = tree.inclusion_proof(entry.leaf_index, snap.log_size)
                verify_inclusion(leaves[entry.leaf_index], entry.leaf_index, snap.log_size,
                                 proof, root)  # fmt: skip
                seen += 1
    assert seen > 20
    # the county figure is re-derived from exactly the records it names
    row = report.tables["key_counties"].rows[0]
    delivered = sum(
        d.quantity for d in snap.deliveries if d.record_id in row.records and d.county == COUNTY_A
    )
    assert delivered == row.cells["delivered"]


def test_indicators_match_hand_computed(demo: Demo) -> None:
    with demo.service.db.read() as session:
        snap = load_snapshot(session, Q3.end)
    keys = {COUNTY_A}
    a = ind.compute(snap, ORG_CODE_A, Q3, key_counties=keys)
    assert (a.commitments, a.needs, a.counties, a.committed_funds_fen) == (2, 2, 2, 100_000)
    assert a.fulfilment_rate == pytest.approx(0.75)  # C1 1.0, C3 50/100
    assert a.fulfilment_rate_funds == pytest.approx(1.0)
    assert (a.on_time_rate, a.commitments_due) == (1.0, 1)  # C1 due 08-31, all by 08-20
    assert a.confirmed_rate == pytest.approx(0.95)  # C1 90000/100000, C3 50/50
    assert a.confirmed_rate_funds == pytest.approx(0.9)
    assert a.key_county_share == pytest.approx(0.5)
    assert a.key_county_share_funds == pytest.approx(1.0)
    assert (a.flags_in_period, a.flags_total) == (1, 1)
    assert a.records["flags"] == [hx("F1")]
    b = ind.compute(snap, ORG_CODE_B, Q3, key_counties=keys)
    assert b.commitments == 1 and b.fulfilment_rate == pytest.approx(0.4)
    assert (b.on_time_rate, b.confirmed_rate, b.key_county_share) == (0.0, 0.0, 0.0)
    assert b.flags_total == 0
    with pytest.raises(Exception, match="no organization") as err:
        ind.compute(snap, "91110000000000000X", Q3)
    assert getattr(err.value, "code", "") == "org_not_found"


def test_iati_export_validates(demo: Demo) -> None:
    with demo.service.db.read() as session:
        snap = load_snapshot(session, Q3.end)
    data = iati.export(snap, publisher=PUBLISHER)
    doc = etree.fromstring(data)
    assert doc.get("version") == "2.03"
    acts = {a.findtext("iati-identifier"): a for a in doc.iter("iati-activity")}
    assert len(acts) == 3
    ref = PUBLISHER.ref
    # every activity's title is its project's title, as the county signed it
    titles = {i.removeprefix(f"{ref}-"): a.findtext("title/narrative") for i, a in acts.items()}
    assert titles == {hx(n): TITLES[n] for n in ("N1", "N2", "N3")}
    n1 = acts[f"{ref}-{hx('N1')}"]
    assert n1.find("reporting-org").get("ref") == ref
    assert n1.findtext("reporting-org/narrative") == "贵州省民政厅"
    types = [
        (t.find("transaction-type").get("code"), t.findtext("value"))
        for t in n1.iter("transaction")
    ]
    assert types == [("2", "1000.00"), ("3", "600.00"), ("4", "400.00")]
    assert n1.find("sector").get("code") == "31120"
    funder = n1.find("participating-org[@role='1']")
    assert funder.get("ref") == f"CN-USCI-{ORG_CODE_A}"
    assert funder.findtext("narrative") == snap.org_names[ORG_CODE_A][0]  # the name, not code
    provider = n1.find("transaction/provider-org")
    assert provider.findtext("narrative") == snap.org_names[ORG_CODE_A][0]
    assert n1.findtext("location/name/narrative") == "贵州省黔西南布依族苗族自治州册亨县"
    assert "册亨县" in n1.findtext("participating-org[@role='4']/narrative")
    # N1's funds are delivered in full: IATI's "completion" status
    assert n1.find("activity-status").get("code") == "3"
    assert acts[f"{ref}-{hx('N3')}"].find("activity-status").get("code") == "1"
    # goods carry no money value: a result indicator with quantity and unit, not a transaction
    n2 = acts[f"{ref}-{hx('N2')}"]
    assert [t.findtext("value") for t in n2.iter("transaction")] == ["500.00", "200.00"]
    indicators = n2.findall("result/indicator")
    assert len(indicators) == 1 and indicators[0].get("measure") == "1"
    assert indicators[0].findtext("title/narrative") == "物资（斤）"
    assert indicators[0].find("period/target").get("value") == "100"
    assert indicators[0].find("period/actual").get("value") == "50"
    assert indicators[0].find("period/period-end").get("iso-date") == "2030-09-30"
    assert n1.find("result") is None  # funds only
    assert not HEX64.search(" ".join(a.findtext("title/narrative") for a in acts.values()))
    # a broken document is refused with the schema's reason
    del n1[0]
    with pytest.raises(iati.IatiError, match="iati-identifier"):
        iati.validate(doc)


def test_iati_refuses_without_a_reporting_org(demo: Demo) -> None:
    settings = demo.env.settings
    assert settings.iati_reporting_org is None
    with pytest.raises(iati.IatiError, match="BANGFU_IATI_REPORTING_ORG") as err:
        iati.reporting_org_from(settings)
    assert err.value.code == "iati_no_reporting_org"
    # a name without an id, or the old placeholder, is no publisher either
    for ref in (None, "CN-USCI-000000000000000000", "not an id"):
        with pytest.raises(iati.IatiError) as err:
            iati.reporting_org_from(settings, ref=ref, name="贵州省民政厅")
        assert err.value.code == "iati_no_reporting_org"
    ok = iati.reporting_org_from(
        settings.model_copy(
            update={"iati_reporting_org": PUBLISHER.ref, "iati_reporting_org_name": "贵州省民政厅"}
        )
    )
    assert ok == PUBLISHER


def test_sector_mapping_uses_real_dac_codes() -> None:
    codes = iati.dac_sector_codes()
    mapping = iati.sector_map()
    assert sorted(mapping) == list(range(1, 11))
    assert all(m["dac"] in codes for m in mapping.values())


def test_csv_exports_carry_tx_and_proof(demo: Demo) -> None:
    with demo.service.db.read() as session:
        for kind in csv_export.KINDS:
            buf = io.StringIO()
            n = csv_export.write_csv(session, kind, buf)
            rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
            assert len(rows) == n
            expected = {"commitments": 3, "deliveries": 5, "receipts": 3, "flags": 1, "projects": 3}
            assert n == expected[kind]
            for row in rows:  # bilingual headers: the Chinese label, then the field name
                tx = row["交易哈希 tx_hash"]
                assert tx.startswith("0x") and len(tx) == 66
                assert row["证明路径 proof_path"] == (
                    f"/api/v1/proofs/record/{row['记录编号 record_id']}"
                )
                assert int(row["日志序号 leaf_index"]) >= 0
    with pytest.raises(Exception, match="unknown export kind"):
        csv_export.columns("people")


def test_api_routes(demo: Demo) -> None:
    client = TestClient(create_app(demo.service))
    r = client.get("/api/v1/reports/indicators", params={"org": ORG_CODE_A, "period": "2030-Q3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fulfilment_rate"] == pytest.approx(0.75) and body["commitments"] == 2
    assert body["record_counts"]["flags"] == 1
    # "all" reaches the newest record even where the chain's clock is ahead of this
    # server's (these records are dated 2030): org B's D5, after Q3, fills its C2
    r = client.get("/api/v1/reports/indicators", params={"org": ORG_CODE_B, "period": "all"})
    assert r.status_code == 200, r.text
    assert (r.json()["commitments"], r.json()["fulfilment_rate"]) == (1, pytest.approx(1.0))
    assert client.get("/api/v1/reports/indicators", params={"org": ORG_CODE_B}).json() == r.json()
    r = client.get("/api/v1/reports/indicators", params={"org": ORG_CODE_A, "period": "soon"})
    assert r.status_code == 400 and r.json()["code"] == "bad_period"
    r = client.get("/api/v1/reports/indicators", params={"org": "91110000000000000X"})
    assert r.status_code == 404 and r.json()["code"] == "org_not_found"
    r = client.get("/api/v1/exports/deliveries.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(r.text)))) == 5
    assert client.get("/api/v1/exports/people.csv").status_code == 422
    # no publisher in the settings: the IATI export is refused, with a code and what to set
    r = client.get("/api/v1/exports/iati.xml", params={"period": "2030-Q3"})
    assert r.status_code == 409 and r.json()["code"] == "iati_no_reporting_org", r.text
    assert "BANGFU_IATI_REPORTING_ORG" in r.json()["detail"]
    publishing = LedgerService(
        demo.env.settings.model_copy(
            update={"iati_reporting_org": PUBLISHER.ref, "iati_reporting_org_name": PUBLISHER.name}
        )
    )
    r = TestClient(create_app(publishing)).get(
        "/api/v1/exports/iati.xml", params={"period": "2030-Q3"}
    )
    assert r.status_code == 200 and b'version="2.03"' in r.content
    assert TITLES["N1"].encode() in r.content and b"000000000000000000" not in r.content
    # the periodic report as the civil-affairs workspace downloads it: the PDF, and its tables
    url = "/api/v1/reports/periodic"
    r = client.get(f"{url}.pdf", params={"period": "2030-Q3", "province": 52})
    assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.text[:300]
    assert r.headers["content-disposition"] == (
        'attachment; filename="bangfu-report-52-2030-Q3.pdf"'
    )
    r = client.get(f"{url}.xlsx", params={"period": "2030-Q3", "province": 52})
    assert r.status_code == 200 and r.content.startswith(b"PK")
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(r.content))
    assert {"totals", "key_counties", "organizations"} <= set(book.sheetnames), book.sheetnames
    r = client.get(f"{url}.pdf", params={"period": "2030-Q9"})
    assert r.status_code == 400 and r.json()["code"] == "bad_period"
    # a province that GB/T 2260 does not have is an error, not an empty report
    for fmt in ("pdf", "xlsx"):
        r = client.get(f"{url}.{fmt}", params={"period": "2030-Q3", "province": 99})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "unknown_province" and "贵州省" in r.json()["detail"]
    assert client.get(f"{url}.pdf").status_code == 422  # a period is required
    assert client.get(f"{url}.doc", params={"period": "2030"}).status_code in (404, 422)


def test_report_files_and_cli(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {
        "BANGFU_HOME": str(demo.env.settings.home),
        "BANGFU_VAR": str(demo.env.settings.var),
        "BANGFU_RPC_URL": str(demo.env.settings.rpc_url),
        "BANGFU_LOCALCHAIN_FILE": str(demo.env.settings.localchain_file),
        "BANGFU_DATABASE_URL": str(demo.env.settings.sqlalchemy_url),
        "PATH": "/usr/bin:/bin",
    }
    cmd = [sys.executable, "-m", "ledger.cli", "report", "--period", "2030-Q3", "--province",
           "52", "--out", str(out), "--key-counties", str(demo.key_file), "--unit",
           "贵州省民政厅", "--date", "2030-10-15"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "chain match" in done.stdout
    for name in ("report.pdf", "report.html", "figures.xlsx", "provenance.csv",
                 "figures/key_counties.csv", "charts/counties.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (out / "report.html").read_text("utf-8")
    assert "重点帮扶县" in html and "<svg" in html and hx("R2") in html
    prov = (out / "provenance.csv").read_text("utf-8")
    assert "# log_root" in prov
    from openpyxl import load_workbook

    book = load_workbook(out / "figures.xlsx")
    sheet = book["key_counties"]
    assert sheet["A2"].value == "册亨县（黔西南布依族苗族自治州）"
    assert sheet["D2"].value == 1000 and sheet["D2"].number_format == "#,##0.00"  # yuan
    assert "贵州省民政厅" in [c.value for c in book["summary"]["B"]]
    bad = subprocess.run([*cmd[:5], "2030-Q9", *cmd[6:]], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "not understood" in bad.stderr
    # an unknown province: a non-zero exit, the code and a message in both languages
    bad = subprocess.run([*cmd[:7], "99", *cmd[8:]], env=env, capture_output=True, text=True)
    assert bad.returncode == 1, bad.stdout
    assert "unknown_province" in bad.stderr and "没有省级代码为 99" in bad.stderr
    assert "is not a province code" in bad.stderr
    # IATI from the CLI: refused without a publisher, made with one from the settings
    xml = tmp_path / "iati.xml"
    iati_cmd = [sys.executable, "-m", "ledger.cli", "export", "iati", "--out", str(xml),
                "--period", "2030-Q3"]  # fmt: skip
    bad = subprocess.run(iati_cmd, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "iati_no_reporting_org" in bad.stderr and not xml.exists()
    publisher = {"BANGFU_IATI_REPORTING_ORG": PUBLISHER.ref,
                 "BANGFU_IATI_REPORTING_ORG_NAME": PUBLISHER.name}  # fmt: skip
    done = subprocess.run(iati_cmd, env={**env, **publisher}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert etree.parse(str(xml)).findtext(".//reporting-org/narrative") == PUBLISHER.name
    csv_out = tmp_path / "d.csv"
    done = subprocess.run([sys.executable, "-m", "ledger.cli", "export", "csv", "--kind",
                           "receipts", "--out", str(csv_out)], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(csv_out.read_text().splitlines()) == 4
    ind_out = subprocess.run([sys.executable, "-m", "ledger.cli", "indicators", "--org",
                              ORG_CODE_B, "--period", "2030-Q3"], env=env, capture_output=True,
                             text=True)  # fmt: skip
    assert ind_out.returncode == 0, ind_out.stderr
    assert '"on_time_rate": 0.0' in ind_out.stdout


def test_report_before_any_record(demo: Demo) -> None:
    period = parse_period("2030-05")
    with demo.service.db.read() as session:
        snap = load_snapshot(session, period.end)
    report = build_report(snap, period, with_charts=False)
    assert snap.log_size == 0 and all(not t.rows for n, t in report.tables.items() if n != "trend")
    assert check_against_chain(snap, demo.service.ledger()) is True
    assert BEIJING.utcoffset(None).total_seconds() == 8 * 3600


def test_key_counties_from_library_table(demo: Demo) -> None:
    from ledger.library.models import KeyCounty

    with demo.service.db.write() as session:
        assert load_key_counties(None, session) == set()
        session.add(KeyCounty(code=COUNTY_B, name="开阳县", source="test"))
    with demo.service.db.read() as session:
        assert load_key_counties(None, session) == {COUNTY_B}
        snap = load_snapshot(session, Q3.end)
        b = ind.compute(snap, ORG_CODE_B, Q3, key_counties=load_key_counties(None, session))
    with demo.service.db.write() as session:
        session.delete(session.get(KeyCounty, COUNTY_B))
    assert b.key_county_share == 1.0


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report"


def _pdf_pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext, layout kept so that table rows stay on a line)."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def test_rendered_pdf_reads_as_a_provincial_report(demo: Demo, tmp_path: Path) -> None:
    from ledger.export.report_files import write_report

    snap, _ = _report(demo)
    report = build_report(
        snap, Q3, key_counties=load_key_counties(demo.key_file), chain_verified=True,
        generated=MADE, unit="贵州省民政厅",
    )  # fmt: skip
    files = write_report(report, tmp_path / "out")
    pages = _pdf_pages(files["report.pdf"])
    appendix = next(i for i, p in enumerate(pages) if "附录：数据来源" in p)
    body, first = "\n".join(pages[:appendix]), pages[0]
    # the title names the province; the sign-off block and the narrative are on page one
    assert "贵州省社会组织参与乡村振兴帮扶定期报告（2030年第三季度）" in first
    for words in ("填报单位", "贵州省民政厅", "报告日期", "2030-10-15", "负责人", "签字",
                  "概述", "资金承诺 ¥1,500.00", "物资承诺 100 斤", "与上期（2030年第二季度）",
                  "重点帮扶县", "66.7%", "逾期", "审计标记"):  # fmt: skip
        assert words in re.sub(r"\s+", " ", first) or words in first, words
    # every page is numbered
    for n, page in enumerate(pages, 1):
        assert f"第 {n} 页 / 共 {len(pages)} 页" in page, n
    # names and titles, never a 64-hex id or an address, before the provenance appendix
    assert not HEX64.search(body), HEX64.search(body)
    assert not re.search(r"0x[0-9a-fA-F]{40}", body)
    assert HEX64.search("\n".join(pages[appendix:]))  # the hashes moved to the appendix
    for title in TITLES.values():
        assert title in body, title
    assert snap.org_names[ORG_CODE_A][0] in body and "册亨县（黔西南布依族苗族自治州）" in body
    assert "开阳县（贵阳市）" in body and "52 省" not in body
    # amounts formatted: ¥ with separators, 万元 in the tables; goods with their unit
    assert "¥1,500.00" in body and "0.10 万元" in body and "100 斤" in body
    assert not re.search(r"(?<![\d,.¥])1500\.00", body)
    # goods never summed with money: no ¥1,600 or 1,600 anywhere
    assert "1,600" not in body and "1600" not in body
    # Beijing dates: N3 was published at 07:00 Beijing time on 07-03 (07-02 in UTC)
    assert "北京时间" in body
    needs_page = next(p for p in pages if TITLES["N3"] in p and "已发布" in p)
    assert "2030-07-03" in needs_page and "2030-07-02" not in needs_page
    # the lifecycle status, not the hard-coded one
    assert "未对接" not in body and "执行中" in body
    # bilingual headers: each Chinese header whole on one line
    totals_page = next(p for p in pages if "累计完成率" in p)
    for zh in ("本期承诺数", "累计承诺数", "累计完成率", "本期签收"):
        assert zh in totals_page, zh
    # every page as PNG, to look at
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("page-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", str(files["report.pdf"]), str(ARTIFACTS / "page")],
        check=True,
    )
    assert len(list(ARTIFACTS.glob("page-*.png"))) == len(pages)


def test_rendered_xlsx_stores_numbers_with_formats(demo: Demo, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from ledger.export.report_files import write_report

    snap, report = _report(demo)
    book = load_workbook(write_report(report, tmp_path / "out")["figures.xlsx"])
    assert book.sheetnames[0] == "summary"
    for name in report.tables:
        sheet = book[name]
        assert sheet.freeze_panes == "B2", name  # header row and names stay in view
        heads = [c.value for c in sheet[1]]
        assert all("\n" in h for h in heads), heads  # Chinese, then English below it
        assert sheet.column_dimensions["A"].width >= 10
        for row in sheet.iter_rows(min_row=2):
            first = row[0].value
            assert not (isinstance(first, str) and re.match(r"(need|org|county|totals)/", first))
            assert not (isinstance(first, str) and HEX64.fullmatch(first)), (name, first)
    totals = book["totals"]
    heads = [c.value.split("\n")[0] for c in totals[1]]
    rows = {r[0].value: r for r in totals.iter_rows(min_row=2)}
    funds, goods = rows["资金 funds"], rows["物资 goods"]
    committed = heads.index("累计承诺")
    assert funds[committed].value == 1500 and funds[committed].number_format == "#,##0.00"
    assert goods[committed].value == 100 and goods[committed].number_format == "#,##0"
    assert isinstance(goods[committed].value, int)  # a quantity is a number, not text
    counts = heads.index("本期承诺数")
    assert funds[counts].value == 2 and funds[counts].number_format == "#,##0"
    share = heads.index("累计完成率")
    assert funds[share].value == pytest.approx(0.8) and funds[share].number_format == "0.0%"
    needs = book["open_needs"]
    assert {r[0].value for r in needs.iter_rows(min_row=2)} == set(TITLES.values())
    since = [c.value for c in needs[1]].index("发布日期\npublished")
    published = {r[0].value: r[since] for r in needs.iter_rows(min_row=2)}
    assert str(published[TITLES["N3"]].value)[:10] == "2030-07-03"  # Beijing date
    assert published[TITLES["N3"]].number_format == "yyyy-mm-dd"
    orgs = book["organizations"]
    assert snap.org_names[ORG_CODE_A][0] in {r[0].value for r in orgs.iter_rows(min_row=2)}
    assert ORG_CODE_A in {r[-3].value for r in orgs.iter_rows(min_row=2)}  # code kept beside


def test_cells_read_in_their_own_units() -> None:
    from ledger.export.report_files import csv_value, xlsx_value
    from ledger.export.report_periods import period_name, previous_period
    from ledger.export.report_tables import Column, Row, format_cell

    qty = Column("q", "数量", "quantity", "qty")
    hours = Row("r", {"q": 400}, resource=(ResourceKind.SERVICE, ""))
    goods = Row("r", {"q": 1200}, resource=(ResourceKind.GOODS, "斤"))
    funds = Row("r", {"q": 470_000_00}, resource=(ResourceKind.FUNDS, "fen"))
    big = Row("r", {"q": 2_000_000_00}, resource=(ResourceKind.FUNDS, "fen"))
    assert [format_cell(qty, r) for r in (hours, goods, funds, big)] == [
        "400 小时", "1,200 斤", "¥470,000.00", "200.00 万元",
    ]  # fmt: skip
    assert xlsx_value(qty, funds) == (470_000, "#,##0.00")
    assert xlsx_value(qty, hours) == (400, "#,##0")
    assert csv_value(qty, funds) == "470000.00"
    assert format_cell(Column("p", "率", "rate", "pct"), Row("r", {"p": None})) == "—"
    assert period_name(parse_period("2026-Q4")) == "2026年第四季度"
    assert period_name(parse_period("2026-H1")) == "2026年上半年"
    assert period_name(parse_period("2026-07")) == "2026年7月"
    assert previous_period(parse_period("2026-Q1")) == parse_period("2025-Q4")
    assert previous_period(parse_period("2026-07")) == parse_period("2026-06")
    assert previous_period(parse_period("2026")) == parse_period("2025")
    assert previous_period(parse_period("all")) is None
