"""The relayer's rules for the household follow-up (回访): a county's FollowUpRound on a
delivery batch (kind 12) and its FollowUp results (kind 13).

`check_followup` repeats the contract's rules against the read model plus the pending
outbox (a round may cite a batch, a result a round, still waiting to be sent), and adds the
rules the chain cannot check: the batch serves only the round's county, and a result's
line hash is the stored line's leaf. `FollowUpChain.check` adds what needs the chain
itself: the province's rate, a seed block still in the future when a round opens, and for a
result a seed block already mined, whose hash draws the sample (`ledger.core.sample`) the
line must be in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.errors import RecordError
from ledger.core.fields import FollowUpOutcome
from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.core.sample import sample_indices
from ledger.evm.contract import LedgerContract
from ledger.relayer.lookups import commitment_state, county_of
from ledger.relayer.rules_common import (
    indexed_or_pending,
    known,
    pending_record,
    require_role,
    state_of,
)
from ledger.store.batch_models import BatchLine
from ledger.store.followup_models import FollowUpRoundRow, FollowUpRow
from ledger.store.models import DeliveryRow, OutboxRecord

__all__ = [
    "FOLLOW_UP_KINDS",
    "BatchState",
    "FollowUpChain",
    "RoundState",
    "batch_of",
    "check_followup",
    "round_of",
]

FOLLOW_UP_KINDS = (Kind.FOLLOW_UP_ROUND, Kind.FOLLOW_UP)


@dataclass(frozen=True)
class BatchState:
    """A delivery batch as the rules need it: who signed it, its lines, its commitments."""

    batch_id: str
    org: str
    line_count: int
    commitment_ids: tuple[str, ...]


@dataclass(frozen=True)
class RoundState:
    round_id: str
    batch_id: str
    county: int
    seed_block: int
    rate_bps: int
    line_count: int


def batch_of(session: Session, batch_id: str) -> BatchState | None:
    """A delivery batch, indexed or pending in our outbox; None if neither."""
    shares = session.scalars(
        select(DeliveryRow).where(DeliveryRow.record_id == batch_id, DeliveryRow.batch.is_(True))
    ).all()
    if shares:
        return BatchState(
            batch_id,
            shares[0].org,
            int(shares[0].line_count),
            tuple(s.commitment_id for s in shares),
        )
    found = pending_record(session, batch_id, Kind.DELIVERY_BATCH)
    if found is None:
        return None
    pending, rec = found
    return BatchState(
        batch_id,
        pending.signer,
        int(rec.line_count),
        tuple(hex0x(c) for c in rec.commitment_ids),
    )


def round_of(session: Session, round_id: str) -> RoundState | None:
    """A follow-up round, indexed or pending in our outbox; None if neither."""

    def pending(_: OutboxRecord, rec: Any) -> RoundState:
        batch = batch_of(session, hex0x(rec.batch_id))
        return RoundState(
            round_id,
            hex0x(rec.batch_id),
            int(rec.county),
            int(rec.seed_block),
            int(rec.rate_bps),
            batch.line_count if batch else 0,
        )

    return state_of(
        session,
        FollowUpRoundRow,
        round_id,
        Kind.FOLLOW_UP_ROUND,
        lambda row: RoundState(
            round_id, row.batch_id, row.county, row.seed_block, row.rate_bps, row.line_count
        ),
        pending,
    )


def _county_signer(session: Session, signed: SignedRecord, county: int) -> None:
    """The contract's `_requireRole(COUNTY)` and `_requireCounty(signer, county)`."""
    require_role(session, signed, "COUNTY")
    own = county_of(session, signed.signer)
    if own != county:
        raise RecordError(
            f"签名者是 {own} 的县级部门，不是 {county} 的 / the signer is the county office "
            f"of {own}, not of {county}",
            code="WrongCounty",
            expected=county,
            got=own,
        )


def check_followup(session: Session, signed: SignedRecord) -> None:
    """The contract's rules of a FollowUpRound or FollowUp, and the off-chain ones that the
    read model can answer (see the module's docstring)."""
    rec: Any = signed.record
    if signed.kind == Kind.FOLLOW_UP_ROUND:
        _check_round(session, signed, rec)
    elif signed.kind == Kind.FOLLOW_UP:
        _check_result(session, signed, rec)


def _check_round(session: Session, signed: SignedRecord, rec: Any) -> None:
    county = int(rec.county)
    _county_signer(session, signed, county)
    batch_id = hex0x(rec.batch_id)
    batch = known(
        batch_of(session, batch_id),
        "UnknownBatch",
        f"没有这个交付批次 / no delivery batch {batch_id} is recorded",
        batch_id=batch_id,
    )
    if int(rec.rate_bps) == 0:
        raise RecordError(
            "回访比例不能为 0 / the round's rate must be the province's rate, not 0",
            code="WrongFollowUpRate",
        )
    if int(rec.seed_block) == 0:
        raise RecordError(
            "种子区块须在未来 / the seed block must lie after the current block",
            code="SeedBlockNotFuture",
        )
    if indexed_or_pending(
        session, FollowUpRoundRow, Kind.FOLLOW_UP_ROUND, batch_id=batch_id, county=county
    ):
        raise RecordError(
            f"本县已为该批次开启回访 / county {county} already opened a follow-up round for "
            f"batch {batch_id}",
            code="FollowUpRoundExists",
            batch_id=batch_id,
        )
    for cid in batch.commitment_ids:
        state = commitment_state(session, cid)
        if state is None or state.county != county:
            raise RecordError(
                f"批次含其他县的交付 / batch {batch_id} delivers against commitment {cid} of "
                f"county {state.county if state else '?'}; a county follows up only the "
                "batches that serve it alone",
                code=codes.BATCH_NOT_IN_COUNTY,
                batch_id=batch_id,
                commitment_id=cid,
            )


def _check_result(session: Session, signed: SignedRecord, rec: Any) -> None:
    round_id = hex0x(rec.round_id)
    found = known(
        round_of(session, round_id),
        "UnknownFollowUpRound",
        f"没有这个回访轮次 / no follow-up round {round_id} is recorded",
        round_id=round_id,
    )
    _county_signer(session, signed, found.county)
    index = int(rec.line_index)
    if index >= found.line_count:
        raise RecordError(
            f"明细行超出批次 / line {index} is outside the batch's {found.line_count} lines",
            code="LineOutOfRange",
            line_index=index,
            line_count=found.line_count,
        )
    outcome, quantity = int(rec.outcome), int(rec.quantity)
    partial = outcome == FollowUpOutcome.RECEIVED_IN_PART
    if outcome not in set(FollowUpOutcome) or partial != (quantity != 0):
        raise RecordError(
            "回访结果须为 1 全部收到、2 部分收到（注明数量）、3 未收到、4 查无此户 / outcome "
            "must be 1 received in full, 2 received in part (with the quantity received), 3 "
            "not received or 4 household not found; only 2 states a quantity",
            code="InvalidOutcome",
            outcome=outcome,
        )
    if indexed_or_pending(
        session, FollowUpRow, Kind.FOLLOW_UP, round_id=round_id, line_index=index
    ):
        raise RecordError(
            f"该行已回访 / line {index} already has a result in round {round_id}",
            code="FollowUpRepeated",
            round_id=round_id,
            line_index=index,
        )
    line = session.get(BatchLine, (found.batch_id, index))
    if line is None:
        raise RecordError(
            f"本服务未保存该批次的明细行 / the lines of batch {found.batch_id} are not held "
            "here, so the line hash cannot be checked; follow up where the batch was uploaded",
            code=codes.BATCH_LINES_NOT_HELD,
            batch_id=found.batch_id,
        )
    if line.leaf_hash != hex0x(rec.line_hash):
        raise RecordError(
            f"明细行哈希不符 / line {index}'s leaf hash is {line.leaf_hash}, not "
            f"{hex0x(rec.line_hash)}",
            code=codes.LINE_HASH_MISMATCH,
            line_index=index,
            expected=line.leaf_hash,
        )
    if partial and quantity >= int(line.quantity):
        raise RecordError(
            f"部分收到的数量须小于交付的 {line.quantity} / received in part must be less than "
            f"the {line.quantity} delivered on the line (received all: outcome 1)",
            code="InvalidQuantity",
            delivered=int(line.quantity),
        )


class FollowUpChain:
    """What the follow-up rules read from the chain: the rate the province set, the current
    block, and the hashes of seed blocks (kept once `confirmations` deep), with each
    round's sample. `check` is the relayer's pre-check (`LedgerService` wires it)."""

    def __init__(self, ledger: Callable[[], LedgerContract], confirmations: int = 0) -> None:
        self._ledger = ledger
        self.confirmations = confirmations
        self._seeds: dict[int, bytes] = {}
        self._samples: dict[tuple[str, bytes], frozenset[int]] = {}
        self._lock = threading.Lock()

    def head(self) -> int:
        return int(self._ledger().w3.eth.block_number)

    def rate(self) -> int:
        return self._ledger().follow_up_rate()

    def seed_hash(self, seed_block: int) -> bytes | None:
        """blockhash(seedBlock), or None while that block is not mined."""
        with self._lock:
            known = self._seeds.get(seed_block)
        if known is not None:
            return known
        w3 = self._ledger().w3
        head = int(w3.eth.block_number)
        if head < seed_block:
            return None
        value = bytes(w3.eth.get_block(seed_block)["hash"])
        if head - seed_block >= self.confirmations:
            with self._lock:
                self._seeds[seed_block] = value
        return value

    def sample(self, found: RoundState) -> tuple[bytes, frozenset[int]] | None:
        """(seed hash, sampled line indices) of a round, or None before its seed is mined."""
        seed = self.seed_hash(found.seed_block)
        if seed is None:
            return None
        key = (found.round_id, seed)
        with self._lock:
            hit = self._samples.get(key)
        if hit is None:
            hit = frozenset(
                sample_indices(
                    seed, bytes.fromhex(found.batch_id[2:]), found.line_count, found.rate_bps
                )
            )
            with self._lock:
                self._samples[key] = hit
        return seed, hit

    def check(self, session: Session, signed: SignedRecord) -> None:
        """The chain's part of the rules (after `check_followup` passed)."""
        rec: Any = signed.record
        if signed.kind == Kind.FOLLOW_UP_ROUND:
            rate = self.rate()
            if int(rec.rate_bps) != rate:
                raise RecordError(
                    f"回访比例须为省级设定的 {rate} 基点 / the round's rate must be the "
                    f"province's {rate} basis points, not {rec.rate_bps}",
                    code="WrongFollowUpRate",
                    expected=rate,
                    got=int(rec.rate_bps),
                )
            head = self.head()
            if int(rec.seed_block) <= head:
                raise RecordError(
                    f"种子区块须在未来 / seed block {rec.seed_block} is not after the current "
                    f"block {head}; choose e.g. {head + 5}",
                    code="SeedBlockNotFuture",
                    seed_block=int(rec.seed_block),
                    current_block=head,
                )
        elif signed.kind == Kind.FOLLOW_UP:
            found = round_of(session, hex0x(rec.round_id))
            if found is None:  # check_followup refused it already
                return
            drawn = self.sample(found)
            if drawn is None:
                raise RecordError(
                    f"种子区块 {found.seed_block} 尚未产生，样本未定 / seed block "
                    f"{found.seed_block} is not mined yet, so the sample is not known; wait "
                    "for it",
                    code=codes.SEED_NOT_YET_KNOWN,
                    seed_block=found.seed_block,
                )
            if int(rec.line_index) not in drawn[1]:
                raise RecordError(
                    f"该行不在抽样中 / line {rec.line_index} is not in the round's sample "
                    f"({len(drawn[1])} of {found.line_count} lines, drawn from block "
                    f"{found.seed_block}); follow up only the sampled households",
                    code=codes.LINE_NOT_IN_SAMPLE,
                    line_index=int(rec.line_index),
                )
