"""`bangfu recover [--accept-new-history]`: what a rollback or a rewritten history lost, and
the operator's decision to go on with the chain's history (the relayer then sends every lost
acknowledged record again, once; the old checkpoints stay stored as evidence)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ledger.app import LedgerService
from ledger.core.errors import LedgerError
from ledger.recovery import recover as run_recovery

NAME = ""
app = typer.Typer()
out = Console(soft_wrap=True)


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return "-"
    parts: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


@app.command("recover")
def recover(
    accept_new_history: bool = typer.Option(
        False,
        "--accept-new-history",
        help="接受链上新历史 accept the chain's history: resolve the alarm, re-send what was lost",
    ),
    json_path: Path | None = typer.Option(None, "--json", help="报告 write the report as JSON"),
) -> None:
    """恢复 Report what a rollback or rewritten history lost; optionally accept it and re-send."""
    service = LedgerService()
    service.db.migrate()
    report = run_recovery(service, accept_new_history=accept_new_history)
    if json_path is not None:
        json_path.write_text(report.to_json() + "\n")
    for alarm in report.alarms:
        out.print(f"告警 alarm {escape('[' + alarm['code'] + ']')} {escape(alarm['message'])}")
    out.print(
        f"链上日志 chain log: size {report.chain_size}, root {report.chain_root}\n"
        f"索引 index: size {report.index_size}, root {report.index_root}, "
        f"block {report.index_block}"
    )
    if report.checkpoint:
        cp = report.checkpoint
        out.print(f"已签检查点 signed checkpoint #{cp['id']}: size {cp['size']}, root {cp['root']}")
    out.print(
        f"分叉点 fork point: block {report.fork_block}; 丢失区块 lost blocks: "
        f"{_ranges(report.lost_blocks)}"
    )
    missing = [leaf for leaf in report.lost_leaves if leaf.now == "missing"]
    out.print(
        f"丢失叶子 lost leaves: {len(report.lost_leaves)} "
        f"({len(missing)} not on chain now: {_ranges([leaf.index for leaf in missing])})"
    )
    out.print(f"待重发的已确认记录 acknowledged records to send again: {len(report.lost_records)}")
    for rid in report.lost_records:
        out.print(f"  {rid}")
    if report.conflicts:
        out.print(f"编号冲突 record id conflicts: {len(report.conflicts)}")
        for rid in report.conflicts:
            out.print(f"  {rid}")
    if report.accepted:
        out.print(
            "已接受链上历史 accepted the chain's history: the relayer sends the records above "
            f"again ({report.queued_from_log} lost leaves of others queued too); the indexer "
            "follows the chain from the fork point; old checkpoints are kept as evidence"
        )
    elif report.rewritten:
        raise LedgerError(
            "历史被改写，尚未恢复 / history was rewritten and is not recovered: check the report "
            "above, then run `bangfu recover --accept-new-history` to go on with the chain's "
            "history and send the lost records again",
            code="history_rewritten",
        )
