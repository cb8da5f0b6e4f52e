"""The follow-up rate (回访比例) set from the civil-affairs workspace: the server prepares the
unsigned `setFollowUpRate(bps)` transaction, the admin key signs it in the browser, and the
server sends a raw transaction only if it is exactly that call, on the deployed AidLedger,
on this chain, without value, signed by the current admin. The server never holds the key;
the checks it shares with registrations are in `ledger.evm.admin_tx`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from ledger.core import codes
from ledger.core.errors import RecordError
from ledger.evm import admin_tx
from ledger.evm.contract import LedgerContract

__all__ = ["MAX_RATE_BPS", "RateTx", "decode_raw", "prepare", "submit_raw"]

MAX_RATE_BPS = 10_000
_SETS_THE_RATE = ("设定回访比例", "sets the follow-up rate")


@dataclass(frozen=True)
class RateTx:
    raw: bytes
    sender: str
    rate_bps: int


def check_rate(bps: Any) -> int:
    if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= MAX_RATE_BPS:
        raise RecordError(
            f"回访比例须在 0..{MAX_RATE_BPS} 基点之间 / the follow-up rate must be "
            f"0..{MAX_RATE_BPS} basis points (1000 = 10%), not {bps!r}",
            code=codes.INVALID_RATE,
        )
    return bps


def prepare(ledger: LedgerContract, admin: str, bps: int) -> dict[str, Any]:
    """The unsigned EIP-1559 transaction of `setFollowUpRate(bps)` from `admin`, after a
    dry run; the gas limit is given as `gas` and as `gasLimit` (ethers' name)."""
    if not Web3.is_address(admin):
        raise RecordError("admin 不是以太坊地址 / admin is not an address", code=codes.BAD_ADDRESS)
    admin = Web3.to_checksum_address(admin)
    admin_tx.require_admin(ledger, admin, _SETS_THE_RATE)
    call = ledger.contract.functions.setFollowUpRate(check_rate(bps))
    return admin_tx.prepare_call(ledger, admin, call)


def decode_raw(ledger: LedgerContract, raw_tx: Any) -> RateTx:
    """Decodes and checks a raw signed transaction (see the module's docstring)."""
    signed = admin_tx.decode_signed(ledger, raw_tx)
    refused = RecordError(
        "交易不是 setFollowUpRate 调用 / the transaction is not a setFollowUpRate call",
        code=codes.NOT_RATE_CALL,
    )
    try:
        fn, args = ledger.contract.decode_function_input(signed.data)
    except Exception:  # noqa: BLE001 - an unknown selector or undecodable arguments
        raise refused from None
    if fn.fn_name != "setFollowUpRate":
        raise refused
    admin_tx.require_admin(ledger, signed.sender, _SETS_THE_RATE)
    return RateTx(signed.raw, signed.sender, check_rate(int(args["rateBps"])))


def submit_raw(ledger: LedgerContract, decoded: RateTx, timeout: float = 120) -> dict[str, Any]:
    """Dry-runs the call as its sender, sends the raw transaction and waits for it."""
    call = ledger.contract.functions.setFollowUpRate(decoded.rate_bps)
    sent = admin_tx.send(ledger, call, decoded.sender, decoded.raw, timeout)
    return {**sent, "rate_bps": decoded.rate_bps}
