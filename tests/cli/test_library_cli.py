"""`bangfu library template / import-needs / create-need / publish / order / take / respond`
as a user runs them: the installed command in a subprocess, signing with keystore files,
against the app served by uvicorn, a real anvil and a real database."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ledger.app import LedgerService
from ledger.library import needlist
from ledger.library.models import LibraryProject
from ledger.sdk.client import BangfuClient
from tests import factories
from tests.cli.test_cli import bangfu, key_file, one_error_line
from tests.factories import row_count
from tests.library.forms import need, supply

HEADER = "标题,类别,方式,受益人数,预算（元）,资源类型,数量,单位,截止日期,联系人角色"
ROWS = [
    "冬季口粮,民生保障,输血,120,0,物资,10000,斤,2099-12-31,县乡村振兴局",
    "电商培训,人才培育,造血,40,12000.50,服务,80,,2099-03-01,县人社局培训股",
    "茶园资金,产业发展,造血,300,1000000,资金,250000.25,,2099-06-30,县乡村振兴局",
]
HEX32 = re.compile(r"0x[0-9a-f]{64}")


def test_template_writes_both_files_and_refuses_others(tmp_path: Path) -> None:
    for name in ("需求表.csv", "需求表.xlsx"):
        result = bangfu("library", "template", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert "标题 title" in result.stdout
        data = (tmp_path / name).read_bytes()
        assert needlist.parse_need_list(data, factories.COUNTY_A, name=name).errors == []
    again = one_error_line(bangfu("library", "template", str(tmp_path / "需求表.csv")))
    assert "[file_exists]" in again
    assert "[bad_file]" in one_error_line(bangfu("library", "template", str(tmp_path / "a.txt")))


def test_import_needs_then_order_take_respond(
    env: factories.ChainEnv, svc: LedgerService, live: factories.LiveServer, tmp_path: Path
) -> None:
    a = env.actors
    county_key = key_file(tmp_path, a.county_a, "county.json")
    org_key = key_file(tmp_path, a.org_a, "org.json")
    api = live.url

    # one bad cell: each error printed as 第N行 列X, exit status 1, nothing created
    bad = tmp_path / "needs.csv"
    bad.write_text(
        "\r\n".join([HEADER, ROWS[0], ROWS[1].replace("造血", "造"), ROWS[2].replace("300", "")]),
        encoding="utf-8",
    )
    for extra in (["--check", "--county", str(factories.COUNTY_A)], ["--key", str(county_key)]):
        result = bangfu("library", "import-needs", str(bad), *extra, api=api)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines[0].startswith("第3行 列方式: ") and "[bad_choice]" in lines[0]
        assert lines[1].startswith("第4行 列受益人数: ") and "[missing_value]" in lines[1]
        assert "[need_list_refused]" in lines[-1] and len(lines) == 3
    assert row_count(svc.db, LibraryProject) == 0

    # fixed: --check passes (and signs nothing), then the import publishes all three
    good = tmp_path / "needs-fixed.csv"
    good.write_text("\r\n".join([HEADER, *ROWS]), encoding="utf-8")
    check = bangfu(
        "library", "import-needs", str(good), "--check", "--key", str(county_key), api=api
    )
    assert check.returncode == 0 and "3 needs for 522327" in check.stdout, check.stderr
    assert row_count(svc.db, LibraryProject) == 0
    done = bangfu("library", "import-needs", str(good), "--key", str(county_key), api=api)
    assert done.returncode == 0, done.stderr
    ids = HEX32.findall(done.stdout)
    assert len(ids) == 3
    public = BangfuClient(api)
    found = public.request("GET", "/api/v1/library/projects", params={"kind": "need"})
    assert {p["project_id"] for p in found if p["status"] == "published"} == set(ids)

    # create-need from JSON, then publish it
    need_file = tmp_path / "need.json"
    need_file.write_text(json.dumps(need(title="单个需求 CLI"), ensure_ascii=False), "utf-8")
    created = bangfu("library", "create-need", str(need_file), "--key", str(county_key), api=api)
    assert created.returncode == 0, created.stderr
    (draft_id,) = set(HEX32.findall(created.stdout))
    assert public.request("GET", "/api/v1/library/projects", params={"q": "单个需求"}) == []
    published = bangfu("library", "publish", draft_id, "--key", str(county_key), api=api)
    assert published.returncode == 0 and "version 1" in published.stdout, published.stderr
    assert public.library_project(draft_id)["status"] == "published"

    # 点单 by the county, accepted by the org; 接单 by the org, declined by the county
    org = BangfuClient(api, account=a.org_a)
    sid = org.library_create("supply", supply(), org_code=factories.ORG_CODE_A)["project_id"]
    org.library_publish(sid)
    ordered = bangfu("library", "order", ids[0], sid, "--key", str(county_key), api=api)
    assert ordered.returncode == 0 and ": proposed" in ordered.stdout, ordered.stderr
    (order_id,) = HEX32.findall(ordered.stdout)
    answer = bangfu("library", "respond", order_id, "accept", "--key", str(org_key), api=api)
    assert answer.returncode == 0 and ": accepted" in answer.stdout, answer.stderr
    take = ["library", "take", ids[1], "--org-code", factories.ORG_CODE_A, "--key", str(org_key)]
    taken = bangfu(*take, api=api)
    assert taken.returncode == 0 and ": proposed" in taken.stdout, taken.stderr
    (take_id,) = HEX32.findall(taken.stdout)
    no = bangfu("library", "respond", take_id, "decline", "--keystore", str(county_key), api=api)
    assert no.returncode == 0 and ": declined" in no.stdout, no.stderr
    assert public.request("GET", f"/api/v1/library/matches/{take_id}")["match"]["status"] == (
        "declined"
    )

    # bad input: one line with its code, no traceback
    line = one_error_line(
        bangfu("library", "respond", take_id, "maybe", "--key", str(county_key), api=api)
    )
    assert "[bad_action]" in line
    line = one_error_line(
        bangfu("library", "respond", take_id, "accept", "--key", str(county_key), api=api)
    )
    assert "[match_closed]" in line
    assert "[no_key]" in one_error_line(bangfu("library", "import-needs", str(good), api=api))
    not_json = tmp_path / "bad.json"
    not_json.write_text("{", encoding="utf-8")
    line = one_error_line(
        bangfu("library", "create-need", str(not_json), "--key", str(county_key), api=api)
    )
    assert "[invalid_json]" in line
    no_county = tmp_path / "no-county.json"
    no_county.write_text(json.dumps({k: v for k, v in need().items() if k != "county"}), "utf-8")
    line = one_error_line(
        bangfu("library", "create-need", str(no_county), "--key", str(county_key), api=api)
    )
    assert "[missing_field]" in line
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    line = one_error_line(
        bangfu("library", "import-needs", str(pdf), "--key", str(county_key), api=api)
    )
    assert "[bad_file]" in line
    public.close()
    org.close()
