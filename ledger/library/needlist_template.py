"""The need-list template to fill in (CSV UTF-8 with a BOM, or XLSX with choice lists and a
sheet of notes), with an example row, and the column list as text for the CLI and the docs.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from ledger.core.fields import BEIJING, CATEGORIES
from ledger.library.needlist_cells import Cell, cell_text
from ledger.library.needlist_columns import COLUMNS, MAX_ROWS, REQUIRED

__all__ = ["NOTE", "describe_columns", "template_csv", "template_xlsx"]


def _example(today: date) -> dict[str, Cell]:
    return {
        "title": "村集体茶叶加工设备 tea processing machines",
        "village": "者楼村",
        "category": "产业发展",
        "mode": "造血",
        "beneficiaries": 320,
        "budget": "150000.00",
        "resource_kind": "物资",
        "quantity": 2,
        "unit": "台",
        "item": "茶叶杀青机",
        "deadline": date(today.year + 1, 12, 31),
        "contact_role": "县乡村振兴局产业股",
        "description": "用于村集体茶厂，带动脱贫户务工增收。",
    }


NOTE = (
    "# 每行一个需求、一种资源；需要多种资源时请分行填写。以 # 开头的行不读取。"
    " / One need per row, with one resource; ask for several resources on several rows."
    " Rows starting with # are skipped."
)


def _header_cells() -> list[str]:
    return [f"{zh} {en}" for zh, en, _ in COLUMNS.values()]


def template_csv(today: date | None = None) -> bytes:
    """The need-list template as CSV UTF-8 with a BOM (so Excel reads the Chinese)."""
    example = _example(today or datetime.now(BEIJING).date())
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(_header_cells())
    writer.writerow([cell_text(example[k]) for k in COLUMNS])
    writer.writerow([NOTE])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def template_xlsx(today: date | None = None) -> bytes:
    """The need-list template as XLSX: a frozen bilingual header row, an example row, choice
    lists on 类别 / 方式 / 资源类型, and a sheet 填写说明 describing each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    example = _example(today or datetime.now(BEIJING).date())
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "需求表 needs"
    sheet.append(_header_cells())
    sheet.append([example[k] for k in COLUMNS])
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, key in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=i)
        cell.font, cell.fill = bold, fill
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 30 if key in ("title", "description") else 16
        if key == "deadline":
            for row in range(2, MAX_ROWS + 2):
                sheet.cell(row=row, column=i).number_format = "yyyy-mm-dd"
    choices = {
        "category": ",".join(CATEGORIES),
        "mode": "输血,造血",
        "resource_kind": "资金,物资,服务",
    }
    for key, values in choices.items():
        letter = sheet.cell(row=1, column=list(COLUMNS).index(key) + 1).column_letter
        rule = DataValidation(type="list", formula1=f'"{values}"', allow_blank=True)
        rule.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        sheet.add_data_validation(rule)
    notes = book.create_sheet("填写说明 notes")
    notes.append(["列 column", "说明 what to write"])
    for key, (zh, en, what) in COLUMNS.items():
        need = "必填 required" if key in REQUIRED else "选填 optional"
        notes.append([f"{zh} {en}", f"{need}：{what}"])
    notes.append([])
    notes.append([NOTE.removeprefix("# ")])
    notes.column_dimensions["A"].width = 24
    notes.column_dimensions["B"].width = 100
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def describe_columns() -> str:
    """The column list as text, for `bangfu library template` and the docs."""
    lines = []
    for key, (zh, en, what) in COLUMNS.items():
        need = "必填 required" if key in REQUIRED else "选填 optional"
        lines.append(f"{zh} {en} ({need}): {what}")
    return "\n".join(lines) + "\n"
