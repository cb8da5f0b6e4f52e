"""The periodic report's files: report.html, report.pdf (reportlab, CJK font embedded),
charts as PNG and SVG, every table as CSV and XLSX, and provenance.csv; from a `Report`
that `ledger.export.report.build_report` computed."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledger.core import display
from ledger.core.fields import BEIJING, ResourceKind
from ledger.export.report import Report
from ledger.export.report_tables import Column, Row, Table

TEMPLATES = Path(__file__).parent / "templates"

#: The Excel number formats: yuan with two decimals, counts and goods as integers.
YUAN_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"
PCT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd"


def _xlsx_header(col: Column) -> str:
    money = "（元）" if col.kind in ("yuan", "wan") else ""
    return f"{col.zh}{money}\n{col.en}"


def xlsx_value(col: Column, row: Row) -> tuple[Any, str | None]:
    """A cell for the workbook: numbers as numbers (yuan, not fen) with their format."""
    value = row.cells.get(col.key)
    if value is None or value == "":
        return None, None
    if col.kind in ("yuan", "wan"):
        return Decimal(int(value)) / 100, YUAN_FORMAT
    if col.kind == "qty":
        rk = (row.resource or (ResourceKind.FUNDS, ""))[0]
        if rk == ResourceKind.FUNDS:
            return Decimal(int(value)) / 100, YUAN_FORMAT
        return int(value), COUNT_FORMAT
    if col.kind == "count":
        return int(value), COUNT_FORMAT
    if col.kind == "pct":
        return float(value), PCT_FORMAT
    if col.kind == "date":
        return datetime.fromtimestamp(int(value), BEIJING).date(), DATE_FORMAT
    return str(value), None


def csv_value(col: Column, row: Row) -> str:
    """A cell for a figures CSV: machine-readable (yuan as 470000.00, dates as ISO)."""
    value = row.cells.get(col.key)
    if value is None or value == "":
        return ""
    if col.kind in ("yuan", "wan"):
        return display.yuan_decimal(int(value))
    if col.kind == "qty":
        rk = (row.resource or (ResourceKind.FUNDS, ""))[0]
        return display.yuan_decimal(int(value)) if rk == ResourceKind.FUNDS else str(value)
    if col.kind == "pct":
        return f"{float(value):.4f}"
    if col.kind == "date":
        return display.beijing_date(int(value))
    return str(value)


def _text_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: wide (CJK) characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet(book: Any, table: Table) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(table.name[:31])
    heads = [*(_xlsx_header(c) for c in table.columns), "记录数\nrecords", "记录根\nrecords root"]
    sheet.append(heads)
    widths = [max(_text_width(part) for part in h.split("\n")) for h in heads]
    for row in table.rows:
        values = [xlsx_value(c, row) for c in table.columns]
        values += [(len(row.records), COUNT_FORMAT), (row.records_root, None)]
        sheet.append([v for v, _ in values])
        for i, (value, number_format) in enumerate(values):
            cell = sheet.cell(row=sheet.max_row, column=i + 1)
            if number_format:
                cell.number_format = number_format
            shown = (
                f"{value:,.2f}"
                if isinstance(value, Decimal)
                else str(value)
                if value is not None
                else ""
            )
            widths[i] = max(widths[i], _text_width(shown))
    fill = PatternFill("solid", fgColor="DDE6F3")
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[1].height = 32
    for i, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 10), 70)
    # the header row and the names in the first column stay in view
    sheet.freeze_panes = "B2"


def write_tables(report: Report, out: Path) -> list[Path]:
    """figures/<table>.csv, figures.xlsx and provenance.csv."""
    from openpyxl import Workbook  # slow to import; only when a report is written
    from openpyxl.styles import Alignment, Font

    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    book = Workbook()
    summary = book.active
    summary.title = "summary"
    for line in _summary(report):
        summary.append(line)
    summary["A1"].font = Font(bold=True, size=14)
    summary.column_dimensions["A"].width = 24
    summary.column_dimensions["B"].width = 110
    for row in summary.iter_rows(min_row=2):
        row[-1].alignment = Alignment(wrap_text=True, vertical="top")
    for table in report.tables.values():
        path = figures / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(
                ["数字 figure", *(c.header for c in table.columns),
                 "记录数 record_count", "记录根 records_root"]
            )  # fmt: skip
            for row in table.rows:
                w.writerow(
                    [row.key, *(csv_value(c, row) for c in table.columns), len(row.records),
                     row.records_root]
                )  # fmt: skip
        written.append(path)
        _sheet(book, table)
    meta = book.create_sheet("provenance")
    for k, v in _meta(report).items():
        meta.append([k, v])
    meta.column_dimensions["A"].width = 24
    meta.column_dimensions["B"].width = 80
    xlsx = out / "figures.xlsx"
    book.save(xlsx)
    written.append(xlsx)
    prov = out / "provenance.csv"
    with prov.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for k, v in _meta(report).items():
            w.writerow([f"# {k}", v])
        w.writerow(["figure", "table", "record_count", "records_root", "record_ids"])
        for table in report.tables.values():
            for row in table.rows:
                w.writerow(
                    [row.key, table.name, len(row.records), row.records_root,
                     " ".join(sorted(row.records))]
                )  # fmt: skip
    written.append(prov)
    return written


def _summary(report: Report) -> list[list[Any]]:
    """The workbook's first sheet: the title, the sign-off block and the narrative."""
    rows: list[list[Any]] = [[report.title], [report.title_en], []]
    for label, value in _block(report):
        rows.append([label, value])
    rows.append([])
    rows.append(["概述 Summary", ""])
    for paragraph in report.narrative:
        rows.append(["", paragraph])
    return rows


def _block(report: Report) -> list[tuple[str, str]]:
    """填报单位 / 报告日期 / 负责人, the period and the as-of time."""
    return [
        ("填报单位 Reporting unit", report.unit or "（未设置 not set）"),
        ("报告日期 Report date", f"{display.beijing_date(int(report.generated.timestamp()))}"),
        ("负责人 Responsible officer", "＿＿＿＿＿＿＿＿（签字 signature）"),
        (
            "报告期间 Period",
            f"{report.period.start_date} 至 {report.period.last_date}（{display.TZ_LABEL}）",
        ),
        ("异常统计截至 Anomalies as of", report.as_of_text),
    ]


def _meta(report: Report) -> dict[str, Any]:
    return {
        "period": report.period.label,
        "period_start": f"{report.period.start_date} 00:00 {display.TZ_LABEL}",
        "cutoff": f"{display.beijing_time(report.period.end, seconds=True)} {display.TZ_LABEL}",
        "cutoff_unix": report.period.end,
        "province": report.province or "all",
        "province_name": report.province_name or "",
        "reporting_unit": report.unit,
        "log_size": report.log_size,
        "log_root": report.log_root,
        "last_block": report.last_block if report.last_block is not None else "",
        "chain_verified": "" if report.chain_verified is None else report.chain_verified,
        "key_counties": " ".join(str(k) for k in sorted(report.key_counties)),
        "generated": report.generated_text,
        "anomalies_as_of": report.as_of_text,
        "records_root_rule": "RFC 9162 root over SHA-256(0x00 || id) of the sorted distinct ids",
    }


def render_html(report: Report) -> str:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )
    return env.get_template("report.html").render(
        report=report,
        meta=_meta(report),
        block=_block(report),
        tables=report.tables,
        charts=report.charts,
    )


def _column_widths(
    table: Table, cols: list[Column], width: float, font: str, size: float
) -> list[float]:
    """Widths that keep every Chinese header on one line and every English header word
    whole, giving the rest of the page to the columns whose cells are longest."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pad = 8.0
    least, wanted = [], []
    for col in cols:
        head = max(
            stringWidth(col.zh, font, size),
            *(stringWidth(w, font, size) for w in col.en.split()),
        )
        cells = [stringWidth(row.text(col), font, size) for row in table.rows] or [0.0]
        longest = max(cells)
        # numbers never wrap; text may wrap to three lines
        need = longest if col.numeric or col.kind == "date" else min(longest, longest / 3 + 20)
        least.append(max(head, need) + pad)
        wanted.append(max(head, longest) + pad)
    if sum(wanted) <= width:
        extra = (width - sum(wanted)) / len(cols)
        return [w + extra for w in wanted]
    if sum(least) <= width:
        slack = [w - m for w, m in zip(wanted, least, strict=True)]
        k = (width - sum(least)) / (sum(slack) or 1)
        return [m + s * k for m, s in zip(least, slack, strict=True)]
    return [m * width / sum(least) for m in least]


def write_pdf(report: Report, path: Path) -> None:
    """The report as PDF (reportlab), embedding the CJK font and the PNG charts: a first
    page of narrative with the sign-off block, charts, the tables, and the provenance
    appendix; every page numbered."""
    # reportlab and matplotlib (charts) load only when a report is written: every `bangfu`
    # command imports this module, and they would slow each one down
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import (
        CondPageBreak,
        Image,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
    )
    from reportlab.platypus import (
        Table as PdfTable,
    )
    from reportlab.platypus import (
        TableStyle as PdfTableStyle,
    )

    from ledger.export import charts

    font = "BangfuCJK"
    if font not in pdfmetrics.getRegisteredFontNames():
        path_font = charts.cjk_font()
        pdfmetrics.registerFont(TTFont(font, str(path_font), subfontIndex=0))
    h1 = ParagraphStyle("h1", fontName=font, fontSize=17, leading=24, spaceAfter=2)
    sub = ParagraphStyle("sub", fontName=font, fontSize=9, leading=12, textColor="#555555")
    h2 = ParagraphStyle("h2", fontName=font, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=15, wordWrap="CJK")
    para = ParagraphStyle("para", parent=body, firstLineIndent=19, spaceAfter=3)
    small = ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10, wordWrap="CJK")
    size = 7.0
    cell = ParagraphStyle("cell", fontName=font, fontSize=size, leading=9, wordWrap="CJK")
    num = ParagraphStyle("num", parent=cell, alignment=TA_RIGHT)
    head = ParagraphStyle("head", fontName=font, fontSize=size, leading=9)
    page = landscape(A4)
    title = report.title

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        """Writes 第 n 页 / 共 N 页 on every page once the page count is known."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(font, 7.5)
                self.setFillColor(colors.HexColor("#555555"))
                n = self._pageNumber
                self.drawString(12 * mm, 7 * mm, title)
                self.drawRightString(
                    page[0] - 12 * mm, 7 * mm, f"第 {n} 页 / 共 {total} 页  page {n} of {total}"
                )
                super().showPage()
            super().save()

    doc = SimpleDocTemplate(
        str(path), pagesize=page, leftMargin=12 * mm, rightMargin=12 * mm,
        topMargin=12 * mm, bottomMargin=14 * mm, title=title, author=report.unit or "Bangfu Ledger",
    )  # fmt: skip
    width = page[0] - 24 * mm
    grid = PdfTableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f3")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )

    # -- first page: title, sign-off block, narrative
    story: list[Any] = [Paragraph(title, h1), Paragraph(report.title_en, sub), Spacer(1, 4 * mm)]
    block = PdfTable(
        [[Paragraph(k, body), Paragraph(v, body)] for k, v in _block(report)],
        colWidths=[55 * mm, width - 55 * mm],
    )
    block.setStyle(
        PdfTableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story += [block, Spacer(1, 5 * mm), Paragraph("一、概述 Summary", h2)]
    story += [Paragraph(p, para) for p in report.narrative]
    story.append(
        Paragraph(
            "金额单位：元（¥）或万元；物资按其计量单位，服务按小时计；时间均为北京时间。"
            "每个数字可追溯到链上记录，见附录。Amounts in yuan or 万元 (10,000 yuan); goods in "
            "their units, services in hours; times in Beijing time. Every figure traces to "
            "its records on the ledger: see the appendix.",
            small,
        )
    )

    def table_flowable(table: Table) -> Any:
        cols = table.pdf_columns
        widths = _column_widths(table, cols, width, font, size)
        data = [[Paragraph(f"{c.zh}<br/>{c.en}", head) for c in cols]]
        for row in table.rows:
            data.append([Paragraph(_escape(row.text(c)), num if c.numeric else cell) for c in cols])
        t = PdfTable(data, repeatRows=1, colWidths=widths)
        t.setStyle(grid)
        return t

    story.append(Paragraph("二、总量 Totals", h2))
    story.append(table_flowable(report.tables["totals"]))

    # -- charts
    images = []
    for name in ("trend", "counties", "categories", "organizations"):
        if name in report.charts:
            img = Image(io.BytesIO(report.charts[name][0]))
            scale = min(width * 0.49 / img.imageWidth, 80 * mm / img.imageHeight)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            images.append(img)
    if images:
        story += [PageBreak(), Paragraph("三、图表 Charts（资金，万元 funds in 万元）", h2)]
        rows = [
            images[i : i + 2] + [""] * (2 - len(images[i : i + 2]))
            for i in range(0, len(images), 2)
        ]
        story.append(PdfTable(rows, colWidths=[width / 2] * 2))

    # -- the tables
    story += [PageBreak(), Paragraph("四、明细 Tables", h2)]
    for name, table in report.tables.items():
        if name == "totals":
            continue
        story.append(CondPageBreak(30 * mm))
        story.append(Paragraph(table.title, h2))
        if table.note:
            story.append(Paragraph(table.note, small))
        if not table.rows:
            story.append(Paragraph("无 none", body))
            continue
        story.append(table_flowable(table))

    # -- appendix: provenance
    meta = _meta(report)
    story += [PageBreak(), Paragraph("附录：数据来源 Appendix: provenance", h2)]
    story.append(
        Paragraph(
            f"截止 cut-off {meta['cutoff']}；日志大小 log size {report.log_size}；"
            f"日志根 log root {report.log_root}"
            + (
                ""
                if report.chain_verified is None
                else "；链上核对 checked on chain: "
                + ("一致 match" if report.chain_verified else "不一致 MISMATCH")
            ),
            small,
        )
    )
    story.append(
        Paragraph(
            "每行的记录数与记录 id 的默克尔根如下；provenance.csv 与 figures.xlsx 列出全部记录 "
            "id；每条记录可用 /api/v1/proofs/record/&lt;id&gt; 证明包含在上述日志根中。 Each "
            "row's record count and the Merkle root of its record ids; provenance.csv lists "
            "every id, and each proves into the log root above.",
            small,
        )
    )
    story.append(Spacer(1, 3 * mm))
    data = [
        [
            Paragraph(h, head)
            for h in ("数字<br/>figure", "记录数<br/>records", "记录根<br/>records root")
        ]
    ]
    for table in report.tables.values():
        label = table.title.split(" ")[0]
        first = table.pdf_columns[0]
        for row in table.rows:
            data.append(
                [Paragraph(f"{_escape(label)}：{_escape(row.text(first))}<br/>"
                           f"<font color='#777777'>{row.key}</font>", small),
                 Paragraph(str(len(row.records)), small), Paragraph(row.records_root, small)]
            )  # fmt: skip
    t = PdfTable(data, repeatRows=1, colWidths=[width * 0.45, width * 0.08, width * 0.47])
    t.setStyle(grid)
    story.append(t)
    doc.build(story, canvasmaker=NumberedCanvas)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_report(report: Report, out: Path) -> dict[str, Path]:
    """Writes report.html, report.pdf, charts/*.png|svg, figures/*.csv, figures.xlsx and
    provenance.csv under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    chart_dir = out / "charts"
    chart_dir.mkdir(exist_ok=True)
    for name, (png, svg) in report.charts.items():
        (chart_dir / f"{name}.png").write_bytes(png)
        (chart_dir / f"{name}.svg").write_text(svg, encoding="utf-8")
    for path in write_tables(report, out):
        files[path.name if path.parent == out else f"figures/{path.name}"] = path
    html = out / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    files["report.html"] = html
    pdf = out / "report.pdf"
    write_pdf(report, pdf)
    files["report.pdf"] = pdf
    return files
