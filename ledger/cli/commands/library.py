"""`bangfu library`: key counties, search, recommendations, progress and signed bundles.

The writes here (loading the key-county list, importing a bundle) are signed by the library
admin's key, taken from a key setting (BANGFU_LIBRARY_ADMIN_KEY by default), and go through
the same checks as the API: the CLI has no way around a signature.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from ledger.app import LedgerService
from ledger.config import get_settings
from ledger.core.errors import LibraryError
from ledger.library import actions, matching, messages, sharing
from ledger.library import key_counties as key_county_list
from ledger.library import search as project_search

NAME = "library"
app = typer.Typer(help="项目库 Needs and supply project libraries.", no_args_is_help=True)
out = Console()

key_counties = typer.Typer(help="重点帮扶县 Key counties (admin).", no_args_is_help=True)
app.add_typer(key_counties, name="key-counties")


def _service() -> LedgerService:
    service = LedgerService()
    service.db.migrate()
    return service


ADMIN_KEY_ENV = "BANGFU_LIBRARY_ADMIN_KEY"
EXPORT_KEY_ENV = "BANGFU_LIBRARY_EXPORT_KEY"
KEY_ENV_HELP = "the BANGFU_* key setting (environment variable) holding the signing key"


def _env_key(name: str) -> str:
    """The key in the setting `name` names (BANGFU_LIBRARY_ADMIN_KEY: `library_admin_key`);
    every environment read goes through Settings, so `name` must be one of its keys."""
    field = name.upper().removeprefix("BANGFU_").lower()
    value = getattr(get_settings(), field, None) if name.upper().startswith("BANGFU_") else None
    key = value.get_secret_value() if isinstance(value, SecretStr) else None
    if not key:
        raise LibraryError(
            f"设置 {name} 为签名私钥 / set {name} to the signing key (the library admin's)",
            code="no_key",
        )
    return key


@key_counties.command("load")
def load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, first column code"),
    source: str = typer.Option(..., help="名单来源 where the list comes from (signed)"),
    version: int = typer.Option(0, min=0, help="名单版本 list version; 0 = the loaded one + 1"),
    key_env: str = typer.Option(ADMIN_KEY_ENV, help=KEY_ENV_HELP),
) -> None:
    """载入重点帮扶县名单 Replace the key-county list: the admin signs a KeyCountyList with a
    version above the loaded one (an old list cannot come back)."""
    codes = key_county_list.parse_key_county_csv(file.read_text(encoding="utf-8"))
    service = _service()
    with service.db.read() as session:
        version = version or key_county_list.key_county_list_version(session) + 1
    message = key_county_list.key_county_message(version, source, codes, int(time.time()) + 600)
    sig = messages.sign(messages.KEY_COUNTY_LIST, message, service.domain, _env_key(key_env))
    count = actions.load_key_counties(service, message, sig)["loaded"]
    out.print(f"已载入 loaded {count} key counties (version {version})")


@key_counties.command("list")
def list_key_counties() -> None:
    """列出重点帮扶县 List the key counties."""
    with _service().db.read() as session:
        for k in key_county_list.key_counties(session):
            out.print(f"{k.code} {k.name}")


@app.command("search")
def search(
    text: str = typer.Argument("", help="检索词 free text (Chinese works)"),
    county: int | None = typer.Option(None, help="县级代码 county code"),
    category: int | None = typer.Option(None, min=1, max=10, help="类别 1..10"),
    status: str | None = typer.Option(None),
    limit: int = typer.Option(20, min=1, max=200),
) -> None:
    """检索项目 Search published projects."""
    with _service().db.read() as session:
        rows = project_search.search(
            session,
            project_search.Search(
                text=text or None, county=county, category=category, status=status, limit=limit
            ),
        )
        table = Table("id", "kind", "status", "county/org", "title")
        for r in rows:
            table.add_row(
                r.project_id[:12],
                "需求" if r.kind == 1 else "供给",
                r.status,
                str(r.county or r.org_code),
                r.title,
            )
    out.print(table)


@app.command("recommend")
def recommend(project_id: str, limit: int = typer.Option(10, min=1, max=100)) -> None:
    """推荐匹配 Ranked matches for a project, each score explained."""
    with _service().db.read() as session:
        for rec in matching.recommend(session, project_id, limit=limit):
            out.print(f"[bold]{rec.score:3d}[/] {rec.project_id[:12]} {rec.title}")
            for c in rec.components:
                out.print(f"      {c['component']:<10} {c['points']:>2}/{c['max']:<2} {c['why']}")


@app.command("progress")
def progress(need_id: str) -> None:
    """需求进度 Committed, delivered and confirmed against what a need asked."""
    with _service().db.read() as session:
        out.print_json(json.dumps(matching.progress(session, need_id), ensure_ascii=False))


@app.command("export")
def export(
    file: Path = typer.Argument(..., help="输出文件 bundle JSON to write"),
    instance: str = typer.Option(..., help="本实例名称 e.g. guizhou"),
    key_env: str = typer.Option(EXPORT_KEY_ENV, help=KEY_ENV_HELP),
) -> None:
    """导出共享包 Export published projects as a signed bundle with proofs."""
    key = _env_key(key_env)
    service = _service()
    with service.db.read() as session:
        bundle = sharing.export_bundle(session, key, service.domain, instance=instance)
    file.write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
    out.print(f"已导出 exported {len(bundle['projects'])} projects to {file}")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    key_env: str = typer.Option(ADMIN_KEY_ENV, help=KEY_ENV_HELP),
) -> None:
    """导入共享包 Verify every proof and signature, then import the projects. The exporter
    must be in BANGFU_LIBRARY_TRUSTED_EXPORTERS; the admin signs the import."""
    try:
        bundle = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibraryError(f"{file} is not JSON: {exc}", code="bad_bundle") from None
    if not isinstance(bundle, dict):
        raise LibraryError(f"{file} is not a bundle", code="bad_bundle")
    service = _service()
    message = sharing.import_message(bundle, messages.new_nonce(), int(time.time()) + 600)
    sig = messages.sign(messages.LIBRARY_IMPORT, message, service.domain, _env_key(key_env))
    count = actions.import_bundle(service, bundle, message, sig)
    out.print(f"已导入 imported {count} projects")
