"""What the relayer asks the chain about records: where a record id's RecordAppended event
is, and the hash of a block at each height (to see a reorg or a rewritten history).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from ledger.core.events import RECORD_APPENDED_TOPIC, decode_record_appended
from ledger.core.hexes import hex0x
from ledger.evm.batch import raw_batch


@dataclass
class OnChain:
    """Where a record id is in the chain's log: its RecordAppended event."""

    index: int
    leaf_hash: bytes
    block_number: int
    block_hash: str


RECORD_KIND = keccak(text="recordKind(bytes32)")[:4]


def locate(w3: Web3, address: str, from_block: int, record_id: bytes) -> OnChain | None:
    """The chain's RecordAppended event of `record_id` (its topic 2), or None."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(address),
            "fromBlock": max(0, from_block),
            "toBlock": "latest",
            "topics": [hex0x(RECORD_APPENDED_TOPIC), None, hex0x(record_id)],
        }
    )
    if not logs:
        return None
    entry = logs[-1]
    event = decode_record_appended(entry["topics"], entry["data"])
    return OnChain(
        index=event.index,
        leaf_hash=event.leaf_hash,
        block_number=int(entry["blockNumber"]),
        block_hash=HexBytes(entry["blockHash"]).to_0x_hex(),
    )


def block_hashes(w3: Web3, numbers: Iterable[int]) -> dict[int, str | None]:
    """The chain's hash at each height (None where it has no such block), in batches."""
    wanted = sorted(set(numbers))
    out: dict[int, str | None] = {}
    if not wanted:
        return out
    head = int(w3.eth.block_number)
    for n in wanted:
        if n > head:
            out[n] = None
    wanted = [n for n in wanted if n <= head]
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        blocks = raw_batch(w3, "eth_getBlockByNumber", [[hex(n), False] for n in chunk])
        for n, block in zip(chunk, blocks, strict=True):
            out[n] = str(block["hash"]).lower() if isinstance(block, Mapping) else None
    return out
