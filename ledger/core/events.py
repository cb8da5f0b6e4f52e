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


def decode_record_data(data: bytes) -> tuple[bytes, bytes]:
    """The event's non-indexed fields: (bytes32 leafHash, bytes record)."""
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
