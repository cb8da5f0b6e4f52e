"""A party's inbox: what waits for it (proposals to answer, deliveries to sign for, overdue
commitments), what it sent, its drafts and its records as the relayer moves them.

Everything comes from the read model and the library tables; nothing here writes. A proposal
waiting for this party carries the typed data of its accept and decline, ready to sign.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from ledger.core.eip712 import Domain
from ledger.core.errors import RegionError
from ledger.core.fields import BEIJING, ProjectKind, ResourceKind
from ledger.core.records import Kind
from ledger.library import auth, matching, messages, regions
from ledger.library.models import LibraryMatch, LibraryProject
from ledger.store.queries import inbox as q
from ledger.store.queries.anchors import anchor_titles
from ledger.workspace.models import EvidenceFile
from ledger.workspace.signin import roles_of

ZERO32 = "0x" + "00" * 32


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _day(seconds: int) -> str:
    """A unix time as its date in Beijing time (what a county office reads)."""
    return datetime.fromtimestamp(seconds, BEIJING).date().isoformat()


def _county_name(code: int | None) -> str | None:
    if code is None:
        return None
    try:
        return regions.county_name(code)
    except RegionError:
        return None


def _kind_name(kind: int, enum: type[Kind] | type[ResourceKind] | type[ProjectKind]) -> str:
    try:
        return enum(kind).name.lower()
    except ValueError:
        return str(kind)


def _project_titles(session: Session, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i and i != ZERO32})
    if not wanted:
        return {}
    titles = anchor_titles(session, wanted)
    rows = session.execute(
        select(LibraryProject.project_id, LibraryProject.title).where(
            LibraryProject.project_id.in_(wanted)
        )
    ).tuples()
    titles.update({pid: title for pid, title in rows})
    return titles


def _proposals(
    session: Session,
    where: Any,
    domain: Domain,
    *,
    respond: bool,
) -> list[dict[str, Any]]:
    matches = list(
        session.scalars(
            select(LibraryMatch)
            .where(LibraryMatch.status == "proposed", where)
            .order_by(LibraryMatch.created_at.desc(), LibraryMatch.match_id)
            .limit(q.LIMIT)
        )
    )
    titles = _project_titles(session, [m.need_id for m in matches] + [m.supply_id for m in matches])
    names = q.org_names_by_code(session, [m.org_code for m in matches])
    out = []
    expiry = auth.expiry()
    for m in matches:
        signed = json.loads(m.proposal_message) if m.proposal_message else {}
        item: dict[str, Any] = {
            "match_id": m.match_id,
            "direction": m.direction,
            "need_id": m.need_id,
            "need_title": signed.get("needTitle") or titles.get(m.need_id, ""),
            "supply_id": None if m.supply_id == ZERO32 else m.supply_id,
            "supply_title": signed.get("supplyTitle") or titles.get(m.supply_id) or None,
            "org_code": m.org_code,
            "org_name": names.get(m.org_code),
            "county": m.county,
            "county_name": _county_name(m.county),
            "note": m.note,
            "created_at": _iso(m.created_at),
            "respond": None,
        }
        if respond and m.proposal_message:
            item["respond"] = {
                f"{action}_typed_data": matching.match_typed_data(
                    matching.response_message(m, action, messages.new_nonce(), expiry), domain
                )
                for action in ("accept", "decline")
            }
        out.append(item)
    return out


def _awaiting_receipt(session: Session, county: int) -> list[dict[str, Any]]:
    rows = q.awaiting_receipt(session, county)
    titles = _project_titles(session, [c.need_id for _, c in rows if c is not None])
    codes_by_address = q.org_code_by_address(session)
    names = q.org_names_by_code(session, [codes_by_address.get(d.org, "") for d, _ in rows])
    hashes = {d.evidence_hash[2:] for d, _ in rows if d.evidence_hash != ZERO32}
    stored = (
        set(session.scalars(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(hashes))))
        if hashes
        else set()
    )
    out = []
    for d, c in rows:
        code = codes_by_address.get(d.org)
        evidence = None if d.evidence_hash == ZERO32 else d.evidence_hash
        out.append(
            {
                "delivery_id": d.record_id,
                "commitment_id": d.commitment_id,
                "need_id": c.need_id if c is not None else None,
                "need_title": titles.get(c.need_id, "") if c is not None else "",
                "org": d.org,
                "org_code": code,
                "org_name": names.get(code or ""),
                "quantity": d.quantity,
                "unit": c.unit if c is not None else "",
                "resource_kind": _kind_name(c.resource_kind, ResourceKind) if c else None,
                "delivered_at": d.delivered_at,
                "delivered_on": _day(d.delivered_at),
                "batch": d.batch,
                "evidence_hash": evidence,
                "evidence_url": (
                    f"/api/v1/evidence/{d.evidence_hash[2:]}"
                    if evidence is not None and d.evidence_hash[2:] in stored
                    else None
                ),
            }
        )
    return out


def _overdue(session: Session, county: int | None, org: str | None) -> list[dict[str, Any]]:
    now = auth.now()
    rows: dict[str, Any] = {}
    if county is not None:
        rows.update({c.record_id: c for c in q.overdue(session, now, county=county)})
    if org is not None:
        rows.update({c.record_id: c for c in q.overdue(session, now, org=org)})
    found = sorted(rows.values(), key=lambda c: (c.due_date, c.record_id))
    titles = _project_titles(session, [c.need_id for c in found])
    codes_by_address = q.org_code_by_address(session)
    names = q.org_names_by_code(session, (codes_by_address.get(c.org, "") for c in found))
    return [
        {
            "commitment_id": c.record_id,
            "need_id": c.need_id,
            "need_title": titles.get(c.need_id, ""),
            "org": c.org,
            "org_code": codes_by_address.get(c.org),
            "org_name": names.get(codes_by_address.get(c.org, "")),
            "county": c.county,
            "quantity": c.quantity,
            "delivered": c.delivered,
            "unit": c.unit,
            "due_date": c.due_date,
            "due_on": _day(c.due_date),
        }
        for c in found
    ]


def _drafts(session: Session, address: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(LibraryProject)
        .where(LibraryProject.owner == address, LibraryProject.status == "draft")
        .order_by(LibraryProject.updated_at.desc(), LibraryProject.project_id)
        .limit(q.LIMIT)
    )
    return [
        {
            "project_id": p.project_id,
            "kind": _kind_name(p.kind, ProjectKind),
            "title": p.title,
            "updated_at": _iso(p.updated_at),
        }
        for p in rows
    ]


def _records(session: Session, address: str) -> list[dict[str, Any]]:
    return [
        {
            "record_id": r.record_id,
            "kind": _kind_name(r.kind, Kind),
            "status": r.status,
            "error_code": r.error_code,
            "updated_at": _iso(r.updated_at),
        }
        for r in q.outbox_of(session, address)
    ]


def inbox(session: Session, address: str, domain: Domain) -> dict[str, Any]:
    """The inbox of SPEC14 for the signed-in `address`."""
    roles = roles_of(session, address)
    county = next((r.county for r in roles if r.role == "COUNTY"), None)
    org_code = next((r.org_code for r in roles if r.role == "ORG"), None)
    is_org = any(r.role == "ORG" for r in roles)
    waiting, sent = [], []
    if county is not None:
        # a 接单 (take) waits for the need's county; a 点单 (order) was sent by it
        waiting.append(and_(LibraryMatch.direction == "take", LibraryMatch.county == county))
        sent.append(and_(LibraryMatch.direction == "order", LibraryMatch.county == county))
    if org_code is not None:
        waiting.append(and_(LibraryMatch.direction == "order", LibraryMatch.org_code == org_code))
        sent.append(and_(LibraryMatch.direction == "take", LibraryMatch.org_code == org_code))
    return {
        "address": address,
        "roles": [r.as_dict() for r in roles],
        "proposals": _proposals(session, or_(false(), *waiting), domain, respond=True),
        "sent_proposals": _proposals(session, or_(false(), *sent), domain, respond=False),
        "awaiting_receipt": _awaiting_receipt(session, county) if county is not None else [],
        "overdue": _overdue(session, county, address if is_org else None),
        "drafts": _drafts(session, address),
        "records": _records(session, address),
    }
