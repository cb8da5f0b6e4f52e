"""The SDK's library actions against the app served by uvicorn, a real anvil and a real
database: a need list with a bad cell is refused whole (nothing created), the fixed list is
published need by need with the county's key and found by search; 点单, 接单 and both
answers through the named wrappers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.app import LedgerService
from ledger.core.errors import ApiError, LedgerError
from ledger.library.models import LibraryProject
from ledger.sdk.client import BangfuClient
from tests.factories import COUNTY_A, ORG_CODE_A, ChainEnv, LiveServer, row_count
from tests.library.forms import need, supply

HEADER = "标题,村,类别,方式,受益人数,预算（元）,资源类型,数量,单位,截止日期,联系人角色,说明"
ROWS = [
    "者楼村冬季口粮,者楼村,民生保障,输血,120,0,物资,10000,斤,2099-12-31,县乡村振兴局,",
    "电商技能培训,,人才培育,造血,40,12000.50,服务,80,,2099-03-01,县人社局培训股,",
    "茶园产业资金,,产业发展,造血,300,1000000,资金,250000.25,,2099-06-30,县乡村振兴局,",
]


def write_list(path: Path, rows: list[str]) -> Path:
    path.write_text("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_import_a_need_list_then_order_take_and_respond(
    env: ChainEnv, svc: LedgerService, live: LiveServer, tmp_path: Path
) -> None:
    a = env.actors
    county = BangfuClient(live.url, account=a.county_a)
    org = BangfuClient(live.url, account=a.org_a)
    public = BangfuClient(live.url)

    # one bad cell (受益人数 on row 3): the whole list is refused and nothing is created
    bad = write_list(tmp_path / "需求表.csv", [ROWS[0], ROWS[1].replace(",40,", ",四十,"), ROWS[2]])
    with pytest.raises(LedgerError) as info:
        county.library_import_needs(bad)
    assert info.value.code == "need_list_refused"
    assert [(e["row"], e["column"], e["code"]) for e in info.value.fields["errors"]] == [
        (3, "受益人数", "bad_number")
    ]
    assert "第3行 列受益人数" in info.value.message
    assert row_count(svc.db, LibraryProject) == 0

    # the check alone answers the same, for the county of the key, writing nothing
    checked = county.library_check_needs(bad)
    assert checked["county"] == COUNTY_A and len(checked["errors"]) == 1
    assert row_count(svc.db, LibraryProject) == 0

    # fixed: three needs, each a signed draft then a signed publish by the county
    good = write_list(tmp_path / "需求表.csv", ROWS)
    ids = county.library_import_needs(good)
    assert len(ids) == 3 and all(i[2:42] == a.county_a.address[2:].lower() for i in ids)
    found = public.request(
        "GET", "/api/v1/library/projects", params={"kind": "need", "county": COUNTY_A}
    )
    by_id = {p["project_id"]: p for p in found}
    assert set(by_id) == set(ids)
    assert [by_id[i]["content"]["title"] for i in ids] == [
        "者楼村冬季口粮",
        "电商技能培训",
        "茶园产业资金",
    ]
    assert {by_id[i]["status"] for i in ids} == {"published"}
    third = public.library_project(ids[2])
    assert third["content"]["budget_fen"] == 100_000_000
    assert third["content"]["resources"] == [
        {"kind": "funds", "quantity": 25_000_025, "unit": "fen", "item": ""}
    ]

    # an organization's key is no county's: its list is refused by the check
    with pytest.raises(ApiError) as refused:
        org.library_import_needs(good)
    assert refused.value.code == "not_registered"

    # 点单: the county orders the org's supply project for need 1; the org accepts
    sid = org.library_create("supply", supply(), org_code=ORG_CODE_A)["project_id"]
    org.library_publish(sid)
    ordered = county.library_order(ids[0], sid, note="请尽快联系")
    assert ordered["status"] == "proposed" and ordered["direction"] == "order"
    accepted = org.library_respond(ordered["match_id"], True)
    assert accepted["status"] == "accepted"
    assert accepted["response_message"]["action"] == "accept"

    # 接单: the org takes need 2; the county declines
    taken = org.library_take(ids[1], ORG_CODE_A)
    assert taken["status"] == "proposed" and taken["direction"] == "take"
    declined = county.library_respond(taken["match_id"], False)
    assert declined["status"] == "declined"
    with pytest.raises(LedgerError) as closed:
        county.library_respond(taken["match_id"], True)
    assert closed.value.code == "match_closed"
    for c in (county, org, public):
        c.close()


def test_the_inbox_after_a_signed_sign_in(
    env: ChainEnv, svc: LedgerService, live: LiveServer
) -> None:
    """`library_inbox` signs the SignIn challenge and reads the inbox."""
    a = env.actors
    county = BangfuClient(live.url, account=a.county_a)
    org = BangfuClient(live.url, account=a.org_a)
    assert county.library_inbox()["proposals"] == []
    pid = county.library_create("need", need())["project_id"]
    county.library_publish(pid)
    taken = org.library_take(pid, ORG_CODE_A)
    assert [p["match_id"] for p in county.library_inbox()["proposals"]] == [taken["match_id"]]
    assert [p["match_id"] for p in org.library_inbox()["sent_proposals"]] == [taken["match_id"]]
    for c in (county, org):
        c.close()
