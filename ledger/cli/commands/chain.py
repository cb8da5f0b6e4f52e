"""`bangfu chain up|down|status`: the local anvil from localchain.toml; `bangfu chain probe`:
whether any node can hold the ledger (ledger.evm.probe, docs/consortium.md)."""

from __future__ import annotations

import json

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.cli.commands import group_app
from ledger.config import get_settings
from ledger.core import codes
from ledger.core.errors import ChainError, ConfigError
from ledger.evm.deploy import dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.evm.probe import Prober
from ledger.evm.probe_report import ProbeReport

NAME = "chain"
out = Console()
app = group_app(NAME)


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


_VERDICT = {
    "pass": "[green]通过 pass[/]",
    "warn": "[yellow]注意 warn[/]",
    "fail": "[bold red]不满足 fail[/]",
}


def _probe_key(key: str | None) -> LocalAccount:
    """The account that pays for the probe: --key, the first BANGFU_RELAYER_KEY, or the dev
    chain's account #0 (its public mnemonic: development chains only)."""
    settings = get_settings()
    raw = key or (
        settings.relayer_key.get_secret_value().split(",")[0].strip()
        if settings.relayer_key
        else None
    )
    if raw is None:
        return dev_accounts(load_localchain(settings))[0]
    try:
        return Account.from_key(raw)
    except (ValueError, TypeError):
        raise ConfigError(
            "--key / BANGFU_PROBE_KEY is not a hex private key", code=codes.BAD_HEX
        ) from None


def _print_report(report: ProbeReport) -> None:
    table = Table(title=f"链检测 chain probe: {report.url} ({report.client or '?'})")
    table.add_column("要求 requirement")
    table.add_column("结论 verdict")
    table.add_column("详情 detail", overflow="fold")
    for c in report.checks:
        table.add_row(f"{c.zh} {c.en}", _VERDICT[c.verdict], escape(c.detail))
    out.print(table)
    if report.missing_methods:
        out.print(f"缺少的方法 missing methods: {', '.join(report.missing_methods)}")
    if report.profile:
        out.print(f"推荐配置 recommended profile: [bold]{report.profile}[/]")
    if report.settings:
        out.print("建议设置 settings to use:")
        for name, value in report.settings.items():
            if name == "relayer_accounts":
                out.print(f"  BANGFU_RELAYER_KEY=<{value} 个私钥 comma-separated keys>")
            else:
                out.print(f"  BANGFU_{name.upper()}={value}")


@app.command()
def probe(
    rpc: str = typer.Option(..., "--rpc", help="节点地址 the node's JSON-RPC URL"),
    key: str | None = typer.Option(
        None,
        envvar="BANGFU_PROBE_KEY",
        show_envvar=True,
        help="付费账户私钥 hex key paying for the probe; better in the environment than on the "
        "command line (default: the first BANGFU_RELAYER_KEY, else the dev chain's #0)",
    ),
    senders: int = typer.Option(4, min=1, max=32, help="并发发送账户 sender accounts to try"),
    burst: int = typer.Option(16, min=1, max=1000, help="每账户待处理交易 pending per sender"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON print the report as JSON"),
) -> None:
    """检测节点 Check on a live node, with a throwaway contract, everything the ledger relies
    on; print a verdict per requirement and the settings to use. Exits non-zero when the
    chain cannot hold the ledger's guarantees."""
    funder = _probe_key(key)
    with out.status("链检测 probing…") as status:

        def step(label: str) -> None:
            status.update(f"链检测 probing: {label}")
            if not as_json:
                out.print(f"[dim]· {label}[/]")

        try:
            report = Prober(rpc, funder, senders=senders, burst=burst, step=step).run()
        except OSError as exc:
            raise ChainError(f"the node at {rpc} does not answer ({exc})", url=rpc) from None
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        _print_report(report)
    if not report.ok:
        reasons = "; ".join(f"{c.en}: {c.detail}" for c in report.failures)
        raise ChainError(
            f"此链不能保证账本的要求 the chain cannot hold the ledger's guarantees: {reasons}",
            code=codes.CHAIN_UNFIT,
        )
