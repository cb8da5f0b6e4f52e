"""What people see of the pairing program: the SDK signs a pairing, its acceptance and a
commitment's citation; the JSON API shows per key county who is paired with it and the
progress against each target, tells the civil-affairs office which key counties nobody is
paired with or which fall behind, and shows the east–west flows — with names, yuan and
Beijing time, and no personal data. The CLI does the same as a user runs it."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.fields import ResourceKind, text32
from ledger.core.records import SignedRecord
from ledger.export import pairing as export_pairing
from ledger.library import key_counties, pii
from ledger.sdk.client import BangfuClient
from ledger.store.queries import pairing as q
from tests.cli.test_cli import bangfu, key_file
from tests.factories import (
    COUNTY_A,
    ORG_CODE_A,
    ORG_NAME_A,
    Chain,
    ChainEnv,
    LiveServer,
    Pump,
    Stack,
    matched,
    sdk,
)

UNPAIRED = 522326  # 望谟县, a key county in these tests that nobody pairs with


def _keys(svc: LedgerService) -> None:
    with svc.db.write() as s:
        key_counties.load_key_counties(s, [COUNTY_A, UNPAIRED], "test list")


def _accepted_and_cited(
    env: ChainEnv, st: Stack, org: BangfuClient, county: BangfuClient, p: SignedRecord, fen: int
) -> tuple[str, SignedRecord]:
    """Sends pairing `p`, county A's acceptance of it, and org A's funds commitment of `fen`
    to a need of county A citing it: (the need's id, the commitment)."""
    a = env.actors
    org.submit([p])
    county.submit([county.pairing_acceptance(p.id, county=COUNTY_A)])
    nid, mid = matched(st, a.county_a, a.org_a)
    c = Chain(env.domain, a.county_a, a.org_a).commit(nid, mid, fen)
    rec = dataclasses.replace(c.record, resource_kind=ResourceKind.FUNDS, unit=text32("fen"))  # type: ignore[call-arg]
    funds = org.sign(rec)
    org.submit([funds, org.pairing_source(funds.id, p.id)])
    return nid, funds


def test_views_show_progress_oversight_and_flows(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a = env.actors
    _keys(svc)
    org, county = sdk(http, a.org_a), sdk(http, a.county_a)
    p = org.pairing(
        county=COUNTY_A,
        start=date(2026, 1, 1),
        end=date(2027, 12, 31),
        categories=["产业发展", 4],
        funds_target=100_000_000,
        projects_target=2,
        hours_target=500,
        designated=True,
        terms="结对帮扶协议：三年资金与技术支持",
    )
    _, funds = _accepted_and_cited(env, st, org, county, p, 30_000_000)
    org.submit([org.delivery(funds.id, quantity=10_000_000)])
    st.settle()
    pid = "0x" + p.id.hex()

    one = org.pairing_info(pid)
    assert one["org_name"] == ORG_NAME_A and one["county_name"].endswith("册亨县")
    assert one["targets"]["funds"] == "¥1,000,000.00"
    assert one["progress"]["funds_committed"] == "¥300,000.00"
    assert one["progress"]["funds_delivered"] == "¥100,000.00"
    assert one["progress"]["projects"] == 1
    assert [x["name"] for x in one["categories"]] == ["产业发展", "乡村治理"]
    assert one["designated_label"].startswith("定点帮扶") and one["key_county"] is True
    # Beijing time, labelled, not unix seconds
    assert len(one["accepted_at"]) == 16 and one["time_zone"].startswith("北京时间")
    assert any(x["pairing_id"] == pid for x in org.pairings(org=ORG_CODE_A, accepted=True))

    # on 2027-01-01 half the period is gone and 10 % of the funds delivered: behind
    keyed = org.key_county_pairings(date(2027, 1, 1))
    mine = {c["county"]: c for c in keyed["counties"]}
    assert set(mine) == {COUNTY_A, UNPAIRED}
    assert pid in [x["pairing_id"] for x in mine[COUNTY_A]["pairings"]]
    assert mine[UNPAIRED]["unpaired"] and not mine[COUNTY_A]["unpaired"]
    watch = org.pairing_oversight(date(2027, 1, 1))
    assert UNPAIRED in [c["county"] for c in watch["unpaired"]]
    behind = [x for c in watch["behind"] for x in c["pairings"] if x["pairing_id"] == pid]
    assert behind and "funds" in behind[0]["behind"] and "资金" in behind[0]["behind_label"]
    assert "落后" in watch["behind_rule"]
    # on its first day nothing is behind yet
    early = org.pairing_oversight(date(2026, 1, 1))
    assert pid not in [x["pairing_id"] for c in early["behind"] for x in c["pairings"]]

    ew = org.east_west()
    flow_52 = [f for f in ew["flows"] if f["home"] == 52 and f["receiving"] == 52]
    assert flow_52 and flow_52[0]["home_name"] == "贵州省" and not flow_52[0]["east_west"]
    assert pid in [d["pairing_id"] for d in ew["designated"]]
    me = next(o for o in ew["orgs"] if o["org_code"] == ORG_CODE_A)
    assert me["org_name"] == ORG_NAME_A and me["home_name"] == "贵州省"
    assert me["designated_pairings"] >= 1 and 0 < me["key_share"] <= 1
    # the organization's own page reckons its share as the east-west view does
    with svc.db.read() as session:
        page = export_pairing.org_programs(session, ORG_CODE_A)
    assert page and page["home_name"] == "贵州省"
    assert page["key_share"] == pytest.approx(me["key_share"], abs=1e-4)
    assert page["key_share_funds"] == pytest.approx(me["key_share_funds"], abs=1e-4)
    # no personal data anywhere in the answers
    for answer in (one, keyed, watch, ew):
        pii.screen(answer)
    r = http.get("/api/v1/pairings/0x" + "ab" * 32)
    assert r.status_code == 404 and r.json()["code"] == "pairing_not_found"
    r = http.get("/api/v1/pairings/oversight", params={"day": "2026-02-30"})
    assert r.status_code == 422 and r.json()["code"] == "bad_date"


def test_home_province_from_registration_or_credit_code() -> None:
    names = {11: "北京市", 44: "广东省", 45: "广西壮族自治区", 52: "贵州省"}
    # characters 3-8 of the credit code are the authority's area code: 440300 → 广东
    assert q.home_province("53440300MJL123456X", None, names) == 44
    # a registered authority that names a province wins over the code
    assert q.home_province("53440300MJL123456X", "贵州省民政厅", names) == 52
    assert q.home_province("53440300MJL123456X", "广西民政厅", names) == 45
    # national registration (民政部, 100000): no province
    assert q.home_province("51100000500012345X", "民政部", names) is None


def test_cli_proposes_accepts_and_lists(
    env: ChainEnv, svc: LedgerService, live: LiveServer, pump: Pump, tmp_path: Path
) -> None:
    a = env.actors
    _keys(svc)
    pump.start()
    org_key = key_file(tmp_path, a.org_a, "org.json")
    county_key = key_file(tmp_path, a.county_a, "county.json")
    terms = tmp_path / "terms.txt"
    terms.write_text("结对帮扶协议 2026–2028", encoding="utf-8")
    made = bangfu(
        "pairing", "propose", "--county", str(COUNTY_A), "--start", "2026-01-01",
        "--end", "2028-12-31", "--category", "产业发展", "--category", "9",
        "--funds-yuan", "250000", "--projects", "3", "--hours", "120", "--designated",
        "--terms-file", str(terms), "--key", str(org_key), "--wait", api=live.url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    pid = made.stdout.split("pairing ")[1].split()[0]
    took = bangfu(
        "pairing", "accept", pid, "--county", str(COUNTY_A), "--key", str(county_key),
        "--wait", api=live.url,
    )  # fmt: skip
    assert took.returncode == 0, took.stderr
    # the wrong role is refused with the contract's named error, on one line
    wrong = bangfu(
        "pairing", "accept", pid, "--county", str(COUNTY_A), "--key", str(org_key), api=live.url
    )
    assert wrong.returncode == 1 and "missing_role" in wrong.stderr
    listed = bangfu("pairing", "list", "--org", ORG_CODE_A, "--json", api=live.url)
    assert listed.returncode == 0, listed.stderr
    found = [p for p in json.loads(listed.stdout) if p["pairing_id"] == pid]
    assert found and found[0]["accepted"] and found[0]["targets"]["funds"] == "¥250,000.00"
    text = bangfu("pairing", "key-counties", api=live.url)
    assert text.returncode == 0 and "无人结对 unpaired" in text.stdout and ORG_NAME_A in text.stdout


def test_report_iati_indicators_and_pages(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    """The periodic report ends with the pairing, east–west and key-county-share tables; the
    IATI export names the pairing's organization as a participating org; the indicators show
    each formula beside its value; the portal pages render names, yuan and Beijing dates."""
    from lxml import etree

    from ledger.export import iati, indicators, pairing_snapshot
    from ledger.export.report import build_report
    from ledger.export.snapshot import load_snapshot, parse_period

    a = env.actors
    _keys(svc)
    org, county = sdk(http, a.org_a), sdk(http, a.county_a)
    p = org.pairing(
        county=COUNTY_A, start=date(2026, 1, 1), end=date(2030, 12, 31), categories=[1],
        funds_target=5_000_000, designated=True,
    )  # fmt: skip
    nid, funds = _accepted_and_cited(env, st, org, county, p, 2_000_000)
    st.settle()
    pid, cid = "0x" + p.id.hex(), "0x" + funds.id.hex()

    # up to the chain's clock, which other tests of this session may have moved on
    period = parse_period("all", now=int(env.w3.eth.get_block("latest")["timestamp"]) + 1)
    with svc.db.read() as s:
        snap = load_snapshot(s, period.end)
        section = pairing_snapshot.report_section(s)
        cited = pairing_snapshot.iati_pairings(s, snap)
    report = build_report(
        snap, period, key_counties={COUNTY_A}, with_charts=False, sections=[section]
    )
    names = list(report.tables)
    # after the report's own tables, the pairing section's three, in order
    at = names.index("pairings")
    assert names[at : at + 3] == ["pairings", "east_west", "org_key_share"]
    assert at > names.index("anomalies")
    row = next(r for r in report.tables["pairings"].rows if r.key == f"pairing/{pid}")
    assert row.cells["org"] == ORG_NAME_A and row.cells["designated"] == "是 yes"
    assert row.text(report.tables["pairings"].columns[6]) == "¥50,000.00"
    assert {pid, cid} <= row.records
    share = next(
        r for r in report.tables["org_key_share"].rows if r.key == f"key_share/{ORG_CODE_A}"
    )
    assert share.cells["home"] == "贵州省" and share.cells["key"] >= 1

    assert cited[cid].pairing_id == pid
    doc = etree.fromstring(
        iati.export(snap, publisher=iati.Publisher("CN-USCI-TEST", "测试"), pairings=cited)
    )
    extending = doc.xpath(
        "//iati-activity[iati-identifier[contains(., $n)]]/participating-org[@role='3']",
        n=nid,
    )
    assert extending and "定点帮扶" in extending[0].findtext("narrative")

    ind = indicators.compute(snap, ORG_CODE_A, period, key_counties={COUNTY_A}).to_dict()
    for name in ("key_county_share", "on_time_rate", "follow_up_confirmation_rate"):
        assert name in ind and ind["formulas"][name]
    assert ind["grievances_upheld"] is None and "申诉" in ind["formulas"]["grievances_upheld"]
    api = http.get("/api/v1/reports/indicators", params={"org": ORG_CODE_A}).json()
    assert api["formulas"]["on_time_rate"].startswith("本期到期")

    page = http.get("/pairings")
    assert page.status_code == 200
    html = page.text
    assert ORG_NAME_A in html and "册亨县" in html and "¥50,000.00" in html
    assert "望谟县" in html  # the unpaired key county is named
    assert "0x" + "00" * 32 not in html
    ew = http.get("/east-west")
    assert ew.status_code == 200 and "贵州省" in ew.text and 'id="chart-east-west"' in ew.text
    assert http.get("/pairings?lang=en").status_code == 200
    org_page = http.get(f"/orgs/{ORG_CODE_A}")
    assert org_page.status_code == 200 and 'id="org-programs"' in org_page.text
    assert "贵州省" in org_page.text and "对重点帮扶县的承诺数" in org_page.text
