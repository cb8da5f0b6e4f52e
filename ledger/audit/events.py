"""The contract's events as the audit reads them: eth_getLogs over the audited blocks, and each
log entry decoded as far as the main process needs (a record's bytes are parsed later, on
the signature pool)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Full, Queue
from typing import Any, TypeVar

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from ledger.audit.report import Progress, to_hex
from ledger.audit.rpc import Rpc
from ledger.core.errors import ChainError

__all__ = ["Boundary", "RawRecord", "RoleChange", "decode_event", "fetch_events", "prefetched"]

T = TypeVar("T")

TOPIC_RECORD = keccak(text="RecordAppended(uint256,bytes32,uint8,bytes32,bytes)")
TOPIC_GRANTED = keccak(text="RoleGranted(bytes32,address,address)")
TOPIC_REVOKED = keccak(text="RoleRevoked(bytes32,address,address)")
TOPIC_COUNTY = keccak(text="CountyRegistered(address,uint32,string)")
TOPIC_ORG = keccak(text="OrganizationRegistered(address,bytes32,string,uint8,string)")
TOPIC_AUDITOR = keccak(text="AuditorRegistered(address,string)")
ROLE_NAMES = {keccak(text=n): n for n in ("ADMIN", "COUNTY", "ORG", "AUDITOR")}
ROLE_NAMES[bytes(32)] = "DEFAULT_ADMIN"
_RECORD_HEX = to_hex(TOPIC_RECORD)

#: (block number, block hash, transaction hash, log index) of one log entry
Position = tuple[int, str, str, int]


@dataclass
class RawRecord:
    """A RecordAppended event before its bytes are parsed."""

    index: int
    data: bytes
    event_leaf_hash: bytes
    event_id: bytes
    pos: Position


@dataclass
class RoleChange:
    """A role granted or revoked, or a county, organization or auditor registered (with the
    name, organization type and registering authority its event carries)."""

    address: str
    role: str
    granted: bool
    county: int | None
    org_code: str | None
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    name: str | None = None
    org_type: int | None = None
    authority: str | None = None


@dataclass
class Boundary:
    """The end of one eth_getLogs range (historical roots are checked at these blocks)."""

    block: int


def decode_record_event(data: bytes) -> tuple[bytes, bytes]:
    """RecordAppended's non-indexed (bytes32 leafHash, bytes record), sliced directly when
    the encoding is the canonical one (eth_abi per event costs more than the rest)."""
    if len(data) >= 96 and int.from_bytes(data[32:64], "big") == 64:
        n = int.from_bytes(data[64:96], "big")
        padded = 96 + (n + 31) // 32 * 32
        if len(data) == padded and not any(data[96 + n :]):
            return data[:32], data[96 : 96 + n]
    leaf, record = abi_decode(["bytes32", "bytes"], data)
    return bytes(leaf), bytes(record)


def _topic_address(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])


def _registration_data(types: list[str], data: str) -> list[Any]:
    """A registration event's non-indexed fields (strings as text); None for each when the
    data does not decode (only a contract other than AidLedger could emit such data)."""
    try:
        values = list(abi_decode(types, bytes.fromhex(data[2:])))
    except Exception:  # noqa: BLE001 - malformed event data: no name to replay
        return [None] * len(types)
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def decode_event(entry: dict[str, Any]) -> RawRecord | RoleChange | None:
    """One log entry, decoded as far as the main process needs (record bytes wait)."""
    topics: list[str] = entry["topics"]
    pos = (
        int(entry["blockNumber"], 16),
        entry["blockHash"],
        entry["transactionHash"],
        int(entry["logIndex"], 16),
    )
    if topics[0] == _RECORD_HEX or topics[0].lower() == _RECORD_HEX:  # nearly every entry
        leaf_hash, data = decode_record_event(bytes.fromhex(entry["data"][2:]))
        return RawRecord(int(topics[1], 16), data, leaf_hash, bytes.fromhex(topics[2][2:]), pos)
    t0 = bytes.fromhex(topics[0][2:])
    if t0 in (TOPIC_GRANTED, TOPIC_REVOKED):
        role = ROLE_NAMES.get(bytes.fromhex(topics[1][2:]), topics[1][:16])
        return RoleChange(_topic_address(topics[2]), role, t0 == TOPIC_GRANTED, None, None, *pos)
    if t0 == TOPIC_COUNTY:
        (name,) = _registration_data(["string"], entry["data"])
        county = int(topics[2], 16)
        return RoleChange(_topic_address(topics[1]), "COUNTY", True, county, None, *pos, name)
    if t0 == TOPIC_ORG:
        code = bytes.fromhex(topics[2][2:]).rstrip(b"\0").decode("ascii", "replace")
        name, org_type, authority = _registration_data(["string", "uint8", "string"], entry["data"])
        return RoleChange(
            _topic_address(topics[1]), "ORG", True, None, code, *pos, name, org_type, authority
        )
    if t0 == TOPIC_AUDITOR:
        (name,) = _registration_data(["string"], entry["data"])
        return RoleChange(_topic_address(topics[1]), "AUDITOR", True, None, None, *pos, name)
    return None


#: Logs wanted per eth_getLogs answer: big enough to amortise a request, small enough that
#: the node's next answer is on its way while this one is replayed (see `fetch_events`).
TARGET_LOGS = 4_000


def fetch_events(
    rpc: Rpc,
    contract: str,
    start: int,
    end: int,
    block_range: int,
    progress: Progress | None = None,
) -> Iterator[tuple[int, list[dict[str, Any]], bool]]:
    """eth_getLogs over [start, end]: (last block, logs, whether `last` ends a range).

    The ranges are `block_range` blocks each; the historical roots are checked at their
    ends. Each range is fetched in parts sized to about `TARGET_LOGS` logs from the density
    seen so far (one block at first), so that a range of 100k records is not one answer the
    node takes seconds to write while nothing else runs; a part the node refuses is halved."""
    topics = [
        [
            to_hex(t)
            for t in (
                TOPIC_RECORD,
                TOPIC_GRANTED,
                TOPIC_REVOKED,
                TOPIC_COUNTY,
                TOPIC_ORG,
                TOPIC_AUDITOR,
            )
        ]
    ]
    step = max(1, block_range)
    part = 1
    block = start
    while block <= end:
        range_end = min(end, block + step - 1)
        while block <= range_end:
            last = min(range_end, block + part - 1)
            try:
                logs = rpc.call(
                    "eth_getLogs",
                    {
                        "address": contract,
                        "fromBlock": hex(block),
                        "toBlock": hex(last),
                        "topics": topics,
                    },
                )
            except ChainError:
                if part == 1:
                    raise
                part = max(1, part // 2)
                continue
            yield last, logs, last == range_end
            if progress:
                progress("events", last - start + 1, end - start + 1)
            width = last - block + 1
            # the next part: as many blocks as held TARGET_LOGS here, at most 4x more
            part = max(1, min(step, 4 * width, width * TARGET_LOGS // max(1, len(logs))))
            block = last + 1


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items` produced on a thread up to `depth` ahead of the consumer (the node writes
    and the client reads the next eth_getLogs answer while this one is replayed); an
    error there is raised here, and a consumer that stops early stops the thread."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))

    thread = threading.Thread(target=produce, name="audit-getlogs", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = queue.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)  # at most one request in flight; the thread is a daemon
