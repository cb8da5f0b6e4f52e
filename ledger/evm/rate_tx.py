"""The follow-up rate (回访比例) set from the civil-affairs workspace: the server prepares the
unsigned `setFollowUpRate(bps)` transaction, the admin key signs it in the browser, and the
server sends a raw transaction only if it is exactly that call, on the deployed AidLedger,
on this chain, without value, signed by the current admin. The server never holds the key
(as for registrations, `ledger.evm.registrations`, whose checks this repeats)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

from ledger.core import codes
from ledger.core.errors import ChainError, LedgerError, PermissionError_, RecordError
from ledger.evm.contract import LedgerContract, revert_error

__all__ = ["MAX_RATE_BPS", "RateTx", "decode_raw", "prepare", "submit_raw"]

MAX_RATE_BPS = 10_000
_TIP = 1_000_000_000


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


def _require_admin(ledger: LedgerContract, address: str) -> None:
    admin = ledger.default_admin()
    if address.lower() != admin.lower():
        raise PermissionError_(
            f"只有民政部门管理员可以设定回访比例 / only the current admin ({admin}) sets the "
            f"follow-up rate; {address} is not it",
            code=codes.NOT_ADMIN,
        )


def prepare(ledger: LedgerContract, admin: str, bps: int) -> dict[str, Any]:
    """The unsigned EIP-1559 transaction of `setFollowUpRate(bps)` from `admin`, after a
    dry run; the gas limit is given as `gas` and as `gasLimit` (ethers' name)."""
    if not Web3.is_address(admin):
        raise RecordError("admin 不是以太坊地址 / admin is not an address", code=codes.BAD_ADDRESS)
    admin = Web3.to_checksum_address(admin)
    _require_admin(ledger, admin)
    call = ledger.contract.functions.setFollowUpRate(check_rate(bps))
    try:
        gas = int(call.estimate_gas({"from": admin}))
    except (ContractCustomError, ContractLogicError) as exc:
        raise revert_error(ledger.abi, exc) from None
    w3 = ledger.w3
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    limit = int(gas * 1.2) + 10_000
    return {
        "to": ledger.deployment.address,
        "data": call._encode_transaction_data(),
        "nonce": int(w3.eth.get_transaction_count(admin, "pending")),
        "gas": limit,
        "gasLimit": limit,
        "chainId": int(w3.eth.chain_id),
        "maxFeePerGas": 2 * base + _TIP,
        "maxPriorityFeePerGas": _TIP,
        "type": 2,
    }


def _bad_raw(message: str) -> RecordError:
    return RecordError(f"无法解析已签名交易 / {message}", code=codes.BAD_RAW_TX, field="raw_tx")


def decode_raw(ledger: LedgerContract, raw_tx: Any) -> RateTx:
    """Decodes and checks a raw signed transaction (see the module's docstring)."""
    text = raw_tx.strip() if isinstance(raw_tx, str) else ""
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise _bad_raw("raw_tx must be 0x-prefixed hex") from None
    if not raw or raw[0] != 2:
        raise _bad_raw("须为 EIP-1559（type 2）交易 / raw_tx must be an EIP-1559 transaction")
    try:
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        sender = str(Account.recover_transaction(raw))
    except Exception:  # noqa: BLE001 - any malformed encoding or signature is the same refusal
        raise _bad_raw("raw_tx does not decode as a signed transaction") from None
    if int(tx.get("chainId", -1)) != int(ledger.w3.eth.chain_id):
        raise RecordError(
            f"交易的链编号不符 / the transaction is for chain {tx.get('chainId')}",
            code=codes.WRONG_CHAIN_ID,
        )
    to = tx.get("to")
    to_hex = HexBytes(to).to_0x_hex() if isinstance(to, bytes | bytearray) else str(to or "")
    if to_hex.lower() != ledger.deployment.address.lower():
        raise RecordError(
            f"交易的接收方不是本账本合约 / the transaction calls {to_hex or 'nothing'}, not "
            f"AidLedger at {ledger.deployment.address}",
            code=codes.WRONG_CONTRACT,
        )
    if int(tx.get("value", 0)) != 0:
        raise _bad_raw("交易不得转账 / the transaction carries no value")
    refused = RecordError(
        "交易不是 setFollowUpRate 调用 / the transaction is not a setFollowUpRate call",
        code=codes.NOT_RATE_CALL,
    )
    try:
        fn, args = ledger.contract.decode_function_input(bytes(HexBytes(tx.get("data", b""))))
    except Exception:  # noqa: BLE001 - an unknown selector or undecodable arguments
        raise refused from None
    if fn.fn_name != "setFollowUpRate":
        raise refused
    _require_admin(ledger, sender)
    return RateTx(raw, sender, check_rate(int(args["rateBps"])))


def submit_raw(ledger: LedgerContract, decoded: RateTx, timeout: float = 120) -> dict[str, Any]:
    """Dry-runs the call as its sender, sends the raw transaction and waits for it."""
    w3 = ledger.w3
    try:
        ledger.contract.functions.setFollowUpRate(decoded.rate_bps).call({"from": decoded.sender})
    except (ContractCustomError, ContractLogicError) as exc:
        raise revert_error(ledger.abi, exc) from None
    try:
        tx_hash = w3.eth.send_raw_transaction(decoded.raw)
    except Exception as exc:  # noqa: BLE001 - the node's refusal (nonce, fee, funds)
        message = exc.args[0].get("message") if exc.args and isinstance(exc.args[0], dict) else exc
        raise RecordError(
            f"节点拒绝了该交易 / the node refused the transaction: {message}",
            code=codes.REGISTRATION_FAILED,
        ) from None
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.1)
    except TimeExhausted:
        raise LedgerError(
            f"交易未在 {timeout:g} 秒内上链 / transaction {tx_hash.to_0x_hex()} was not mined",
            code=codes.WAIT_TIMEOUT,
        ) from None
    if receipt["status"] != 1:
        raise ChainError(
            f"交易被回滚 / transaction {tx_hash.to_0x_hex()} reverted", code=codes.TX_REVERTED
        )
    return {
        "tx_hash": tx_hash.to_0x_hex(),
        "status": "confirmed",
        "block_number": int(receipt["blockNumber"]),
        "rate_bps": decoded.rate_bps,
    }
