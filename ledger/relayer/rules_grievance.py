"""The relayer's rules for grievances (申诉): the contract's (a county office registers a
grievance about one of its own need projects, and answers it once, with outcome 1..3) and
the ledger's own: a registration must name a grievance that was filed about that project
(same hash, record and filing time), and a filing is registered once; an answer's public
text must be stored before the answer is accepted, so the public can read what was signed.

Each looks in the read model plus our live outbox: a registration still pending counts for
the answer after it, and for a second registration of the same filing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import ConflictError, RecordError
from ledger.core.fields import GrievanceOutcome
from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.lookups import county_of, need_of, record_exists
from ledger.relayer.rules_common import (
    indexed_or_pending,
    known,
    known_need,
    require_role,
    state_of,
)
from ledger.store.grievance_models import (
    GrievanceAnswerRow,
    GrievanceAnswerText,
    GrievanceFiling,
    GrievanceRow,
)
from ledger.store.models import OutboxRecord

__all__ = ["KINDS", "check"]

KINDS = (Kind.GRIEVANCE, Kind.GRIEVANCE_ANSWER)
ZERO = hex0x(bytes(32))


def _require_county_role(session: Session, signed: SignedRecord) -> int | None:
    """Only a county office registers and answers grievances; the signer's county."""
    require_role(session, signed, "COUNTY")
    return county_of(session, signed.signer)


def registration_county(session: Session, grievance_id: str) -> int | None:
    """The county of a registered grievance (indexed or pending in our outbox), or None."""

    def pending(_: OutboxRecord, rec: Any) -> int | None:
        need = need_of(session, hex0x(rec.project_id))
        return need[0] if need else None

    return state_of(
        session, GrievanceRow, grievance_id, Kind.GRIEVANCE, lambda row: row.county, pending
    )


def is_registered(session: Session, grievance_hash: str) -> bool:
    """Whether a filing's hash is already registered (indexed or pending)."""
    return indexed_or_pending(session, GrievanceRow, Kind.GRIEVANCE, grievance_hash=grievance_hash)


def is_answered(session: Session, grievance_id: str) -> bool:
    """Whether a registered grievance already has an answer (indexed or pending)."""
    return indexed_or_pending(
        session, GrievanceAnswerRow, Kind.GRIEVANCE_ANSWER, grievance_id=grievance_id
    )


def answer_hashes_pending_or_indexed(session: Session, answer_hash: str) -> bool:
    """Whether some answer (indexed or pending) names `answer_hash`."""
    return indexed_or_pending(
        session, GrievanceAnswerRow, Kind.GRIEVANCE_ANSWER, answer_hash=answer_hash
    )


def _check_grievance(session: Session, signed: SignedRecord, rec: Any) -> None:
    county = _require_county_role(session, signed)
    pid = hex0x(rec.project_id)
    need = known_need(session, pid)
    if need[0] != county:
        raise RecordError(
            f"申诉所涉项目属于县 {need[0]}，签名者是县 {county} 的部门 / the project serves "
            f"county {need[0]}; the signer is the office of {county}",
            code="WrongCounty",
        )
    target = hex0x(rec.record_id)
    if target != ZERO and not record_exists(session, target):
        raise RecordError(f"no record {target} is recorded", code="UnknownRecord")
    ghash = hex0x(rec.grievance_hash)
    filing = session.scalar(select(GrievanceFiling).where(GrievanceFiling.grievance_hash == ghash))
    if filing is None or filing.project_id != pid:
        raise RecordError(
            f"本县项目没有哈希为 {ghash} 的申诉 / no grievance with hash {ghash} was filed about "
            f"project {pid}; register only what the public filed (the county workspace lists it)",
            code="grievance_not_filed",
            grievance_hash=ghash,
        )
    if filing.record_id != target or filing.filed_at != int(rec.filed_at):
        raise RecordError(
            f"登记内容与申诉 {filing.filing_no} 不符 / the registration must carry the filing's "
            f"record {filing.record_id} and filing time {filing.filed_at}",
            code="grievance_filing_mismatch",
            filing_no=filing.filing_no,
        )
    if is_registered(session, ghash):
        raise ConflictError(
            f"申诉 {filing.filing_no} 已登记 / grievance {filing.filing_no} is already registered",
            code="grievance_already_registered",
            filing_no=filing.filing_no,
        )


def _check_answer(session: Session, signed: SignedRecord, rec: Any) -> None:
    county = _require_county_role(session, signed)
    gid = hex0x(rec.grievance_id)
    registered = known(
        registration_county(session, gid),
        "UnknownGrievance",
        f"没有登记编号为 {gid} 的申诉 / no grievance {gid} is registered",
        grievance_id=gid,
    )
    if registered != county:
        raise RecordError(
            f"申诉由县 {registered} 登记，签名者是县 {county} 的部门 / the grievance was "
            f"registered by county {registered}; the signer is the office of {county}",
            code="WrongCounty",
        )
    if is_answered(session, gid):
        raise RecordError(
            f"申诉 {gid} 已答复 / grievance {gid} already has an answer",
            code="GrievanceAlreadyAnswered",
            grievance_id=gid,
        )
    if int(rec.outcome) not in set(GrievanceOutcome):
        raise RecordError(
            "答复结果须为 1 成立、2 部分成立或 3 不成立 / outcome must be 1 upheld, 2 partly "
            "upheld or 3 not upheld",
            code="InvalidOutcome",
        )
    ahash = hex0x(rec.answer_hash)
    if session.get(GrievanceAnswerText, ahash) is None:
        raise RecordError(
            f"答复全文未提交 / no answer text with hash {ahash} is stored; send the answer "
            "with its text (POST /api/v1/grievance-answers)",
            code="answer_text_missing",
            answer_hash=ahash,
        )


def check(session: Session, signed: SignedRecord) -> None:
    """The rules of a Grievance or GrievanceAnswer record (`check_record`'s branch)."""
    if signed.kind == Kind.GRIEVANCE:
        _check_grievance(session, signed, signed.record)
    else:
        _check_answer(session, signed, signed.record)
