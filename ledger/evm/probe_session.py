"""One node under `bangfu chain probe`: bare JSON-RPC (the probe must see the node's own error
codes), the paying account, the report being filled in, the deployed probe contract, and how
a transaction is signed, sent and waited for.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.config import Settings, get_settings
from ledger.evm.deploy import fee_fields
from ledger.evm.probe_report import Check, ProbeReport, Verdict

__all__ = ["ProbeSession", "Rpc", "RpcFailure", "Step"]

_NOT_FOUND_WORDS = ("not found", "not supported", "does not exist", "unsupported", "not exist")


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def missing(self) -> bool:
        low = self.message.lower()
        return self.code == -32601 or any(w in low for w in _NOT_FOUND_WORDS)


class Rpc:
    """Bare JSON-RPC over HTTP: the probe must see the node's own error codes."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        r = self.session.post(
            self.url,
            json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)},
            timeout=self.timeout,
        )
        try:
            body = r.json()
        except ValueError:
            raise RpcFailure(r.status_code, r.text[:200]) from None
        if not isinstance(body, dict):
            raise RpcFailure(-32603, f"unexpected answer {str(body)[:200]}")
        if "error" in body:
            err = body["error"] or {}
            raise RpcFailure(int(err.get("code", -32603)), str(err.get("message", "")))
        return body.get("result")


Step = Callable[[str], None]


class ProbeSession:
    """The state of a probe of one node, paying with `funder` (and `senders` for bursts), and
    the helpers every check uses."""

    def __init__(
        self,
        url: str,
        funder: LocalAccount,
        *,
        senders: int = 4,
        burst: int = 16,
        settings: Settings | None = None,
        step: Step | None = None,
    ) -> None:
        self.url = url
        self.rpc = Rpc(url)
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        self.funder = funder
        self.n_senders = senders
        self.burst = burst
        self.settings = settings or get_settings()
        self.step = step or (lambda _msg: None)
        self.report = ProbeReport(url)
        self.gas_price = 0
        self.address: str | None = None
        self.contract: Any = None
        #: the funder's nonce that deployed the probe contract
        self.deploy_nonce = 0

    def add(self, key: str, zh: str, en: str, verdict: Verdict, detail: str) -> Check:
        check = Check(key, zh, en, verdict, detail)
        self.report.checks.append(check)
        return check

    def reporter(self, key: str, zh: str, en: str) -> Callable[[Verdict, str], Check]:
        """`add` for one check, named once: each verdict then gives only itself and why."""
        return functools.partial(self.add, key, zh, en)

    def fees(self) -> dict[str, int]:
        """The fee fields the relayer would use under the measured gas model."""
        return fee_fields(self.w3, self.report.gas_model)

    def tx(self, sender: LocalAccount, nonce: int, to: str | None, data: bytes, gas: int) -> str:
        tx: dict[str, Any] = {
            "nonce": nonce,
            "gas": gas,
            "value": 0,
            "data": data,
            "chainId": self.report.chain_id,
            **self.fees(),
        }
        if to is not None:
            tx["to"] = to
        signed = sender.sign_transaction(tx)
        return str(self.rpc.call("eth_sendRawTransaction", signed.raw_transaction.to_0x_hex()))

    def receipt(self, tx_hash: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt:
                return dict(receipt)
            time.sleep(0.1)
        raise TimeoutError(f"no receipt for {tx_hash} within {timeout:.0f} s")

    def pending_nonce(self, address: str) -> int:
        return int(self.rpc.call("eth_getTransactionCount", address, "pending"), 16)

    def call(self, fn: Any) -> Any:
        return fn.call({"from": self.funder.address})

    def send(self, sender: LocalAccount, data: bytes, gas: int = 3_000_000) -> dict[str, Any]:
        assert self.address is not None
        receipt = self.receipt(
            self.tx(sender, self.pending_nonce(sender.address), self.address, data, gas)
        )
        return receipt
