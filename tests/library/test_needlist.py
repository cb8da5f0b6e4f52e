"""Need lists (需求表): CSV (with and without BOM) and XLSX read into NeedContent, every bad
cell reported at its spreadsheet row and header text in one pass, yuan turned into fen
exactly, the templates read back clean; and the check route, which writes nothing."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from ledger.app import LedgerService
from ledger.core.errors import LedgerError, LibraryError
from ledger.library import needlist, needlist_cells, needlist_columns, needlist_files
from ledger.library.models import LibraryProject
from ledger.library.needlist_template import template_csv, template_xlsx
from tests.factories import COUNTY_A, ChainEnv, row_count

TODAY = date(2026, 6, 1)
HEADER_ZH = "标题,村,类别,方式,受益人数,预算（元）,资源类型,数量,单位,截止日期,联系人角色,说明"
GOOD_ROWS = [
    "大米帮扶,者楼村,民生保障,输血,120,0,物资,10000,斤,2026-12-31,县乡村振兴局,冬季口粮",
    "技能培训,,人才培育,造血,40,12000.50,服务,80,,2027-03-01,县人社局培训股,",
    '"产业资金, 茶园",,产业发展,capacity,300,"1,000,000",资金,250000.25,,2027-06-30,县乡村振兴局,',
]


def parse(text: str | bytes, name: str = "list.csv") -> needlist.NeedList:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return needlist.parse_need_list(data, COUNTY_A, name=name, today=TODAY)


def csv_of(*rows: str, header: str = HEADER_ZH) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def expected_needs() -> list[dict[str, Any]]:
    base = {"county": COUNTY_A}
    return [
        {
            **base,
            "village": "者楼村",
            "title": "大米帮扶",
            "description": "冬季口粮",
            "category": "民生保障",
            "mode": "relief",
            "beneficiaries": 120,
            "budget_fen": 0,
            "resources": [{"kind": "goods", "quantity": 10000, "unit": "斤", "item": ""}],
            "deadline": "2026-12-31",
            "contact_role": "县乡村振兴局",
        },
        {
            **base,
            "village": "",
            "title": "技能培训",
            "description": "",
            "category": "人才培育",
            "mode": "capacity",
            "beneficiaries": 40,
            "budget_fen": 1_200_050,
            "resources": [{"kind": "service", "quantity": 80, "unit": "hour", "item": ""}],
            "deadline": "2027-03-01",
            "contact_role": "县人社局培训股",
        },
        {
            **base,
            "village": "",
            "title": "产业资金, 茶园",
            "description": "",
            "category": "产业发展",
            "mode": "capacity",
            "beneficiaries": 300,
            "budget_fen": 100_000_000,
            "resources": [{"kind": "funds", "quantity": 25_000_025, "unit": "fen", "item": ""}],
            "deadline": "2027-06-30",
            "contact_role": "县乡村振兴局",
        },
    ]


@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
def test_a_good_csv_is_read_into_need_content(bom: bool) -> None:
    text = csv_of(*GOOD_ROWS)
    result = parse(("\ufeff" if bom else "") + text)
    assert result.errors == []
    assert result.rows == [2, 3, 4]
    assert result.to_dict()["needs"] == expected_needs()
    assert result.ok


def test_english_and_bilingual_headers() -> None:
    english = (
        "title,village,category,mode,beneficiaries,budget_yuan,resource_kind,quantity,unit,"
        "deadline,contact_role,description"
    )
    assert parse(csv_of(*GOOD_ROWS, header=english)).to_dict()["needs"] == expected_needs()
    keys = [needlist_columns.column_key(h) for h in HEADER_ZH.split(",")]
    both = ",".join(
        f"{needlist_columns.COLUMNS[k][0]} {needlist_columns.COLUMNS[k][1]}" for k in keys if k
    )
    assert both.startswith("标题 title,村 village,类别 category,")
    assert parse(csv_of(*GOOD_ROWS, header=both)).to_dict()["needs"] == expected_needs()
    # English values too, and columns in another order
    swapped = (
        "mode,title,category,beneficiaries,budget,resource_kind,quantity,unit,deadline,contact"
    )
    row = "relief,Rice,Livelihood Security,5,0,goods,3,bag,2026-07-01,county office"
    result = parse(csv_of(row, header=swapped))
    assert result.errors == [], result.errors
    (need,) = result.needs
    assert (need.title, need.category, need.mode) == ("Rice", "民生保障", "relief")


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_a_good_xlsx_with_date_and_number_cells() -> None:
    header = HEADER_ZH.split(",")
    data = _xlsx(
        [
            header,
            [
                *["大米帮扶", "者楼村", "民生保障", "输血", 120, 0, "物资", 10000, "斤"],
                *[datetime(2026, 12, 31), "县乡村振兴局", "冬季口粮"],
            ],
            [],  # a blank row is skipped, and the next keeps its row number
            [
                *["技能培训", None, "人才培育", "造血", 40.0, 12000.5, "服务", 80, None],
                *[date(2027, 3, 1), "县人社局培训股", None],
            ],
            [
                *["产业资金, 茶园", None, "产业发展", "capacity", 300, 1_000_000, "资金"],
                *[250000.25, None, "2027-06-30", "县乡村振兴局", ""],
            ],
        ]
    )
    result = parse(data, name="需求表.xlsx")
    assert result.errors == []
    assert result.rows == [2, 4, 5]
    assert result.to_dict()["needs"] == expected_needs()
    # told apart by content, not by name
    assert parse(data, name="upload").to_dict()["needs"] == expected_needs()
    # the sheet named 需求表 is read, wherever it is in the book
    book = Workbook()
    assert book.active is not None
    book.active.append(["说明 notes: 这一页不是需求"])
    needs = book.create_sheet("需求表 2026")
    needs.append(HEADER_ZH.split(","))
    needs.append(GOOD_ROWS[0].split(","))
    buf = io.BytesIO()
    book.save(buf)
    result = parse(buf.getvalue(), name="book.xlsx")
    assert result.errors == [] and [n.title for n in result.needs] == ["大米帮扶"]


def test_every_bad_cell_is_reported_at_its_row_and_column() -> None:
    header = "标题 title,类别,方式,受益人数,预算（元）,资源类型,数量,单位,截止日期,联系人角色"
    rows = [
        "好的需求,民生保障,输血,10,100,资金,100,,2026-12-31,县局",  # row 2: good
        ",民生,输,十,1.234,钱,0,,2020-01-01,电话13800138000",  # row 3: every cell bad
        "物资无单位,产业发展,造血,5,0,物资,2.5,,2026/13/01,县局",  # row 4
        "资金带单位,产业发展,造血,5,0,资金,10,斤,2026-12-31,县局",  # row 5
        "长单位" * 30 + ",产业发展,造血,5,0,物资,10," + "单位" * 6 + ",2026-12-31,县局",  # row 6
        "好的需求,民生保障,输血,10,100,资金,100,,2026-12-31,县局",  # row 7: row 2 again
        "多出的格子,民生保障,输血,10,100,资金,100,,2026-12-31,县局,多余",  # row 8
    ]
    result = parse(csv_of(*rows, header=header))
    got = [(e.row, e.column, e.code) for e in result.errors]
    assert got == [
        (3, "标题 title", "missing_value"),
        (3, "类别", "unknown_category"),
        (3, "方式", "bad_choice"),
        (3, "受益人数", "bad_number"),
        (3, "预算（元）", "bad_amount"),
        (3, "资源类型", "bad_choice"),
        (3, "数量", "not_positive"),
        (3, "截止日期", "deadline_passed"),
        (3, "联系人角色", "personal_data_in_text"),
        (4, "数量", "bad_number"),
        (4, "单位", "missing_value"),
        (4, "截止日期", "bad_date"),
        (5, "单位", "bad_choice"),
        (6, "标题 title", "too_long"),
        (6, "单位", "too_long"),
        (7, None, "duplicate_line"),
        (8, None, "wrong_column_count"),
    ]
    assert result.rows == [2] and not result.ok
    # each cell's problem names the cell too, as the spreadsheet does
    assert [e.cell for e in result.errors[:2]] == ["A3", "B3"]
    assert result.errors[-1].cell is None and result.errors[-2].cell is None
    assert needlist._cell_name(27, 9) == "AB9"
    # messages are bilingual, Chinese first, and never echo personal data
    for e in result.errors:
        assert e.message[0] > "\u2e80" and " / " in e.message, e.message
        assert "13800138000" not in e.message
    line = needlist.error_line(result.errors[0])
    assert line.startswith("第3行 列标题 title: ") and "(row 3 column 标题 title)" in line


@pytest.mark.parametrize(
    ("cell", "fen"),
    [
        ("1200.50", 120_050),
        ("0.1", 10),
        (0.1, 10),
        (12000.5, 1_200_050),
        (0.29, 29),  # a float whose binary value is 0.28999…
        ("1,000", 100_000),
        ("1.500", 150),
        ("¥88", 8800),
        (7, 700),
        ("0", 0),
    ],
)
def test_yuan_to_fen_is_exact(cell: Any, fen: int) -> None:
    assert needlist_cells.yuan_to_fen(cell) == fen


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("1.005", "bad_amount"),
        (0.125, "bad_amount"),
        ("-1", "out_of_range"),
        ("abc", "bad_amount"),
        ("NaN", "bad_amount"),
        ("1e20", "absurd_quantity"),
        (True, "bad_amount"),
    ],
)
def test_yuan_to_fen_refuses(cell: Any, code: str) -> None:
    with pytest.raises(needlist_cells.BadCell) as info:
        needlist_cells.yuan_to_fen(cell)
    assert info.value.code == code


def test_the_templates_read_back_with_no_errors() -> None:
    for data, name in (
        (template_csv(TODAY), "t.csv"),
        (template_xlsx(TODAY), "t.xlsx"),
    ):
        result = parse(data, name=name)
        assert result.errors == [], (name, result.errors)
        assert result.rows == [2]
        (need,) = result.needs
        assert need.resources[0].kind == "goods" and need.deadline == date(2027, 12, 31)
        assert need.budget_fen == 15_000_000 and need.mode == "capacity"
    assert template_csv().startswith("\ufeff".encode())
    # the XLSX header row is frozen and bilingual
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(template_xlsx())).worksheets[0]
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].value == "标题 title" and sheet["F1"].value == "预算（元） budget_yuan"


def test_header_problems() -> None:
    result = parse(csv_of(GOOD_ROWS[0], header=HEADER_ZH.replace("类别", "分类")))
    assert [(e.row, e.column, e.code, e.cell) for e in result.errors] == [
        (1, "分类", "bad_header", "C1"),
        (1, None, "bad_header", None),  # and so 类别 is missing
    ]
    twice = parse(csv_of(GOOD_ROWS[0] + ",x", header=HEADER_ZH + ",title"))
    assert [(e.column, e.code) for e in twice.errors] == [("title", "bad_header")]
    assert [e.code for e in parse("").errors] == ["empty_file"]
    assert [(e.row, e.code) for e in parse(HEADER_ZH + "\n").errors] == [(2, "empty_file")]


def test_limits_and_files_that_are_no_need_list() -> None:
    many = csv_of(
        *[f"需求{i},,民生保障,输血,1,0,物资,{i + 1},斤,2026-12-31,县局," for i in range(501)]
    )
    result = parse(many)
    assert len(result.needs) == needlist_columns.MAX_ROWS
    assert [(e.row, e.code) for e in result.errors] == [(502, "too_many_lines")]

    def refused(data: bytes, name: str) -> str:
        with pytest.raises(LibraryError) as info:
            parse(data, name=name)
        assert " / " in info.value.message
        return info.value.code

    assert refused(b"%PDF-1.4 ...", "list.pdf") == "bad_file"
    assert refused(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 100, "list.xls") == "bad_file"
    assert refused(b"not a zip", "list.xlsx") == "bad_file"
    assert refused(b"PK\x03\x04broken", "list.xlsx") == "bad_file"
    assert refused(b"a,b\x00c\n", "list.csv") == "bad_file"
    assert refused(csv_of(*GOOD_ROWS).encode("gb18030"), "list.csv") == "bad_encoding"
    assert refused(b"x" * (needlist_files.MAX_FILE_BYTES + 1), "list.csv") == "file_too_large"
    # a zip that unpacks to more than the bound is refused before it is unpacked
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (needlist_files.MAX_XLSX_UNPACKED + 1))
    assert refused(buf.getvalue(), "bomb.xlsx") == "bad_file"
    with pytest.raises(LedgerError) as info:
        needlist.parse_need_list(csv_of(*GOOD_ROWS).encode(), 999999)
    assert info.value.code == "unknown_county"


# ------------------------------------------------------------------ the API


def test_the_check_route_answers_and_writes_nothing(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    url = "/api/v1/library/need-lists/check"
    before = row_count(svc.db, LibraryProject)
    good = csv_of(*GOOD_ROWS).encode()
    r = http.post(url, files={"file": ("list.csv", good)}, data={"county": str(COUNTY_A)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errors"] == [] and body["rows"] == [2, 3, 4] and len(body["needs"]) == 3
    assert body["needs"][2]["resources"][0] == {
        "kind": "funds",
        "quantity": 25_000_025,
        "unit": "fen",
        "item": "",
    }
    # the county of a registered county office's address
    by_address = http.post(
        url, files={"file": ("list.csv", good)}, data={"address": env.actors.county_a.address}
    )
    assert by_address.status_code == 200 and by_address.json()["county"] == COUNTY_A
    bad = csv_of(GOOD_ROWS[0], GOOD_ROWS[1].replace("造血", "造"))
    r = http.post(url, files={"file": ("list.csv", bad)}, data={"county": str(COUNTY_A)})
    assert r.status_code == 200
    assert r.json()["errors"] == [
        {
            "row": 3,
            "column": "方式",
            "code": "bad_choice",
            "message": "方式 mode '造' 不是可选值 / must be one of: 输血 relief, 造血 capacity",
            "cell": "D3",
        }
    ]
    for files, form, status, code in [
        ({"file": ("a.pdf", b"%PDF")}, {"county": str(COUNTY_A)}, 422, "bad_file"),
        ({"file": ("a.csv", good)}, {}, 422, "missing_value"),
        ({"file": ("a.csv", good)}, {"address": env.actors.org_a.address}, 422, "not_registered"),
        ({"file": ("a.csv", good)}, {"county": "12"}, 422, "bad_county_code"),
    ]:
        r = http.post(url, files=files, data=form)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert row_count(svc.db, LibraryProject) == before


def test_the_templates_download(http: TestClient) -> None:
    csv_r = http.get("/api/v1/library/need-lists/template.csv")
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_r.headers["content-disposition"]
    assert csv_r.content.startswith("\ufeff标题 title,".encode())
    xlsx = http.get("/api/v1/library/need-lists/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:4] == b"PK\x03\x04"
    assert parse(xlsx.content, name="t.xlsx").errors == []
