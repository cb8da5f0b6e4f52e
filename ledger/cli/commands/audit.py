"""`bangfu audit`: the independent audit from the command line, a Rich summary and a JSON report."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.audit.report import REPORT_FORMAT, AuditReport
from ledger.cli.commands.core import require_address
from ledger.core.errors import LedgerError

NAME = ""
app = typer.Typer()
out = Console(stderr=True)


@app.command("audit")
def audit(
    rpc: str = typer.Option(..., "--rpc", help="区块链节点 JSON-RPC URL of any node of the chain"),
    contract: str = typer.Option(..., "--contract", help="合约地址 AidLedger address (0x…)"),
    from_block: int | None = typer.Option(
        None, "--from-block", help="起始区块 first block (default: the deployment block)"
    ),
    sources: Path | None = typer.Option(
        None, "--sources", help="合约源码目录 contracts/ to recompile and compare with the chain"
    ),
    database: str | None = typer.Option(
        None, "--database", help="数据库 SQLAlchemy URL of a read model to diff"
    ),
    evidence: Path | None = typer.Option(
        None, "--evidence", help="证据文件目录 folder of evidence files named by SHA-256"
    ),
    json_path: Path | None = typer.Option(None, "--json", help="报告 write the JSON report here"),
    receipt_days: int = typer.Option(30, help="签收期限(天) days a delivery may wait for receipt"),
    workers: int = typer.Option(0, help="签名核验进程数 signature workers (0 = one per core)"),
    strict: bool = typer.Option(
        False, help="异常也失败 exit 2 on anomalies too (integrity findings always exit 1)"
    ),
) -> None:
    """独立审计 Audit the ledger from the chain alone: bytecode, signatures, roles, log roots,
    totals, the database and evidence files. Exit 0 clean, 1 integrity findings, 2 anomalies
    (with --strict)."""
    opts = AuditOptions(
        rpc_url=rpc,
        contract=require_address(contract, "--contract"),
        from_block=from_block,
        sources=sources,
        database_url=database,
        evidence_dir=evidence,
        receipt_days=receipt_days,
        workers=workers,
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        # Only on a terminal: a log or a pipe gets no bar (Rich would still end it with a
        # blank line), so an error stays the one line the CLI promises.
        console=out if out.is_terminal else Console(file=io.StringIO()),
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        try:
            report = run_audit(opts, progress)
        except LedgerError as exc:
            # the audit could not start or reach the chain: the report says so, then one line
            if json_path is not None:
                _write(json_path, error_report(opts, exc))
            raise
    print_summary(report)
    if json_path is not None:
        _write(json_path, report.to_json())
        out.print(f"报告 report: {json_path}")
    raise typer.Exit(report.exit_code(strict=strict))


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=repr))


def error_report(opts: AuditOptions, exc: LedgerError) -> dict[str, Any]:
    """The report of an audit that could not run: verdict "error", with the reason."""
    return {
        "format": REPORT_FORMAT,
        "verdict": "error",
        "chain": {"rpc": opts.rpc_url, "contract": opts.contract},
        "error": {"code": exc.code, "message": exc.message},
        "findings": [],
    }


def print_summary(report: AuditReport) -> None:
    verdict = "[bold red]未通过 FAIL[/]" if report.integrity else "[bold green]通过 PASS[/]"
    out.print(
        f"审计 audit of {report.contract} on chain {report.chain_id}, blocks "
        f"{report.from_block}–{report.to_block}: {verdict}"
    )
    table = Table("检查 check", "结果 result")
    for name, result in report.checks.items():
        table.add_row(name, result)
    out.print(table)
    stats = report.stats
    out.print(
        f"记录 records {stats.get('records', 0)}, role events {stats.get('role_events', 0)}, "
        f"commitments {stats.get('commitments', 0)}; "
        f"{report.timings.get('total', 0):.1f} s"
    )
    if report.findings:
        found = Table("代码 code", "类别 kind", "数量 count", "例 first")
        first: dict[str, str] = {}
        for f in report.findings:
            first.setdefault(f.code, f.message)
        for code, n in report.counts().items():
            sev = next(f.severity for f in report.findings if f.code == code)
            found.add_row(code, sev, str(n), first[code][:100])
        out.print(found)
