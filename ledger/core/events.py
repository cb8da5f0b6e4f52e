"""The contract's RecordAppended event, decoded in one place: the indexer, the relayer and
the audit all read it, and it is the hot path of indexing (so no web3 event machinery).
Also the names of the contract's roles, as its role events carry them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_utils import keccak

__all__ = [
    "RECORD_APPENDED_SIGNATURE",
    "RECORD_APPENDED_TOPIC",
    "ROLE_NAMES",
    "RecordAppended",
    "decode_record_appended",
    "decode_record_data",
]

RECORD_APPENDED_SIGNATURE = "RecordAppended(uint256,bytes32,uint8,bytes32,bytes)"
#: topic 0 of RecordAppended; topics 1..3 are the leaf index, the record id and the kind.
RECORD_APPENDED_TOPIC = keccak(text=RECORD_APPENDED_SIGNATURE)

#: The contract's role ids (keccak of the name; 0 is OpenZeppelin's default admin) → names,
#: for its RoleGranted and RoleRevoked events.
ROLE_NAMES = {keccak(text=n): n for n in ("ADMIN", "COUNTY", "ORG", "AUDITOR")}
ROLE_NAMES[bytes(32)] = "DEFAULT_ADMIN"


@dataclass(frozen=True)
class RecordAppended:
    """One RecordAppended event: the leaf's index in the log, the record's id and kind, the
    leaf hash the contract computed, and the record's canonical bytes."""

    index: int
    record_id: bytes
    kind: int
    leaf_hash: bytes
    record: bytes


_DATA_OFFSET = (64).to_bytes(32, "big")


def decode_record_data(data: bytes) -> tuple[bytes, bytes]:
    """The event's non-indexed fields: (bytes32 leafHash, bytes record).

    As the contract emits them (the leaf, the offset 0x40, the length, the bytes padded
    with zeros to a whole word) they are cut out directly, the indexer's hot path; any
    other layout goes to eth_abi, which decodes it or names the error
    (tests/core/test_events.py holds both to eth_abi's answers)."""
    if len(data) >= 96 and data[32:64] == _DATA_OFFSET:
        size = int.from_bytes(data[64:96], "big")
        end = 96 + size
        if len(data) == end + (-size % 32) and not any(data[end:]):
            return bytes(data[:32]), bytes(data[96:end])
    leaf, record = abi_decode(["bytes32", "bytes"], data)
    return bytes(leaf), bytes(record)


def decode_record_appended(topics: Sequence[bytes], data: bytes) -> RecordAppended:
    """A RecordAppended log from its topics and data (bytes-like, e.g. web3's HexBytes)."""
    leaf_hash, record = decode_record_data(bytes(data))
    return RecordAppended(
        index=int.from_bytes(bytes(topics[1]), "big"),
        record_id=bytes(topics[2]),
        kind=int.from_bytes(bytes(topics[3]), "big"),
        leaf_hash=leaf_hash,
        record=record,
    )
