"""The relayer's copy of the contract's rules for special funds (专项基金): who opens a fund
(Fund), who records money into it (FundContribution) and who draws on it for a commitment
(the fund part of a CommitmentSource), and that a fund is never committed beyond its pledge.

Each look-up reads the read model plus our own live outbox, so a record still waiting to be
sent counts as the contract will count it: a draw refers to a fund or a commitment that may
be pending, and two draws in flight that together pass the pledge are refused at the second.
The pairing part of a CommitmentSource (pairingId) is the pairing program's
(ledger.relayer.rules_pairing); the contract remains the final guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.errors import RecordError
from ledger.core.fields import MAX_TITLE_BYTES, SponsorKind, valid_date_code, valid_title
from ledger.core.hexes import hex0x
from ledger.core.program_kinds import CommitmentSource, Fund
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.lookups import LIVE_ROW, commitment_state
from ledger.relayer.rules_common import known, pending_records, require_role, state_of
from ledger.store.fund_models import FundDrawRow, FundRow
from ledger.store.models import CommitmentRow, LogEntry, OutboxRecord

__all__ = [
    "FUND_KINDS",
    "check_fund_record",
    "fund_committed",
    "fund_state",
    "pending_sources",
]

#: The kinds this module checks (the branch of `ledger.relayer.rules.check_record`).
FUND_KINDS = (Kind.FUND, Kind.FUND_CONTRIBUTION, Kind.COMMITMENT_SOURCE)
MAX_QUANTITY = (1 << 63) - 1
ZERO = bytes(32)


def _require_quantity(value: int, what: str) -> None:
    if not 0 < value <= MAX_QUANTITY:
        raise RecordError(
            f"{what}须为 1..2^63-1 分 / {what} must be 1..2^63-1 fen, not {value}",
            code="InvalidQuantity",
        )


def pending_sources(session: Session) -> Iterator[CommitmentSource]:
    """The CommitmentSource records live in our outbox and not yet indexed."""
    for _, rec in pending_records(session, Kind.COMMITMENT_SOURCE):
        assert isinstance(rec, CommitmentSource)
        yield rec


def fund_state(session: Session, fund_id: str) -> tuple[str, int] | None:
    """(organization, pledged fen) of a fund, indexed or live in our outbox; None if unknown."""
    return state_of(
        session,
        FundRow,
        fund_id,
        Kind.FUND,
        lambda row: (row.org, int(row.pledged)),
        lambda pending, rec: (pending.signer, int(rec.pledged)),
    )


def fund_committed(session: Session, fund_id: str) -> int:
    """Fen of a fund that commitments draw: indexed draws plus our pending ones."""
    indexed = session.scalar(
        select(func.coalesce(func.sum(FundDrawRow.fund_amount), 0)).where(
            FundDrawRow.fund_id == fund_id
        )
    )
    pending = sum(
        int(s.fund_amount) for s in pending_sources(session) if hex0x(s.fund_id) == fund_id
    )
    return int(indexed or 0) + pending


def already_sourced(session: Session, commitment_id: bytes) -> bool:
    """Whether a commitment has a source: a draw indexed, a source under the id derived from
    the commitment in the log, or one pending in our outbox."""
    cid = hex0x(commitment_id)
    if session.scalar(select(FundDrawRow.record_id).where(FundDrawRow.commitment_id == cid)):
        return True
    derived = hex0x(CommitmentSource.source_id(commitment_id))
    if session.scalar(select(LogEntry.leaf_index).where(LogEntry.record_id == derived)) is not None:
        return True
    return any(s.commitment_id == commitment_id for s in pending_sources(session))


def _resource_kind(session: Session, commitment_id: str) -> int:
    row = session.get(CommitmentRow, commitment_id)
    if row is not None:
        return int(row.resource_kind)
    pending = session.scalars(
        select(OutboxRecord.record_bytes).where(OutboxRecord.record_id == commitment_id, LIVE_ROW)
    ).first()
    if pending is None:
        return 0
    return int(getattr(signed_from_bytes(pending).record, "resource_kind", 0))


def _owned_fund(session: Session, signed: SignedRecord, fund_id: bytes) -> int:
    """The contract's `_ownedFund`: the fund is known and the signer opened it; its pledge."""
    fid = hex0x(fund_id)
    org, pledged = known(
        fund_state(session, fid),
        "UnknownFund",
        f"没有此专项基金 / no fund {fid} is recorded; open it first (a Fund record)",
        fund_id=fid,
    )
    if org != signed.signer:
        raise RecordError(
            f"专项基金不属于签名者 / fund {fid} belongs to {org}, not to the signer "
            f"{signed.signer}",
            code="NotFundOwner",
            fund_id=fid,
        )
    return pledged


def _check_fund(rec: Fund) -> None:
    if not valid_title(rec.name):
        raise RecordError(
            f"基金名称须为 1..{MAX_TITLE_BYTES} 字节的 UTF-8 / the fund's name must be "
            f"1..{MAX_TITLE_BYTES} UTF-8 bytes",
            code="InvalidFundName",
        )
    if rec.sponsor_kind not in tuple(SponsorKind):
        raise RecordError(
            "出资方类型须为 1（企业）或 2（个人）/ sponsorKind must be 1 (a company) or 2 (an "
            f"individual), not {rec.sponsor_kind}",
            code="InvalidSponsorKind",
        )
    _require_quantity(int(rec.pledged), "认捐金额 pledged")


def _check_contribution(session: Session, signed: SignedRecord) -> None:
    rec: Any = signed.record
    _owned_fund(session, signed, rec.fund_id)
    _require_quantity(int(rec.amount), "到账金额 amount")
    date = int(rec.received_date)
    if date == 0 or not valid_date_code(date):
        raise RecordError(
            f"到账日期须为 YYYYMMDD / receivedDate must be a date written YYYYMMDD, not {date}",
            code="InvalidPeriod",
        )


def _check_draw(session: Session, signed: SignedRecord) -> None:
    """The fund part of the contract's `_commitmentSource`. The part every source shares (the
    commitment, its owner, one source per commitment, not empty) is
    `rules_pairing.check` (its `_check_source`), which `check_record` runs first for kind 11."""
    rec: Any = signed.record
    cid = hex0x(rec.commitment_id)
    commitment = commitment_state(session, cid)
    if commitment is None or rec.fund_id == ZERO:
        return
    amount = int(rec.fund_amount)
    pledged = _owned_fund(session, signed, rec.fund_id)
    if _resource_kind(session, cid) == 1 and amount > commitment.committed:
        raise RecordError(
            f"动用基金 {amount} 分，超过资金承诺的 {commitment.committed} 分 / draws {amount} fen "
            f"for a funds commitment of {commitment.committed} fen",
            code="InvalidQuantity",
        )
    fid = hex0x(rec.fund_id)
    would_be = fund_committed(session, fid) + amount
    if would_be > pledged:
        raise RecordError(
            f"专项基金超额承诺 / fund {fid} would commit {would_be} fen (pending draws included), "
            f"more than the {pledged} fen pledged to it",
            code="FundOverCommitted",
            fund_id=fid,
            pledged=pledged,
            would_be_committed=would_be,
        )


def check_fund_record(session: Session, signed: SignedRecord) -> None:
    """The contract's rules for a Fund, FundContribution or CommitmentSource (its fund part),
    against the read model plus the pending outbox. The id's scope is checked before."""
    require_role(session, signed, "ORG")
    rec = signed.record
    if signed.kind == Kind.FUND:
        assert isinstance(rec, Fund)
        _check_fund(rec)
    elif signed.kind == Kind.FUND_CONTRIBUTION:
        _check_contribution(session, signed)
    elif signed.kind == Kind.COMMITMENT_SOURCE:
        _check_draw(session, signed)
