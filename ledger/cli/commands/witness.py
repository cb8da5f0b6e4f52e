"""`bangfu witness …`: run a C2SP tlog-witness that cosigns the ledger's checkpoints, and tell
the operator's checkpointer about witnesses."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ledger.cli.commands import group_app
from ledger.config import get_settings
from ledger.tlog.checkpointer import add_witness
from ledger.tlog.note import ALG_COSIGNATURE_V1, SignerKey, VerifierKey
from ledger.tlog.witness import Witness, serve_witness

NAME = "witness"
app = group_app(NAME, no_args_is_help=False)
out = Console()


@app.command("keygen")
def keygen(
    name: str = typer.Argument(..., help="见证人名称 witness key name, e.g. auditor.example/w1"),
    key_file: Path = typer.Option(..., "--out", help="私钥文件 where to write the signer key"),
) -> None:
    """生成见证密钥 Make a witness key (cosignature/v1); prints the public vkey."""
    key = SignerKey.generate(name, ALG_COSIGNATURE_V1)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    with key_file.open("x") as f:
        f.write(key.encode() + "\n")
    key_file.chmod(0o600)
    out.print(key.verifier().encode())


@app.command("serve")
def serve(
    key_file: Path = typer.Option(..., "--key", help="见证私钥 the witness signer key file"),
    state: Path = typer.Option(..., "--state", help="状态文件 the witness state file"),
    log_key: list[str] = typer.Option(..., "--log-key", help="日志公钥 the log's vkey(s)"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(7380),
) -> None:
    """运行见证服务 Serve POST /add-checkpoint for the logs whose keys are given."""
    signer = SignerKey.parse(key_file.read_text())
    logs: dict[str, list[VerifierKey]] = {}
    for text in log_key:
        vk = VerifierKey.parse(text)
        logs.setdefault(vk.name, []).append(vk)
    witness = Witness(signer, logs, state)
    out.print(f"见证 witness {signer.name} on http://{host}:{port}/add-checkpoint")
    serve_witness(witness, host, port)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="见证人名称 the witness's name"),
    vkey: str = typer.Argument(..., help="见证公钥 the witness's vkey"),
    url: str = typer.Argument(..., help="见证地址 its base URL, e.g. http://host:7380"),
) -> None:
    """登记见证人 Add a witness to var/witnesses.json (operator side)."""
    add_witness(get_settings().var_dir, name, vkey, url)
    out.print(f"已登记见证人 witness {name} at {url}")
