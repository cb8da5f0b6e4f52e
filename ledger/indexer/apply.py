"""Events → rows: one range of the contract's logs written into the read model (log
entries, each record kind's row and the totals it moves, and role events through
`ledger.indexer.roles`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import event_abi_to_log_topic
from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from web3 import Web3
from web3._utils.events import get_event_data

from ledger.core.errors import IndexerIntegrityError, LeafGapError
from ledger.core.events import (
    RECORD_APPENDED_TOPIC,
    RecordAppended,
    decode_record_appended,
)
from ledger.core.fields import from_text32
from ledger.core.hexes import hex0x
from ledger.core.merkle import MerkleTree
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.indexer import fund as fund_index
from ledger.indexer import grievance
from ledger.indexer import pairing as pairing_index
from ledger.indexer.followup import project_followup
from ledger.indexer.roles import write_role_event
from ledger.indexer.rows import record_row
from ledger.store import models
from ledger.store.aggregates import Moves

__all__ = ["INDEXED_EVENTS", "LogApplier", "ProgramRows", "StagedRange"]

#: A program's records whose row is the record's own fields plus its id, signer and chain
#: location (`ledger.indexer.pairing.ROWS`, `ledger.indexer.fund.ROWS`): per kind, the row's
#: table, the column the signer goes in, and the id field that must be non-zero for the
#: program to hold the record (None: always), since kind 11 serves both programs.
ProgramRows = Mapping[Kind, tuple[type[Any], str, str | None]]

#: The contract's events the read model is made of.
INDEXED_EVENTS = frozenset(
    {
        "RecordAppended",
        "RoleGranted",
        "RoleRevoked",
        "CountyRegistered",
        "OrganizationRegistered",
        "AuditorRegistered",
    }
)


@dataclass
class StagedRange:
    """One range's logs, decoded and checked before the write lock is taken: each new leaf
    (its log entry's row and its record, already appended to the caller's tree) and each
    role event (its name, arguments and chain location), in chain order."""

    leaves: list[tuple[dict[str, Any], SignedRecord]] = field(default_factory=list)
    roles: list[tuple[str, Mapping[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def appended(self) -> int:
        return len(self.leaves)


class LogApplier:
    """Writes one deployment's logs into a session, in two steps: `stage` decodes and
    checks a range with no database and no lock (each RecordAppended leaf is appended to
    the caller's tree there), then `write` writes it inside the caller's write transaction.
    The tree mirrors the log entries once that transaction commits; the caller reloads it
    after a pass that failed or wrote nothing it staged."""

    def __init__(self, w3: Web3, abi: Sequence[Mapping[str, Any]], chain_id: int) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.events: dict[bytes, Mapping[str, Any]] = {
            event_abi_to_log_topic(item): item  # type: ignore[arg-type]
            for item in abi
            if item.get("type") == "event" and item["name"] in INDEXED_EVENTS
        }
        self._staged: list[tuple[dict[str, Any], SignedRecord]] = []
        self._moves = Moves()
        # What the staged records' projections look up, read once per flush (`_prefetch`)
        # and kept up to date as rows are added: commitments by id, and each need's latest
        # version, so the projection of a delivery or commitment runs no query.
        self._commitments: dict[str, models.CommitmentRow | None] = {}
        self._needs: dict[str, models.ProjectAnchorRow | None] = {}

    def stage(self, logs: Sequence[Any], times: dict[int, int], tree: MerkleTree) -> StagedRange:
        """Decodes `logs` (one range, in chain order) and checks each leaf against `tree`,
        appending it; `times` maps block numbers to timestamps (filled in if missing). No
        database: the decoding and hashing, most of a pass's own work, happen before the
        write lock, which every API accept waits for on SQLite."""
        staged = StagedRange()
        for entry in logs:
            topic = bytes(entry["topics"][0]) if entry["topics"] else b""
            abi = self.events.get(topic)
            if abi is None:
                continue
            pos = dict(
                chain_id=self.chain_id,
                block_number=int(entry["blockNumber"]),
                block_hash=entry["blockHash"].to_0x_hex(),
                tx_hash=entry["transactionHash"].to_0x_hex(),
                log_index=int(entry["logIndex"]),
            )
            if topic == RECORD_APPENDED_TOPIC:
                number = pos["block_number"]
                if number not in times:
                    times[number] = int(self.w3.eth.get_block(number)["timestamp"])
                event = decode_record_appended(entry["topics"], entry["data"])
                leaf = self._leaf(event, pos, times[number], tree)
                if leaf is not None:
                    staged.leaves.append(leaf)
                continue
            args = get_event_data(self.w3.codec, abi, entry)["args"]
            staged.roles.append((str(abi["name"]), args, pos))
        return staged

    def write(self, session: Session, staged: StagedRange) -> int:
        """Writes a staged range (role events first, as the chain ordered them, then the
        leaves with their rows and the totals they move); returns the leaves appended."""
        self._staged = list(staged.leaves)
        self._moves = Moves()
        for name, args, pos in staged.roles:
            write_role_event(session, name, args, pos)
        self._flush_staged(session)
        return staged.appended

    @staticmethod
    def _leaf(
        event: RecordAppended, pos: dict[str, Any], block_time: int, tree: MerkleTree
    ) -> tuple[dict[str, Any], SignedRecord] | None:
        """Checks one RecordAppended and appends its leaf to `tree`: its log entry's row and
        its record, or None for a leaf the tree holds already."""
        index = event.index
        if index < tree.size:
            # Already indexed (an idempotent re-run of a range): the tree mirrors the
            # committed log_entries and is reloaded after any failed pass.
            return None
        data = event.record
        signed = signed_from_bytes(data)
        if index != tree.size:
            raise LeafGapError(
                f"索引与链上日志不一致 / log index {index} arrived while the index holds "
                f"{tree.size} leaves",
                index=index,
                index_size=tree.size,
            )
        leaf = signed.leaf_hash()
        if leaf != event.leaf_hash:
            raise IndexerIntegrityError(
                f"叶子哈希不符 / leaf {index}: the event's hash is not its bytes' hash"
            )
        tree.append(leaf)
        row = {
            "leaf_index": index,
            "record_id": hex0x(signed.id),
            "kind": int(signed.kind),
            "signer": signed.signer,
            "leaf_hash": hex0x(leaf),
            "record_bytes": data,
            "block_time": block_time,
            **pos,
        }
        return row, signed

    def _flush_staged(self, session: Session) -> None:
        """Writes staged log entries in one executemany, then their per-kind rows (whose
        foreign keys need the entries) in chain order."""
        if not self._staged:
            return
        session.flush()
        session.execute(insert(models.LogEntry), [row for row, _ in self._staged])
        self._prefetch(session)
        try:
            for row, signed in self._staged:
                loc = {c: row[c] for c in models.LOCATION_COLUMNS}
                self._project(session, signed, row["record_id"], loc)
        finally:
            self._commitments.clear()
            self._needs.clear()
        self._staged.clear()
        self._moves.write(session)

    def _prefetch(self, session: Session) -> None:
        """Reads, in two queries, the commitments the staged deliveries deliver against and
        the latest version of each need the staged commitments cite (None: not indexed)."""
        cids: set[str] = set()
        need_ids: set[str] = set()
        for _, signed in self._staged:
            r: Any = signed.record
            if signed.kind == Kind.DELIVERY:
                cids.add(hex0x(r.commitment_id))
            elif signed.kind == Kind.DELIVERY_BATCH:
                cids.update(hex0x(c) for c in r.commitment_ids)
            elif signed.kind == Kind.COMMITMENT:
                need_ids.add(hex0x(r.need_id))
        self._commitments = dict.fromkeys(cids)
        self._needs = dict.fromkeys(need_ids)
        for chunk in _chunks(sorted(cids)):
            for c in session.scalars(
                select(models.CommitmentRow).where(models.CommitmentRow.record_id.in_(chunk))
            ):
                self._commitments[c.record_id] = c
        for chunk in _chunks(sorted(need_ids)):
            for a in session.scalars(
                select(models.ProjectAnchorRow).where(models.ProjectAnchorRow.project_id.in_(chunk))
            ):
                self._note_anchor(a)

    def _note_anchor(self, row: models.ProjectAnchorRow) -> None:
        """Keeps `row` as its project's latest version if it is (and the project is one a
        staged commitment cites)."""
        if row.project_id in self._needs:
            latest = self._needs[row.project_id]
            if latest is None or row.version >= latest.version:
                self._needs[row.project_id] = row

    def _commitment(self, session: Session, cid: str) -> models.CommitmentRow | None:
        if cid in self._commitments:
            return self._commitments[cid]
        return session.get(models.CommitmentRow, cid)

    def _project(
        self, session: Session, signed: SignedRecord, rid: str, loc: dict[str, Any]
    ) -> None:
        """Writes the record's own row (the per-kind table, with its chain location `loc`)
        and moves the commitment's running amounts and the maintained totals."""
        r: Any = signed.record
        kind = signed.kind
        block_time = int(loc["block_time"])
        if kind == Kind.PROJECT_ANCHOR:
            anchor = record_row(
                models.ProjectAnchorRow, r, record_id=rid, author=signed.signer, **loc
            )
            session.add(anchor)
            self._note_anchor(anchor)
        elif kind == Kind.COMMITMENT:
            need_id = hex0x(r.need_id)
            if need_id in self._needs:
                need = self._needs[need_id]
            else:
                need = session.scalars(
                    select(models.ProjectAnchorRow)
                    .where(models.ProjectAnchorRow.project_id == need_id)
                    .order_by(models.ProjectAnchorRow.version.desc())
                    .limit(1)
                ).first()
            row = record_row(
                models.CommitmentRow,
                r,
                record_id=rid,
                org=signed.signer,
                county=need.county if need else 0,
                category=need.category if need else 0,
                unit=from_text32(r.unit),
                delivered=0,
                confirmed=0,
                **loc,
            )
            session.add(row)
            self._commitments[rid] = row
            self._moves.commitment(row)
        elif kind == Kind.DELIVERY:
            self._delivery_share(
                session,
                rid,
                signed.signer,
                hex0x(r.commitment_id),
                r.quantity,
                r.delivered_at,
                hex0x(r.evidence_hash),
                r.beneficiary_count,
                hex0x(r.beneficiary_root),
                batch=False,
                line_count=1,
                loc=loc,
            )
        elif kind == Kind.DELIVERY_BATCH:
            for cid, qty in zip(r.commitment_ids, r.quantities, strict=True):
                self._delivery_share(
                    session,
                    rid,
                    signed.signer,
                    hex0x(cid),
                    qty,
                    block_time,
                    hex0x(r.evidence_hash),
                    r.line_count,
                    hex0x(r.batch_root),
                    batch=True,
                    line_count=r.line_count,
                    loc=loc,
                )
        elif kind == Kind.RECEIPT:
            shares = session.scalars(
                select(models.DeliveryRow).where(
                    models.DeliveryRow.record_id == hex0x(r.delivery_id)
                )
            ).all()
            share = shares[0] if shares else None
            if share is not None:
                share.receipted = True
            commitment = session.get(models.CommitmentRow, share.commitment_id) if share else None
            if commitment is not None:
                commitment.confirmed += r.confirmed_quantity
                self._moves.confirmed(commitment, r.confirmed_quantity)
            session.add(
                record_row(
                    models.ReceiptRow,
                    r,
                    record_id=rid,
                    commitment_id=share.commitment_id if share else hex0x(bytes(32)),
                    county=commitment.county if commitment else 0,
                    category=commitment.category if commitment else 0,
                    org=commitment.org if commitment else "",
                    signer=signed.signer,
                    **loc,
                )
            )
        elif kind == Kind.FLAG:
            session.add(
                record_row(
                    models.FlagRow,
                    r,
                    record_id=rid,
                    target_id=hex0x(r.record_id),
                    auditor=signed.signer,
                    **loc,
                )
            )
        # programs (issue 18), each in its own module; kind 11 is read by both the pairing
        # and the fund program, so each program is asked, not one chain of `elif`s
        for rows in (pairing_index.ROWS, fund_index.ROWS):
            if kind in rows:
                model, signer_column, cited = rows[kind]
                if cited is None or bytes(getattr(r, cited)) != bytes(32):
                    session.add(
                        record_row(model, r, record_id=rid, **{signer_column: signed.signer}, **loc)
                    )
        if kind in (Kind.FOLLOW_UP_ROUND, Kind.FOLLOW_UP):
            project_followup(session, signed, rid, loc)
        if kind in grievance.KINDS:
            grievance.project(session, signed, rid, loc)

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
        loc: dict[str, Any],
    ) -> None:
        commitment = self._commitment(session, cid)
        if commitment is not None:
            commitment.delivered += qty
            self._moves.delivered(commitment, qty)
        session.add(
            models.DeliveryRow(
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
                **loc,
            )
        )


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
