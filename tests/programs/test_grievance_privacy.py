"""Privacy of grievances (申诉): a filer's contact details never appear in any public answer
(every GET route of the app that can be reached without a key, JSON, pages and CSV), in the
periodic report's tables (HTML, CSV), in a record on chain (the log's bytes, the outbox,
the transactions' input) or in the logs. The contact is kept, apart, for the county office:
it is in its own table and nowhere else."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.core.hexes import hex0x
from ledger.export.report import build_report
from ledger.export.report_files import write_report
from ledger.export.sections import grievance_section
from ledger.export.snapshot import Period, load_snapshot
from ledger.store.grievance_models import GrievanceContact, GrievanceFiling
from ledger.store.models import LogEntry, OutboxRecord
from tests.factories import (
    COUNTY_A,
    ORG_CODE_A,
    Chain,
    ChainEnv,
    Stack,
    body,
    grievance_answer,
    grievance_registration,
    matched,
    post_grievance_answer,
)

#: what a filer leaves as contact: a name, a phone number and a marker no other text has
CONTACT = "联系人 马小芳 13987654321 QX7-PRIVATE-MARKER"
MARKERS = ("QX7-PRIVATE-MARKER", "13987654321", "马小芳")


def _clean(where: str, data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for marker in MARKERS:
        assert marker.encode() not in raw, f"{marker!r} appears in {where}"


def _world(env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient) -> dict[str, Any]:
    """A need with a commitment, delivery and receipt; three grievances with contacts (one
    about the delivery, answered upheld; one registered; one only filed, by the form)."""
    a = env.actors
    flow = Chain(env.domain, a.county_a, a.org_a)
    nid, mid = matched(st, a.county_a, a.org_a)
    c = flow.commit(nid, mid, 100)
    d = flow.deliver(c, 60)
    rc = flow.confirm(d, 60)
    for signed in (c, d, rc):
        assert http.post("/api/v1/records", json=body(signed)).status_code == 202
        st.settle()
    text = "交付的物资数量不足，请核查。"
    one = http.post(
        "/api/v1/grievances",
        json={"project_id": nid, "record_id": hex0x(d.id), "text": text, "contact": CONTACT},
    ).json()
    two = http.post(
        "/api/v1/grievances", json={"project_id": nid, "text": "第二件申诉。", "contact": CONTACT}
    ).json()
    form = http.post(
        "/grievances/new", data={"project_id": nid, "text": "第三件申诉。", "contact": CONTACT}
    )
    assert form.status_code == 201
    _clean("the filer's own receipt page", form.text)
    regs = []
    for filed in (one, two):
        reg = grievance_registration(env, filed)
        assert http.post("/api/v1/records", json=body(reg)).status_code == 202
        regs.append(reg)
    st.settle()
    words = "属实，已责令补发。"
    ans = grievance_answer(env, regs[0].id, words)
    post_grievance_answer(http, st, ans, words)
    return {
        "need": nid,
        "filings": [one["filing_no"], two["filing_no"]],
        "records": [hex0x(x.id) for x in (*regs, ans, c, d, rc)],
        "txs": [],
    }


def _public_urls(http: TestClient, w: dict[str, Any]) -> list[str]:
    """Every GET route reachable without a key: those without path parameters, and those
    with one filled from this world (projects, grievances, records, transactions, ...)."""
    urls: list[str] = []
    for route in http.app.routes:  # type: ignore[attr-defined]
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "GET" in methods and "{" not in path and not path.startswith(("/docs", "/redoc")):
            urls.append(path)
    status = http.get("/api/v1/records/status", params={"ids": w["records"]}).json()
    txs = sorted({s["tx_hash"] for s in status if s.get("tx_hash")})
    nid = w["need"]
    urls += [f"/projects/{nid}", f"/projects/{nid}?format=csv", f"/projects/{nid}?lang=en"]
    urls += [f"/counties/{COUNTY_A}", f"/counties/{COUNTY_A}?format=csv", f"/orgs/{ORG_CODE_A}"]
    urls += [f"/api/v1/grievances?county={COUNTY_A}", f"/api/v1/grievances?project_id={nid}"]
    urls += [
        "/needs?format=csv",
        "/commitments?format=csv",
        "/orgs?format=csv",
        "/counties?format=csv",
    ]
    for what in ("commitments", "deliveries", "receipts", "flags", "projects"):
        urls += [f"/api/v1/public/{what}", f"/api/v1/exports/{what}.csv"]
    urls += [f"/api/v1/public/totals/{by}" for by in ("county", "category", "org")]
    for no in w["filings"]:
        urls += [f"/grievances/{no}", f"/grievances/{no}?lang=en", f"/api/v1/grievances/{no}"]
    for rid in w["records"]:
        urls += [
            f"/api/v1/public/record/{rid}",
            f"/api/v1/proofs/bundle/{rid}",
            f"/api/v1/proofs/record/{rid}",
            f"/verify?id={rid}",
        ]
    urls += [f"/tx/{t}" for t in txs]
    w["txs"] = txs
    return urls


def test_contact_details_appear_in_no_public_answer_page_csv_report_chain_or_log(
    env: ChainEnv,
    svc: LedgerService,
    st: Stack,
    http: TestClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # the report counts this test's grievances only: other tests register theirs on the
    # session's chain, and every registration is indexed into this database too
    started = int(time.time())
    w = _world(env, svc, st, http)
    with svc.db.read() as s:
        kept = s.scalars(select(GrievanceContact.contact)).all()
        assert list(kept) == [CONTACT] * 3, "the contact is kept for the county office"
        for f in s.scalars(select(GrievanceFiling)):
            _clean(f"filing {f.filing_no}", f"{f.text} {f.grievance_hash}")
        for entry in s.scalars(select(LogEntry)):
            _clean(f"the log's record {entry.record_id}", entry.record_bytes)
        for row in s.scalars(select(OutboxRecord)):
            _clean(f"the outbox record {row.record_id}", row.record_bytes)

    seen = 0
    for url in _public_urls(http, w):
        r = http.get(url)
        assert r.status_code < 500, (url, r.status_code)
        _clean(f"GET {url}", r.content)
        seen += 1
    assert seen > 60

    for tx in w["txs"]:
        _clean(f"transaction {tx}", bytes(env.w3.eth.get_transaction(tx)["input"]))

    period = Period("test", started, int(time.time()) + 3600)
    with svc.db.read() as s:
        section = grievance_section(s, period)
        snap = load_snapshot(s, period.end)
    report = build_report(snap, period, sections=[section], with_charts=False)
    by_county = report.tables["grievances_by_county"].rows
    assert [
        (r.cells["filed"], r.cells["not_registered"], r.cells["upheld"]) for r in by_county
    ] == [(3, 1, 1)]
    by_org = report.tables["grievances_by_org"].rows
    assert [(r.cells["code"], r.cells["filed"], r.cells["upheld"]) for r in by_org] == [
        (ORG_CODE_A, 1, 1)
    ]
    files = write_report(report, tmp_path / "report")
    html = files["report.html"].read_text("utf-8")
    _clean("report.html", html)
    assert "申诉：按县 Grievances by county" in html
    for csv in (tmp_path / "report" / "figures").glob("*.csv"):
        _clean(str(csv.name), csv.read_bytes())
    assert (tmp_path / "report" / "figures" / "grievances_by_county.csv").is_file()

    # the organization indicator: the upheld grievance about org A's delivery counts
    ind = http.get("/api/v1/reports/indicators", params={"org": ORG_CODE_A, "period": "all"})
    assert ind.status_code == 200, ind.text
    assert ind.json()["grievances_upheld"] >= 1
    assert "GrievanceAnswer outcome 1" in ind.json()["formulas"]["grievances_upheld"]
    _clean("the indicators", ind.content)

    for rec in caplog.records:
        _clean(f"log line {rec.name}", rec.getMessage())
