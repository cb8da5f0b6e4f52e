"""`bangfu org`: an organization's own public facts over the API. `bangfu org profile CODE`
shows the profile (the chain's name, type and authority and the signed 机构简介); with
`--description`, `--contact-role` or `--website` and `--key` it signs the next version with
the organization's keystore file (`ledger.sdk.profiles`) and sends it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ledger.cli.commands import group_app
from ledger.cli.commands.client import API_OPTION, api_client, one_line_errors
from ledger.core import codes
from ledger.core.errors import LedgerError

NAME = "org"
app = group_app(NAME)
out = Console()


def _show(answer: dict[str, Any]) -> None:
    kind = answer.get("org_type_name") or {}
    out.print(f"{escape(answer['name'])}  {answer['org_code']}")
    out.print(f"类型 type: {escape(kind.get('zh', '—'))} {escape(kind.get('en', ''))}")
    out.print(f"登记管理机关 authority: {escape(answer.get('authority') or '—')}")
    profile = answer.get("profile")
    if not profile:
        out.print("尚无机构简介 no profile yet")
        return
    out.print(f"简介 description: {escape(profile['description'])}")
    out.print(f"联系角色 contact role: {escape(profile['contact_role'] or '—')}")
    out.print(f"网站 website: {escape(profile['website'] or '—')}")
    out.print(f"版本 version {profile['version']}, 签名者 signed by {profile['signer']}")


@app.command("profile")
@one_line_errors
def profile(
    org_code: str = typer.Argument(..., help="统一社会信用代码 the organization's credit code"),
    description: str | None = typer.Option(None, help="机构简介 description (≤ 2000 字)"),
    contact_role: str | None = typer.Option(
        None, help="联系角色 a role such as 项目部, never a person's phone number (≤ 64 字)"
    ),
    website: str | None = typer.Option(None, help='网站 https:// URL ("" clears it)'),
    key: Path | None = typer.Option(
        None, "--key", "--keystore", help="本组织的密钥文件 the organization's key file"
    ),
    api: str | None = API_OPTION,
) -> None:
    """机构简介 Show the profile, or sign and send its next version (fields not given keep
    their values)."""
    changing = any(v is not None for v in (description, contact_role, website))
    if changing and key is None:
        raise LedgerError(
            "修改简介需要本组织的密钥 / changing the profile needs the organization's key: "
            "give --key",
            code=codes.NO_KEY,
        )
    with api_client(key if changing else None, api) as client:
        if changing:
            stored = client.org_profile_update(
                org_code, description=description, contact_role=contact_role, website=website
            )
            out.print(
                f"已签名并更新 signed and stored: version {stored['version']} by {stored['signer']}"
            )
        _show(client.org_profile(org_code))
