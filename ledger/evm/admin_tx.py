"""Admin transactions signed in the browser: what registrations (`ledger.evm.registrations`)
and the follow-up rate (`ledger.evm.rate_tx`) share. The server prepares the unsigned
EIP-1559 transaction of one contract call after a dry run; the admin key signs it in the
browser (ethers `wallet.signTransaction`); the server sends a raw transaction only if it is
for this chain, calls the deployed AidLedger, carries no value and is signed by the current
admin, then waits for its receipt. The server never holds the key; each module checks that
the call is one of its own."""

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

__all__ = ["TIP", "SignedCall", "bad_raw", "decode_signed", "prepare_call", "require_admin", "send"]

#: The priority fee offered (1 gwei), as `send_transaction` offers for admin transactions.
TIP = 1_000_000_000


def require_admin(ledger: LedgerContract, address: str, doing: tuple[str, str]) -> None:
    """Refuses (NOT_ADMIN) unless `address` is the current admin; `doing` says, in Chinese
    and English, what only the admin does."""
    admin = ledger.default_admin()
    if address.lower() != admin.lower():
        zh, en = doing
        raise PermissionError_(
            f"只有民政部门管理员可以{zh} / only the current admin ({admin}) {en}; "
            f"{address} is not it",
            code=codes.NOT_ADMIN,
        )


def prepare_call(ledger: LedgerContract, admin: str, call: Any) -> dict[str, Any]:
    """The unsigned EIP-1559 transaction of `call` from `admin` (a checksum address), after
    a dry run on the node so that a refusal comes now with the contract's error. Numbers are
    ints; the gas limit is given both as `gas` and as `gasLimit` (ethers)."""
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
        "nonce": int(w3.eth.get_transaction_count(Web3.to_checksum_address(admin), "pending")),
        # `gas` as JSON-RPC and eth-account name it, `gasLimit` as ethers does (its
        # Transaction.from ignores `gas`, and would sign a limit of 0).
        "gas": limit,
        "gasLimit": limit,
        "chainId": int(w3.eth.chain_id),
        "maxFeePerGas": 2 * base + TIP,
        "maxPriorityFeePerGas": TIP,
        "type": 2,
    }


def bad_raw(message: str) -> RecordError:
    return RecordError(f"无法解析已签名交易 / {message}", code=codes.BAD_RAW_TX, field="raw_tx")


@dataclass(frozen=True)
class SignedCall:
    """A raw signed transaction that passed the shared checks: its bytes, its sender and the
    call data it carries (not yet checked for which call it is)."""

    raw: bytes
    sender: str
    data: bytes


def decode_signed(ledger: LedgerContract, raw_tx: Any) -> SignedCall:
    """Decodes a raw signed transaction, refusing (with a code) one that is not EIP-1559,
    does not decode, is for another chain or contract, or carries value."""
    text = raw_tx.strip() if isinstance(raw_tx, str) else ""
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise bad_raw("raw_tx must be 0x-prefixed hex") from None
    if not raw or raw[0] != 2:
        raise bad_raw(
            "须为 EIP-1559（type 2）交易 / raw_tx must be an EIP-1559 (type 2) transaction"
        )
    try:
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        sender = str(Account.recover_transaction(raw))
    except Exception:  # noqa: BLE001 - any malformed encoding or signature is the same refusal
        raise bad_raw("raw_tx does not decode as a signed transaction") from None
    if int(tx.get("chainId", -1)) != int(ledger.w3.eth.chain_id):
        raise RecordError(
            f"交易的链编号不符 / the transaction is for chain {tx.get('chainId')}, this ledger is "
            f"on chain {ledger.w3.eth.chain_id}",
            code=codes.WRONG_CHAIN_ID,
        )
    to = tx.get("to")
    to_hex = HexBytes(to).to_0x_hex() if isinstance(to, bytes | bytearray) else str(to or "")
    if to_hex.lower() != ledger.deployment.address.lower():
        raise RecordError(
            f"交易的接收方不是本账本合约 / the transaction calls {to_hex or 'nothing'}, not the "
            f"ledger's AidLedger at {ledger.deployment.address}",
            code=codes.WRONG_CONTRACT,
        )
    if int(tx.get("value", 0)) != 0:
        raise bad_raw("交易不得转账 / the transaction carries no value")
    return SignedCall(raw, sender, bytes(HexBytes(tx.get("data", b""))))


def send(
    ledger: LedgerContract, call: Any, sender: str, raw: bytes, timeout: float = 120
) -> dict[str, Any]:
    """Dry-runs `call` as `sender` (so a refusal comes with the contract's error and no gas
    is spent), sends the raw transaction and waits for its receipt: the transaction hash,
    "confirmed" and the block number."""
    w3 = ledger.w3
    try:
        call.call({"from": sender})
    except (ContractCustomError, ContractLogicError) as exc:
        raise revert_error(ledger.abi, exc) from None
    try:
        tx_hash = w3.eth.send_raw_transaction(raw)
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
            f"交易未在 {timeout:g} 秒内上链 / transaction {tx_hash.to_0x_hex()} was not mined in "
            f"{timeout:g} s; look it up later",
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
    }
