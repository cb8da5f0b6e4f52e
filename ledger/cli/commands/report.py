"""`bangfu report` (periodic report: PDF, HTML, figures as CSV/XLSX, provenance) and
`bangfu indicators` (one organization's evaluation indicators)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console

from ledger.app import LedgerService
from ledger.core import codes
from ledger.core.errors import LedgerError
from ledger.core.fields import BEIJING
from ledger.export import indicators as ind
from ledger.export.report import build_report
from ledger.export.report_files import write_report
from ledger.export.sections import program_sections
from ledger.export.snapshot import (
    Period,
    Snapshot,
    check_against_chain,
    load_key_counties,
    load_snapshot,
    parse_period,
    resolve_period,
)
from ledger.store.queries.grievance import upheld_by_org

NAME = ""
out = Console()
app = typer.Typer()


def read_snapshot(
    service: LedgerService,
    period: str,
    *,
    province: int | None = None,
    key_file: Path | None = None,
) -> tuple[Period, Snapshot, set[int]]:
    """The period, the read model at its end, and the key counties (from `key_file`, else
    the library's table), after bringing the database schema up to date."""
    parse_period(period)  # a bad period is refused before the database is touched
    service.db.migrate()
    with service.db.read() as session:
        p = resolve_period(session, period)
        snap = load_snapshot(session, p.end, province=province)
        return p, snap, load_key_counties(key_file, session)


@app.command("report")
def report_cmd(
    period: str = typer.Option(..., help="期间 period: 2026-Q3, 2026-07, 2026-H1, 2026"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录 output folder"),
    province: int | None = typer.Option(None, help="省级代码 2-digit province code, e.g. 52"),
    key_counties: Path | None = typer.Option(
        None, help="重点帮扶县名单 file of 6-digit key-county codes"
    ),
    check_chain: bool = typer.Option(
        True, help="与链上日志根核对 compare the log root at the cut-off with the contract"
    ),
    unit: str | None = typer.Option(
        None,
        help="填报单位 the office that files the report; default BANGFU_IATI_REPORTING_ORG_NAME",
    ),
    report_date: str | None = typer.Option(
        None,
        "--date",
        help="报告日期 YYYY-MM-DD (北京时间): anomalies are measured at the start of this day; "
        "default now",
    ),
) -> None:
    """生成定期报告 Periodic report: report.pdf, report.html, figures (CSV, XLSX), provenance."""
    parse_period(period)  # a bad period is refused before anything else is read
    generated = _report_date(report_date)
    service = LedgerService()
    p, snap, keys = read_snapshot(service, period, province=province, key_file=key_counties)
    verified = check_against_chain(snap, service.ledger()) if check_chain else None
    with service.db.read() as session:  # programs (issue 18): their report sections
        sections = program_sections(session, p, province)
    report = build_report(
        snap,
        p,
        key_counties=keys,
        chain_verified=verified,
        generated=generated,
        unit=unit if unit is not None else service.settings.iati_reporting_org_name or "",
        sections=sections,
    )
    files = write_report(report, out_dir)
    out.print(
        f"报告 report {p.label}: log size {snap.log_size}, root {snap.log_root}"
        + ("" if verified is None else f", chain {'match' if verified else 'MISMATCH'}")
    )
    for name in sorted(files):
        out.print(f"  {files[name]}")


def _report_date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise LedgerError(
            f"报告日期应为 YYYY-MM-DD / --date {text!r} must be a date such as 2026-12-01",
            code=codes.BAD_PARAMETER,
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)


@app.command("indicators")
def indicators_cmd(
    org: str = typer.Option(..., help="统一社会信用代码 the organization's credit code"),
    period: str = typer.Option("all", help="期间 period: 2026-Q3, 2026, all"),
    key_counties: Path | None = typer.Option(None, help="重点帮扶县名单 key-county file"),
) -> None:
    """社会组织评价指标 An organization's evaluation indicators, as JSON."""
    service = LedgerService()
    p, snap, keys = read_snapshot(service, period, key_file=key_counties)
    with service.db.read() as session:
        upheld = upheld_by_org(session, p.start, p.end)
    result = ind.compute(snap, org, p, key_counties=keys, grievances_upheld=upheld)
    data = result.to_dict()
    data.pop("records")
    print(json.dumps(data, ensure_ascii=False, indent=2))
