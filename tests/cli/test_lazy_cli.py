"""The top level of `bangfu` lists its commands from `commands.COMMANDS` without importing
them: the table must name every command the modules define, with the help they give."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import typer

from ledger.cli import commands
from ledger.cli.commands import COMMANDS
from ledger.cli.main import module_commands


def _eager() -> dict[str, tuple[str, str]]:
    """name → (module, first paragraph of help), importing every command module."""
    out: dict[str, tuple[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if getattr(module, "app", None) is None:
            continue
        for name, cmd in module_commands(module).items():
            text = inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0]
            out[name] = (info.name, " ".join(text.split()))
    return out


def test_the_table_names_every_command_with_its_help() -> None:
    eager = _eager()
    assert set(COMMANDS) == set(eager)
    for name, (module, text) in COMMANDS.items():
        assert eager[name] == (module, " ".join(text.split())), name


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from ledger.cli.main import main\n"
        "sys.argv = ['bangfu', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.startswith(('ledger.cli.commands.', 'web3', "
        "'sqlalchemy', 'ledger.config'))]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out, out[-400:]
    for name in COMMANDS:
        assert name in out


def test_a_lazy_command_runs_and_a_group_is_reachable() -> None:
    from ledger.cli.main import app

    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    chain = group.get_command(ctx, "chain")
    assert chain is not None and "up" in chain.commands  # type: ignore[attr-defined]
    assert group.get_command(ctx, "nosuch") is None
