"""Registrations signed in the browser with the admin key: the unsigned transaction of one
(de)registration call to prepare, and the checks a raw signed transaction passes before it is
sent (a call of one of the six registration functions, on the deployed AidLedger, on this
chain, signed by the current admin), then sent and waited for.

The server never holds the admin key: it builds the transaction, the browser signs it
(ethers `wallet.signTransaction`), and the server decodes what it is asked to send. What
this shares with the follow-up rate (`ledger.evm.rate_tx`) is in `ledger.evm.admin_tx`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from ledger.core import codes
from ledger.core.errors import RecordError
from ledger.core.fields import ORG_TYPES, require_name, resolve_org_type
from ledger.evm import admin_tx
from ledger.evm.contract import LedgerContract

__all__ = [
    "ACTIONS",
    "Registration",
    "decode_raw",
    "prepare",
    "submit_raw",
    "summary",
]

#: Action → (contract function, role). The only calls a raw transaction may make here.
ACTIONS: dict[str, tuple[str, str]] = {
    "register_county": ("registerCounty", "COUNTY"),
    "register_org": ("registerOrganization", "ORG"),
    "register_auditor": ("registerAuditor", "AUDITOR"),
    "deregister_county": ("deregisterCounty", "COUNTY"),
    "deregister_org": ("deregisterOrganization", "ORG"),
    "deregister_auditor": ("deregisterAuditor", "AUDITOR"),
}
_BY_FUNCTION = {fn: action for action, (fn, _role) in ACTIONS.items()}
_ROLE_ZH = {"COUNTY": "县级乡村振兴部门", "ORG": "社会组织", "AUDITOR": "审计人员"}
_REGISTERS = ("登记或撤销", "registers and deregisters keys")

#: Looks a county code up in the shipped GB/T 2260 data: its name, or a LedgerError.
CountyLookup = Callable[[int], str]


@dataclass(frozen=True)
class Registration:
    """One registration call, decoded: the action and its arguments."""

    action: str
    account: str
    county: int | None = None
    name: str | None = None
    org_code: str | None = None
    org_type: int | None = None
    authority: str | None = None

    @property
    def role(self) -> str:
        return ACTIONS[self.action][1]

    def args(self) -> list[Any]:
        """The contract function's arguments."""
        if self.action == "register_county":
            return [self.account, self.county, self.name]
        if self.action == "register_org":
            code = (self.org_code or "").encode("ascii").ljust(32, b"\0")
            return [self.account, code, self.name, self.org_type, self.authority or ""]
        if self.action == "register_auditor":
            return [self.account, self.name]
        return [self.account]


def _address(value: Any, field: str) -> str:
    if not isinstance(value, str) or not Web3.is_address(value):
        raise RecordError(
            f"{field} 不是以太坊地址 / {field} is not an address (0x and 40 hex digits)",
            code=codes.BAD_ADDRESS,
            field=field,
        )
    mixed = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if mixed and Web3.to_checksum_address(value) != value:
        raise RecordError(
            f"{field} 校验和不符 / {field} has a wrong EIP-55 checksum; check for a typo",
            code=codes.BAD_ADDRESS,
            field=field,
        )
    return Web3.to_checksum_address(value)


def build(fields: Mapping[str, Any], county_lookup: CountyLookup) -> Registration:
    """A registration from a request's fields, every one checked (with a code) before any
    transaction is made: the address, the county code against GB/T 2260, the name, the
    credit code and the organization type against it."""
    action = fields.get("action")
    if action not in ACTIONS:
        raise RecordError(
            f"未知操作 / unknown action {action!r}; use one of {', '.join(ACTIONS)}",
            code=codes.BAD_ACTION,
            field="action",
        )
    account = _address(fields.get("account"), "account")
    if action.startswith("deregister_"):
        return Registration(action, account)
    if action == "register_county":
        county = fields.get("county")
        if isinstance(county, str) and county.strip().isdigit():
            county = int(county)
        if isinstance(county, bool) or not isinstance(county, int):
            raise RecordError(
                "县级代码须为六位数字 / county must be a 6-digit GB/T 2260 code",
                code=codes.BAD_COUNTY_CODE,
                field="county",
            )
        official = county_lookup(county)
        name = fields.get("name")
        return Registration(action, account, county=county, name=require_name(name or official))
    if action == "register_auditor":
        return Registration(action, account, name=require_name(fields.get("name")))
    code = _org_code(fields.get("org_code"))
    org_type = resolve_org_type(code, fields.get("org_type"))
    authority = fields.get("authority") or ""
    if not isinstance(authority, str):
        raise RecordError(
            "登记管理机关须为文本 / authority must be text", code=codes.BAD_TYPE, field="authority"
        )
    return Registration(
        action,
        account,
        name=require_name(fields.get("name")),
        org_code=code,
        org_type=org_type,
        authority=require_name(authority, "authority") if authority.strip() else "",
    )


def _org_code(value: Any) -> str:
    """A credit code's shape (18 characters of the GB 32100 alphabet); the caller checks its
    check character with the shipped rules before `build`."""
    text = value.strip().upper() if isinstance(value, str) else ""
    if len(text) != 18 or not text.isascii() or not text.isalnum():
        raise RecordError(
            f"统一社会信用代码须为 18 位 / org_code {value!r} must be an 18-character unified "
            "social credit code",
            code=codes.BAD_ORG_CODE,
            field="org_code",
        )
    return text


def summary(reg: Registration, county_name: str | None = None) -> dict[str, str]:
    """What the admin signs, in words (Chinese first, English beside)."""
    verb = "登记 register" if reg.action.startswith("register_") else "撤销 deregister"
    out = {
        "操作": f"{verb} {_ROLE_ZH[reg.role]} {reg.role}",
        "角色": f"{_ROLE_ZH[reg.role]} {reg.role}",
        "地址": reg.account,
    }
    if reg.name is not None:
        out["名称"] = reg.name
    if reg.county is not None:
        out["县"] = f"{county_name or ''} {reg.county}".strip()
    if reg.org_code is not None:
        out["信用代码"] = reg.org_code
    if reg.org_type is not None:
        zh, en = ORG_TYPES[reg.org_type]
        out["组织类型"] = f"{zh} {en} ({reg.org_type})"
    if reg.authority:
        out["登记管理机关"] = reg.authority
    return out


def _call(ledger: LedgerContract, reg: Registration) -> Any:
    function, _role = ACTIONS[reg.action]
    return getattr(ledger.contract.functions, function)(*reg.args())


def prepare(ledger: LedgerContract, admin: str, reg: Registration) -> dict[str, Any]:
    """The unsigned EIP-1559 transaction of `reg` from `admin` (who must be the current
    admin), after a dry run on the node so that a refusal (RoleConflict, …) comes now.
    Numbers are ints; it carries the gas limit both as `gas` and as `gasLimit` (ethers)."""
    admin = _address(admin, "admin")
    admin_tx.require_admin(ledger, admin, _REGISTERS)
    return admin_tx.prepare_call(ledger, admin, _call(ledger, reg))


@dataclass(frozen=True)
class Decoded:
    """A raw signed transaction, decoded and checked: its sender and its call."""

    raw: bytes
    sender: str
    registration: Registration


def decode_raw(ledger: LedgerContract, raw_tx: Any) -> Decoded:
    """Decodes a raw signed transaction and checks it, refusing (with a code) anything but a
    call of one of the six registration functions on the deployed AidLedger, on this chain,
    without value, signed by the current admin."""
    signed = admin_tx.decode_signed(ledger, raw_tx)
    registration = _decode_call(ledger, signed.data)
    admin_tx.require_admin(ledger, signed.sender, _REGISTERS)
    return Decoded(signed.raw, signed.sender, registration)


def _decode_call(ledger: LedgerContract, data: bytes) -> Registration:
    refused = RecordError(
        "交易不是登记或撤销调用 / the transaction is not a call of registerCounty, "
        "registerOrganization, registerAuditor or their deregister… functions",
        code=codes.NOT_REGISTRATION_CALL,
    )
    if len(data) < 4:
        raise refused
    try:
        fn, args = ledger.contract.decode_function_input(data)
    except Exception:  # noqa: BLE001 - an unknown selector or undecodable arguments
        raise refused from None
    action = _BY_FUNCTION.get(fn.fn_name)
    if action is None:
        raise refused
    account = Web3.to_checksum_address(args["account"])
    if action.startswith("deregister_"):
        return Registration(action, account)
    if action == "register_county":
        return Registration(action, account, county=int(args["county"]), name=str(args["name"]))
    if action == "register_auditor":
        return Registration(action, account, name=str(args["name"]))
    code = bytes(args["orgCode"]).rstrip(b"\0").decode("ascii", "replace")
    return Registration(
        action,
        account,
        name=str(args["name"]),
        org_code=code,
        org_type=int(args["orgType"]),
        authority=str(args["authority"]),
    )


def check_rules(reg: Registration, county_lookup: CountyLookup) -> None:
    """The off-chain rules a signed registration must keep too (the contract cannot check
    them): a county code of GB/T 2260, a type that agrees with the credit code."""
    if reg.action == "register_county" and reg.county is not None:
        county_lookup(reg.county)
    if reg.action == "register_org" and reg.org_code is not None:
        resolve_org_type(reg.org_code, reg.org_type)


def submit_raw(ledger: LedgerContract, decoded: Decoded, timeout: float = 120) -> dict[str, Any]:
    """Dry-runs the checked call as its sender (so a refusal comes with the contract's error
    and no gas is spent), sends the raw transaction and waits for its receipt."""
    call = _call(ledger, decoded.registration)
    sent = admin_tx.send(ledger, call, decoded.sender, decoded.raw, timeout)
    return {**sent, "action": decoded.registration.action}
