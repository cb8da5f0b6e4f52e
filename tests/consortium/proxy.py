"""A restricted JSON-RPC proxy in front of anvil that behaves like FISCO BCOS 3.12's web3 RPC.

It answers only the methods FISCO BCOS documents for its web3 RPC
(`ledger.evm.profiles.FISCO_WEB3_METHODS`: no eth_feeHistory, no eth_subscribe, no anvil_*),
shows blocks without a base fee, and refuses typed (EIP-2718) transactions: legacy gas only.
The anvil behind it runs with chain id 20200 and a gas price and base fee of 0, as a FISCO
chain does. Everything else is forwarded unchanged, batches element by element.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from ledger.config import PROJECT_ROOT
from ledger.evm.profiles import FISCO_WEB3_METHODS
from tests.factories import QuietHandler, free_port

FISCO_CHAIN_ID = 20200


def anvil_binary() -> Path:
    found = sorted((PROJECT_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    return found[0] if found else PROJECT_ROOT / "node_modules" / ".bin" / "anvil"


@dataclass
class Restricted:
    """What the proxy refused, for the tests to look at."""

    refused_methods: set[str]
    refused_typed: int = 0
    used_methods: set[str] = field(default_factory=set)


def _error(req_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}


class FiscoProxy:
    """The proxy server (`url`) forwarding to `upstream`."""

    def __init__(
        self,
        upstream: str,
        *,
        refuse: frozenset[str] = frozenset(),
        max_logs: int | None = None,
        max_range: int | None = None,
    ) -> None:
        """`refuse`: methods refused beside those FISCO lacks; `max_logs`: eth_getLogs answers
        cut to that many entries (silently, as some gateways do); `max_range`: wider
        eth_getLogs block ranges refused."""
        self.upstream = upstream
        self.refuse = refuse
        self.max_logs = max_logs
        self.max_range = max_range
        self.seen = Restricted(set())
        self.lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    answer: Any = _error(None, -32700, "JSON_PARSE_ERROR")
                else:
                    if isinstance(body, list):
                        answer = [proxy.answer(one) for one in body]
                    else:
                        answer = proxy.answer(body)
                self.reply(200, json.dumps(answer).encode(), "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict):
            return _error(None, -32600, "INVALID_JSON_REQUEST")
        method, req_id = str(req.get("method")), req.get("id")
        with self.lock:
            self.seen.used_methods.add(method)
        if method not in FISCO_WEB3_METHODS or method in self.refuse:
            with self.lock:
                self.seen.refused_methods.add(method)
            return _error(req_id, -32601, "Method not found")
        params = req.get("params") or []
        if method == "eth_sendRawTransaction" and params:
            raw = str(params[0]).removeprefix("0x")
            if raw[:2] in ("01", "02", "03", "04"):
                with self.lock:
                    self.seen.refused_typed += 1
                return _error(req_id, -32602, "only legacy transactions are supported")
        if method == "eth_getLogs" and self.max_range is not None and params:
            span = self._span(params[0])
            if span is not None and span > self.max_range:
                return _error(req_id, -32005, f"block range exceeds {self.max_range}")
        if method in ("eth_gasPrice", "eth_maxPriorityFeePerGas"):  # a FISCO chain's price: 0
            return {"jsonrpc": "2.0", "id": req_id, "result": "0x0"}
        r = requests.post(self.upstream, json=req, timeout=60)
        out: dict[str, Any] = r.json()
        result = out.get("result")
        if method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict):
            for name in ("baseFeePerGas", "blobGasUsed", "excessBlobGas", "withdrawalsRoot"):
                result.pop(name, None)
        if method == "eth_getLogs" and self.max_logs is not None and isinstance(result, list):
            out["result"] = result[: self.max_logs]
        return out

    def _span(self, flt: Any) -> int | None:
        try:
            start, end = flt.get("fromBlock"), flt.get("toBlock")
            head = int(
                requests.post(
                    self.upstream,
                    json={"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"},
                    timeout=10,
                ).json()["result"],
                16,
            )

            def number(tag: Any) -> int:
                return (
                    head
                    if tag in (None, "latest", "pending", "safe", "finalized")
                    else (0 if tag == "earliest" else int(str(tag), 16))
                )

            return number(end) - number(start) + 1
        except (AttributeError, ValueError, KeyError, requests.RequestException):
            return None

    def start(self) -> FiscoProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def plain_anvil(log: Path, *extra: str) -> Iterator[str]:
    """A bare automining anvil (no keeper, no state file) with `extra` arguments; yields its
    URL."""
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(anvil_binary()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--hardfork",
                "prague",
                "--gas-limit",
                "300000000",
                *extra,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.post(
                    url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1
                )
                break
            except requests.RequestException:
                threading.Event().wait(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def fisco_proxy(tmp: Path, **limits: Any) -> Iterator[FiscoProxy]:
    """A FISCO-shaped anvil behind the restricted proxy (`limits`: see FiscoProxy)."""
    fisco = ("--chain-id", str(FISCO_CHAIN_ID), "--gas-price", "0", "--base-fee", "0")
    with plain_anvil(tmp / "anvil-fisco.log", *fisco) as upstream:
        proxy = FiscoProxy(upstream, **limits).start()
        try:
            yield proxy
        finally:
            proxy.stop()
