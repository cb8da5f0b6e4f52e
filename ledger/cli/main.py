"""`bangfu`: the command line of Bangfu Ledger (帮扶链).

Each command group lives in a module of `ledger.cli.commands` that exposes `app` (a Typer)
and `NAME`; commands at the top level come from modules that set `NAME = ""`. The top level
knows them by name from `commands.COMMANDS` and imports a module only when one of its
commands runs (or its own `--help` is asked), so `bangfu --help` imports neither web3 nor
SQLAlchemy. Errors the user can cause print one line with their stable code, never a
traceback.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping
from typing import Any

import click
import typer
from typer.core import TyperGroup

from ledger.cli.commands import COMMANDS
from ledger.core.errors import LedgerError


def module_commands(module: Any) -> Mapping[str, click.Command]:
    """The top-level commands a module of `ledger.cli.commands` defines: its `app` as the
    group `NAME`, or, where `NAME` is "", each of the app's commands and groups."""
    sub: Any = module.app
    holder = typer.Typer()
    if module.NAME:
        holder.add_typer(sub, name=module.NAME)
    else:
        holder.registered_commands.extend(sub.registered_commands)
        holder.registered_groups.extend(sub.registered_groups)
    return typer.main.get_group(holder).commands


def load_command(name: str) -> click.Command:
    """The click command or group `name`, importing the module that defines it."""
    module_name, _help = COMMANDS[name]
    return module_commands(importlib.import_module(f"ledger.cli.commands.{module_name}"))[name]


class _Listed(click.Command):
    """What the top level's help lists for a command not loaded yet: its name and help."""


class LazyGroup(TyperGroup):
    """The top-level group: lists `COMMANDS` without importing them; loads one on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        if getattr(ctx, "_bangfu_listing", False):
            return _Listed(cmd_name, help=COMMANDS[cmd_name][1])
        command = load_command(cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx._bangfu_listing = True  # type: ignore[attr-defined]
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx._bangfu_listing = False  # type: ignore[attr-defined]


app = typer.Typer(
    name="bangfu",
    cls=LazyGroup,
    help="帮扶链 Bangfu Ledger：社会组织帮扶数据上链、核验与公开 / tamper-evident aid ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """帮扶链 Bangfu Ledger：社会组织帮扶数据上链、核验与公开 / tamper-evident aid ledger."""


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_line(exc: BaseException) -> tuple[str, str, int]:
    """(code, message, exit status) for an error that ends a command.

    LedgerError says itself; click's usage errors, files that are missing or unreadable,
    JSON that does not parse and nodes that do not answer get a code here; anything else is
    a bug, said in one line too (BANGFU_DEBUG=1 shows the traceback).
    """
    import httpx
    import requests

    if isinstance(exc, LedgerError):
        return exc.code, exc.message, 1
    if isinstance(exc, click.FileError):
        return "file_unreadable", f"无法读取文件 / cannot open {exc.ui_filename}: {exc.message}", 2
    if isinstance(exc, click.UsageError):
        parts = exc.ctx.command_path.split(" ", 1) if exc.ctx else []
        where = f"bangfu {parts[1]}" if len(parts) > 1 else "bangfu"
        code = "bad_parameter" if isinstance(exc, click.BadParameter) else "usage_error"
        return code, f"{exc.format_message()} (see `{where} --help`)", 2
    if isinstance(exc, click.ClickException):
        return "usage_error", exc.format_message(), exc.exit_code
    if isinstance(exc, IsADirectoryError):
        return "is_a_directory", f"这是目录不是文件 / {exc.filename} is a folder, not a file", 1
    if isinstance(exc, FileNotFoundError):
        return "file_not_found", f"找不到文件 / no such file: {exc.filename}", 1
    if isinstance(exc, PermissionError):
        return "file_unreadable", f"没有权限 / permission denied: {exc.filename}", 1
    if isinstance(exc, OSError) and exc.filename:
        return "file_error", f"文件错误 / {exc.filename}: {exc.strerror or exc}", 1
    if isinstance(exc, UnicodeDecodeError):
        return "bad_encoding", f"不是 UTF-8 文本 / the input is not UTF-8 text ({exc.reason})", 1
    if isinstance(exc, json.JSONDecodeError):
        return "bad_json", f"不是有效的 JSON / not valid JSON: {exc.msg} at line {exc.lineno}", 1
    if isinstance(exc, requests.ConnectionError | httpx.TransportError):
        return "unreachable", f"连接失败 / could not connect: {type(exc).__name__}: {exc}", 1
    return (
        "internal_error",
        f"程序错误 / unexpected {type(exc).__name__}: {exc}. This is a bug; run again with "
        "BANGFU_DEBUG=1 to see the traceback",
        1,
    )


def _debug() -> bool:
    """BANGFU_DEBUG, read afresh: the error being reported may be a bad setting itself."""
    from pydantic import ValidationError

    from ledger.config import Settings

    try:
        return Settings().debug
    except ValidationError:
        return False


def main() -> None:
    """Entry point: runs the app; any error ends in one line `错误 error [code] message` on
    stderr and a non-zero exit status, never a traceback (unless BANGFU_DEBUG=1)."""
    try:
        # standalone_mode=False hands back the exit code of `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        _console().print("已取消 aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        from rich.markup import escape as _escape

        if _debug() and not isinstance(exc, LedgerError):
            raise
        code_, message, status = error_line(exc)
        _console().print(
            f"[bold red]错误 error[/] {_escape(f'[{code_}]')} {_escape(_one_line(message))}"
        )
        sys.exit(status)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
