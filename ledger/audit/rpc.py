"""The audit's own JSON-RPC client (batched), so the verifier shares no chain code with the
app it verifies: no web3 contract objects, no node or deployment helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ledger.audit.report import to_hex
from ledger.core.errors import ChainError

__all__ = ["Rpc"]


class Rpc:
    """A minimal JSON-RPC client; every failure is a `ChainError` naming the node."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout)
        self._id = 0

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        body = []
        for method, params in calls:
            self._id += 1
            body.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        try:
            resp = self.client.post(self.url, json=body)
            resp.raise_for_status()
            answers = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainError(
                f"the node at {self.url} did not answer ({exc}); check --rpc",
                code="chain_unreachable",
            ) from None
        if isinstance(answers, dict):  # some nodes answer a batch error as one object
            answers = [answers]
        by_id = {a.get("id"): a for a in answers}
        out = []
        for item in body:
            answer = by_id.get(item["id"], {})
            if "error" in answer or "result" not in answer:
                raise ChainError(
                    f"{item['method']} failed: {answer.get('error')}", code="rpc_error"
                )
            out.append(answer["result"])
        return out

    def eth_call(self, to: str, data: bytes, block: int) -> bytes:
        result = self.call("eth_call", {"to": to, "data": to_hex(data)}, hex(block))
        return bytes.fromhex(result[2:])
