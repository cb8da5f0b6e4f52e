"""`bangfu batch template|check|submit`: bulk delivery files for social organizations."""

from __future__ import annotations

import hashlib
import time
from importlib import resources
from pathlib import Path

import httpx
import typer
from eth_account import Account
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from ledger.batches.files import LineProblem, ParsedFile, describe_columns, parse_file
from ledger.cli.commands import group_app
from ledger.config import get_settings
from ledger.core.errors import BatchError, LedgerError
from ledger.sdk.batch_client import (
    BatchClient,
    api_problems,
    read_county_key,
    read_private_key,
    sign_batch,
)

NAME = "batch"
out = Console()
err = Console(stderr=True)
app = group_app(NAME)

FileArg = typer.Argument(..., exists=True, dir_okay=False, help="CSV 或 JSON Lines 文件 file")
CountyKeyOpt = typer.Option(
    None,
    "--county-key",
    exists=True,
    dir_okay=False,
    help="县假名密钥文件 county pseudonym key file (needed when the file has id_number)",
)


def _report(problems: list[LineProblem], total: int) -> None:
    table = Table(title=f"发现 {total} 个问题 {total} problem(s) found", show_lines=False)
    for col in ("行 line", "列 column", "代码 code", "说明 reason"):
        table.add_column(col)
    for p in problems:
        table.add_row(str(p.line), p.column or "", p.code, p.message)
    err.print(table)


def _check(
    file: Path, county_key: Path | None, api: str | None, signer: str | None = None
) -> ParsedFile:
    parsed = parse_file(file, read_county_key(county_key) if county_key else None)
    problems = list(parsed.problems)
    if api and not problems:
        with httpx.Client(base_url=api, timeout=30) as http:
            client = BatchClient(http)
            ids = sorted({"0x" + line.commitment_id.hex() for line in parsed.lines})
            problems += api_problems(parsed, client.commitments(ids), signer)
    if problems:
        _report(problems, len(problems))
        raise BatchError(
            f"{file} has {len(problems)} bad line(s); fix them (nothing was signed or sent)",
            code="bad_batch_file",
        )
    return parsed


@app.command("template")
def template(
    fmt: str = typer.Option("csv", "--format", help="csv 或 or jsonl"),
    output: Path | None = typer.Option(None, "--out", help="写入文件 write to this file"),
) -> None:
    """打印模板 Print a batch file template with the documented header."""
    if fmt not in ("csv", "jsonl"):
        raise typer.BadParameter("--format must be csv or jsonl")
    text = (
        resources.files("ledger.batches")
        .joinpath("templates", f"deliveries-template.{fmt}")
        .read_text(encoding="utf-8")
    )
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"已写入 written: {output}\n\n列 columns:\n{describe_columns()}")
    else:
        typer.echo(text, nl=False)


@app.command("check")
def check(
    file: Path = FileArg,
    county_key: Path | None = CountyKeyOpt,
    api: str | None = typer.Option(
        None, "--api", help="接口地址 API base URL: also check commitments exist and are not over"
    ),
) -> None:
    """检查文件 Check every line before anything is signed; reports line number and reason."""
    parsed = _check(file, county_key, api)
    cids = {line.commitment_id for line in parsed.lines}
    total = sum(line.quantity for line in parsed.lines)
    out.print(
        f"[green]通过 OK[/]: {len(parsed.lines)} 行 lines, {len(cids)} 项承诺 commitments, "
        f"合计 total quantity {total}"
    )


@app.command("submit")
def submit(
    file: Path = FileArg,
    key: Path = typer.Option(
        ..., "--key", exists=True, dir_okay=False, help="组织签名私钥文件 org signing key file"
    ),
    api: str | None = typer.Option(
        None, "--api", help="接口地址 API base URL (default: BANGFU_API_URL or 127.0.0.1:8000)"
    ),
    county_key: Path | None = CountyKeyOpt,
    evidence: Path | None = typer.Option(
        None, "--evidence", exists=True, dir_okay=False, help="凭证文件 evidence file to hash"
    ),
    wait: bool = typer.Option(False, "--wait", help="等待上链 wait until confirmed on chain"),
) -> None:
    """签名并上传 Check, sign the batch root once, and stream the lines; rerun to resume."""
    private_key = read_private_key(key)
    signer = Account.from_key(private_key).address
    api = api or get_settings().api_url
    parsed = _check(file, county_key, api, signer)
    evidence_hash = hashlib.sha256(evidence.read_bytes()).digest() if evidence else bytes(32)
    with httpx.Client(base_url=api, timeout=60) as http:
        client = BatchClient(http)
        line_bytes = [line.line_bytes() for line in parsed.lines]
        signed = sign_batch(
            parsed.lines, private_key, client.domain(), evidence_hash, line_bytes=line_bytes
        )
        batch_id = "0x" + signed.id.hex()
        err.print(f"批次 batch {batch_id}: {len(parsed.lines)} 行 lines, 签名 signed by {signer}")
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("上传 uploading", total=len(line_bytes))
            try:
                result = client.upload(
                    signed, line_bytes, lambda done, _total: bar.update(task, completed=done)
                )
            except LedgerError as exc:
                index = exc.fields.get("line_index")
                if isinstance(index, int) and 0 <= index < len(parsed.line_numbers):
                    # The server counts lines in upload order; the user edits the file.
                    exc.message = f"{file} line {parsed.line_numbers[index]}: {exc.message}"
                raise
            bar.update(task, completed=len(line_bytes))
        out.print(
            f"[green]已受理 accepted[/]: batch {result.batch_id} (upload {result.upload_id}); "
            "the relayer sends it to the chain"
        )
        if wait:
            while True:
                status = client.record_status(batch_id)
                if status["status"] in ("confirmed", "failed"):
                    break
                time.sleep(1)
            out.print(f"状态 status: {status['status']} {status.get('error') or ''}")
            if status["status"] == "failed":
                raise typer.Exit(1)
