"""`bangfu rebuild --into URL`: the read model rebuilt from the chain alone, compared with
the live database by a digest of every row."""

from __future__ import annotations

import typer
from rich.console import Console

from ledger.app import LedgerService
from ledger.indexer.rebuild import digest, rebuild

NAME = ""
out = Console()
app = typer.Typer()


@app.command("rebuild")
def rebuild_cmd(
    into: str = typer.Option(
        ..., "--into", help="空数据库 URL of a new, empty database (sqlite:///… or postgresql://…)"
    ),
    compare: bool = typer.Option(
        True, help="与现有数据库比对 compare every row with the live database afterwards"
    ),
) -> None:
    """从链重建 Rebuild the read model from chain events alone into another database."""
    service = LedgerService()
    s = service.settings
    db, status = rebuild(service.ledger(), into, block_range=s.indexer_range)
    fresh = digest(db)
    out.print(
        f"重建完成 rebuilt to block {status.last_block}: {status.log_size} leaves, "
        f"digest {fresh.value}"
    )
    if not compare:
        return
    live = digest(service.db)
    if live == fresh:
        out.print("[green]一致 the live read model equals the rebuild[/]")
        return
    out.print("[red]不一致 the live read model differs from the chain:[/]")
    for line in live.differences(fresh):
        out.print(f"  {line}")
    out.print("(若实时索引落后，请稍后重试 if the live indexer lags, run again once it is synced)")
    raise typer.Exit(1)
