"""Top-level commands: `bangfu compile`, `bangfu deploy`, `bangfu register …`."""

from __future__ import annotations

import re

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from web3 import Web3

from ledger.config import get_settings
from ledger.core.errors import LedgerError
from ledger.core.fields import ORG_TYPES, require_name, resolve_org_type
from ledger.evm.compiler import compile_contracts
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, check_deployed, connect, deploy, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.profiles import check_node
from ledger.library.regions import require_county, require_org_code

NAME = ""
out = Console()
app = typer.Typer()


def require_address(text: str, what: str = "address") -> str:
    """A 0x-hex 20-byte address, checksummed; or a LedgerError before anything is sent."""
    value = text.strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise LedgerError(
            f"{what} {text!r} 不是以太坊地址 / is not an address: 0x followed by 40 hex digits",
            code="bad_address",
        )
    # Mixed case is an EIP-55 checksum: a typo in it must not register someone else.
    mixed = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if mixed and Web3.to_checksum_address(value) != value:
        raise LedgerError(
            f"{what} {text!r} 校验和不符 / has a wrong EIP-55 checksum; check for a typo",
            code="bad_address",
        )
    return Web3.to_checksum_address(value)


def admin_account() -> LocalAccount:
    """The civil-affairs admin key: BANGFU_RELAYER_KEY, or anvil's account #0 on the dev chain."""
    settings = get_settings()
    if settings.relayer_key:
        return Account.from_key(settings.relayer_key.get_secret_value())
    return dev_accounts(load_localchain(settings))[0]


@app.command("compile")
def compile_() -> None:
    """编译合约 Compile contracts/ with the pinned solc (cached under build/)."""
    artifact = compile_contracts()
    out.print(
        f"AidLedger: solc {artifact.compiler_version}, {len(artifact.deployed_bytecode)} bytes "
        f"of runtime code, input {artifact.input_hash[:16]}"
    )


def ensure_deployed(force: bool = False) -> Deployment:
    """The live deployment, deploying AidLedger first if there is none (or `force`)."""
    settings = get_settings()
    w3 = connect(settings)
    check_node(w3, settings.gas_model)  # a profile the node disagrees with stops here
    if not force:
        try:
            existing = Deployment.load(settings)
            check_deployed(w3, existing, settings)
            return existing
        except Exception:  # noqa: BLE001 - any problem with the old one means deploy anew
            pass
    deployment = deploy(w3, admin_account(), settings=settings)
    deployment.save(settings)
    return deployment


@app.command("deploy")
def deploy_cmd(
    force: bool = typer.Option(False, help="部署新合约 deploy anew even if one is live"),
) -> None:
    """部署合约 Deploy AidLedger (if not yet deployed) and write var/deployment.json."""
    deployment = ensure_deployed(force)
    out.print(f"AidLedger 合约地址 at {deployment.address} (block {deployment.block})")


register = typer.Typer(help="登记角色 Register signing keys (civil-affairs admin only).")
app.add_typer(register, name="register")


def _contract() -> LedgerContract:
    settings = get_settings()
    w3 = connect(settings)
    deployment = Deployment.load(settings)
    check_deployed(w3, deployment, settings)
    return LedgerContract(w3, deployment)


@register.command("county")
def register_county(
    address: str = typer.Argument(..., help="县级签名地址 the county office's address"),
    county: int = typer.Argument(..., help="6位县级行政区划代码 GB/T 2260 county code"),
    name: str | None = typer.Option(
        None,
        "--name",
        help="县级机构名称，默认为该县名称（GB/T 2260） the office's name; defaults to the "
        "county's name from the shipped GB/T 2260 data",
    ),
) -> None:
    """登记县级乡村振兴部门（名称记入链上）Register a county office's signing key, by name."""
    address = require_address(address, "county address")
    found = require_county(county)
    office = require_name(name if name is not None else found.name)
    _contract().register_county(admin_account(), address, county, office)
    out.print(f"已登记 registered county {county} {office}: {address}")


@register.command("org")
def register_org(
    address: str = typer.Argument(..., help="社会组织签名地址 the organization's address"),
    org_code: str = typer.Argument(..., help="统一社会信用代码 18-character credit code"),
    name: str = typer.Option(..., "--name", help="社会组织名称 the organization's registered name"),
    org_type: str | None = typer.Option(
        None,
        "--type",
        help="组织类型 社会团体|民办非企业单位|基金会 或 1|2|3；默认取信用代码第二位 "
        "the type; defaults to the one the credit code names (51/52/53…)",
    ),
    authority: str = typer.Option(
        "", "--authority", help="登记管理机关，如 贵州省民政厅 the registering authority"
    ),
) -> None:
    """登记社会组织（名称、类型、登记管理机关记入链上）Register a social organization's
    signing key with its name, type and registering authority."""
    address = require_address(address, "organization address")
    code = require_org_code(org_code)
    kind = resolve_org_type(code, org_type)
    title = require_name(name)
    where = require_name(authority, "authority") if authority.strip() else ""
    _contract().register_organization(admin_account(), address, code, title, kind, where)
    out.print(f"已登记 registered organization {code} {title}（{ORG_TYPES[kind][0]}）: {address}")


@register.command("auditor")
def register_auditor(
    address: str = typer.Argument(..., help="审计签名地址 the auditor's address"),
    name: str = typer.Option(..., "--name", help="审计人员或审计组名称 the auditor's name"),
) -> None:
    """登记审计人员（名称记入链上）Register an auditor's signing key, by name."""
    address = require_address(address, "auditor address")
    title = require_name(name)
    _contract().register_auditor(admin_account(), address, title)
    out.print(f"已登记 registered auditor {title}: {address}")
