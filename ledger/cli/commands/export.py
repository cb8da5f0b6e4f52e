"""`bangfu export iati` (IATI 2.03 activity XML, schema-validated) and `bangfu export csv`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ledger.app import LedgerService
from ledger.cli.commands import group_app
from ledger.cli.commands.report import read_snapshot
from ledger.core import codes
from ledger.core.errors import NotFoundError
from ledger.export import csv_export, iati, pairing_snapshot

NAME = "export"
out = Console(stderr=True)
app = group_app(NAME, no_args_is_help=False)


@app.command("iati")
def iati_cmd(
    out_file: Path = typer.Option(..., "--out", help="输出文件 output .xml file"),
    period: str = typer.Option("all", help="截止于期末 cut-off at the end of this period"),
    reporting_org: str | None = typer.Option(
        None,
        help="报送机构标识 the publisher's IATI id, e.g. CN-USCI-<统一社会信用代码>; "
        "default BANGFU_IATI_REPORTING_ORG",
    ),
    reporting_name: str | None = typer.Option(
        None, help="报送机构名称 the publisher's name; default BANGFU_IATI_REPORTING_ORG_NAME"
    ),
    province: int | None = typer.Option(None, help="省级代码 2-digit province code"),
) -> None:
    """导出 IATI 2.03 Export needs and their commitments as IATI activities (validated)."""
    service = LedgerService()
    publisher = iati.reporting_org_from(service.settings, ref=reporting_org, name=reporting_name)
    _, snap, _ = read_snapshot(service, period, province=province)
    if not snap.needs:
        # IATI 2.03 requires at least one activity: an empty ledger has no document to give.
        raise NotFoundError(
            f"此期间没有需求项目 / no need projects up to the end of {period}; nothing to export",
            code=codes.NOTHING_TO_EXPORT,
        )
    with service.db.read() as session:  # programs (issue 18): pairings as participating orgs
        cited = pairing_snapshot.iati_pairings(session, snap)
    data = iati.export(snap, publisher=publisher, pairings=cited)
    out_file.write_bytes(data)
    out.print(f"IATI 2.03: {len(snap.needs)} activities, valid; {out_file}")


@app.command("csv")
def csv_cmd(
    kind: str = typer.Option(..., help="commitments|deliveries|receipts|flags|projects"),
    out_file: Path = typer.Option(..., "--out", help="输出文件 output .csv file"),
) -> None:
    """导出 CSV Export one record kind with tx hash and proof reference on every row."""
    service = LedgerService()
    service.db.migrate()
    with service.db.read() as session, out_file.open("w", newline="", encoding="utf-8") as fh:
        n = csv_export.write_csv(session, kind, fh)
    out.print(f"{kind}: {n} rows → {out_file}")
