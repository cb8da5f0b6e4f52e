"""`bangfu fund`: special funds (专项基金) over the API, signed with the organization's
keystore (`ledger.sdk.funds`): open a fund with its sponsor and purpose, record money it
received, draw on it for a commitment, and show a fund or the list. Amounts are given and
shown in yuan (元); the sponsor's name is sent to the server, never put on chain, and shown
publicly only with `--public` (the sponsor's consent)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ledger.cli.commands import group_app
from ledger.cli.commands.client import (
    API_OPTION,
    api_client,
    day_of,
    key_option,
    one_line_errors,
    submit_one,
)
from ledger.core import codes, display
from ledger.core.errors import LedgerError
from ledger.core.fields import SponsorKind

NAME = "fund"
app = group_app(NAME)
out = Console()

KEY_OPTION = key_option("本组织的密钥文件 the organization's key file")
_YUAN = re.compile(r"^\d{1,16}(\.\d{1,2})?$")


def fen_of(text: str) -> int:
    """'10000.5' (yuan) → 1000050 fen; refuses anything else."""
    t = text.replace(",", "").strip()
    if not _YUAN.match(t):
        raise LedgerError(
            f"金额须为元，最多两位小数 / {text!r} is not an amount in yuan (e.g. 10000 or 99.50)",
            code=codes.BAD_NUMBER,
        )
    whole, _, cents = t.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def _show(f: dict[str, Any]) -> None:
    kind = f["sponsor_kind_name"]
    sponsor = f["sponsor_name"] or "未公开名称 name not public"
    out.print(f"{escape(f['name'])}  {f['fund_id']}")
    out.print(f"设立组织 organization: {escape(f['org_name'] or f['org'])}")
    out.print(f"出资方 sponsor: {kind['zh']} {kind['en']} · {escape(sponsor)}")
    if f.get("purpose"):
        out.print(f"用途 purpose: {escape(f['purpose'])}")
    for stage in f["totals"].values():
        out.print(f"  {stage['zh']} {stage['en']}: {stage['yuan']} 元")
    out.print(f"设立 opened {f['opened_at_beijing']} 北京时间 Beijing time")
    for d in f.get("draws", []):
        out.print(
            f"  承诺 commitment {d['commitment_id']}: {d['fund_amount_yuan']} 元 "
            f"(已交付 delivered {d['delivered_yuan']}, 已签收 confirmed {d['confirmed_yuan']})"
        )


@app.command("open")
@one_line_errors
def open_fund(
    name: str = typer.Option(..., help="基金名称（公开，上链） the fund's public name"),
    sponsor_kind: str = typer.Option(..., help="出资方类型 company（企业）or individual（个人）"),
    sponsor_name: str = typer.Option(..., help="出资方名称（不上链） the sponsor's name"),
    pledged: str = typer.Option(..., help="认捐金额（元） the pledged amount in yuan"),
    purpose: str = typer.Option(..., help="用途说明（公开） the purpose text"),
    public: bool = typer.Option(
        False, "--public/--no-public", help="出资方同意公开名称 the sponsor consents to be named"
    ),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """开设专项基金 Sign a Fund and send it with its sponsor and purpose."""
    kinds = {"company": SponsorKind.COMPANY, "individual": SponsorKind.INDIVIDUAL}
    if sponsor_kind not in kinds:
        raise LedgerError(
            "出资方类型为 company 或 individual / --sponsor-kind is company or individual",
            code=codes.BAD_ARGUMENTS,
        )
    with api_client(key, api) as client:
        answer = client.open_fund(
            name=name,
            sponsor_kind=kinds[sponsor_kind],
            sponsor_name=sponsor_name,
            pledged=fen_of(pledged),
            purpose=purpose,
            sponsor_public=public,
        )
    status = answer["accepted"]["status"]
    out.print(f"专项基金已提交 fund submitted: {answer['fund_id']} ({status})")


@app.command("contribute")
@one_line_errors
def contribute(
    fund_id: str = typer.Argument(..., help="基金编号 the fund's id"),
    amount: str = typer.Option(..., help="到账金额（元） the amount received, in yuan"),
    received: str = typer.Option(..., help="到账日期 the date received (YYYY-MM-DD, Beijing time)"),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """记录到账 Record money the fund received from its sponsor."""
    day = day_of(received, "--received", code=codes.BAD_ARGUMENTS)
    with api_client(key, api) as client:
        signed = client.fund_contribution(fund_id, amount=fen_of(amount), received=day)
        submit_one(client, signed, "到账已提交 contribution submitted")


@app.command("draw")
@one_line_errors
def draw(
    commitment_id: str = typer.Argument(..., help="承诺编号 the commitment's id"),
    fund_id: str = typer.Argument(..., help="基金编号 the fund's id"),
    amount: str = typer.Option(..., help="动用金额（元） the amount drawn, in yuan"),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """动用基金 Draw on a fund for one of your commitments (its CommitmentSource)."""
    with api_client(key, api) as client:
        fen = fen_of(amount)
        signed = client.commitment_source(commitment_id, fund_id=fund_id, fund_amount=fen)
        submit_one(client, signed, "已动用基金 draw submitted")


@app.command("show")
@one_line_errors
def show(
    fund_id: str = typer.Argument(..., help="基金编号 the fund's id"),
    api: str | None = API_OPTION,
) -> None:
    """查看基金 A fund: pledged → contributed → committed → delivered → confirmed, in yuan."""
    with api_client(None, api) as client:
        _show(client.fund(fund_id))


@app.command("list")
@one_line_errors
def list_funds(api: str | None = API_OPTION) -> None:
    """基金列表 Every fund, newest first."""
    with api_client(None, api) as client:
        items = client.funds()
    if not items:
        out.print("暂无专项基金 no funds yet")
    for f in items:
        t = f["totals"]
        out.print(
            f"{escape(f['name'])}  {f['fund_id']}  认捐 pledged {t['pledged']['yuan']} · "
            f"已承诺 committed {t['committed']['yuan']} · 已签收 confirmed {t['confirmed']['yuan']}"
        )
    out.print(f"金额单位 amounts: 元 CNY; {display.TZ_LABEL}")


@app.command("check")
@one_line_errors
def check() -> None:
    """核对总额 Each fund's pledged and committed totals in the read model against the
    contract's fundTotals (exit 1 on any difference)."""
    from ledger.app import LedgerService
    from ledger.indexer.fund import totals_differences

    service = LedgerService()
    with service.db.read() as session:
        found = totals_differences(session, service.ledger())
    for line in found:
        out.print(escape(line))
    if found:
        raise typer.Exit(1)
    out.print("专项基金总额与合约一致 every fund's totals agree with the contract")
