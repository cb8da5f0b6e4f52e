"""What the indexer reads from the node: a range's logs and blocks, each in one JSON-RPC
call and without web3's result formatters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.types import RPCEndpoint

from ledger.core.errors import LedgerError
from ledger.evm.batch import raw_batch

__all__ = ["get_blocks", "get_logs"]


def get_logs(w3: Web3, address: str, start: int, end: int) -> list[dict[str, Any]]:
    """eth_getLogs without web3's result formatters (the slowest part of indexing):
    numbers as ints, hashes and data as HexBytes, as the indexer expects."""
    answer = w3.provider.make_request(
        RPCEndpoint("eth_getLogs"),
        [{"address": address, "fromBlock": hex(start), "toBlock": hex(end)}],
    )
    if "error" in answer:
        raise LedgerError(f"eth_getLogs failed: {answer['error']}", code="rpc_error")
    return [
        {
            "blockNumber": int(raw["blockNumber"], 16),
            "blockHash": HexBytes(raw["blockHash"]),
            "transactionHash": HexBytes(raw["transactionHash"]),
            "logIndex": int(raw["logIndex"], 16),
            "transactionIndex": int(raw.get("transactionIndex") or "0x0", 16),
            "address": raw["address"],
            "topics": [HexBytes(t) for t in raw["topics"]],
            "data": HexBytes(raw["data"]),
        }
        for raw in answer["result"]
    ]


def get_blocks(w3: Web3, ids: Sequence[int | str]) -> list[dict[str, Any] | None]:
    """eth_getBlockByNumber of each of `ids` (a number, or a tag such as "latest") in one
    JSON-RPC batch and without web3's result formatters: number and timestamp as ints,
    hash and parentHash as HexBytes, as web3 gives them; None for a block the node lacks."""
    answers = raw_batch(
        w3, "eth_getBlockByNumber", [[hex(i) if isinstance(i, int) else i, False] for i in ids]
    )
    return [
        None
        if not isinstance(b, Mapping)
        else {
            "number": int(b["number"], 16),
            "hash": HexBytes(b["hash"]),
            "parentHash": HexBytes(b["parentHash"]),
            "timestamp": int(b["timestamp"], 16),
        }
        for b in answers
    ]
