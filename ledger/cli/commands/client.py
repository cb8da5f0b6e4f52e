"""Client commands for counties and organizations: `bangfu keygen`, `bangfu submit`,
`bangfu status`, `bangfu query`, `bangfu totals`. Records are signed on this machine; only
signed records travel to the API.

The other commands that talk to the API take from here what they share: the one-line error
printing, the `--api`, `--key`, `--wait` and `--json` options, the key password prompt and
the SDK client signing with a keystore file (`api_client`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.core.errors import LedgerError, RecordError
from ledger.core.record_types import BY_SLUG, signed_from_json
from ledger.core.records import SignedRecord
from ledger.evm.deploy import dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.sdk.client import BangfuClient
from ledger.sdk.fields import record_from_fields
from ledger.sdk.keys import (
    create_key_file,
    encrypt_key,
    key_file_address,
    load_key_file,
    resolve_password,
    write_key_file,
)
from ledger.sdk.records import Accepted, RecordStatus
from ledger.sdk.transport import API_ENV, DEFAULT_API

NAME = ""
out = Console()
err = Console(stderr=True, soft_wrap=True)
app = typer.Typer()

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(fn: F) -> F:
    """Prints a LedgerError as one line with its code and exits 1.

    Done here rather than left to ledger/cli/main.py because there the code is printed inside Rich
    markup, where `[code]` is read as a style tag and vanishes, and `typer.Exit(1)` under
    `standalone_mode=False` is returned, not raised, so the exit status would be 0.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LedgerError as exc:
            err.print(f"[bold red]错误 error[/] {escape(f'[{exc.code}]')} {escape(exc.message)}")
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]


API_OPTION = typer.Option(
    None,
    "--api",
    help=f"API 地址 URL of the Bangfu Ledger API (default: {API_ENV} or {DEFAULT_API})",
    show_default=False,
)
WAIT_OPTION = typer.Option(False, "--wait", help="等待上链确认 wait until confirmed")
JSON_OPTION = typer.Option(False, "--json", help="输出 JSON print the API's JSON answer")


def key_option(help: str) -> Any:
    """The required `--key` / `--keystore` option of a command that signs; `help` says whose
    keystore file it is."""
    return typer.Option(..., "--key", "--keystore", help=help)


def day_of(text: str, name: str, code: str) -> date:
    """The date `text` (YYYY-MM-DD) given as the option `name`; refused with `code` else."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise LedgerError(
            f"{name} 须为 YYYY-MM-DD / {name} must be a date written YYYY-MM-DD, not {text!r}",
            code=code,
        ) from None


def submit_one(
    client: BangfuClient, signed: SignedRecord, label: str, *, wait: bool = False
) -> Accepted:
    """Submits one signed record and prints `label: kind id (status)`; with `wait`, waits
    until the chain has it."""
    (accepted,) = client.submit([signed])
    out.print(f"{label}: {accepted.kind} {accepted.record_id} ({accepted.status})")
    if wait:
        client.wait_confirmed([accepted.record_id])
        out.print("已上链确认 confirmed on chain")
    return accepted


def print_json(answer: Any) -> None:
    """The API's answer as JSON (`--json`), Chinese kept as is."""
    out.print_json(json.dumps(answer, ensure_ascii=False))


KINDS = ", ".join(BY_SLUG)
LISTS = ("commitments", "deliveries", "receipts", "flags", "projects")


def password_prompt(confirm: bool) -> Callable[[], str]:
    """Asks for the key password on the terminal (twice when `confirm`: a new key's)."""

    def ask() -> str:
        return str(
            typer.prompt("密钥口令 key password", hide_input=True, confirmation_prompt=confirm)
        )

    return ask


def load_signing_key(key: Path) -> LocalAccount:
    """The account in the keystore file `key`, its password from BANGFU_KEY_PASSWORD or
    asked; refused (bad_key_file) when the file states another address than it holds. Called
    before any network use, so a bad key file fails fast and offline."""
    address = key_file_address(key)
    account = load_key_file(key, resolve_password(password_prompt(False)))
    if address is not None and address != account.address:
        raise LedgerError(f"{key} states {address} but holds another key", code="bad_key_file")
    return account


def api_client(key: Path | None, api: str | None) -> BangfuClient:
    """The SDK on `api`, signing with the keystore `key` when one is given."""
    if key is None:
        return BangfuClient(api)
    return BangfuClient(api, account=load_signing_key(key))


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith("0x") and len(text) > 18:
        return f"{text[:10]}…{text[-6:]}"
    return text


@app.command("keygen")
@one_line_errors
def keygen(
    out_file: Path = typer.Option(..., "--out", help="密钥文件 key file to create (keystore v3)"),
    dev_account: int | None = typer.Option(
        None,
        "--dev-account",
        min=0,
        help="开发链账户 N：写出本地开发链的公开账户 N（0 为管理员），仅供试用 "
        "write the local dev chain's public account N (0 is the admin), for trying it out",
    ),
) -> None:
    """生成签名密钥 Make a new signing key, encrypted with a password.

    口令取自 BANGFU_KEY_PASSWORD，否则提示输入。The password comes from BANGFU_KEY_PASSWORD,
    or you are asked for it. Give the printed address (never the key) to the civil-affairs
    office so they can register it. 工作台可导入此文件 The browser workspace imports this file.
    """
    password = resolve_password(password_prompt(True), new=True)
    if dev_account is None:
        address = create_key_file(out_file, password)
    else:
        address = _write_dev_account(out_file, password, dev_account)
    out.print(f"已生成 created {out_file}")
    out.print(f"签名地址 address: [bold]{address}[/]")
    out.print(
        "请妥善保管密钥文件与口令 keep the file and its password safe; they cannot be recovered."
    )


def _write_dev_account(out_file: Path, password: str, index: int) -> str:
    """Anvil's account `index` of localchain.toml's public mnemonic, as a keystore file: the
    dev chain's admin (0) and its other accounts, so a newcomer can act in the workspaces.
    Its key is public; a real chain never uses it."""
    cfg = load_localchain()
    if index >= cfg.accounts:
        raise LedgerError(
            f"the dev chain has accounts 0 to {cfg.accounts - 1} (localchain.toml)",
            code="bad_arguments",
        )
    account = dev_accounts(cfg)[index]
    write_key_file(out_file, encrypt_key(account.key, password))
    err.print(
        "[yellow]注意：开发链账户的密钥是公开的，只能用于本地开发链。 This dev-chain key is "
        "public: use it on the local dev chain only.[/]"
    )
    return str(account.address)


def _load_items(kind: str | None, fields: list[str], json_file: Path | None) -> list[Any]:
    """(kind, fields) pairs, or already signed records, from --field or --json."""
    if json_file is not None:
        if kind or fields:
            raise LedgerError(
                "give either KIND with --field, or --json, not both", code="bad_arguments"
            )
        try:
            text = json_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise LedgerError(f"cannot read {json_file}: {exc.strerror}", code="bad_file") from None
        try:
            if json_file.suffix == ".jsonl":
                data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LedgerError(
                f"{json_file} is not valid JSON (line {exc.lineno}: {exc.msg})", code="invalid_json"
            ) from None
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "kind" not in item or "record" not in item:
                raise RecordError(
                    f"item {i} of {json_file} must be an object with kind and record",
                    code="bad_type",
                    index=i,
                )
        return items
    if not kind:
        raise LedgerError(
            f"say which record to submit: KIND (one of {KINDS}) with --field, or --json FILE",
            code="bad_arguments",
        )
    pairs: dict[str, str] = {}
    for pair in fields:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise LedgerError(f"--field {pair!r} must look like name=value", code="bad_field")
        pairs[name.strip()] = value
    return [{"kind": kind, "record": pairs}]


def _accepted_table(accepted: list[Accepted]) -> Table:
    table = Table(title="已受理 accepted")
    for col in ("记录 record id", "类型 kind", "状态 status", "重复 duplicate"):
        table.add_column(col)
    for a in accepted:
        table.add_row(a.record_id, a.kind, a.status, "yes" if a.duplicate else "")
    return table


def _status_table(statuses: list[RecordStatus]) -> Table:
    table = Table(title="记录状态 record status")
    for col in (
        "记录 record id",
        "类型 kind",
        "状态 status",
        "区块 block",
        "叶 leaf",
        "交易 tx / 错误 error",
    ):
        table.add_column(col)
    colors = {"confirmed": "green", "failed": "red", "unknown": "yellow"}
    for s in statuses:
        color = colors.get(s.status, "cyan")
        detail = f"[{s.error_code}] {s.error}" if s.status == "failed" else _short(s.tx_hash)
        table.add_row(
            s.record_id,
            s.kind,
            f"[{color}]{s.status}[/]",
            "" if s.block_number is None else str(s.block_number),
            "" if s.leaf_index is None else str(s.leaf_index),
            detail,
        )
    return table


@app.command("submit")
@one_line_errors
def submit(
    kind: str | None = typer.Argument(None, help=f"记录类型 record kind: {KINDS}"),
    field: list[str] = typer.Option(
        [], "--field", "-f", help="字段 name=value (0x-hex, @FILE to hash a file, 斤, 2025-06-30)"
    ),
    json_file: Path | None = typer.Option(
        None, "--json", help="JSON 文件 one record or a list: {kind, record[, signature]}"
    ),
    key: Path = typer.Option(..., "--key", help="密钥文件 key file from `bangfu keygen`"),
    api: str | None = API_OPTION,
    wait: bool = WAIT_OPTION,
    timeout: float = typer.Option(120.0, help="等待秒数 seconds to wait with --wait"),
) -> None:
    """签名并提交记录 Sign records with your key and submit them.

    例 example: bangfu submit delivery --key org.json -f commitmentId=0x… -f quantity=40
    -f evidenceHash=@photo.jpg. 未给出的 id 自动生成 a missing id is made fresh.
    """
    items = _load_items(kind, field, json_file)
    base = json_file.parent if json_file is not None else Path.cwd()
    account = load_signing_key(key)
    with BangfuClient(api, account=account) as client:
        records: list[Any] = []
        for i, item in enumerate(items):
            try:
                if "signature" in item:
                    records.append(signed_from_json(item, client.domain()))
                else:
                    records.append(
                        record_from_fields(
                            str(item["kind"]), item["record"], base=base, signer=account.address
                        )
                    )
            except LedgerError as exc:
                if len(items) > 1:
                    exc.message = f"item {i}: {exc.message}"
                raise
        accepted = client.submit(records)
        out.print(_accepted_table(accepted))
        if wait:
            statuses = client.wait_confirmed([a.record_id for a in accepted], timeout=timeout)
            out.print(_status_table(statuses))


@app.command("status")
@one_line_errors
def status(
    ids: list[str] = typer.Argument(..., help="记录编号 record ids, 0x-hex"),
    api: str | None = API_OPTION,
    wait: bool = WAIT_OPTION,
    timeout: float = typer.Option(120.0, help="等待秒数 seconds to wait with --wait"),
) -> None:
    """查询记录状态 Show where submitted records are: queued, sent, confirmed or failed."""
    with BangfuClient(api) as client:
        statuses = client.wait_confirmed(ids, timeout=timeout) if wait else client.status(ids)
        out.print(_status_table(statuses))
    if any(s.status == "failed" for s in statuses):
        raise SystemExit(1)  # see one_line_errors for why not typer.Exit


def _cell(value: Any) -> str:
    if isinstance(value, dict) and "zh" in value:
        return f"{value['zh']} {value['en']}"
    return _short(value)


@app.command("query")
@one_line_errors
def query(
    what: str = typer.Argument(..., help=f"列表 list: {', '.join(LISTS)}"),
    county: int | None = typer.Option(None, help="县级代码 6-digit county code"),
    category: str | None = typer.Option(None, help="类别 category: 1..10 or its name"),
    org: str | None = typer.Option(None, help="统一社会信用代码或地址 credit code or address"),
    limit: int = typer.Option(20, min=1, max=500, help="条数 rows per page"),
    cursor: str | None = typer.Option(None, help="下一页 cursor from the previous page"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON print JSON"),
    api: str | None = API_OPTION,
) -> None:
    """公开查询 List public records, newest first."""
    if what not in LISTS:
        raise LedgerError(f"unknown list {what!r}; use one of: {', '.join(LISTS)}", code="bad_list")
    with BangfuClient(api) as client:
        page = client.query(
            what, county=county, category=category, org=org, limit=limit, cursor=cursor
        )
    if as_json:
        print(
            json.dumps({"items": page.items, "next_cursor": page.next_cursor}, ensure_ascii=False)
        )
        return
    table = Table(title=f"{what} ({len(page.items)})")
    columns = [c for c in (page.items[0] if page.items else {}) if c != "chain"]
    for col in [*columns, "leaf", "block"]:
        table.add_column(col)
    for item in page.items:
        chain = item.get("chain") or {}
        table.add_row(
            *[_cell(item.get(c)) for c in columns],
            str(chain.get("leaf_index", "")),
            str(chain.get("block_number", "")),
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"下一页 next page: --cursor {page.next_cursor}")


@app.command("totals")
@one_line_errors
def totals(
    by: str = typer.Argument(..., help="分组 group by: county, category or org"),
    county: int | None = typer.Option(None, help="县级代码 6-digit county code"),
    category: str | None = typer.Option(None, help="类别 category: 1..10 or its name"),
    org: str | None = typer.Option(None, help="统一社会信用代码或地址 credit code or address"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON print JSON"),
    api: str | None = API_OPTION,
) -> None:
    """汇总 Committed, delivered and confirmed amounts (funds in fen, services in hours)."""
    if by not in ("county", "category", "org"):
        raise LedgerError("group by county, category or org", code="bad_group")
    with BangfuClient(api) as client:
        rows = client.totals(by, county=county, category=category, org=org)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"汇总 totals by {by}")
    columns = list(rows[0]) if rows else [by, "resource_kind", "unit", "committed"]
    for col in columns:
        table.add_column(
            col, justify="right" if col in ("committed", "delivered", "confirmed") else "left"
        )
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    out.print(table)
