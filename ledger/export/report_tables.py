"""The periodic report's tables: a column (its bilingual header and how its cells read), a
row (its cells and the record ids behind it), a table, the columns several tables share,
and `ReportSection`, the one way a program adds tables to the report. The report, the
programs' sections and the files (`ledger.export.report_files`) all build on these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.core import display
from ledger.core.fields import ResourceKind
from ledger.export.snapshot import Period, Snapshot, records_root


@dataclass(frozen=True)
class Column:
    """A table column: its bilingual header and how its cells read.

    kind: text; count (an integer); yuan or wan (fen, read as ¥ or 万元); qty (a quantity in
    the row's resource kind and unit); pct (a ratio 0..1); date (unix seconds, read as the
    Beijing date). `pdf` False keeps a copyable detail (a code or id) to the XLSX and CSV.
    """

    key: str
    zh: str
    en: str
    kind: str = "text"
    pdf: bool = True

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"

    @property
    def numeric(self) -> bool:
        return self.kind in ("count", "yuan", "wan", "qty", "pct")


@dataclass
class Row:
    """One figure row of a table: its cells and the record ids it is computed from.

    Cells hold the values, not their text (fen for money, unix seconds for times); `text`
    formats a cell for a reader and `resource` gives the kind and unit of qty cells."""

    key: str
    cells: dict[str, Any]
    records: set[str] = field(default_factory=set)
    resource: tuple[int, str] | None = None
    highlight: bool = False

    @property
    def records_root(self) -> str:
        return records_root(self.records)

    def text(self, col: Column) -> str:
        return format_cell(col, self)


def format_cell(col: Column, row: Row) -> str:
    """A cell as a reader sees it, through ledger.core.display."""
    value = row.cells.get(col.key)
    if value is None or value == "":
        return display.NONE if col.numeric or col.kind == "date" else ""
    if col.kind == "count":
        return display.count(int(value))
    if col.kind == "yuan":
        return display.yuan(int(value))
    if col.kind == "wan":
        return display.wan(int(value))
    if col.kind == "qty":
        rk, unit = row.resource or (ResourceKind.FUNDS, "")
        return display.amount(int(value), rk, unit, large=True)
    if col.kind == "pct":
        return f"{100 * float(value):.1f}%"
    if col.kind == "date":
        return display.beijing_date(int(value))
    return str(value)


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[Row]
    note: str = ""

    @property
    def pdf_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pdf]


#: Columns several tables show (the report's own and the programs' sections), declared once
#: so that the same figure has the same header in every table.
ORG_COLUMN = Column("org", "社会组织", "organization")
CREDIT_CODE_COLUMN = Column("code", "统一社会信用代码", "credit code", pdf=False)
COUNTY_COLUMN = Column("county", "县（地市）", "county")
COUNTY_CODE_COLUMN = Column("code", "区划代码", "county code", pdf=False)
NEED_COLUMN = Column("need", "需求项目", "need")
COMMITMENTS_COLUMN = Column("commitments", "承诺数", "commitments", "count")


#: A program's section (issue 18, docs/programs.md): more tables computed from the snapshot
#: (and what its caller read beside it at the same cut-off), put after the report's own. The
#: one way a program adds to the report: `ledger.export.sections.program_sections` lists them
#: all (pairing, special funds, grievances); `special_funds_section` needs the snapshot alone.
ReportSection = Callable[[Snapshot, Period, set[int]], dict[str, Table]]
