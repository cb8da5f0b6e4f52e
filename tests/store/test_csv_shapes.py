"""The CSVs a person reads, on a real anvil and real databases: bilingual headers, yuan as
exact decimals (not fen), goods with their unit and services in hours — never money and
goods in one column — Beijing time with the zone in the header, the organization's and the
county's names, the project's title, and the raw ids only after the human columns. The same
shape from `bangfu export csv`'s writer, the export API and the portal's download."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import datetime

from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.config import PROJECT_ROOT
from ledger.core.aid_kinds import Flag
from ledger.core.fields import BEIJING, FlagReason, ResourceKind, text32
from ledger.core.lines import new_id
from ledger.export import csv_export
from ledger.store.queries import csv_shapes
from tests.factories import (
    COUNTY_A,
    NEED_CONTENT,
    ORG_NAME_A,
    Chain,
    ChainEnv,
    Stack,
    database_kind,
    matched,
    posted,
)

HEX = re.compile(r"0x[0-9a-fA-F]{40,64}")
HEADER = re.compile(r"^(?P<zh>[^ ]*[\u4e00-\u9fff][^ ]*) (?P<name>[a-z_]+)$")
MONEY = ("amount_yuan", "delivered_yuan", "confirmed_yuan", "budget_yuan")
GOODS = ("quantity", "delivered_quantity", "confirmed_quantity", "unit")
#: Where the exported files are kept, to be opened in a spreadsheet and looked at.
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "csv"


def _flow(env: ChainEnv, st: Stack, http: TestClient) -> dict[str, str]:
    """A matched need with a funds, a goods and a services commitment, a delivery and a
    receipt of each, and an auditor's flag: their ids by name."""
    a = env.actors
    nid, mid = matched(st, a.county_a, a.org_a)
    flow = Chain(env.domain, a.county_a, a.org_a)
    ids: dict[str, str] = {"need": nid}
    kinds = (
        ("funds", ResourceKind.FUNDS, 9_000_000, ""),  # ¥90,000.00
        ("goods", ResourceKind.GOODS, 500, "斤"),
        ("services", ResourceKind.SERVICE, 400, "小时"),
    )
    for name, kind, quantity, unit in kinds:
        c = flow.commit(nid, mid, quantity)
        c = flow.sign(dataclasses.replace(c.record, resource_kind=kind, unit=text32(unit)), a.org_a)
        d = flow.deliver(c, quantity)
        r = flow.confirm(d, quantity)
        posted(http, st, c, d, r)
        ids.update({f"c:{name}": "0x" + c.id.hex(), f"d:{name}": "0x" + d.id.hex()})
    flag = Flag(
        id=new_id(a.auditor.address),
        record_id=bytes.fromhex(ids["d:goods"][2:]),
        reason_code=FlagReason.LATE_DELIVERY,
        note_hash=new_id(),
    ).sign(a.auditor.key, env.domain)
    posted(http, st, flag)
    return ids


def _parse(text: str) -> tuple[list[str], list[dict[str, str]]]:
    text = text.removeprefix(csv_export.BOM)
    header = next(csv.reader(io.StringIO(text)))
    return header, list(csv.DictReader(io.StringIO(text)))


def _by_field(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows keyed by the field name (the English half of each header)."""
    return [{k.rsplit(" ", 1)[-1]: v for k, v in r.items()} for r in rows]


def test_record_csvs_read_as_a_person_reads(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    ids = _flow(env, st, http)
    for kind in csv_export.KINDS:
        exported = http.get(f"/api/v1/exports/{kind}.csv")
        assert exported.status_code == 200, exported.text
        header, rows = _parse(exported.text)
        buf = io.StringIO()
        with svc.db.read() as s:
            n = csv_export.write_csv(s, kind, buf)
        # `bangfu export csv`'s writer and the API: one shape, one content
        assert buf.getvalue() == exported.text and n == len(rows)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        db = database_kind(svc.db.url)
        (ARTIFACTS / f"{kind}-{db}.csv").write_text(csv_export.BOM + exported.text, "utf-8")
        assert header == csv_shapes.columns(kind)
        for cell in header:
            assert HEADER.match(cell), (kind, cell)
        names = [h.rsplit(" ", 1)[1] for h in header]
        human = csv_shapes.HUMAN[kind]
        # people's columns first; ids, hashes and addresses after them
        assert names[: len(human)] == list(human)
        assert "record_id" in names[len(human) :] and "tx_hash" in names[len(human) :]
        assert "区块时间（北京时间） block_time_beijing" in header
        for row in _by_field(rows):
            for name in human:
                assert not HEX.search(row[name]), (kind, name, row[name])
            at = datetime.fromtimestamp(int(row["block_time"]), BEIJING)
            assert row["block_time_beijing"] == at.strftime("%Y-%m-%d %H:%M:%S")

    commitments = _by_field(_parse(http.get("/api/v1/exports/commitments.csv").text)[1])
    by_id = {r["record_id"]: r for r in commitments}
    funds, goods, services = (by_id[ids[f"c:{n}"]] for n in ("funds", "goods", "services"))
    assert (funds["amount_yuan"], funds["quantity"], funds["unit"]) == ("90000.00", "", "")
    assert (funds["delivered_yuan"], funds["confirmed_yuan"]) == ("90000.00", "90000.00")
    assert (goods["amount_yuan"], goods["quantity"], goods["unit"]) == ("", "500", "斤")
    assert (services["quantity"], services["unit"]) == ("400", "小时")
    # the session's chain holds other tests' records too: look at this flow's
    for row in (funds, goods, services):
        assert row["org_name"] == ORG_NAME_A
        assert row["project_title"] == NEED_CONTENT["title"]
        assert "册亨县" in row["county_name"] and row["county"] == str(COUNTY_A)
        assert row["category_zh"]
        # a Beijing date, as entered
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["due_date"])
    # money and goods never share a column
    for kind in csv_export.KINDS:
        rows = _by_field(_parse(http.get(f"/api/v1/exports/{kind}.csv").text)[1])
        for row in rows:
            if "resource_kind" not in row:
                continue
            money = int(row["resource_kind"]) == ResourceKind.FUNDS
            for name in MONEY:
                if name in row and not money:
                    assert row[name] == "", (kind, name, row)
            for name in GOODS:
                if name in row and money:
                    assert row[name] == "", (kind, name, row)

    deliveries = _by_field(_parse(http.get("/api/v1/exports/deliveries.csv").text)[1])
    d_funds = next(r for r in deliveries if r["record_id"] == ids["d:funds"])
    assert d_funds["amount_yuan"] == "90000.00" and d_funds["org_name"] == ORG_NAME_A
    assert d_funds["batch"] == "否 no" and d_funds["receipted"] == "是 yes"
    mine = {ids[f"d:{n}"] for n in ("funds", "goods", "services")}
    receipts = [
        r
        for r in _by_field(_parse(http.get("/api/v1/exports/receipts.csv").text)[1])
        if r["delivery_id"] in mine
    ]
    assert [r["signer_name"] for r in receipts] == ["册亨县"] * 3
    assert sorted(r["amount_yuan"] for r in receipts) == ["", "", "90000.00"]
    flags = [
        f
        for f in _by_field(_parse(http.get("/api/v1/exports/flags.csv").text)[1])
        if f["target_id"] == ids["d:goods"]
    ]
    assert [(f["reason"], f["target_kind"]) for f in flags] == [
        ("逾期交付 late delivery", "交付 delivery")
    ]
    assert flags[0]["auditor_name"]
    projects = _by_field(_parse(http.get("/api/v1/exports/projects.csv").text)[1])
    need = next(p for p in projects if p["project_id"] == ids["need"])
    assert need["title"] == NEED_CONTENT["title"]
    assert need["status"] == "已完成 completed"  # every commitment delivered and confirmed
    assert need["project_kind_zh"] == "需求 need"
    assert need["end_date"] == NEED_CONTENT["deadline"]


def test_the_portal_download_is_the_export_shape(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    ids = _flow(env, st, http)
    portal = http.get("/commitments?format=csv")
    assert portal.status_code == 200
    assert portal.content.startswith(csv_export.BOM.encode())
    header, rows = _parse(portal.content.decode("utf-8"))
    assert header == csv_shapes.columns("commitments")
    got = {r["record_id"]: r for r in _by_field(rows)}
    assert got[ids["c:funds"]]["amount_yuan"] == "90000.00"
    assert got[ids["c:funds"]]["org_name"] == ORG_NAME_A


def test_unknown_kind_is_an_error_with_a_code() -> None:
    try:
        csv_shapes.columns("people")
    except Exception as exc:  # noqa: BLE001 - the code is what is checked
        assert getattr(exc, "code", None) == "unknown_kind"
    else:
        raise AssertionError("an unknown kind was accepted")
