"""`bangfu chain up|down|status`: the local anvil from localchain.toml."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from ledger.evm.node import LocalChain

NAME = "chain"
out = Console()
app = typer.Typer(help="本地链 Local chain (anvil from node_modules).", no_args_is_help=True)


@app.command()
def up() -> None:
    """启动本地链 Start the local anvil in the background and wait until it answers."""
    chain = LocalChain.from_settings()
    pid, recovery = chain.start()
    if recovery is not None and recovery.message:
        out.print(f"[yellow]{recovery.message}[/]", soft_wrap=True)
    out.print(f"anvil 已启动 running: pid {pid}, {chain.cfg.rpc_url}, log {chain.log_file}")


@app.command()
def down() -> None:
    """停止本地链 Stop the local anvil (its final state is saved to the state file)."""
    chain = LocalChain.from_settings()
    if chain.down():
        out.print("anvil 已停止 stopped")
    else:
        out.print("anvil 未运行 was not running")


@app.command()
def status() -> None:
    """本地链状态 Show whether the local anvil runs and answers."""
    out.print_json(json.dumps(LocalChain.from_settings().status()))
