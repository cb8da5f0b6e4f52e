"""`bangfu follow-up`: household follow-up (回访). The civil-affairs office sets the rate
(`set-rate`, signed with the admin key); a county opens a round on one of its delivery
batches (`open`), lists the sample once the seed block is mined (`show`) and records each
visit's result (`record`), signed with its keystore file; anyone reads the rounds and the
confirmation rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ledger.cli.commands import group_app
from ledger.cli.commands.client import API_OPTION, api_client, key_option, one_line_errors

NAME = "follow-up"
app = group_app(NAME)
out = Console()
KEY_OPTION = key_option("本县的密钥文件 the county's key file")


def _pct(bps: int) -> str:
    return f"{bps / 100:g}%"


@app.command("set-rate")
@one_line_errors
def set_rate(
    bps: int = typer.Argument(..., help="基点，1000 = 10% basis points of a batch's lines"),
) -> None:
    """设定回访比例（民政部门）Set the follow-up rate (civil-affairs admin only)."""
    from ledger.cli.commands.core import _contract, admin_account
    from ledger.evm.rate_tx import check_rate

    check_rate(bps)  # refused as invalid_rate before the chain is asked
    ledger = _contract()
    ledger.set_follow_up_rate(admin_account(), bps)
    out.print(f"回访比例已设为 follow-up rate set to {bps} 基点 bps ({_pct(bps)})")


@app.command("rate")
@one_line_errors
def rate(api: str | None = API_OPTION) -> None:
    """回访比例 Show the follow-up rate the province set."""
    with api_client(None, api) as client:
        answer = client.follow_up_rate()
    out.print(f"回访比例 follow-up rate: {answer['rate_bps']} 基点 bps ({answer['rate_text']})")


@app.command("batches")
@one_line_errors
def batches(
    county: int = typer.Option(..., help="县代码 county code"), api: str | None = API_OPTION
) -> None:
    """可回访的批次 The county's delivery batches with no round yet."""
    with api_client(None, api) as client:
        answer = client.follow_up_batches(county)
    out.print(
        f"回访比例 rate {answer['rate_text']}; 下一轮种子区块 next seed block "
        f"{answer['seed_block']} (当前 current {answer['current_block']})"
    )
    for b in answer["batches"]:
        out.print(
            f"{b['batch_id']}  {escape(b['org_name'] or b['org'])}  {b['line_count']} 行 lines, "
            f"抽 sample {b['sample_size']}  {b['delivered_at']} 北京时间"
        )
    if not answer["batches"]:
        out.print("没有可回访的批次 no batch to follow up")


@app.command("open")
@one_line_errors
def open_round(
    batch_id: str = typer.Argument(..., help="交付批次编号 the delivery batch id (0x…)"),
    county: int = typer.Option(..., help="县代码 county code"),
    seed_block: int | None = typer.Option(
        None, help="种子区块（默认当前 + 5） seed block, default the current block + 5"
    ),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """开启回访轮次 Open a follow-up round on a batch (signed by the county)."""
    with api_client(key, api) as client:
        signed, accepted = client.open_follow_up_round(batch_id, county, seed_block=seed_block)
    rec: Any = signed.record
    out.print(
        f"回访轮次 round {accepted.record_id}: {accepted.status}; 种子区块 seed block "
        f"{rec.seed_block}, 比例 rate {_pct(rec.rate_bps)}"
    )


@app.command("rounds")
@one_line_errors
def rounds(
    county: int | None = typer.Option(None, help="县代码 county code"),
    api: str | None = API_OPTION,
) -> None:
    """回访轮次 List follow-up rounds, newest first."""
    with api_client(None, api) as client:
        answer = client.follow_up_rounds(county)
    for r in answer:
        res = r["results"]
        out.print(
            f"{r['round_id']}  {escape(r['county_name'])}  {escape(r['org_name'] or r['org'])}  "
            f"抽样 {r['sample_size']}/{r['line_count']}  已回访 done {res['followed_up']}, "
            f"未收到 not received {res['not_received']}, 查无此户 not found "
            f"{res['household_not_found']}  {r['opened_at']} 北京时间"
        )
    if not answer:
        out.print("暂无回访轮次 no follow-up round yet")


@app.command("show")
@one_line_errors
def show(
    round_id: str = typer.Argument(..., help="回访轮次编号 the round id (0x…)"),
    api: str | None = API_OPTION,
) -> None:
    """回访样本 A round's sample and results."""
    with api_client(None, api) as client:
        r = client.follow_up_round(round_id)
    out.print(
        f"{escape(r['county_name'])} · {escape(r['org_name'] or r['org'])} · 批次 batch "
        f"{r['batch_id']} · 种子区块 seed block {r['seed_block']}"
    )
    if not r["seed_known"]:
        out.print(
            f"种子区块尚未产生，还需 {r['blocks_to_seed']} 个区块 / {r['blocks_to_seed']} "
            "blocks until the sample is drawn"
        )
        return
    for s in r["sample"]:
        result = s["result"]["outcome_text"] if s.get("result") else "待回访 to visit"
        if not s.get("held"):
            out.print(f"#{s['line_index']}  (明细未保存 line not held here)  {result}")
            continue
        out.print(
            f"#{s['line_index']}  {s['pseudonym'][:18]}…  {escape(s['item'])}  "
            f"{escape(s['quantity_text'])}  {escape(result)}"
        )


@app.command("record")
@one_line_errors
def record(
    round_id: str = typer.Argument(..., help="回访轮次编号 the round id (0x…)"),
    line_index: int = typer.Argument(..., help="抽中的明细行号 the sampled line's index"),
    outcome: str = typer.Argument(
        ..., help="1/full 全部收到, 2/part 部分收到, 3/none 未收到, 4/not-found 查无此户"
    ),
    quantity: int = typer.Option(0, help="部分收到的数量 what arrived, for 2/part only"),
    note: str | None = typer.Option(
        None,
        help="备注（仅哈希上链，不写个人信息） a note; only its hash is signed, no personal data",
    ),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """记录回访结果 Record a visit's result (signed by the county)."""
    with api_client(key, api) as client:
        _signed, accepted = client.record_follow_up(
            round_id, line_index, outcome, quantity=quantity, note=note
        )
    out.print(f"回访结果 result {accepted.record_id}: {accepted.status}")
