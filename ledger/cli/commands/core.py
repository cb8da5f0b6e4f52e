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
from ledger.evm.compiler import compile_contracts
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, check_deployed, connect, deploy, dev_accounts
from ledger.evm.localchain import load_localchain
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
    if not force:
        try:
            existing = Deployment.load(settings)
            check_deployed(w3, existing)
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
    check_deployed(w3, deployment)
    return LedgerContract(w3, deployment)


@register.command("county")
def register_county(
    address: str = typer.Argument(..., help="县级签名地址 the county office's address"),
    county: int = typer.Argument(..., help="6位县级行政区划代码 GB/T 2260 county code"),
) -> None:
    """登记县级乡村振兴部门 Register a county office's signing key."""
    address = require_address(address, "county address")
    require_county(county)
    _contract().register_county(admin_account(), address, county)
    out.print(f"已登记 registered county {county}: {address}")


@register.command("org")
def register_org(
    address: str = typer.Argument(..., help="社会组织签名地址 the organization's address"),
    org_code: str = typer.Argument(..., help="统一社会信用代码 18-character credit code"),
) -> None:
    """登记社会组织 Register a social organization's signing key."""
    address = require_address(address, "organization address")
    require_org_code(org_code)
    _contract().register_organization(admin_account(), address, org_code)
    out.print(f"已登记 registered organization {org_code}: {address}")


@register.command("auditor")
def register_auditor(address: str = typer.Argument(..., help="审计签名地址")) -> None:
    """登记审计人员 Register an auditor's signing key."""
    address = require_address(address, "auditor address")
    _contract().register_auditor(admin_account(), address)
    out.print(f"已登记 registered auditor {address}")
