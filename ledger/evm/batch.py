"""Several JSON-RPC calls in one HTTP request, answered without web3's result formatters.

The workers ask the node the same few things on every pass (receipts of our transactions,
the hashes of recent blocks). web3's formatters turn every field of every answer into
Python objects, which for a block or a multicall's receipt costs more CPU than the node
spends answering; the workers read one or two fields, so they take the raw answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from web3 import Web3
from web3.types import RPCEndpoint

__all__ = ["raw_batch"]


def raw_batch(w3: Web3, method: str, params: Sequence[Sequence[Any]]) -> list[Any]:
    """The raw `result` of `method` called with each of `params` (None where the node
    answered an error or nothing), in the order asked: one JSON-RPC batch, or one request
    each where the node or provider takes no batches."""
    provider: Any = w3.provider
    requests = [(RPCEndpoint(method), list(p)) for p in params]
    if not requests:
        return []
    try:
        answers: Any = provider.make_batch_request(requests)
    except Exception:  # noqa: BLE001 - a node or provider without batches: one by one
        answers = None
    if isinstance(answers, Mapping) or answers is None or len(answers) != len(requests):
        # a node that answers a batch with one error, or not at all
        answers = [provider.make_request(m, p) for m, p in requests]
    else:
        answers = sorted(answers, key=lambda a: int(a.get("id") or 0))
    return [a.get("result") if isinstance(a, Mapping) else None for a in answers]
