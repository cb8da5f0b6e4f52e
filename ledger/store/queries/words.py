"""The names a record in words needs (`ledger.core.words`), read from the read model in a few
queries for any number of records: signers by role and registered name (role events), project
titles (the latest anchor of each project), the commitments that deliveries, receipts and
batches draw on, and the records that receipts and flags point at, in a few words."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, Flag, ProjectAnchor, Receipt
from ledger.core.errors import LedgerError
from ledger.core.program_kinds import CommitmentSource, Grievance
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.core.word_fields import CommitmentRef, Names, Party, ProjectRef, RecordRef
from ledger.core.words import RecordWords, describe
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    LogEntry,
    Organization,
    ProjectAnchorRow,
    RoleEvent,
)
from ledger.store.queries.orgs import chunks, locations

__all__ = ["describe_entries", "describe_record", "names_for"]

#: The role a signer is named by when it holds several, most specific first.
_ROLE_ORDER = ("ORG", "COUNTY", "AUDITOR", "ADMIN")


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _refs(signed: SignedRecord) -> tuple[set[str], set[str], set[str], set[str]]:
    """(projects, commitments, deliveries, other records) that `signed` names."""
    rec = signed.record
    projects: set[str] = set()
    commitments: set[str] = set()
    deliveries: set[str] = set()
    records: set[str] = set()
    if isinstance(rec, ProjectAnchor):
        projects.add(_hex(rec.project_id))
    elif isinstance(rec, Commitment):
        projects.add(_hex(rec.need_id))
    elif isinstance(rec, Delivery):
        commitments.add(_hex(rec.commitment_id))
    elif isinstance(rec, DeliveryBatch):
        commitments.update(_hex(c) for c in rec.commitment_ids)
    elif isinstance(rec, Receipt):
        deliveries.add(_hex(rec.delivery_id))
        records.add(_hex(rec.delivery_id))
    elif isinstance(rec, Flag):
        records.add(_hex(rec.record_id))
    else:  # the program kinds (docs/programs.md): the records their words name
        for name in _PROGRAM_REFS.get(signed.kind, ()):
            ref = getattr(rec, name)
            if ref != bytes(32):
                records.add(_hex(ref))
        if isinstance(rec, CommitmentSource):
            commitments.add(_hex(rec.commitment_id))
        elif isinstance(rec, Grievance):
            projects.add(_hex(rec.project_id))
    return projects, commitments, deliveries, records


#: The fields of each program kind that name another record (`words.describe` shows them).
_PROGRAM_REFS: dict[Kind, tuple[str, ...]] = {
    Kind.PAIRING_ACCEPTANCE: ("pairing_id",),
    Kind.FUND_CONTRIBUTION: ("fund_id",),
    Kind.COMMITMENT_SOURCE: ("pairing_id", "fund_id"),
    Kind.FOLLOW_UP_ROUND: ("batch_id",),
    Kind.FOLLOW_UP: ("round_id",),
    Kind.GRIEVANCE: ("record_id",),
    Kind.GRIEVANCE_ANSWER: ("grievance_id",),
}


def _parties(session: Session, addresses: set[str]) -> dict[str, Party]:
    held: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    wanted = sorted({a for a in addresses if a})
    for chunk in chunks(wanted, 500):
        variants = sorted({*chunk, *(a.lower() for a in chunk)})
        rows = session.execute(
            select(
                RoleEvent.address,
                RoleEvent.role,
                RoleEvent.granted,
                RoleEvent.name,
                RoleEvent.county,
                RoleEvent.org_code,
            )
            .where(RoleEvent.address.in_(variants))
            .order_by(RoleEvent.block_number, RoleEvent.log_index)
        ).all()
        for address, role, granted, name, county, org_code in rows:
            roles = held.setdefault(address.lower(), {})
            if not granted:
                roles.pop(role, None)
                continue
            old_name, old_code = roles.get(role, (None, None))
            code = org_code or (str(county) if county else None)
            roles[role] = (name or old_name, code or old_code)
    out: dict[str, Party] = {}
    for address in wanted:
        roles = held.get(address.lower(), {})
        role = next((r for r in _ROLE_ORDER if r in roles), "")
        name, code = roles.get(role, (None, None))
        out[address.lower()] = Party(address, role, name, code)
    codes = sorted({p.code for p in out.values() if p.role == "ORG" and p.code})
    english: dict[str, str] = {
        c: n
        for c, n in session.execute(
            select(Organization.org_code, Organization.name_en).where(
                Organization.org_code.in_(codes), Organization.name_en.is_not(None)
            )
        )
        if n
    }
    for key, p in out.items():
        if p.role == "ORG" and p.code in english:
            out[key] = Party(p.address, p.role, p.name, p.code, english[p.code])
    return out


def _county_names(session: Session) -> dict[int, str]:
    rows = session.execute(
        select(RoleEvent.county, RoleEvent.name)
        .where(RoleEvent.county.is_not(None), RoleEvent.name.is_not(None))
        .order_by(RoleEvent.block_number, RoleEvent.log_index)
    ).all()
    return {int(c): n for c, n in rows if c and n}


def _projects(session: Session, ids: set[str]) -> dict[str, ProjectRef]:
    out: dict[str, ProjectRef] = {}
    for chunk in chunks(sorted(ids), 500):
        rows = session.scalars(
            select(ProjectAnchorRow)
            .where(ProjectAnchorRow.project_id.in_(chunk))
            .order_by(ProjectAnchorRow.version)
        ).all()
        for r in rows:  # the latest version wins
            out[r.project_id] = ProjectRef(r.project_id, r.title, r.project_kind, r.county)
    return out


def _commitments(session: Session, ids: set[str]) -> dict[str, CommitmentRef]:
    out: dict[str, CommitmentRef] = {}
    for chunk in chunks(sorted(ids), 500):
        for r in session.scalars(select(CommitmentRow).where(CommitmentRow.record_id.in_(chunk))):
            out[r.record_id] = CommitmentRef(
                r.record_id, r.org, r.need_id, r.resource_kind, r.quantity, r.unit
            )
    return out


def _signed(entry: LogEntry) -> SignedRecord | None:
    try:
        return signed_from_bytes(entry.record_bytes)
    except LedgerError:
        return None


def _names(session: Session, records: Sequence[SignedRecord], counties: dict[int, str]) -> Names:
    projects: set[str] = set()
    commitments: set[str] = set()
    deliveries: set[str] = set()
    for s in records:
        p, c, d, _ = _refs(s)
        projects |= p
        commitments |= c
        deliveries |= d
    delivery_commitment: dict[str, str] = {}
    for chunk in chunks(sorted(deliveries), 500):
        rows = session.execute(
            select(DeliveryRow.record_id, DeliveryRow.commitment_id).where(
                DeliveryRow.record_id.in_(chunk)
            )
        ).all()
        for rid, cid in rows:
            delivery_commitment.setdefault(rid, cid)
    commitments |= set(delivery_commitment.values())
    crefs = _commitments(session, commitments)
    projects |= {c.need_id for c in crefs.values()}
    addresses = {s.signer for s in records} | {c.org for c in crefs.values()}
    return Names(
        parties=_parties(session, addresses),
        projects=_projects(session, projects),
        commitments=crefs,
        delivery_commitment=delivery_commitment,
        county_names=counties,
    )


def names_for(session: Session, records: Sequence[SignedRecord]) -> Names:
    """Every name that `describe` needs for `records`, and for the records they point at (a
    receipt's delivery, a flagged record) a few words of their own."""
    counties = _county_names(session)
    targets: set[str] = set()
    for s in records:
        targets |= _refs(s)[3]
    pointed = [t for e in locations(session, list(targets)).values() if (t := _signed(e))]
    names = _names(session, [*records, *pointed], counties)
    for t in pointed:
        w = describe(t, names)
        names.records[_hex(t.id)] = RecordRef(_hex(t.id), int(t.kind), w.summary_zh, w.summary_en)
    return names


def describe_entries(session: Session, entries: Sequence[LogEntry]) -> list[RecordWords | None]:
    """Each log entry's record in words (None where its bytes do not parse), in order."""
    parsed = [_signed(e) for e in entries]
    names = names_for(session, [s for s in parsed if s])
    return [
        describe(s, names, e.block_time) if s else None
        for s, e in zip(parsed, entries, strict=True)
    ]


def describe_record(session: Session, record_id: str) -> RecordWords | None:
    """One indexed record in words, or None when it is not indexed."""
    entry = locations(session, [record_id.lower()]).get(record_id.lower())
    return describe_entries(session, [entry])[0] if entry else None
