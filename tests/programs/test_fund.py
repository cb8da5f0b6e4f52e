"""Special funds (专项基金) through the API on a real anvil and real databases: a fund opened
with its off-chain details, money recorded into it, commitments drawing on it, its public
page; refusals with the contract's named errors (forged, replayed, wrong signer, over-commit,
two draws in flight); no sponsor name without consent in any public answer; a rebuild from
the chain equal to the live read model."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.aid_kinds import Commitment
from ledger.core.eip712 import Domain
from ledger.core.fields import ResourceKind, SponsorKind, text32
from ledger.core.hexes import hex0x
from ledger.core.lines import new_id
from ledger.core.program_kinds import CommitmentSource, FundContribution
from ledger.core.records import SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.indexer.fund import totals_differences
from ledger.indexer.rebuild import digest
from ledger.store.fund_models import FundDrawRow
from ledger.workspace import funds
from tests.factories import (
    ORG_NAME_A,
    ChainEnv,
    Stack,
    body,
    delivery,
    matched,
    rebuilt,
    receipt,
    refused,
)

URL = "/api/v1/records"
SPONSOR = "张三丰"  # an individual: never in a public answer without consent
COMPANY = "贵州茅台酒股份有限公司"


def refused_record(client: TestClient, signed: SignedRecord, status: int, code: str) -> None:
    """POST /api/v1/records with `signed` alone is refused with `status` and `code`."""
    refused(client.post(URL, json=body(signed)), status, code)


def sent(client: TestClient, *signed: SignedRecord) -> None:
    """POST /api/v1/records with `signed` is accepted."""
    r = client.post(URL, json=body(*signed))
    assert r.status_code == 202, r.text


def make_fund(
    org: LocalAccount,
    domain: Domain,
    *,
    pledged: int = 1_000_000,
    sponsor: str = SPONSOR,
    kind: SponsorKind = SponsorKind.INDIVIDUAL,
    public: bool = False,
    name: str = "乡村教育专项基金",
    purpose: str = "资助册亨县乡村小学的图书与营养午餐。",
) -> tuple[SignedRecord, dict[str, Any]]:
    """A signed Fund and the POST /api/v1/funds body that opens it."""
    details = funds.FundDetails(sponsor, funds.new_salt(), purpose)
    signed = funds.fund_record(
        new_id(org.address),
        details,
        name=name,
        sponsor_kind=kind,
        sponsor_public=public,
        pledged=pledged,
    ).sign(org.key, domain)
    return signed, {"record": signed.to_json(), **details.to_json()}


def funds_commitment(org: LocalAccount, domain: Domain, need: str, match: str, fen: int) -> Any:
    return Commitment(
        id=new_id(org.address),
        need_id=bytes.fromhex(need[2:]),
        match_id=bytes.fromhex(match[2:]),
        resource_kind=ResourceKind.FUNDS,
        quantity=fen,
        unit=text32("fen"),
        due_date=2_000_000_000,
        terms_hash=bytes(32),
    ).sign(org.key, domain)


def source(
    org: LocalAccount,
    domain: Domain,
    commitment_id: bytes,
    fund_id: bytes,
    amount: int,
    *,
    derived: bool = True,
) -> SignedRecord:
    return CommitmentSource(
        id=CommitmentSource.source_id(commitment_id) if derived else new_id(org.address),
        commitment_id=commitment_id,
        fund_id=fund_id,
        fund_amount=amount,
    ).sign(org.key, domain)


def contribution(org: LocalAccount, domain: Domain, fund_id: bytes, amount: int) -> SignedRecord:
    return FundContribution(
        id=new_id(org.address),
        fund_id=fund_id,
        amount=amount,
        received_date=20261120,
        evidence_hash=os.urandom(32),
    ).sign(org.key, domain)


def no_sponsor_name(text: str) -> None:
    assert SPONSOR not in text


def test_fund_opened_drawn_on_and_shown(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a, domain = env.actors, env.domain
    fund, opening = make_fund(a.org_a, domain, pledged=1_000_000)
    r = http.post("/api/v1/funds", json=opening)
    assert r.status_code == 202, r.text
    assert r.json()["details_stored"] is True
    fid = hex0x(fund.id)
    need, match = matched(st, a.county_a, a.org_a)
    c1 = funds_commitment(a.org_a, domain, need, match, 600_000)
    s1 = source(a.org_a, domain, c1.id, fund.id, 600_000)
    # a contribution, and a commitment with its source in one submission (fund still pending)
    money = contribution(a.org_a, domain, fund.id, 400_000)
    sent(http, money, c1, s1)
    st.settle()
    # the contract's own totals agree
    assert env.ledger.fund_totals(fund.id) == (1_000_000, 600_000)

    # deliver half of the commitment, confirm a quarter of it
    d = dataclasses.replace(
        delivery(a.org_a.address, c1.id, 300_000),
    ).sign(a.org_a.key, domain)
    sent(http, d)
    st.settle()
    rc = receipt(a.county_a.address, d.id, 150_000).sign(a.county_a.key, domain)
    sent(http, rc)
    st.settle()

    j = http.get(f"/api/v1/funds/{fid}").json()
    totals = {k: v["fen"] for k, v in j["totals"].items()}
    assert totals == {
        "pledged": 1_000_000,
        "contributed": 400_000,
        "committed": 600_000,
        "delivered": 300_000,
        "confirmed": 150_000,
    }
    assert j["totals"]["pledged"]["yuan"] == "¥10,000.00"
    assert j["org_name"] == ORG_NAME_A
    assert j["sponsor_kind_name"] == {"zh": "个人", "en": "individual"}
    assert j["sponsor_name"] is None and j["purpose"].startswith("资助册亨县")
    assert "sponsor_salt" not in j
    assert [x["fund_amount_yuan"] for x in j["draws"]] == ["¥6,000.00"]
    assert j["contributions"][0]["received_date_text"] == "2026-11-20"

    page = http.get(f"/funds/{fid}")
    assert page.status_code == 200
    html = page.text
    for shown in ("乡村教育专项基金", ORG_NAME_A, "¥10,000.00", "¥4,000.00", "¥6,000.00"):
        assert shown in html, shown
    assert "¥3,000.00" in html and "¥1,500.00" in html  # delivered, confirmed
    assert "出资方未同意公开名称" in html and "北京时间" in html
    assert "en" in http.get(f"/funds/{fid}?lang=en").text
    # the fund list and the organization's page list it; no page names the individual
    listing = http.get("/funds").text
    org_page = http.get(f"/orgs/{a.org_a.address}").text
    assert "乡村教育专项基金" in listing and "乡村教育专项基金" in org_page
    for text in (html, listing, org_page, http.get("/api/v1/funds").text, r.text):
        no_sponsor_name(text)
    # the read model's totals agree with the contract's; a tampered draw is named
    with svc.db.read() as session:
        assert totals_differences(session, env.ledger) == []
    with svc.db.write() as session:
        session.get(FundDrawRow, hex0x(s1.id)).fund_amount = 1  # type: ignore[union-attr]
    with svc.db.read() as session:
        (diff,) = totals_differences(session, env.ledger)
    assert "乡村教育专项基金" in diff and "committed 1 fen" in diff
    with svc.db.write() as session:
        session.get(FundDrawRow, hex0x(s1.id)).fund_amount = 600_000  # type: ignore[union-attr]
    # rebuilt from the chain alone: the same fund rows
    with rebuilt(svc, env.settings.var, "sqlite") as again:
        assert digest(again).differences(digest(svc.db)) == []


def test_sponsor_named_only_with_consent(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a, domain = env.actors, env.domain
    fund, opening = make_fund(
        a.org_a, domain, sponsor=COMPANY, kind=SponsorKind.COMPANY, public=True, name="茅台助学基金"
    )
    assert http.post("/api/v1/funds", json=opening).status_code == 202
    st.settle()
    j = http.get(f"/api/v1/funds/{hex0x(fund.id)}").json()
    assert j["sponsor_name"] == COMPANY and j["sponsor_public"] is True
    assert COMPANY in http.get(f"/funds/{hex0x(fund.id)}").text


def test_details_must_match_and_keep_the_name_out(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    a, domain = env.actors, env.domain
    first, opening = make_fund(a.org_a, domain)
    refused(
        client.post("/api/v1/funds", json={**opening, "sponsor_name": "李四"}),
        422,
        "sponsor_hash_mismatch",
    )
    refused(
        client.post("/api/v1/funds", json={**opening, "purpose": "别的用途"}),
        422,
        "purpose_hash_mismatch",
    )
    # the individual's name in the public fund name, without consent
    second, named = make_fund(a.org_a, domain, name=f"{SPONSOR}教育基金")
    refused(client.post("/api/v1/funds", json=named), 422, "sponsor_name_in_public_text")
    # a phone number in the (public) purpose
    third, phone = make_fund(a.org_a, domain, purpose="联系 13812345678")
    refused(client.post("/api/v1/funds", json=phone), 422, "personal_data_in_text")
    # nothing was accepted or kept
    st.settle()
    shown = {f["fund_id"] for f in client.get("/api/v1/funds").json()["funds"]}
    assert not shown & {hex0x(f.id) for f in (first, second, third)}
    # a Fund submitted as a plain record gets its details later, checked the same way
    fund, later = make_fund(a.org_a, domain)
    sent(client, fund)
    details = {k: later[k] for k in ("sponsor_name", "sponsor_salt", "purpose")}
    fid = hex0x(fund.id)
    refused(
        client.put(f"/api/v1/funds/{fid}/details", json={**details, "purpose": "x"}),
        422,
        "purpose_hash_mismatch",
    )
    r = client.put(f"/api/v1/funds/{fid}/details", json=details)
    assert r.status_code == 200 and r.json()["details_stored"] is True, r.text
    refused(client.put(f"/api/v1/funds/0x{'ab' * 32}/details", json=details), 404, "fund_not_found")
    refused(client.get(f"/api/v1/funds/0x{'ab' * 32}"), 404, "fund_not_found")


def test_over_commitment_refused_counting_pending_draws(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    a, domain = env.actors, env.domain
    fund, opening = make_fund(a.org_a, domain, pledged=500_000)
    assert client.post("/api/v1/funds", json=opening).status_code == 202
    need, match = matched(st, a.county_a, a.org_a)
    c1 = funds_commitment(a.org_a, domain, need, match, 300_000)
    c2 = funds_commitment(a.org_a, domain, need, match, 300_000)
    sent(client, c1, c2)
    # two draws in flight (nothing sent yet) that together pass the pledge: the second refused
    first = source(a.org_a, domain, c1.id, fund.id, 300_000)
    sent(client, first)
    # a second source for the same commitment, under another id, while the first is pending
    again = source(a.org_a, domain, c1.id, fund.id, 1, derived=False)
    refused_record(client, again, 422, "commitment_already_sourced")
    second = source(a.org_a, domain, c2.id, fund.id, 200_001)
    r = client.post(URL, json=body(second))
    refused(r, 422, "fund_over_committed")
    assert r.json()["pledged"] == 500_000 and r.json()["would_be_committed"] == 500_001
    # exactly the pledge is fine
    sent(client, source(a.org_a, domain, c2.id, fund.id, 200_000))
    st.settle()
    assert env.ledger.fund_totals(fund.id) == (500_000, 500_000)
    # after indexing, the next draw still counts what is committed
    c3 = funds_commitment(a.org_a, domain, need, match, 100)
    sent(client, c3)
    refused_record(client, source(a.org_a, domain, c3.id, fund.id, 1), 422, "fund_over_committed")
    # and once indexed
    refused_record(
        client,
        source(a.org_a, domain, c1.id, fund.id, 1, derived=False),
        422,
        "commitment_already_sourced",
    )


def test_refused_forged_replayed_or_wrong_signer(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    a, domain = env.actors, env.domain
    fund, opening = make_fund(a.org_a, domain)
    assert client.post("/api/v1/funds", json=opening).status_code == 202
    st.settle()
    # replayed: the same Fund id with other content
    other = dataclasses.replace(fund.record, pledged=5).sign(a.org_a.key, domain)
    refused_record(client, other, 409, "record_id_used")
    # forged: a signature that does not match its stated signer
    forged = fund.to_json()
    forged["record"]["pledged"] = 2_000_000
    forged["signer"] = a.org_a.address
    refused(client.post(URL, json={"records": [forged]}), 422, "bad_signature")
    # signed by a county office, not an organization
    county_fund, _ = make_fund(a.county_a, domain)
    refused_record(client, county_fund, 422, "missing_role")
    # another organization records money into org A's fund, or draws on it
    refused_record(client, contribution(a.org_b, domain, fund.id, 100), 422, "not_fund_owner")
    need, match = matched(st, a.county_a, a.org_b)
    cb = funds_commitment(a.org_b, domain, need, match, 100)
    sent(client, cb)
    refused_record(client, source(a.org_b, domain, cb.id, fund.id, 100), 422, "not_fund_owner")
    # unknown fund; a draw with no amount; a funds commitment drawing more than it commits
    refused_record(client, contribution(a.org_a, domain, os.urandom(32), 100), 422, "unknown_fund")
    refused_record(client, source(a.org_b, domain, cb.id, fund.id, 0), 422, "empty_source")
    need_a, match_a = matched(st, a.county_a, a.org_a)
    ca = funds_commitment(a.org_a, domain, need_a, match_a, 100)
    sent(client, ca)
    refused_record(client, source(a.org_a, domain, ca.id, fund.id, 101), 422, "invalid_quantity")
    # the contract's own checks of the same: a bad sponsor kind, a bad date
    bad_kind = dataclasses.replace(fund.record, id=new_id(a.org_a.address), sponsor_kind=3).sign(
        a.org_a.key, domain
    )
    refused_record(client, bad_kind, 422, "invalid_sponsor_kind")
    bad_date = dataclasses.replace(
        contribution(a.org_a, domain, fund.id, 1).record, received_date=20261340
    ).sign(a.org_a.key, domain)
    refused_record(client, bad_date, 422, "invalid_period")


def test_contract_refuses_over_commitment(env: ChainEnv) -> None:
    """The contract is the final guard: a draw past the pledge sent straight to it reverts
    with FundOverCommitted."""
    import pytest

    from ledger.core.errors import LedgerError
    from tests.factories import need_with_commitments

    a, domain = env.actors, env.domain
    ledger: LedgerContract = env.ledger
    fund, _ = make_fund(a.org_a, domain, pledged=1000)
    ledger.submit(fund, a.admin)
    (cid,) = need_with_commitments(ledger, domain, a.county_a, a.org_a, a.admin, [5])
    with pytest.raises(LedgerError) as err:
        ledger.submit(source(a.org_a, domain, cid, fund.id, 1001), a.admin)
    assert "FundOverCommitted" in (err.value.code + err.value.message)


def test_fund_in_report_and_iati(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    """The report's fund section (pledged → confirmed, pro rata) and IATI funding sources;
    the individual sponsor named in neither, the consenting company named in both."""
    from datetime import UTC, datetime, timedelta

    from ledger.export import iati
    from ledger.export.report import build_report
    from ledger.export.snapshot import load_snapshot, parse_period

    a, domain = env.actors, env.domain
    private, opening = make_fund(a.org_a, domain, pledged=800_000, name="个人助学基金")
    company, opening2 = make_fund(
        a.org_a, domain, sponsor=COMPANY, kind=SponsorKind.COMPANY, public=True, name="企业基金"
    )
    for o in (opening, opening2):
        assert http.post("/api/v1/funds", json=o).status_code == 202
    need, match = matched(st, a.county_a, a.org_a)
    c1 = funds_commitment(a.org_a, domain, need, match, 400_000)
    c2 = funds_commitment(a.org_a, domain, need, match, 100_000)
    draws = [
        source(a.org_a, domain, c1.id, private.id, 400_000),
        source(a.org_a, domain, c2.id, company.id, 50_000),
    ]
    d = delivery(a.org_a.address, c1.id, 100_000).sign(a.org_a.key, domain)
    sent(http, c1, c2, *draws, d)
    st.settle()
    today = datetime.now(UTC) + timedelta(hours=8)
    period = parse_period(
        f"{(today - timedelta(days=2)).date().isoformat()}..{(today + timedelta(days=1)).date()}"
    )
    with svc.db.read() as session:
        snap = load_snapshot(session, period.end)
    report = build_report(snap, period, with_charts=False)
    table = report.tables["special_funds"]
    rows = {r.cells["fund"]: r for r in table.rows}
    mine = rows["个人助学基金"]
    assert [mine.text(c) for c in table.columns if c.kind == "yuan"] == [
        "¥8,000.00",  # pledged
        "¥0.00",  # contributed
        "¥4,000.00",  # committed
        "¥1,000.00",  # delivered: 400,000 × 100,000 / 400,000 fen
        "¥0.00",  # confirmed
    ]
    assert hex0x(draws[0].id) in mine.records and hex0x(private.id) in mine.records
    assert rows["企业基金"].cells["sponsor"].endswith(COMPANY)
    assert all(SPONSOR not in r.cells["sponsor"] for r in table.rows)
    xml = iati.export(snap, publisher=iati.Publisher("CN-USCI-11520000MB1539584E", "贵州省民政厅"))
    text = xml.decode()
    assert "专项基金《个人助学基金》（个人出资，设于" in text and "¥4,000.00" in text
    assert f"专项基金《企业基金》（企业出资：{COMPANY}" in text
    assert SPONSOR not in text
