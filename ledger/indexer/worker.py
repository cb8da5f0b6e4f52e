"""The indexer: chain events → SQL read model, reorg-safe and resumable.

It reads the contract's logs in block ranges with `eth_getLogs`, writes each range and its
cursor (where it has read up to: the `IndexerCheckpoint` row, not a signed checkpoint) in
one database transaction (idempotent: rows are keyed by their chain position), keeps recent
block hashes to find the fork point when a parent hash no longer matches, and at every step
requires its own RFC 9162 root to equal the contract's `logRoot()` at the same block. A
difference stops it loudly: the read model would lie.

Events become rows in `ledger.indexer.apply`; forks and rewritten history are handled with
`ledger.indexer.reorg`, and the root check is `ledger.indexer.integrity`'s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from web3 import Web3

from ledger.core.errors import IndexerIntegrityError, LeafGapError, LedgerError
from ledger.core.events import RECORD_APPENDED_TOPIC
from ledger.core.hexes import hex0x
from ledger.core.merkle import EMPTY_ROOT, MerkleTree
from ledger.evm.contract import LedgerContract
from ledger.indexer.apply import LogApplier
from ledger.indexer.chain import get_blocks, get_logs
from ledger.indexer.integrity import MAX_SHORT_READS, ShortRead, log_state_if_kept, verify_root
from ledger.indexer.reorg import (
    SignedCheckpoint,
    appended_leaves,
    fork_point,
    rewritten_history,
    rollback,
    signed_beyond,
    tree_from,
)
from ledger.store import alarms
from ledger.store.db import Database
from ledger.store.models import IndexedBlock, IndexerCheckpoint, LogEntry

__all__ = ["KEEP_BLOCKS", "IndexStatus", "Indexer"]

log = logging.getLogger("bangfu.indexer")

KEEP_BLOCKS = 256  # recent block hashes kept to find a fork point
#: At least this often (seconds) an idle indexer reads its cursor and alarms again, even
#: while the chain's newest block stands (another process may have moved them).
IDLE_RECHECK = 5.0


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
        self.applier = LogApplier(self.w3, ledger.abi, self.chain_id)
        self.tree = MerkleTree()
        self._short_reads: dict[int, int] = {}
        self._gap_rereads = 0
        #: the cursor row was found (or made) once: not looked for on every pass
        self._cursor_checked = False
        #: the chain's newest block (number, hash) when a pass last found nothing to do,
        #: and when: a pass that sees the same block soon after ends at once
        self._idle: tuple[tuple[int, str], float] | None = None
        self._load_tree()

    # ---- state -------------------------------------------------------------------
    def _load_tree(self) -> None:
        with self.db.read() as session:
            self.tree = tree_from(session)

    def cursor(self, session: Session) -> IndexerCheckpoint:
        """The indexer's cursor; `_ensure_cursor` creates it (RPC outside the lock)."""
        cursor = session.get(IndexerCheckpoint, self.NAME)
        if cursor is None:
            self._cursor_checked = False  # made again by the next pass's _ensure_cursor
            raise LedgerError(
                "索引尚未开始 / the indexer has not started yet", code="indexer_not_started"
            )
        if cursor.contract != self.address or cursor.chain_id != self.chain_id:
            raise IndexerIntegrityError(
                f"数据库属于另一个合约 / this database indexes {cursor.contract} on chain "
                f"{cursor.chain_id}, not {self.address} on chain {self.chain_id}; use a fresh "
                "database (BANGFU_DATABASE_URL)"
            )
        return cursor

    def _ensure_cursor(self) -> None:
        if self._cursor_checked:
            return
        self._ensure_cursor_row()
        self._cursor_checked = True

    def _ensure_cursor_row(self) -> None:
        with self.db.read() as session:
            if session.get(IndexerCheckpoint, self.NAME) is not None:
                self.cursor(session)  # the contract and chain must match
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
                    log_root=hex0x(EMPTY_ROOT),
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
        self._ensure_cursor()
        head = int(self.w3.eth.block_number)
        with self.db.read() as session:
            cursor = self.cursor(session)
            return IndexStatus(cursor.last_block, head, cursor.log_size)

    # ---- main loop -----------------------------------------------------------------
    def run_once(self) -> int:
        """Indexes the next range (or rolls back a fork); returns blocks processed."""
        try:
            return self._run_once()
        except ShortRead as short:
            log.info("logs up to block %s were incomplete; reading the range again", short.block)
            self._load_tree()
            time.sleep(0.05 * self._short_reads.get(short.block, 1))
            return 0
        except LeafGapError as gap:
            self._load_tree()
            if self._gap_rereads < MAX_SHORT_READS:
                # An earlier pass was answered short (the node had not every log of a block
                # yet, and kept no state there to check the root against, as anvil after a
                # restart): read again from the newest indexed leaf's block.
                self._gap_rereads += 1
                back = self._rewind_to_newest_leaf()
                log.warning("%s; reading from block %s again", gap.message, back + 1)
                return 1  # work: the next pass reads those blocks again
            self._raise_alarm(gap)
            raise
        except IndexerIntegrityError as exc:
            self._load_tree()
            self._raise_alarm(exc)
            raise
        except BaseException:
            # The DB transaction rolled back; the in-memory tree may hold leaves it never
            # committed, so take it again from the database before the next pass.
            self._load_tree()
            raise

    def _raise_alarm(self, exc: IndexerIntegrityError) -> None:
        with self.db.write() as session:
            alarms.raise_alarm(session, exc.code, "indexer", exc.message, **exc.fields)

    def _move_cursor(
        self, session: Session, cursor: IndexerCheckpoint, number: int, block: Any
    ) -> None:
        """The cursor stands on block `number` (`block` as the node gave it), which is kept
        among the indexed blocks for finding a fork point."""
        cursor.last_block = number
        cursor.last_block_hash = block["hash"].to_0x_hex()
        session.merge(
            IndexedBlock(
                chain_id=self.chain_id,
                number=number,
                hash=cursor.last_block_hash,
                parent_hash=block["parentHash"].to_0x_hex(),
            )
        )

    def _rewind_to_newest_leaf(self) -> int:
        """Moves the cursor back to the block before the newest indexed leaf's, so that the
        next pass reads again every block a missed leaf can be in (reading a range again is
        idempotent: known leaves and events are skipped). Returns the new cursor block."""
        with self.db.read() as session:
            cursor = self.cursor(session)
            last_block, last_hash = int(cursor.last_block), cursor.last_block_hash
            newest = session.scalar(
                select(LogEntry.block_number).order_by(LogEntry.leaf_index.desc()).limit(1)
            )
        back = max(0, self.deployment.block - 1) if newest is None else max(0, int(newest) - 1)
        block = self.w3.eth.get_block(back)  # JSON-RPC before the write transaction
        with self.db.write() as session:
            cursor = self.cursor(session)
            if cursor.last_block != last_block or cursor.last_block_hash != last_hash:
                return int(cursor.last_block)  # another indexer moved it meanwhile
            session.execute(delete(IndexedBlock).where(IndexedBlock.number > back))
            self._move_cursor(session, cursor, back, block)
        return back

    def _run_once(self) -> int:
        # Every JSON-RPC read happens before the write transaction, which then only checks
        # that nobody moved the cursor meanwhile: no write lock is held while the node
        # answers (SQLite has one writer for the API, the relayer and the indexer).
        # The chain's newest block first: while it is the one the last caught-up pass saw,
        # there is nothing to index, and the pass ends here (no database read, no second
        # JSON-RPC call). A full pass runs at least every IDLE_RECHECK seconds anyway.
        latest = self._block("latest")
        newest = (int(latest["number"]), bytes(latest["hash"]).hex())
        now = time.monotonic()
        idle = self._idle
        if idle is not None and idle[0] == newest and now - idle[1] < IDLE_RECHECK:
            return 0
        self._idle = None
        self._ensure_cursor()
        with self.db.read() as session:
            rewritten = alarms.is_active(session, alarms.HISTORY_REWRITTEN)
            cursor = self.cursor(session)
            last_block, last_hash = int(cursor.last_block), cursor.last_block_hash
            indexed = (int(cursor.log_size), cursor.log_root)
            diverged = alarms.is_active(session, alarms.INDEX_DIVERGED)
        head = newest[0] - self.confirmations
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
            if not rewritten and not diverged:
                self._idle = (newest, now)
            return 0
        start = last_block + 1
        end = min(head, start + self.block_range - 1)
        end_block = self._block(end)
        logs = self._get_logs(start, end)
        # After the logs, in one batch: the range's first block, and the last log's block
        # as the chain has it now.
        after = get_blocks(self.w3, [start, *(int(e["blockNumber"]) for e in logs[-1:])])
        first = after[0] if start != end else end_block
        if first is None or first["parentHash"].to_0x_hex() != last_hash:
            return 0  # a reorg raced us: the next pass finds the fork point
        if logs and (after[-1] is None or logs[-1]["blockHash"] != after[-1]["hash"]):
            return 0  # the range changed under us
        times = self._block_times(logs)
        chain_state = log_state_if_kept(self.ledger, end)
        # Decoded and checked against the tree before the write lock: the transaction
        # below only writes (the tree is taken again from the database if it fails).
        staged = self.applier.stage(logs, times, self.tree)
        with self.db.write() as session:
            cursor = self.cursor(session)
            if cursor.last_block != last_block or cursor.last_block_hash != last_hash:
                self._load_tree_from(session)
                return 0  # another indexer moved on meanwhile
            appended = self.applier.write(session, staged)
            self._move_cursor(session, cursor, end, end_block)
            session.execute(delete(IndexedBlock).where(IndexedBlock.number < end - KEEP_BLOCKS))
            verify_root(cursor, self.tree, end, chain_state, self._short_reads)
            if appended:
                self._gap_rereads = 0
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
            for n, block in zip(chunk, get_blocks(self.w3, chunk), strict=True):
                times[n] = int((block or self._block(n))["timestamp"])
        return times

    def _block(self, number: int | str) -> dict[str, Any]:
        """One block as `get_blocks` gives it; an error if the node has no such block."""
        block = get_blocks(self.w3, [number])[0]
        if block is None:
            raise LedgerError(f"the node has no block {number}", code="rpc_error")
        return block

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
        state = log_state_if_kept(self.ledger, last_block)
        if state is None:
            return False  # the node keeps no state there: it cannot show the history is back
        return (state[0], hex0x(state[1])) == indexed

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
        fork = fork_point(
            known,
            int(self.w3.eth.block_number),
            self._block_hash,
            max(0, self.deployment.block - 1),
        )
        with self.db.read() as session:
            fork_size, signed = signed_beyond(session, fork)
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
            cursor = self.cursor(session)
            if cursor.last_block != last_block:
                return 0
            log.warning("chain reorganized below block %s; rolling back to %s", last_block, fork)
            self.tree = rollback(session, cursor, fork, fork_hash)
        return 1

    def _contradicted(
        self, fork: int, fork_size: int, signed: list[SignedCheckpoint]
    ) -> LedgerError | None:
        """The chain's log compared with each signed checkpoint beyond the fork point: leaves
        below it are unchanged, the rest are read from the chain's RecordAppended events."""
        chain_state = self.ledger.log_state("latest")
        want = max(size for _, size, _, _ in signed)
        head = int(self.w3.eth.block_number)
        leaves = appended_leaves(self._get_logs, fork + 1, head, self.block_range, fork_size, want)
        return rewritten_history(self.tree, fork, fork_size, signed, leaves, chain_state)

    def _load_tree_from(self, session: Session) -> None:
        self.tree = tree_from(session)

    # ---- applying logs ------------------------------------------------------------------
    def _get_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        return get_logs(self.w3, self.address, start, end)
