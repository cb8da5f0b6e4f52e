"""`bangfu audit`: the independent audit from the command line, a Rich summary and a JSON report."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
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
from ledger.config import Settings, get_settings
from ledger.core import codes
from ledger.core.errors import DeploymentError, LedgerError
from ledger.evm.deploy import Deployment, check_chain, connect
from ledger.evm.localchain import rpc_url

NAME = ""
app = typer.Typer()
out = Console(stderr=True)


@app.command("audit")
def audit(
    rpc: str | None = typer.Option(
        None,
        "--rpc",
        help="区块链节点，默认为其他命令所用的节点 JSON-RPC URL of any node of the chain "
        "(default: the node the other commands use, BANGFU_RPC_URL or localchain.toml's anvil)",
    ),
    contract: str | None = typer.Option(
        None,
        "--contract",
        help="合约地址，默认取自 var/deployment.json AidLedger address (0x…; default: the one "
        "in var/deployment.json, which must be for the node's chain)",
    ),
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
    (with --strict).

    不给 --rpc / --contract 时，审计其他命令所用的节点与 var/deployment.json 中的合约，并在
    stderr 注明来源 Without --rpc / --contract it audits the node the other commands use
    (BANGFU_RPC_URL or localchain.toml's anvil) and the contract in var/deployment.json, and
    says so in one line on stderr; the JSON report's "chain" names where each came from."""
    settings = get_settings()
    target = given_target(settings, rpc, contract)
    try:
        if target.rpc is None:
            target = replace(target, rpc=rpc_url(settings))
        target = resolve_contract(settings, target)
    except LedgerError as exc:
        if json_path is not None:
            _write(json_path, error_report(target, exc))
        raise
    if target.defaulted:
        out.print(target.line(), soft_wrap=True, markup=False, highlight=False)
    opts = AuditOptions(
        rpc_url=str(target.rpc),
        contract=str(target.contract),
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
                _write(json_path, error_report(target, exc))
            raise
    print_summary(report)
    if json_path is not None:
        data = report.to_json()
        data["chain"].update(target.sources())
        _write(json_path, data)
        out.print(f"报告 report: {json_path}")
    raise typer.Exit(report.exit_code(strict=strict))


@dataclass(frozen=True)
class Target:
    """What the audit reads and where each value came from: the RPC URL from --rpc,
    BANGFU_RPC_URL or localchain.toml; the contract from --contract or the deployment file."""

    rpc: str | None
    rpc_source: str
    contract: str | None
    contract_source: str

    @property
    def defaulted(self) -> bool:
        return self.rpc_source != "--rpc" or self.contract_source != "--contract"

    def sources(self) -> dict[str, str]:
        return {"rpc_source": self.rpc_source, "contract_source": self.contract_source}

    def line(self) -> str:
        """The one line that says what is audited when a value was not given on the command
        line: the audit is the independent check, so it names the files it trusted."""
        if self.contract_source == "--contract":
            zh, en = "--contract 给出的合约", "the contract given by --contract"
        else:
            zh = f"{self.contract_source} 中的合约"
            en = f"the contract in {self.contract_source}"
        if self.rpc_source != "--rpc":
            zh += f"，节点取自 {self.rpc_source}"
            en += f", node from {self.rpc_source}"
        return f"审计 {zh} auditing {en}: {self.contract} on {self.rpc}"


def given_target(settings: Settings, rpc: str | None, contract: str | None) -> Target:
    """The values as given (None where not) and where each will come from; reads nothing."""
    if rpc is not None:
        rpc_source = "--rpc"
    elif settings.rpc_url:
        rpc_source = "BANGFU_RPC_URL"
    else:
        rpc_source = settings.shown(settings.localchain_file)
    contract_source = (
        "--contract" if contract is not None else settings.shown(settings.deployment_path)
    )
    return Target(rpc, rpc_source, contract, contract_source)


def resolve_contract(settings: Settings, given: Target) -> Target:
    """The contract to audit on `given.rpc`: --contract when given, else the address in the
    deployment file, which must be for that node's chain (DeploymentError no_deployment or
    wrong_chain otherwise)."""
    url = str(given.rpc)
    if given.contract is not None:
        return Target(
            url, given.rpc_source, require_address(given.contract, "--contract"), "--contract"
        )
    shown = given.contract_source
    try:
        deployment = Deployment.load(settings)
    except DeploymentError as exc:
        if exc.code != codes.NO_DEPLOYMENT:
            raise
        raise DeploymentError(
            f"没有部署文件，请用 --contract 指定合约 / no deployment file {shown}: give the "
            "contract to audit with --contract 0x… (or deploy first with `bangfu deploy`)",
            code=codes.NO_DEPLOYMENT,
        ) from None
    address = require_address(deployment.address, shown)
    check_chain(
        connect(settings, url=url),
        deployment,
        path=shown,
        advice=f"give --rpc of a node of chain {deployment.chain_id}, or --contract",
    )
    return Target(url, given.rpc_source, address, shown)


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=repr))


def error_report(target: Target, exc: LedgerError) -> dict[str, Any]:
    """The report of an audit that could not run: verdict "error", with the reason."""
    return {
        "format": REPORT_FORMAT,
        "verdict": "error",
        "chain": {"rpc": target.rpc, "contract": target.contract, **target.sources()},
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
