"""`bangfu grievance`: grievances (申诉) over the API — `file` (anyone, no key), `show` and
`list` (public), `register` and `answer` (signed with a county office's keystore file:
the same records the county workspace signs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ledger.cli.commands import group_app
from ledger.cli.commands.client import API_OPTION, api_client, key_option, one_line_errors
from ledger.core.display import beijing_time
from ledger.core.grievances import OUTCOME_NAMES

NAME = "grievance"
app = group_app(NAME)
out = Console()
KEY = key_option("县乡村振兴部门的密钥文件 the county office's key file")
STATUS = {
    "filed": "已提交，县尚未登记 filed, not registered",
    "registered": "已登记，尚未答复 registered, not answered",
    "answered": "已答复 answered",
}


def _show(g: dict[str, Any]) -> None:
    out.print(f"申诉 grievance {g.get('filing_no') or g['grievance_hash']}: {STATUS[g['status']]}")
    out.print(f"项目 project: {escape(g.get('project_title') or g['project_id'])}")
    out.print(f"提交 filed: {beijing_time(g['filed_at'])} 北京时间 Beijing time")
    out.print(f"内容 text: {escape(g.get('text') or '—')}")
    out.print(f"哈希 grievanceHash: {g['grievance_hash']}")
    reg = g.get("registration")
    if reg:
        out.print(
            f"登记 registered: {beijing_time(reg['block_time'])} 北京时间 · tx {reg['tx_hash']}"
        )
    ans = g.get("answer")
    if ans:
        zh, en = OUTCOME_NAMES.get(ans["outcome"], ("?", "?"))
        out.print(f"答复 answered: {zh} {en} · {beijing_time(ans['block_time'])} 北京时间")
        out.print(f"答复内容 answer: {escape(ans.get('text') or '—')}")


@app.command("file")
@one_line_errors
def file(
    project_id: str = typer.Argument(..., help="需求项目编号 the need project's id (0x…)"),
    text: str = typer.Argument(..., help="申诉内容（公开，不写个人信息） the grievance (public)"),
    record: str | None = typer.Option(None, help="相关记录编号 a record of the project (0x…)"),
    contact: str | None = typer.Option(
        None, help="联系方式（不公开） contact details, never public"
    ),
    api: str | None = API_OPTION,
) -> None:
    """提交申诉 File a grievance; prints its filing number and grievanceHash."""
    with api_client(None, api) as client:
        r = client.file_grievance(project_id, text, record_id=record, contact=contact)
    out.print(f"申诉编号 filing number: {r['filing_no']}")
    out.print(f"申诉哈希 grievanceHash: {r['grievance_hash']}")


@app.command("show")
@one_line_errors
def show(filing_no: str = typer.Argument(...), api: str | None = API_OPTION) -> None:
    """查看申诉 One grievance with its registration and answer."""
    with api_client(None, api) as client:
        _show(client.grievance(filing_no))


@app.command("list")
@one_line_errors
def list_(
    county: int = typer.Option(..., help="县代码 the county's six-digit code"),
    api: str | None = API_OPTION,
) -> None:
    """申诉列表 The grievances about a county's need projects, with counts."""
    with api_client(None, api) as client:
        answer = client.grievances(county=county)
    c = answer["counts"]
    out.print(
        f"共 {c['filed']} 件 in all: 未登记 {c['not_registered']} not registered, "
        f"未答复 {c['open']} open, 已答复 {c['answered']} answered (成立 {c['upheld']} upheld)"
    )
    for g in answer["items"]:
        out.print(
            f"{g.get('filing_no') or g['grievance_hash'][:14]}  {beijing_time(g['filed_at'])}  "
            f"{STATUS[g['status']]}  {escape(g.get('project_title') or '')}"
        )


@app.command("register")
@one_line_errors
def register(
    filing_no: str = typer.Argument(...), key: Path = KEY, api: str | None = API_OPTION
) -> None:
    """登记申诉 Sign and submit the county's registration of a filing."""
    with api_client(key, api) as client:
        a = client.register_grievance(filing_no)
    out.print(f"已提交登记 registration submitted: {a['record_id']} ({a['status']})")


@app.command("answer")
@one_line_errors
def answer(
    filing_no: str = typer.Argument(...),
    outcome: int = typer.Option(
        ..., min=1, max=3, help="1 成立 upheld, 2 部分成立 partly, 3 不成立 not upheld"
    ),
    text: str = typer.Option(..., help="答复内容（公开） the public answer"),
    key: Path = KEY,
    api: str | None = API_OPTION,
) -> None:
    """答复申诉 Sign and submit the county's answer, with its public text."""
    with api_client(key, api) as client:
        a = client.answer_grievance(filing_no, outcome, text)
    out.print(f"已提交答复 answer submitted: {a['record_id']} ({a['status']})")
