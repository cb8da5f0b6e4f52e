"""Filing grievances (申诉) about need projects, and storing the counties' answer texts.

Anyone may file, with no account: the text is public (so it is screened for personal data
and refused if it has some), a record of the project may be named (a delivery, say), and
contact details may be left for the county office — stored in a table of their own, never
public, never logged, never on chain. The filer gets a filing number and the grievanceHash
(`ledger.core.grievances`) that the county's Grievance record will carry.

An answer's text is stored only beside a county key's signed GrievanceAnswer naming its
hash; the relayer then refuses an answer whose text is not stored (rules_grievance).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError, NotFoundError, PermissionError_, RecordError
from ledger.core.fields import ProjectKind
from ledger.core.grievances import (
    MAX_ANSWER,
    MAX_CONTACT,
    MAX_TEXT,
    MIN_ANSWER,
    MIN_TEXT,
    answer_hash,
    canonical_text,
    grievance_hash,
    new_filing_no,
    normalize,
)
from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.library import pii
from ledger.relayer.lookups import county_of, roles_of
from ledger.relayer.outbox import Acceptance, Relayer
from ledger.store.db import Database
from ledger.store.grievance_models import GrievanceAnswerText, GrievanceContact, GrievanceFiling
from ledger.store.models import CommitmentRow, DeliveryRow, LogEntry, ProjectAnchorRow, ReceiptRow
from ledger.store.queries.anchors import first_anchor

__all__ = ["Receipt", "contact_for", "file_grievance", "submit_answer"]

ZERO = hex0x(bytes(32))


@dataclass(frozen=True)
class Receipt:
    """What the filer keeps: the filing number and the hash the county will register."""

    filing_no: str
    grievance_hash: str
    project_id: str
    record_id: str
    filed_at: int
    county: int
    text: str
    canonical_text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def screen_text(text: str, field: str, lo: int, hi: int) -> str:
    """The normalized text, or a refusal: too short, too long, or with personal data."""
    norm = normalize(text)
    if not lo <= len(norm) <= hi:
        raise LedgerError(
            f"{field} 须为 {lo}..{hi} 个字符 / {field} must be {lo}..{hi} characters, "
            f"not {len(norm)}",
            code="bad_field",
            field=field,
        )
    kind = pii.find(norm)
    if kind is not None:
        raise pii.refusal(
            field,
            kind,
            "申诉内容会公开，请删除（联系方式请填在“联系方式”一栏，它不会公开）",
            "the text is public, remove it (leave contact details in the contact field, "
            "which is never public)",
            label="申诉内容" if field == "text" else "答复内容",
        )
    return norm


def _need_county(session: Session, project_id: str) -> int:
    row = first_anchor(session, project_id)
    if row is None or row.project_kind != ProjectKind.NEED:
        raise NotFoundError(
            f"没有编号为 {project_id} 的需求项目 / no need project {project_id} is on the ledger",
            code="unknown_need",
            project_id=project_id,
        )
    return int(row.county)


def _record_of_project(session: Session, project_id: str, record_id: str) -> None:
    """Refuses a record that is not the project's own (a version of it, or a commitment to
    it, a delivery against such a commitment or a receipt of one)."""
    if session.scalar(select(LogEntry.leaf_index).where(LogEntry.record_id == record_id)) is None:
        raise NotFoundError(
            f"没有编号为 {record_id} 的记录 / no record {record_id} is on the ledger",
            code="unknown_record",
        )
    commitments = select(CommitmentRow.record_id).where(CommitmentRow.need_id == project_id)
    checks = (
        select(ProjectAnchorRow.record_id).where(
            ProjectAnchorRow.record_id == record_id, ProjectAnchorRow.project_id == project_id
        ),
        select(CommitmentRow.record_id).where(
            CommitmentRow.record_id == record_id, CommitmentRow.need_id == project_id
        ),
        select(DeliveryRow.record_id).where(
            DeliveryRow.record_id == record_id, DeliveryRow.commitment_id.in_(commitments)
        ),
        select(ReceiptRow.record_id).where(
            ReceiptRow.record_id == record_id, ReceiptRow.commitment_id.in_(commitments)
        ),
    )
    if not any(session.scalar(q.limit(1)) for q in checks):
        raise LedgerError(
            f"记录 {record_id} 不属于该项目 / record {record_id} is not a record of project "
            f"{project_id} (name a commitment, delivery or receipt of it)",
            code="record_not_of_project",
        )


def file_grievance(
    db: Database,
    project_id: str,
    text: str,
    record_id: str | None = None,
    contact: str | None = None,
    *,
    now: int | None = None,
) -> Receipt:
    """Files a grievance about a need project (and optionally one of its records)."""
    pid = project_id.lower()
    rid = (record_id or ZERO).lower()
    norm = screen_text(text, "text", MIN_TEXT, MAX_TEXT)
    contact_norm = normalize(contact or "")
    if len(contact_norm) > MAX_CONTACT:
        raise LedgerError(
            f"联系方式最多 {MAX_CONTACT} 个字符 / contact details are at most {MAX_CONTACT} "
            "characters",
            code="bad_field",
            field="contact",
        )
    filed_at = int(now if now is not None else time.time())
    with db.write() as session:
        county = _need_county(session, pid)
        if rid != ZERO:
            _record_of_project(session, pid, rid)
        filing_no = new_filing_no()
        while session.get(GrievanceFiling, filing_no) is not None:
            filing_no = new_filing_no()
        ghash = grievance_hash(filing_no, pid, rid, filed_at, norm)
        session.add(
            GrievanceFiling(
                filing_no=filing_no,
                grievance_hash=ghash,
                project_id=pid,
                record_id=rid,
                county=county,
                text=norm,
                filed_at=filed_at,
            )
        )
        if contact_norm:
            session.flush()
            session.add(GrievanceContact(filing_no=filing_no, contact=contact_norm))
    return Receipt(
        filing_no,
        ghash,
        pid,
        rid,
        filed_at,
        county,
        norm,
        canonical_text(filing_no, pid, rid, filed_at, norm),
    )


def submit_answer(db: Database, relayer: Relayer, signed: SignedRecord, text: str) -> Acceptance:
    """Stores a county's public answer text beside its signed GrievanceAnswer and accepts
    the record: the text must hash to the signed answerHash and carry no personal data, and
    the signer must be a county office (its signature was checked when it was parsed)."""
    if signed.kind != Kind.GRIEVANCE_ANSWER:
        raise RecordError(
            f"须为申诉答复记录 / the record must be a grievance_answer, not {signed.kind.slug}",
            code="wrong_kind",
        )
    norm = screen_text(text, "answer", MIN_ANSWER, MAX_ANSWER)
    ahash = answer_hash(norm)
    signed_hash = hex0x(getattr(signed.record, "answer_hash", b""))
    if ahash != signed_hash:
        raise RecordError(
            f"答复全文与签名的哈希不符 / the answer text hashes to {ahash}, the signed record "
            f"names {signed_hash}",
            code="answer_hash_mismatch",
        )
    with db.write() as session:
        if "COUNTY" not in roles_of(session, signed.signer):
            raise RecordError(
                f"{signed.signer} does not hold the COUNTY role on this ledger",
                code="MissingRole",
            )
        if session.get(GrievanceAnswerText, ahash) is None:
            session.add(GrievanceAnswerText(answer_hash=ahash, text=norm))
    return relayer.accept([signed])[0]


def contact_for(session: Session, filing_no: str, reader: str) -> str | None:
    """The contact details of a filing, for the county office of its county only (`reader`
    is the signed-in address); None if the filer left none. Never part of a public read."""
    filing = session.get(GrievanceFiling, filing_no)
    if filing is None:
        raise NotFoundError(
            f"没有编号为 {filing_no} 的申诉 / no grievance {filing_no} was filed here",
            code="unknown_filing",
        )
    if "COUNTY" not in roles_of(session, reader) or county_of(session, reader) != filing.county:
        raise PermissionError_(
            f"只有县 {filing.county} 的乡村振兴部门可以查看联系方式 / only the county office of "
            f"{filing.county} may read the filer's contact details",
            code="forbidden",
        )
    row = session.get(GrievanceContact, filing_no)
    return row.contact if row is not None else None
