"""`bangfu library`: key counties, search, recommendations, progress and signed bundles; and
over the API, as a county or an organization: needs (one, or a need list 需求表), publishing,
点单 / 接单 and answers.

The admin's writes (loading the key-county list, importing a bundle) are signed by the
library admin's key, taken from a key setting (BANGFU_LIBRARY_ADMIN_KEY by default), and go
through the same checks as the API: the CLI has no way around a signature. The county's and
organization's actions sign with their own keystore file (`--key`, its password from
BANGFU_KEY_PASSWORD or asked) through the SDK, and only signed messages reach the API.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.app import LedgerService
from ledger.cli.commands import group_app
from ledger.cli.commands.client import (
    API_OPTION,
    api_client,
    key_option,
    one_line_errors,
    print_json,
)
from ledger.config import get_settings
from ledger.core import codes
from ledger.core.errors import LedgerError, LibraryError
from ledger.library import (
    actions,
    messages,
    need_progress,
    needlist,
    needlist_template,
    recommendations,
    sharing,
)
from ledger.library import key_counties as key_county_list
from ledger.library import search as project_search

NAME = "library"
app = group_app(NAME)
out = Console()
err = Console(stderr=True, soft_wrap=True)

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
    status: str | None = typer.Option(
        None, help="状态 published | matched | in_progress | completed | closed"
    ),
    limit: int = typer.Option(20, min=1, max=200),
) -> None:
    """检索项目 Search published projects (status as the chain's records have moved it)."""
    with _service().db.read() as session:
        rows = project_search.search(
            session,
            project_search.Search(
                text=text or None, county=county, category=category, status=status, limit=limit
            ),
        )
        shown = project_search.projects_json(session, rows)
        table = Table("id", "kind", "状态 status", "county/org", "title")
        for r, p in zip(rows, shown, strict=True):
            table.add_row(
                r.project_id[:12],
                "需求" if r.kind == 1 else "供给",
                p["status_label"],
                str(r.county or r.org_code),
                r.title,
            )
    out.print(table)


@app.command("recommend")
def recommend(project_id: str, limit: int = typer.Option(10, min=1, max=100)) -> None:
    """推荐匹配 Ranked matches for a project, each score explained."""
    with _service().db.read() as session:
        for rec in recommendations.recommend(session, project_id, limit=limit):
            out.print(f"[bold]{rec.score:3d}[/] {rec.project_id[:12]} {rec.title}")
            for c in rec.components:
                out.print(f"      {c['component']:<10} {c['points']:>2}/{c['max']:<2} {c['why']}")


@app.command("progress")
def progress(need_id: str) -> None:
    """需求进度 Committed, delivered and confirmed against what a need asked."""
    with _service().db.read() as session:
        print_json(need_progress.progress(session, need_id))


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


# ------------------------------------------------------------------ over the API, signed


KEY_OPTION = key_option("密钥文件 key file from `bangfu keygen` (keystore v3)")


def _read_json(file: Path) -> dict[str, object]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerError(
            f"{file} 不是 JSON / is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise LedgerError(f"{file} 应为一个 JSON 对象 / must hold one JSON object", code="bad_type")
    return data


@app.command("create-need")
@one_line_errors
def create_need(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="需求内容 JSON"),
    key: Path = KEY_OPTION,
    publish: bool = typer.Option(False, "--publish", help="建草稿后立即发布 publish at once"),
    api: str | None = API_OPTION,
) -> None:
    """新建需求草稿 Create a need draft from a JSON file (its fields as in NeedContent:
    county, title, category, mode 输血 relief / 造血 capacity, beneficiaries, budget_fen,
    resources, deadline, contact_role …), signed with your county key."""
    content = _read_json(file)
    if "county" not in content:
        raise LedgerError(
            "需求内容缺少 county（本县的六位代码）/ the need lacks county, your 6-digit code",
            code=codes.MISSING_FIELD,
        )
    with api_client(key, api) as client:
        draft = client.library_create("need", content)
        project_id = str(draft["project_id"])
        out.print(f"草稿已建 draft created: {project_id}")
        if publish:
            client.library_publish(project_id)
            out.print(f"已发布 published: {project_id}")
        else:
            out.print(f"发布 publish it with: bangfu library publish {project_id} --key {key}")


@app.command("publish")
@one_line_errors
def publish_(
    project_id: str = typer.Argument(..., help="项目编号 project id, 0x + 64 hex"),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """发布草稿 Publish your draft: checks what the server asks you to sign, then signs."""
    with api_client(key, api) as client:
        answer = client.library_publish(project_id)
    out.print(f"已发布 published: {project_id} (version {answer.get('version', 1)})")


def _print_match(answer: dict[str, object]) -> None:
    match = answer.get("match", answer)
    assert isinstance(match, dict)
    out.print(f"匹配 match {match.get('match_id')}: {match.get('status')}")


@app.command("order")
@one_line_errors
def order(
    need_id: str = typer.Argument(..., help="本县的需求编号 your need's id"),
    supply_id: str = typer.Argument(..., help="供给项目编号 the supply project's id"),
    key: Path = KEY_OPTION,
    note: str = typer.Option("", help="附言 a note to the organization (public; no names)"),
    api: str | None = API_OPTION,
) -> None:
    """点单 Order a supply project for your need (county key); the organization answers."""
    with api_client(key, api) as client:
        _print_match(client.library_order(need_id, supply_id, note=note))


@app.command("take")
@one_line_errors
def take(
    need_id: str = typer.Argument(..., help="需求编号 the need's id"),
    org_code: str = typer.Option(..., "--org-code", help="统一社会信用代码 your credit code"),
    key: Path = KEY_OPTION,
    note: str = typer.Option("", help="附言 a note to the county (public; no names)"),
    api: str | None = API_OPTION,
) -> None:
    """接单 Take a need (organization key); the county answers."""
    with api_client(key, api) as client:
        _print_match(client.library_take(need_id, org_code, note=note))


@app.command("respond")
@one_line_errors
def respond(
    match_id: str = typer.Argument(..., help="匹配编号 match id"),
    answer: str = typer.Argument(..., help="accept 接受 | decline 拒绝"),
    key: Path = KEY_OPTION,
    api: str | None = API_OPTION,
) -> None:
    """答复点单或接单 Accept or decline an order or a take addressed to you."""
    choice = {"accept": True, "接受": True, "decline": False, "拒绝": False}.get(answer.lower())
    if choice is None:
        raise LedgerError(
            f"答复应为 accept（接受）或 decline（拒绝）/ answer {answer!r}: use accept or decline",
            code="bad_action",
        )
    with api_client(key, api) as client:
        _print_match(client.library_respond(match_id, choice))


def _print_errors(errors: list[dict[str, object]]) -> None:
    for e in errors:
        err.print(escape(needlist.error_line(e)))


@app.command("import-needs")
@one_line_errors
def import_needs(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="需求表 .xlsx or .csv"),
    key: Path | None = typer.Option(
        None, "--key", "--keystore", help="密钥文件 county key file (not needed with --check)"
    ),
    county: int | None = typer.Option(
        None, help="县级代码 county code (default: the county of --key)"
    ),
    check: bool = typer.Option(False, "--check", help="只检查不发布 check only; sign nothing"),
    api: str | None = API_OPTION,
) -> None:
    """导入需求表 Import a need list: every cell is checked; while any error stands nothing
    is published and each error is printed as 第N行 列X: … (exit status 1). Then each need is
    signed (draft, publish) with your county key. Template: `bangfu library template`."""
    if key is None and not check:
        raise LedgerError(
            "发布需要县级密钥 / publishing needs your county key: give --key (or use --check)",
            code="no_key",
        )
    if key is None and county is None:
        raise LedgerError(
            "检查需要 --county 或 --key / give --county (or --key) to check", code="missing_value"
        )
    with api_client(key, api) as client:
        checked = client.library_check_needs(file, county)
        errors = list(checked["errors"])
        if errors:
            _print_errors(errors)
            raise LedgerError(
                f"需求表有 {len(errors)} 处错误，未发布 / {len(errors)} problem(s); fix the "
                "cells and run again, nothing was published",
                code=codes.NEED_LIST_REFUSED,
            )
        needs = checked["needs"]
        if check:
            out.print(f"检查通过 the list is good: {len(needs)} needs for {checked['county']}")
            return
        ids = client.library_publish_checked(checked)
    table = Table("行 row", "项目 project id", "标题 title", title=f"已发布 published ({len(ids)})")
    for row, pid, need in zip(checked["rows"], ids, needs, strict=True):
        table.add_row(str(row), pid, str(need["title"]))
    out.print(table)


@app.command("template")
@one_line_errors
def template(
    file: Path = typer.Argument(..., dir_okay=True, help="输出文件 FILE.csv or FILE.xlsx"),
) -> None:
    """需求表模板 Write the need-list template (bilingual header, an example row)."""
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise LedgerError(
            f"模板文件应以 .csv 或 .xlsx 结尾 / {file.name}: name it .csv or .xlsx",
            code="bad_file",
        )
    if file.exists():
        raise LedgerError(
            f"{file} 已存在 / already exists; choose another name", code=codes.FILE_EXISTS
        )
    file.write_bytes(
        needlist_template.template_csv() if suffix == ".csv" else needlist_template.template_xlsx()
    )
    out.print(f"已写出 wrote {file}")
    print(needlist_template.describe_columns(), end="")
