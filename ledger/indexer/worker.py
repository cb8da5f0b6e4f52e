"""The indexer: chain events → SQL read model, reorg-safe and resumable.

It reads the contract's logs in block ranges with `eth_getLogs`, writes each range and its
checkpoint in one database transaction (idempotent: rows are keyed by their chain
position), keeps recent block hashes to find the fork point when a parent hash no longer
matches, and at every checkpoint requires its own RFC 9162 root to equal the contract's
`logRoot()` at the same block. A difference stops it loudly: the read model would lie.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, keccak
from hexbytes import HexBytes
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from web3 import Web3
from web3._utils.events import get_event_data
from web3.types import RPCEndpoint

from ledger.core.errors import LedgerError
from ledger.core.fields import from_text32
from ledger.core.merkle import EMPTY_ROOT, MerkleTree
from ledger.core.records import Kind, SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.store import alarms
from ledger.store.db import Database
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    FlagRow,
    IndexedBlock,
    IndexerCheckpoint,
    LogEntry,
    ProjectAnchorRow,
    ReceiptRow,
    RoleEvent,
)

log = logging.getLogger("bangfu.indexer")

ROLE_NAMES = {keccak(text=n): n for n in ("ADMIN", "COUNTY", "ORG", "AUDITOR")}
ROLE_NAMES[bytes(32)] = "DEFAULT_ADMIN"
KEEP_BLOCKS = 256  # recent block hashes kept to find a fork point


RECORD_APPENDED_TOPIC = keccak(text="RecordAppended(uint256,bytes32,uint8,bytes32,bytes)")


def _record_appended(entry: Any) -> dict[str, Any]:
    """RecordAppended's fields, decoded directly: the hot path of indexing."""
    data = bytes(entry["data"])
    leaf_hash, record = abi_decode(["bytes32", "bytes"], data)
    topics = entry["topics"]
    return {
        "index": int.from_bytes(bytes(topics[1]), "big"),
        "recordId": bytes(topics[2]),
        "kind": int.from_bytes(bytes(topics[3]), "big"),
        "leafHash": leaf_hash,
        "record": record,
    }


MAX_SHORT_READS = 20


class _ShortRead(Exception):
    """The index is behind the contract's log at a block it has just read: retry."""

    def __init__(self, block: int) -> None:
        super().__init__(block)
        self.block = block


class IndexerIntegrityError(LedgerError):
    """The read model's log differs from the contract's: stop, something is wrong."""

    code = "index_diverged"
    http_status = 500


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


@dataclass
class IndexStatus:
    last_block: int
    head: int
    log_size: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.last_block)


class Indexer:
    """Follows one AidLedger deployment into one database."""

    NAME = "main"

    def __init__(
        self,
        db: Database,
        ledger: LedgerContract,
        *,
        confirmations: int = 0,
        block_range: int = 2000,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.w3: Web3 = ledger.w3
        self.deployment = ledger.deployment
        self.confirmations = confirmations
        self.block_range = block_range
        self.chain_id = int(self.w3.eth.chain_id)
        self.address = Web3.to_checksum_address(self.deployment.address)
        self._events: dict[bytes, dict[str, Any]] = {
            event_abi_to_log_topic(item): item  # type: ignore[arg-type]
            for item in ledger.abi
            if item.get("type") == "event"
            and item["name"]
            in {
                "RecordAppended",
                "RoleGranted",
                "RoleRevoked",
                "CountyRegistered",
                "OrganizationRegistered",
            }
        }
        self.tree = MerkleTree()
        self._short_reads: dict[int, int] = {}
        self._load_tree()

    # ---- state -------------------------------------------------------------------
    def _load_tree(self) -> None:
        with self.db.read() as session:
            hashes = session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.leaf_index))
            self.tree = MerkleTree(bytes.fromhex(h[2:]) for h in hashes)

    def checkpoint(self, session: Session) -> IndexerCheckpoint:
        """The indexer's checkpoint; `_ensure_checkpoint` creates it (RPC outside the lock)."""
        cp = session.get(IndexerCheckpoint, self.NAME)
        if cp is None:
            raise LedgerError(
                "索引尚未开始 / the indexer has not started yet", code="indexer_not_started"
            )
        if cp.contract != self.address or cp.chain_id != self.chain_id:
            raise IndexerIntegrityError(
                f"数据库属于另一个合约 / this database indexes {cp.contract} on chain "
                f"{cp.chain_id}, not {self.address} on chain {self.chain_id}; use a fresh "
                "database (BANGFU_DATABASE_URL)"
            )
        return cp

    def _ensure_checkpoint(self) -> None:
        with self.db.read() as session:
            if session.get(IndexerCheckpoint, self.NAME) is not None:
                self.checkpoint(session)  # the contract and chain must match
                return
        start = max(0, self.deployment.block - 1)
        block = self.w3.eth.get_block(start)
        start_hash = self._block_hash(start)
        with self.db.write() as session:
            if session.get(IndexerCheckpoint, self.NAME) is not None:
                return
            session.add(
                IndexerCheckpoint(
                    name=self.NAME,
                    chain_id=self.chain_id,
                    contract=self.address,
                    last_block=start,
                    last_block_hash=start_hash,
                    log_size=0,
                    log_root=_hex(EMPTY_ROOT),
                )
            )
            session.merge(
                IndexedBlock(
                    chain_id=self.chain_id,
                    number=start,
                    hash=start_hash,
                    parent_hash=block["parentHash"].to_0x_hex(),
                )
            )

    def _block_hash(self, number: int) -> str:
        """The block's hash as its child links to it. For the block before the deployment
        that is the child's parentHash: anvil re-derives its genesis hash when it loads a
        state file, while block 1 keeps the old parentHash, and the first range would
        otherwise never link."""
        if number == max(0, self.deployment.block - 1):
            try:
                return str(self.w3.eth.get_block(number + 1)["parentHash"].to_0x_hex())
            except Exception:  # noqa: BLE001 - no child yet: the block's own hash
                pass
        return str(self.w3.eth.get_block(number)["hash"].to_0x_hex())

    def status(self) -> IndexStatus:
        self._ensure_checkpoint()
        head = int(self.w3.eth.block_number)
        with self.db.read() as session:
            cp = self.checkpoint(session)
            return IndexStatus(cp.last_block, head, cp.log_size)

    # ---- main loop -----------------------------------------------------------------
    def run_once(self) -> int:
        """Indexes the next range (or rolls back a fork); returns blocks processed."""
        try:
            return self._run_once()
        except _ShortRead as short:
            log.info("logs up to block %s were incomplete; reading the range again", short.block)
            self._load_tree()
            time.sleep(0.05 * self._short_reads.get(short.block, 1))
            return 0
        except IndexerIntegrityError as exc:
            self._load_tree()
            with self.db.write() as session:
                alarms.raise_alarm(session, exc.code, "indexer", exc.message, **exc.fields)
            raise
        except BaseException:
            # The DB transaction rolled back; the in-memory tree may hold leaves it never
            # committed, so take it again from the database before the next pass.
            self._load_tree()
            raise

    def _run_once(self) -> int:
        # Every JSON-RPC read happens before the write transaction, which then only checks
        # that nobody moved the checkpoint meanwhile: no write lock is held while the node
        # answers (SQLite has one writer for the API, the relayer and the indexer).
        self._ensure_checkpoint()
        with self.db.read() as session:
            rewritten = alarms.is_active(session, alarms.HISTORY_REWRITTEN)
            cp = self.checkpoint(session)
            last_block, last_hash = int(cp.last_block), cp.last_block_hash
            indexed = (int(cp.log_size), cp.log_root)
            diverged = alarms.is_active(session, alarms.INDEX_DIVERGED)
        head = int(self.w3.eth.block_number) - self.confirmations
        if rewritten:
            # The new history is not served as truth until the operator decides, unless the
            # chain has come back to the signed one (e.g. the right state file restored).
            if not self._restored(last_block, last_hash, head, indexed):
                return 0
            with self.db.write() as session:
                alarms.resolve(
                    session,
                    alarms.HISTORY_REWRITTEN,
                    "the chain holds the signed history again",
                    source="indexer",
                )
            log.warning("the chain holds the signed history again: indexing resumes")
        if not self._canonical(last_block, last_hash, head):
            return self._handle_fork(last_block)
        if last_block >= head:
            return 0
        start = last_block + 1
        end = min(head, start + self.block_range - 1)
        end_block = self.w3.eth.get_block(end)
        logs = self._get_logs(start, end)
        first = self.w3.eth.get_block(start) if start != end else end_block
        if first["parentHash"].to_0x_hex() != last_hash:
            return 0  # a reorg raced us: the next pass finds the fork point
        if any(
            entry["blockHash"] != self.w3.eth.get_block(entry["blockNumber"])["hash"]
            for entry in logs[-1:]
        ):
            return 0  # the range changed under us
        times = self._block_times(logs)
        chain_state = _log_state_if_kept(self.ledger, end)
        with self.db.write() as session:
            cp = self.checkpoint(session)
            if cp.last_block != last_block or cp.last_block_hash != last_hash:
                self._load_tree_from(session)
                return 0  # another indexer moved on meanwhile
            appended = self._apply(session, logs, times)
            cp.last_block = end
            cp.last_block_hash = end_block["hash"].to_0x_hex()
            session.merge(
                IndexedBlock(
                    chain_id=self.chain_id,
                    number=end,
                    hash=cp.last_block_hash,
                    parent_hash=end_block["parentHash"].to_0x_hex(),
                )
            )
            session.execute(delete(IndexedBlock).where(IndexedBlock.number < end - KEEP_BLOCKS))
            self._verify_root(cp, end, appended, chain_state)
            if diverged:
                alarms.resolve(
                    session,
                    alarms.INDEX_DIVERGED,
                    "the index equals the chain again",
                    source="indexer",
                )
            return end - start + 1

    def _block_times(self, logs: Sequence[Any]) -> dict[int, int]:
        numbers = sorted(
            {
                int(e["blockNumber"])
                for e in logs
                if e["topics"] and bytes(e["topics"][0]) == RECORD_APPENDED_TOPIC
            }
        )
        if not numbers:
            return {}
        times: dict[int, int] = {}
        for i in range(0, len(numbers), 500):
            chunk = numbers[i : i + 500]
            with self.w3.batch_requests() as batch:
                for n in chunk:
                    batch.add(self.w3.eth.get_block(n))
                blocks: list[Any] = list(batch.execute())
            for n, block in zip(chunk, blocks, strict=True):
                if not isinstance(block, Mapping):
                    block = self.w3.eth.get_block(n)
                times[n] = int(block["timestamp"])
        return times

    def run_until_synced(self, max_passes: int = 100_000) -> IndexStatus:
        for _ in range(max_passes):
            if not self.run_once():
                break
        return self.status()

    def run_forever(self, stop: threading.Event, poll: float = 0.5) -> None:
        while not stop.is_set():
            try:
                work = self.run_once()
            except IndexerIntegrityError:
                log.critical("index diverged from the chain; stopping", exc_info=True)
                raise
            except Exception:
                log.exception("indexer pass failed; retrying")
                work = 0
            if not work:
                stop.wait(poll)

    # ---- reorgs -------------------------------------------------------------------
    def _canonical(self, number: int, block_hash: str, head: int) -> bool:
        """Is the last indexed block still the chain's block at its height?"""
        try:
            if number > head + self.confirmations:
                return False
            return self._block_hash(number) == block_hash
        except Exception:  # noqa: BLE001 - the block is gone (a chain restarted shorter)
            return False

    def _restored(
        self, last_block: int, last_hash: str, head: int, indexed: tuple[int, str]
    ) -> bool:
        if not self._canonical(last_block, last_hash, head):
            return False
        state = _log_state_if_kept(self.ledger, last_block)
        if state is None:
            return False  # the node keeps no state there: it cannot show the history is back
        return (state[0], _hex(state[1])) == indexed

    def _handle_fork(self, last_block: int) -> int:
        """The last indexed block is gone: find the fork point, and roll back to it unless
        that would drop leaves of a checkpoint the operator signed that the chain's log no
        longer holds (then history was rewritten: an alarm, not a re-index)."""
        with self.db.read() as session:
            known = [
                (b.number, b.hash)
                for b in session.scalars(
                    select(IndexedBlock)
                    .where(IndexedBlock.chain_id == self.chain_id)
                    .order_by(IndexedBlock.number.desc())
                )
            ]
        fork = self._fork_point(known)
        with self.db.read() as session:
            fork_size = int(
                session.scalar(
                    select(func.count()).select_from(LogEntry).where(LogEntry.block_number <= fork)
                )
                or 0
            )
            signed = [
                (int(c.id), int(c.size), c.root, int(c.block_number))
                for c in alarms.binding_checkpoints(session)
                if c.size > fork_size
            ]
        if signed:
            rewritten = self._contradicted(fork, fork_size, signed)
            if rewritten is not None:
                log.critical("history rewritten: %s", rewritten.message)
                with self.db.write() as session:
                    alarms.raise_alarm(
                        session, rewritten.code, "indexer", rewritten.message, **rewritten.fields
                    )
                return 0
        fork_hash = self._block_hash(fork)
        with self.db.write() as session:
            cp = self.checkpoint(session)
            if cp.last_block != last_block:
                return 0
            log.warning("chain reorganized below block %s; rolling back to %s", last_block, fork)
            self._rollback(session, cp, fork, fork_hash)
        return 1

    def _contradicted(
        self, fork: int, fork_size: int, signed: list[tuple[int, int, str, int]]
    ) -> LedgerError | None:
        """The chain's log compared with each signed checkpoint beyond the fork point: leaves
        below it are unchanged, the rest are read from the chain's RecordAppended events."""
        chain_size, chain_root = self.ledger.log_state("latest")
        want = max(size for _, size, _, _ in signed)
        leaves: dict[int, bytes] = {}
        head = int(self.w3.eth.block_number)
        start = fork + 1
        while start <= head and len(leaves) < want - fork_size:
            end = min(head, start + self.block_range - 1)
            for entry in self._get_logs(start, end):
                if entry["topics"] and bytes(entry["topics"][0]) == RECORD_APPENDED_TOPIC:
                    args = _record_appended(entry)
                    if fork_size <= args["index"] < want:
                        leaves[args["index"]] = bytes(args["leafHash"])
            start = end + 1
        tree = MerkleTree(self.tree.leaf(i) for i in range(fork_size))
        for i in range(fork_size, want):
            if i not in leaves:
                break
            tree.append(leaves[i])
        for cid, size, root, block in signed:
            chain_root_at = _hex(tree.root(size)) if size <= tree.size else None
            if chain_root_at == root:
                continue
            return LedgerError(
                f"历史被改写：链上日志与已签名检查点 #{cid} 不一致 / history rewritten: the "
                f"chain's log (size {chain_size}, root {_hex(chain_root)}) is not consistent "
                f"with checkpoint #{cid} this operator signed (size {size}, root {root}); the "
                "indexer keeps the signed history. Run `bangfu recover` to see what was lost",
                code=alarms.HISTORY_REWRITTEN,
                checkpoint_id=cid,
                checkpoint_size=size,
                checkpoint_root=root,
                checkpoint_block=block,
                chain_size=chain_size,
                chain_root=_hex(chain_root),
                chain_root_at_checkpoint_size=chain_root_at,
                fork_block=fork,
                fork_size=fork_size,
            )
        return None

    def _fork_point(self, known: Sequence[tuple[int, str]]) -> int:
        head = int(self.w3.eth.block_number)
        for number, block_hash in known:
            if number > head:
                continue
            try:
                if self._block_hash(number) == block_hash:
                    return number
            except Exception:  # noqa: BLE001
                continue
        # Older than anything we kept: start again from the deployment.
        return max(0, self.deployment.block - 1)

    def _rollback(self, session: Session, cp: IndexerCheckpoint, fork: int, fork_hash: str) -> None:
        gone = select(LogEntry.record_id).where(LogEntry.block_number > fork)
        touched = set(
            session.scalars(
                select(DeliveryRow.commitment_id).where(DeliveryRow.record_id.in_(gone))
            )
        )
        touched |= set(
            session.scalars(select(ReceiptRow.commitment_id).where(ReceiptRow.record_id.in_(gone)))
        )
        receipted = set(
            session.scalars(select(ReceiptRow.delivery_id).where(ReceiptRow.record_id.in_(gone)))
        )
        for model in (ProjectAnchorRow, CommitmentRow, DeliveryRow, ReceiptRow, FlagRow):
            session.execute(delete(model).where(model.record_id.in_(gone)))
        session.execute(delete(LogEntry).where(LogEntry.block_number > fork))
        session.execute(delete(RoleEvent).where(RoleEvent.block_number > fork))
        session.execute(delete(IndexedBlock).where(IndexedBlock.number > fork))
        for delivery_id in receipted:
            for row in session.scalars(
                select(DeliveryRow).where(DeliveryRow.record_id == delivery_id)
            ):
                row.receipted = False
        for cid in touched:
            self._recompute_commitment(session, cid)
        cp.last_block = fork
        cp.last_block_hash = fork_hash
        size = session.scalar(select(func.count()).select_from(LogEntry)) or 0
        session.flush()
        self._load_tree_from(session)
        cp.log_size = size
        cp.log_root = _hex(self.tree.root())

    def _load_tree_from(self, session: Session) -> None:
        hashes = session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.leaf_index))
        self.tree = MerkleTree(bytes.fromhex(h[2:]) for h in hashes)

    def _recompute_commitment(self, session: Session, cid: str) -> None:
        row = session.get(CommitmentRow, cid)
        if row is None:
            return
        row.delivered = int(
            session.scalar(
                select(func.coalesce(func.sum(DeliveryRow.quantity), 0)).where(
                    DeliveryRow.commitment_id == cid
                )
            )
            or 0
        )
        row.confirmed = int(
            session.scalar(
                select(func.coalesce(func.sum(ReceiptRow.confirmed_quantity), 0)).where(
                    ReceiptRow.commitment_id == cid
                )
            )
            or 0
        )

    # ---- applying logs ------------------------------------------------------------------
    def _get_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        """eth_getLogs without web3's result formatters (the slowest part of indexing):
        numbers as ints, hashes and data as HexBytes, as the rest of this module expects."""
        answer = self.w3.provider.make_request(
            RPCEndpoint("eth_getLogs"),
            [{"address": self.address, "fromBlock": hex(start), "toBlock": hex(end)}],
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

    def _apply(self, session: Session, logs: Sequence[Any], times: dict[int, int]) -> int:
        appended = 0
        self._staged: list[tuple[dict[str, Any], SignedRecord]] = []
        for entry in logs:
            topic = bytes(entry["topics"][0]) if entry["topics"] else b""
            abi = self._events.get(topic)
            if abi is None:
                continue
            args = (
                _record_appended(entry)
                if topic == RECORD_APPENDED_TOPIC
                else get_event_data(self.w3.codec, abi, entry)["args"]
            )
            pos = dict(
                chain_id=self.chain_id,
                block_number=int(entry["blockNumber"]),
                block_hash=entry["blockHash"].to_0x_hex(),
                tx_hash=entry["transactionHash"].to_0x_hex(),
                log_index=int(entry["logIndex"]),
            )
            name = abi["name"]
            if name == "RecordAppended":
                number = pos["block_number"]
                if number not in times:
                    times[number] = int(self.w3.eth.get_block(number)["timestamp"])
                if self._append(session, args, pos, times[number]):
                    appended += 1
            elif name in ("RoleGranted", "RoleRevoked"):
                self._role(
                    session,
                    pos,
                    args["account"],
                    ROLE_NAMES.get(bytes(args["role"]), _hex(args["role"])[:16]),
                    name == "RoleGranted",
                )
            elif name == "CountyRegistered":
                self._role(
                    session, pos, args["account"], "COUNTY", True, county=int(args["county"])
                )
            elif name == "OrganizationRegistered":
                code = bytes(args["orgCode"]).rstrip(b"\0").decode("ascii", "replace")
                self._role(session, pos, args["account"], "ORG", True, org_code=code)
        self._flush_staged(session)
        return appended

    def _role(
        self,
        session: Session,
        pos: dict[str, Any],
        account: str,
        role: str,
        granted: bool,
        *,
        county: int | None = None,
        org_code: str | None = None,
    ) -> None:
        exists = session.scalar(
            select(RoleEvent.id).where(
                RoleEvent.chain_id == pos["chain_id"],
                RoleEvent.block_hash == pos["block_hash"],
                RoleEvent.tx_hash == pos["tx_hash"],
                RoleEvent.log_index == pos["log_index"],
            )
        )
        if exists is None:
            session.add(
                RoleEvent(
                    address=Web3.to_checksum_address(account),
                    role=role,
                    granted=granted,
                    county=county,
                    org_code=org_code,
                    **pos,
                )
            )

    def _append(self, session: Session, args: Any, pos: dict[str, Any], block_time: int) -> bool:
        """Checks one RecordAppended and stages its log entry; `_flush_staged` writes them."""
        index = int(args["index"])
        if index < self.tree.size:
            # Already indexed (an idempotent re-run of a range): the tree mirrors the
            # committed log_entries and is reloaded after any failed pass.
            return False
        data = bytes(args["record"])
        signed = SignedRecord.from_bytes(data)
        if index != self.tree.size:
            raise IndexerIntegrityError(
                f"索引与链上日志不一致 / log index {index} arrived while the index holds "
                f"{self.tree.size} leaves"
            )
        leaf = signed.leaf_hash()
        if leaf != bytes(args["leafHash"]):
            raise IndexerIntegrityError(
                f"叶子哈希不符 / leaf {index}: the event's hash is not its bytes' hash"
            )
        rid = _hex(signed.id)
        self._staged.append(
            (
                {
                    "leaf_index": index,
                    "record_id": rid,
                    "kind": int(signed.kind),
                    "signer": signed.signer,
                    "leaf_hash": _hex(leaf),
                    "record_bytes": data,
                    "block_time": block_time,
                    **pos,
                },
                signed,
            )
        )
        self.tree.append(leaf)
        return True

    def _flush_staged(self, session: Session) -> None:
        """Writes staged log entries in one executemany, then their per-kind rows (whose
        foreign keys need the entries) in chain order."""
        if not self._staged:
            return
        session.flush()
        session.execute(insert(LogEntry), [row for row, _ in self._staged])
        for row, signed in self._staged:
            self._project(session, signed, row["record_id"], row["block_time"])
        self._staged.clear()

    def _project(self, session: Session, signed: SignedRecord, rid: str, block_time: int) -> None:
        """Writes the record's own row (the per-kind table) and updates totals."""
        r: Any = signed.record
        kind = signed.kind
        if kind == Kind.PROJECT_ANCHOR:
            session.add(
                ProjectAnchorRow(
                    record_id=rid,
                    project_id=_hex(r.project_id),
                    project_kind=r.project_kind,
                    county=r.county,
                    category=r.category,
                    content_hash=_hex(r.content_hash),
                    version=r.version,
                    author=signed.signer,
                    title=r.title,
                    budget=r.budget,
                    end_date=r.end_date,
                )
            )
        elif kind == Kind.COMMITMENT:
            need = session.scalars(
                select(ProjectAnchorRow)
                .where(ProjectAnchorRow.project_id == _hex(r.need_id))
                .order_by(ProjectAnchorRow.version.desc())
                .limit(1)
            ).first()
            session.add(
                CommitmentRow(
                    record_id=rid,
                    need_id=_hex(r.need_id),
                    match_id=_hex(r.match_id),
                    org=signed.signer,
                    county=need.county if need else 0,
                    category=need.category if need else 0,
                    resource_kind=r.resource_kind,
                    quantity=r.quantity,
                    unit=from_text32(r.unit),
                    due_date=r.due_date,
                    terms_hash=_hex(r.terms_hash),
                    delivered=0,
                    confirmed=0,
                    block_time=block_time,
                )
            )
        elif kind == Kind.DELIVERY:
            self._delivery_share(
                session,
                rid,
                signed.signer,
                _hex(r.commitment_id),
                r.quantity,
                r.delivered_at,
                _hex(r.evidence_hash),
                r.beneficiary_count,
                _hex(r.beneficiary_root),
                batch=False,
                line_count=1,
            )
        elif kind == Kind.DELIVERY_BATCH:
            for cid, qty in zip(r.commitment_ids, r.quantities, strict=True):
                self._delivery_share(
                    session,
                    rid,
                    signed.signer,
                    _hex(cid),
                    qty,
                    block_time,
                    _hex(r.evidence_hash),
                    r.line_count,
                    _hex(r.batch_root),
                    batch=True,
                    line_count=r.line_count,
                )
        elif kind == Kind.RECEIPT:
            shares = session.scalars(
                select(DeliveryRow).where(DeliveryRow.record_id == _hex(r.delivery_id))
            ).all()
            share = shares[0] if shares else None
            if share is not None:
                share.receipted = True
            commitment = session.get(CommitmentRow, share.commitment_id) if share else None
            if commitment is not None:
                commitment.confirmed += r.confirmed_quantity
            session.add(
                ReceiptRow(
                    record_id=rid,
                    delivery_id=_hex(r.delivery_id),
                    commitment_id=share.commitment_id if share else _hex(bytes(32)),
                    county=commitment.county if commitment else 0,
                    category=commitment.category if commitment else 0,
                    org=commitment.org if commitment else "",
                    signer=signed.signer,
                    confirmed_quantity=r.confirmed_quantity,
                    note_hash=_hex(r.note_hash),
                )
            )
        elif kind == Kind.FLAG:
            session.add(
                FlagRow(
                    record_id=rid,
                    target_id=_hex(r.record_id),
                    auditor=signed.signer,
                    reason_code=r.reason_code,
                    note_hash=_hex(r.note_hash),
                )
            )

    def _delivery_share(
        self,
        session: Session,
        rid: str,
        org: str,
        cid: str,
        qty: int,
        delivered_at: int,
        evidence: str,
        beneficiaries: int,
        root: str,
        *,
        batch: bool,
        line_count: int,
    ) -> None:
        commitment = session.get(CommitmentRow, cid)
        if commitment is not None:
            commitment.delivered += qty
        session.add(
            DeliveryRow(
                record_id=rid,
                commitment_id=cid,
                org=org,
                county=commitment.county if commitment else 0,
                category=commitment.category if commitment else 0,
                quantity=qty,
                delivered_at=delivered_at,
                evidence_hash=evidence,
                beneficiary_count=beneficiaries,
                beneficiary_root=root,
                batch=batch,
                line_count=line_count,
                receipted=False,
            )
        )

    # ---- integrity -------------------------------------------------------------------
    def _verify_root(
        self,
        cp: IndexerCheckpoint,
        block: int,
        appended: int,
        chain_state: tuple[int, bytes] | None,
    ) -> None:
        size = self.tree.size
        root = self.tree.root()
        if chain_state is None:
            # The node keeps no state at this past block (the local anvil keeps no historical
            # states across a restart): the next range's check, at a block it keeps, covers
            # these leaves too, since a root commits to every leaf before it.
            cp.log_size = size
            cp.log_root = _hex(root)
            return
        chain_size, chain_root = chain_state
        if chain_size > size and self._short_reads.get(block, 0) < MAX_SHORT_READS:
            # The node answered eth_getLogs before it had every log of a fresh block (seen
            # with anvil under load): roll this range back and read it again.
            self._short_reads[block] = self._short_reads.get(block, 0) + 1
            raise _ShortRead(block)
        if chain_size != size or chain_root != root:
            raise IndexerIntegrityError(
                f"索引与链上日志不一致 / index diverged: at block {block} the contract's log "
                f"has {chain_size} leaves, root {_hex(chain_root)}, but the index has {size}, "
                f"root {_hex(root)}: stop and run `bangfu audit`",
                block=block,
                chain_size=chain_size,
                chain_root=_hex(chain_root),
                index_size=size,
                index_root=_hex(root),
            )
        cp.log_size = size
        cp.log_root = _hex(root)


#: How nodes say they keep no state at a past block (anvil, geth, besu, erigon).
_NO_HISTORY = (
    "blockoutofrange",
    "missing trie node",
    "historical state",
    "header not found",
    "state not available",
    "pruned",
)


def _log_state_if_kept(ledger: LedgerContract, block: int) -> tuple[int, bytes] | None:
    """`log_state(block)`, or None when the node answers that it keeps no state there."""
    try:
        return ledger.log_state(block)
    except Exception as exc:
        text = str(exc).lower()
        if any(marker in text for marker in _NO_HISTORY):
            return None
        raise
