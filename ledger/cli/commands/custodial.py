"""`bangfu custodial …`: the operator's commands for custodial signing (off by default):
store a member's key in the server keystore, issue and revoke bearer tokens.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ledger.cli.commands import group_app
from ledger.cli.commands.client import load_signing_key, one_line_errors
from ledger.config import get_settings
from ledger.custodial import Custodian

NAME = "custodial"
out = Console()
err = Console(stderr=True, soft_wrap=True)
app = group_app(NAME)


def _custodian() -> Custodian:
    settings = get_settings()
    if not settings.custodial:
        err.print(
            "注意 note: custodial mode is off (BANGFU_CUSTODIAL=false); the API will refuse "
            "tokens until it is turned on."
        )
    return Custodian(settings, require_enabled=False)


@app.command("add-key")
@one_line_errors
def add_key(
    key: Path = typer.Option(..., "--key", help="密钥文件 key file from `bangfu keygen`"),
    label: str = typer.Option("", help="备注 label for the token, e.g. the organization"),
) -> None:
    """存入密钥并签发令牌 Store a key in the server keystore and print a token once.

    密钥文件口令取自 BANGFU_KEY_PASSWORD 或提示输入；服务器密钥库用 BANGFU_KEYSTORE_PASSWORD
    加密。The key file's password comes from BANGFU_KEY_PASSWORD or a prompt; the keystore
    is encrypted with BANGFU_KEYSTORE_PASSWORD.
    """
    account = load_signing_key(key)  # a bad key file is refused before anything is opened
    custodian = _custodian()
    address, token = custodian.add_key(bytes(account.key), label=label)
    out.print(f"已存入 stored key of {address}")
    out.print("令牌只显示这一次 the token is shown once, only its SHA-256 is kept:")
    out.print(token, markup=False, highlight=False)


@app.command("token")
@one_line_errors
def token(
    address: str = typer.Argument(..., help="签名地址 address of a stored key"),
    label: str = typer.Option("", help="备注 label for the token"),
) -> None:
    """再签发令牌 Issue another token for a key already stored."""
    out.print(_custodian().issue_token(address, label=label), markup=False, highlight=False)


@app.command("revoke")
@one_line_errors
def revoke(
    address: str = typer.Argument(..., help="签名地址 address whose tokens to revoke"),
) -> None:
    """吊销令牌 Revoke every token of a key."""
    n = _custodian().revoke(address)
    out.print(f"已吊销 revoked {n} token(s) of {address}")


@app.command("list")
@one_line_errors
def list_tokens() -> None:
    """列出令牌 List issued tokens (digests only)."""
    table = Table(title="托管令牌 custodial tokens")
    for col in ("地址 address", "备注 label", "签发 created", "吊销 revoked", "sha256"):
        table.add_column(col)
    for e in _custodian().entries():
        table.add_row(
            e.address, e.label, str(e.created_at), str(e.revoked_at or ""), e.token_sha256[:16]
        )
    out.print(table)
