"""`bangfu`: the command line of Bangfu Ledger (帮扶链).

Each command group lives in a module of `ledger.commands` that exposes `app` (a Typer) and
`NAME`; commands at the top level come from modules that set `NAME = ""`. Errors the user
can cause print one line with their stable code, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ledger import commands
from ledger.errors import LedgerError

console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="bangfu",
    help="帮扶链 Bangfu Ledger：社会组织帮扶数据上链、核验与公开 / tamper-evident aid ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _load_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        sub: Any = getattr(module, "app", None)
        if sub is None:
            continue
        name = getattr(module, "NAME", info.name)
        if name:
            app.add_typer(sub, name=name)
        else:
            app.registered_commands.extend(sub.registered_commands)
            app.registered_groups.extend(sub.registered_groups)


_load_commands()


def main() -> None:
    """Entry point: runs the app, turning LedgerError into one clear line and exit code 1."""
    try:
        # standalone_mode=False hands back the exit code of `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
    except LedgerError as exc:
        console.print(f"[bold red]错误 error[/] {escape(f'[{exc.code}]')} {escape(exc.message)}")
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        console.print("已取消 aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
