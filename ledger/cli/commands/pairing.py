"""`bangfu pairing`: the pairing program (结对帮扶, docs/programs.md) over the API.
`propose` (an organization's key) signs and submits a Pairing; `accept` (the county's key)
its PairingAcceptance; `cite` (the organization's key) the CommitmentSource by which a
commitment serves the pairing. `list`, `key-counties`, `oversight` and `east-west` read
the public views, with names, yuan and Beijing dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ledger.cli.commands import group_app
from ledger.cli.commands.client import (
    API_OPTION,
    JSON_OPTION,
    WAIT_OPTION,
    api_client,
    day_of,
    key_option,
    one_line_errors,
    print_json,
    submit_one,
)

NAME = "pairing"
app = group_app(NAME)
out = Console()

KEY = key_option("签名密钥文件 the signer's key file")
DAY = typer.Option(None, help="判断进度的日期 the day to judge progress on (YYYY-MM-DD)")


def _date(text: str, name: str) -> date:
    return day_of(text, name, code="bad_date")


def _line(p: dict[str, Any]) -> str:
    g, t = p["progress"], p["targets"]
    cats = "、".join(c["name"] for c in p["categories"])
    parts = [
        f"{escape(p['org_name'])} → {escape(p['county_name'])}",
        f"{p['start_date']}..{p['end_date']}",
        escape(p["status_label"]),
        f"领域 {escape(cats)}",
        f"资金 funds {g['funds_delivered']} / {t['funds']}",
        f"项目 projects {g['projects']} / {t['projects']}",
        f"服务 hours {g['hours_delivered']} / {t['hours']}",
    ]
    if p["designated"]:
        parts.append("定点帮扶 designated")
    if p["behind"]:
        parts.append(f"[bold red]落后 behind: {escape(p['behind_label'])}[/]")
    return "  ".join(parts) + f"\n    {p['pairing_id']}"


@app.command("propose")
@one_line_errors
def propose(
    county: int = typer.Option(..., help="县级代码 the county's 6-digit code"),
    start: str = typer.Option(..., help="开始日期 first day (YYYY-MM-DD, Beijing)"),
    end: str = typer.Option(..., help="结束日期 last day (YYYY-MM-DD, Beijing)"),
    category: list[str] = typer.Option(
        ..., "--category", help="帮扶领域（可多次）focus category, 1..10 or its name (repeat)"
    ),
    funds_yuan: float = typer.Option(0, "--funds-yuan", help="资金目标（元） funds target in yuan"),
    projects: int = typer.Option(0, help="项目目标 need projects to serve"),
    hours: int = typer.Option(0, help="服务时长目标（小时） service hours target"),
    designated: bool = typer.Option(False, help="定点帮扶 designated assistance"),
    terms_file: Path | None = typer.Option(
        None, "--terms-file", help="协议文本 the terms text (only its SHA-256 is signed)"
    ),
    key: Path = KEY,
    api: str | None = API_OPTION,
    wait: bool = WAIT_OPTION,
) -> None:
    """提出结对 An organization proposes a pairing with a county (signed with its key)."""
    terms = terms_file.read_text(encoding="utf-8") if terms_file else ""
    cats: list[int | str] = [int(c) if c.isdigit() else c for c in category]
    with api_client(key, api) as client:
        signed = client.pairing(
            county=county,
            start=_date(start, "start"),
            end=_date(end, "end"),
            categories=cats,
            funds_target=round(funds_yuan * 100),
            projects_target=projects,
            hours_target=hours,
            designated=designated,
            terms=terms,
        )
        submit_one(client, signed, "已受理 accepted", wait=wait)


@app.command("accept")
@one_line_errors
def accept(
    pairing_id: str = typer.Argument(..., help="结对编号 the pairing's id (0x…)"),
    county: int = typer.Option(..., help="本县代码 your county's 6-digit code"),
    key: Path = KEY,
    api: str | None = API_OPTION,
    wait: bool = WAIT_OPTION,
) -> None:
    """接受结对 The county office accepts a pairing proposed for its county."""
    with api_client(key, api) as client:
        signed = client.pairing_acceptance(pairing_id, county=county)
        submit_one(client, signed, "已受理 accepted", wait=wait)


@app.command("cite")
@one_line_errors
def cite(
    commitment_id: str = typer.Argument(..., help="承诺编号 the commitment's id (0x…)"),
    pairing_id: str = typer.Argument(..., help="结对编号 the pairing's id (0x…)"),
    key: Path = KEY,
    api: str | None = API_OPTION,
    wait: bool = WAIT_OPTION,
) -> None:
    """承诺归入结对 Cite a pairing from one of your commitments (a CommitmentSource)."""
    with api_client(key, api) as client:
        signed = client.pairing_source(commitment_id, pairing_id)
        submit_one(client, signed, "已受理 accepted", wait=wait)


@app.command("list")
@one_line_errors
def list_(
    county: int | None = typer.Option(None, help="县级代码 one county"),
    org: str | None = typer.Option(None, help="统一社会信用代码 one organization"),
    as_json: bool = JSON_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """结对列表 Pairings with their progress against their targets."""
    with api_client(None, api) as client:
        found = client.pairings(county=county, org=org)
    if as_json:
        print_json(found)
        return
    if not found:
        out.print("暂无结对 no pairings")
    for p in found:
        out.print(_line(p))


@app.command("key-counties")
@one_line_errors
def key_counties(
    day: str | None = DAY, as_json: bool = JSON_OPTION, api: str | None = API_OPTION
) -> None:
    """重点帮扶县的结对 Per key county: who is paired with it, and the progress."""
    with api_client(None, api) as client:
        answer = client.key_county_pairings(_date(day, "day") if day else None)
    if as_json:
        print_json(answer)
        return
    for c in answer["counties"]:
        mark = " [bold red]无人结对 unpaired[/]" if c["unpaired"] else ""
        out.print(f"[bold]{escape(c['county_name'])}[/] {c['county']}{mark}")
        for p in c["pairings"]:
            out.print("  " + _line(p))


@app.command("oversight")
@one_line_errors
def oversight(
    day: str | None = DAY, as_json: bool = JSON_OPTION, api: str | None = API_OPTION
) -> None:
    """结对督导 Key counties nobody is paired with, or whose pairings fall behind."""
    with api_client(None, api) as client:
        answer = client.pairing_oversight(_date(day, "day") if day else None)
    if as_json:
        print_json(answer)
        return
    out.print(f"{answer['today']}：重点帮扶县 key counties {answer['key_counties']}")
    out.print(f"无人结对 unpaired ({len(answer['unpaired'])}):")
    for c in answer["unpaired"]:
        out.print(f"  {escape(c['county_name'])} {c['county']}")
    out.print(f"落后 behind ({len(answer['behind'])}):  {escape(answer['behind_rule'])}")
    for c in answer["behind"]:
        for p in c["pairings"]:
            if p["behind"]:
                out.print("  " + _line(p))


@app.command("east-west")
@one_line_errors
def east_west(as_json: bool = JSON_OPTION, api: str | None = API_OPTION) -> None:
    """东西部协作 Aid from home province to receiving province; key-county shares."""
    with api_client(None, api) as client:
        answer = client.east_west()
    if as_json:
        print_json(answer)
        return
    for f in answer["flows"]:
        ew = " 东西部协作 east–west" if f["east_west"] else ""
        out.print(
            f"{escape(f['home_name'])} → {escape(f['receiving_name'])}: "
            f"{f['commitments']} 项承诺 commitments, 资金 {f['funds_committed']}{ew}"
        )
    for o in answer["orgs"]:
        share = "—" if o["key_share"] is None else f"{o['key_share']:.0%}"
        out.print(
            f"{escape(o['org_name'])}（{escape(o['home_name'])}）重点县占比 key share {share}"
        )
