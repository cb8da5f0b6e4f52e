"""The periodic report's files: report.html, report.pdf (reportlab, CJK font embedded),
charts as PNG and SVG, every table as CSV and XLSX, and provenance.csv; from a `Report`
that `ledger.export.report.build_report` computed."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledger.core.fields import BEIJING
from ledger.export.report import TEMPLATES, Report


def write_tables(report: Report, out: Path) -> list[Path]:
    """figures/<table>.csv, figures.xlsx and provenance.csv."""
    from openpyxl import Workbook  # slow to import; only when a report is written

    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    book = Workbook()
    book.remove(book.active)
    for table in report.tables.values():
        path = figures / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["figure", *(k for k, _ in table.columns), "record_count", "records_root"])
            for row in table.rows:
                w.writerow(
                    [row.key, *(row.cells[k] for k, _ in table.columns), len(row.records),
                     row.records_root]
                )  # fmt: skip
        written.append(path)
        sheet = book.create_sheet(table.name[:31])
        sheet.append(["figure", *(h for _, h in table.columns), "record_count", "records_root"])
        for row in table.rows:
            sheet.append(
                [row.key, *(_cell(row.cells[k]) for k, _ in table.columns), len(row.records),
                 row.records_root]
            )  # fmt: skip
    meta = book.create_sheet("provenance")
    for k, v in _meta(report).items():
        meta.append([k, v])
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


def _cell(value: Any) -> Any:
    """Numbers as numbers in the workbook (exact yuan strings become decimals there)."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+\.\d{2}", value):
        return float(value)
    return value


def _meta(report: Report) -> dict[str, Any]:
    return {
        "period": report.period.label,
        "period_start": f"{report.period.start_date} 00:00 UTC+8",
        "cutoff": f"{datetime.fromtimestamp(report.period.end, BEIJING).isoformat()}",
        "cutoff_unix": report.period.end,
        "province": report.province or "all",
        "log_size": report.log_size,
        "log_root": report.log_root,
        "last_block": report.last_block if report.last_block is not None else "",
        "chain_verified": "" if report.chain_verified is None else report.chain_verified,
        "key_counties": " ".join(str(k) for k in sorted(report.key_counties)),
        "generated": report.generated,
        "records_root_rule": "RFC 9162 root over SHA-256(0x00 || id) of the sorted distinct ids",
    }


def render_html(report: Report) -> str:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )
    return env.get_template("report.html").render(
        report=report, meta=_meta(report), tables=report.tables, charts=report.charts
    )


def write_pdf(report: Report, path: Path) -> None:
    """The report as PDF (reportlab), embedding the CJK font and the PNG charts."""
    # reportlab and matplotlib (charts) load only when a report is written: every `bangfu`
    # command imports this module, and they would slow each one down
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (
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
    h1 = ParagraphStyle("h1", fontName=font, fontSize=16, leading=22, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=12, wordWrap="CJK")
    cell = ParagraphStyle("cell", fontName=font, fontSize=6.5, leading=8, wordWrap="CJK")
    page = landscape(A4)
    doc = SimpleDocTemplate(
        str(path), pagesize=page, leftMargin=12 * mm, rightMargin=12 * mm,
        topMargin=12 * mm, bottomMargin=12 * mm, title=report.title, author="Bangfu Ledger",
    )  # fmt: skip
    width = page[0] - 24 * mm
    story: list[Any] = [Paragraph(report.title, h1)]
    meta = _meta(report)
    story.append(
        Paragraph(
            f"期间 period {report.period.start_date} — {report.period.last_date}；截止 cut-off "
            f"{meta['cutoff']}；日志大小 log size {report.log_size}；"
            f"日志根 log root {report.log_root}"
            + (
                ""
                if report.chain_verified is None
                else f"；链上核对 checked on chain: {'一致 match' if report.chain_verified else '不一致 MISMATCH'}"  # noqa: E501
            ),
            body,
        )
    )
    story.append(
        Paragraph(
            "每个数字可追溯：附录列出每行的记录数与记录 id 的默克尔根，"
            "provenance.csv 列出全部记录 id；"
            "每条记录可用 /api/v1/proofs/record/&lt;id&gt; 证明包含在上述日志根中。 Every figure "
            "traces to its records: the appendix gives each row's record count and ids root; "
            "provenance.csv lists every id.",
            body,
        )
    )
    story.append(Spacer(1, 4 * mm))
    images = []
    for name in ("trend", "counties", "categories", "organizations"):
        if name in report.charts:
            img = Image(io.BytesIO(report.charts[name][0]))
            scale = min(width * 0.49 / img.imageWidth, 80 * mm / img.imageHeight)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            images.append(img)
    if images:
        # two charts a row, so the charts fit on the first pages
        grid = [
            images[i : i + 2] + [""] * (2 - len(images[i : i + 2]))
            for i in range(0, len(images), 2)
        ]
        story.append(PdfTable(grid, colWidths=[width / 2] * 2))
    style = PdfTableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f3")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    for table in report.tables.values():
        story.append(Paragraph(table.title, h2))
        if table.note:
            story.append(Paragraph(table.note, body))
        if not table.rows:
            story.append(Paragraph("无 none", body))
            continue
        data = [[Paragraph(h, cell) for _, h in table.columns]]
        for row in table.rows:
            data.append([Paragraph(str(row.cells[k]), cell) for k, _ in table.columns])
        t = PdfTable(
            data, repeatRows=1, colWidths=[width / len(table.columns)] * len(table.columns)
        )
        t.setStyle(style)
        story.append(t)
    story.append(PageBreak())
    story.append(Paragraph("附录：数据来源 Appendix: provenance", h2))
    for k, v in meta.items():
        story.append(Paragraph(f"{k}: {v}", body))
    data = [[Paragraph(h, cell) for h in ("figure 数字", "records 记录数", "records_root 记录根")]]
    for table in report.tables.values():
        for row in table.rows:
            data.append(
                [Paragraph(row.key, cell), Paragraph(str(len(row.records)), cell),
                 Paragraph(row.records_root, cell)]
            )  # fmt: skip
    t = PdfTable(data, repeatRows=1, colWidths=[width * 0.45, width * 0.1, width * 0.45])
    t.setStyle(style)
    story.append(t)
    doc.build(story)


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
