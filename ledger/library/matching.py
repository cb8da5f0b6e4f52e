"""Matching: ranked recommendations both ways, 点单/接单 proposals answered by the other side,
the relayer rule that a Commitment must cite an accepted match, and per-need progress.

Match messages are EIP-712 typed data under the ledger's domain (`LibraryMatch`), signed by
the proposer and by the responder and stored with both signatures; they stay off chain, and a
Commitment's `matchId` ties the on-chain promise to the accepted match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.errors import ConflictError, NotFoundError, PermissionError_, RecordError
from ledger.library.models import LibraryMatch, LibraryProject, LibraryPush
from ledger.library.projects import (
    RESOURCE_KINDS,
    LibraryError,
    _county_of,
    _org_code_of,
    get_project,
)
from ledger.library.regions import province_of
from ledger.records import Domain, Kind, ProjectKind, SignedRecord, new_id, parse_bytes32
from ledger.relayer import register_pre_check
from ledger.store.models import CommitmentRow, OutboxRecord

ZERO32 = "0x" + "00" * 32
DIRECTIONS = {"order": "点单 county orders a supply project", "take": "接单 org takes a need"}
ACTIONS = ("propose", "accept", "decline")

_MATCH_TYPES = [
    {"name": "matchId", "type": "bytes32"},
    {"name": "needId", "type": "bytes32"},
    {"name": "supplyId", "type": "bytes32"},
    {"name": "county", "type": "uint32"},
    {"name": "orgCode", "type": "string"},
    {"name": "direction", "type": "string"},
    {"name": "action", "type": "string"},
]


def match_typed_data(match: LibraryMatch, action: str, domain: Domain) -> dict[str, Any]:
    """The EIP-712 message a side signs to propose, accept or decline a match."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "LibraryMatch": _MATCH_TYPES,
        },
        "primaryType": "LibraryMatch",
        "domain": domain.as_dict(),
        "message": {
            "matchId": match.match_id,
            "needId": match.need_id,
            "supplyId": match.supply_id,
            "county": match.county,
            "orgCode": match.org_code,
            "direction": match.direction,
            "action": action,
        },
    }


def _recover(match: LibraryMatch, action: str, domain: Domain, signature: str) -> str:
    try:
        signable = encode_typed_data(full_message=match_typed_data(match, action, domain))
        return str(Account.recover_message(signable, signature=signature))
    except Exception:  # noqa: BLE001 - eth_account raises several types for bad signatures
        raise RecordError(
            "the match signature is malformed; sign the typed data this API returned",
            code="bad_signature",
        ) from None


def sign_match(match: LibraryMatch, action: str, domain: Domain, private_key: bytes | str) -> str:
    signable = encode_typed_data(full_message=match_typed_data(match, action, domain))
    return "0x" + Account.sign_message(signable, private_key).signature.hex().removeprefix("0x")


def _side_ok(session: Session, match: LibraryMatch, side: str, address: str) -> bool:
    if side == "county":
        return _county_of(session, address) == match.county
    return _org_code_of(session, address) == match.org_code


def prepare_match(
    session: Session,
    direction: str,
    need_id: str,
    *,
    supply_id: str | None = None,
    org_code: str | None = None,
    note: str = "",
) -> LibraryMatch:
    """An unsigned proposal: 点单 names a supply project, 接单 names the taking organization
    (or its supply project). Signed with `propose`."""
    if direction not in DIRECTIONS:
        raise LibraryError("direction must be order (点单) or take (接单)", code="bad_direction")
    if len(note) > 500:
        raise LibraryError("note is longer than 500 characters", code="text_too_long")
    need = get_project(session, need_id)
    if need.kind != ProjectKind.NEED or need.status not in ("published", "matched"):
        raise ConflictError("only a published need can be matched", code="need_not_open")
    supply = ZERO32
    if supply_id:
        sp = get_project(session, supply_id)
        if sp.kind != ProjectKind.SUPPLY or sp.status not in ("published", "matched"):
            raise ConflictError(
                "only a published supply project can be ordered", code="supply_not_open"
            )
        supply = sp.project_id
        org_code = sp.org_code
    elif direction == "order":
        raise LibraryError("点单 needs the supply project's id", code="missing_supply")
    if not org_code:
        raise LibraryError("接单 needs the organization's credit code", code="missing_org")
    assert need.county is not None
    match = LibraryMatch(
        match_id="0x" + new_id().hex(),
        direction=direction,
        need_id=need.project_id,
        supply_id=supply,
        county=need.county,
        org_code=org_code,
        status="unsigned",
        proposer="",
        proposal_signature="",
        note=note,
    )
    session.add(match)
    session.flush()
    return match


def propose(session: Session, match_id: str, signature: str, domain: Domain) -> LibraryMatch:
    """Stores a proposal signed by the proposing side (county for 点单, org for 接单)."""
    match = get_match(session, match_id)
    if match.status != "unsigned":
        raise ConflictError(f"match is already {match.status}", code="match_closed")
    signer = _recover(match, "propose", domain, signature)
    side = "county" if match.direction == "order" else "org"
    if not _side_ok(session, match, side, signer):
        raise PermissionError_(
            f"{signer} may not propose this match: a 点单 is signed by the need's county, a "
            "接单 by the taking organization",
            code="not_match_party",
        )
    match.status = "proposed"
    match.proposer = signer
    match.proposal_signature = signature
    session.flush()
    return match


def get_match(session: Session, match_id: str) -> LibraryMatch:
    mid = "0x" + parse_bytes32(match_id, "match_id").hex()
    row = session.get(LibraryMatch, mid)
    if row is None:
        raise NotFoundError(f"no match {mid}", code="unknown_match")
    return row


def respond(
    session: Session, match_id: str, action: str, signature: str, domain: Domain
) -> LibraryMatch:
    """The other side accepts or declines, with its signature over the same match."""
    match = get_match(session, match_id)
    if action not in ("accept", "decline"):
        raise LibraryError("action must be accept or decline", code="bad_action")
    if match.status != "proposed":
        raise ConflictError(f"match is already {match.status}", code="match_closed")
    signer = _recover(match, action, domain, signature)
    side = "org" if match.direction == "order" else "county"
    if not _side_ok(session, match, side, signer):
        raise PermissionError_(
            f"{signer} may not answer this match: the {side} side answers a "
            f"{'点单' if match.direction == 'order' else '接单'}",
            code="not_match_party",
        )
    match.status = "accepted" if action == "accept" else "declined"
    match.responder = signer
    match.response_signature = signature
    match.responded_at = datetime.now(UTC)
    session.flush()
    return match


def accepted_matches(session: Session, project_id: str) -> list[LibraryMatch]:
    return list(
        session.scalars(
            select(LibraryMatch).where(
                LibraryMatch.status == "accepted",
                (LibraryMatch.need_id == project_id) | (LibraryMatch.supply_id == project_id),
            )
        )
    )


def match_json(m: LibraryMatch) -> dict[str, Any]:
    return {
        "match_id": m.match_id,
        "direction": m.direction,
        "need_id": m.need_id,
        "supply_id": None if m.supply_id == ZERO32 else m.supply_id,
        "county": m.county,
        "org_code": m.org_code,
        "status": m.status,
        "proposer": m.proposer,
        "proposal_signature": m.proposal_signature,
        "responder": m.responder,
        "response_signature": m.response_signature,
        "note": m.note,
    }


# ------------------------------------------------------------------ the relayer rule


def require_accepted_match(session: Session, signed: SignedRecord) -> None:
    """Relayer pre-check: a Commitment's matchId must be an accepted match between its need
    and the signing organization."""
    if signed.kind != Kind.COMMITMENT:
        return
    rec = signed.record
    match_id = "0x" + bytes(getattr(rec, "match_id", b"")).hex()
    need_id = "0x" + bytes(getattr(rec, "need_id", b"")).hex()
    match = session.get(LibraryMatch, match_id)
    org = _org_code_of(session, signed.signer)
    if (
        match is None
        or match.status != "accepted"
        or match.need_id != need_id
        or (match.org_code != org)
    ):
        raise RecordError(
            f"commitment cites match {match_id}, which is not an accepted match between need "
            f"{need_id} and organization {org}; propose 点单/接单 in the library and wait for "
            "the other side to accept, then cite that matchId",
            code="no_accepted_match",
            match_id=match_id,
        )


register_pre_check(require_accepted_match)


# ------------------------------------------------------------------ recommendations

WEIGHTS = {"category": 40, "region": 25, "capacity": 20, "key_county": 10, "waiting": 5}


@dataclass
class Recommendation:
    project_id: str
    title: str
    score: int
    components: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "title": self.title,
            "score": self.score,
            "components": self.components,
        }


def _content(row: LibraryProject) -> dict[str, Any]:
    return dict(json.loads(row.draft_json))


def _amounts(items: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item["kind"]] = out.get(item["kind"], 0) + int(item["quantity"])
    return out


def score_pair(need: LibraryProject, supply: LibraryProject, today: date) -> Recommendation:
    """Scores one need against one supply project; every component says why."""
    n, s = _content(need), _content(supply)
    parts: list[dict[str, Any]] = []

    def add(name: str, fraction: float, why: str) -> None:
        points = round(WEIGHTS[name] * max(0.0, min(1.0, fraction)))
        parts.append({"component": name, "points": points, "max": WEIGHTS[name], "why": why})

    fits = n["category"] in s["categories"]
    add(
        "category",
        1.0 if fits else 0.0,
        f"需求类别 {n['category']} {'在' if fits else '不在'}供给类别内 "
        f"(need category {'is' if fits else 'is not'} offered)",
    )
    county = int(n["county"])
    regions = {int(r) for r in s["regions"]}
    if county in regions:
        add("region", 1.0, f"服务范围含本县 {county} (serves this county)")
    elif province_of(county) in regions:
        add("region", 0.7, f"服务范围含本省 {province_of(county)} (serves this province)")
    else:
        add("region", 0.0, "服务范围不含本县或本省 (does not serve this region)")
    want, have = _amounts(n["resources"]), _amounts(s["capacity"])
    ratios = [min(1.0, have.get(k, 0) / q) for k, q in want.items()]
    cover = sum(ratios) / len(ratios) if ratios else 0.0
    add(
        "capacity",
        cover,
        "供给能力覆盖需求 "
        + ", ".join(f"{k} {have.get(k, 0)}/{q}" for k, q in sorted(want.items()))
        + f" (capacity covers {cover:.0%})",
    )
    add(
        "key_county",
        1.0 if need.key_county else 0.0,
        "国家乡村振兴重点帮扶县优先 (key county priority)"
        if need.key_county
        else "非重点帮扶县 (not a key county)",
    )
    waited = (today - need.published_at.date()).days if need.published_at else 0
    add("waiting", waited / 90, f"已等待 {waited} 天 (waiting {waited} days, full at 90)")
    total = sum(p["points"] for p in parts)
    return Recommendation("", "", total, parts)


def _open(session: Session, kind: ProjectKind) -> list[LibraryProject]:
    return list(
        session.scalars(
            select(LibraryProject).where(
                LibraryProject.kind == int(kind), LibraryProject.status == "published"
            )
        )
    )


def recommend(
    session: Session, project_id: str, *, limit: int = 10, today: date | None = None
) -> list[Recommendation]:
    """Supply projects for a need, or needs for a supply project, best first (ties by id)."""
    row = get_project(session, project_id)
    today = today or datetime.now(UTC).date()
    out: list[Recommendation] = []
    if row.kind == ProjectKind.NEED:
        for sp in _open(session, ProjectKind.SUPPLY):
            rec = score_pair(row, sp, today)
            rec.project_id, rec.title = sp.project_id, sp.title
            out.append(rec)
    else:
        for nd in _open(session, ProjectKind.NEED):
            rec = score_pair(nd, row, today)
            rec.project_id, rec.title = nd.project_id, nd.title
            out.append(rec)
    out.sort(key=lambda r: (-r.score, r.project_id))
    return out[: max(1, min(limit, 100))]


def push(session: Session, project_id: str, *, limit: int = 5) -> list[LibraryPush]:
    """Records the top recommendations as pushes ("pushed to" a county or an organization)."""
    row = get_project(session, project_id)
    pushed: list[LibraryPush] = []
    for rec in recommend(session, project_id, limit=limit):
        other = get_project(session, rec.project_id)
        target = (
            f"county:{other.county}"
            if other.kind == ProjectKind.NEED
            else (f"org:{other.org_code}")
        )
        existing = session.get(LibraryPush, (row.project_id, target))
        if existing is None:
            existing = LibraryPush(project_id=row.project_id, target=target, score=rec.score)
            session.add(existing)
        else:
            existing.score = max(existing.score, rec.score)
        pushed.append(existing)
    session.flush()
    return pushed


def pushes(session: Session, project_id: str) -> list[str]:
    row = get_project(session, project_id)
    return list(
        session.scalars(
            select(LibraryPush.target)
            .where(LibraryPush.project_id == row.project_id)
            .order_by(LibraryPush.target)
        )
    )


# ------------------------------------------------------------------ progress


def progress(session: Session, need_id: str) -> dict[str, Any]:
    """Asked, committed, delivered and confirmed per resource kind for one need; queued
    commitments not yet indexed are counted as pending."""
    row = get_project(session, need_id)
    if row.kind != ProjectKind.NEED:
        raise LibraryError("progress is kept for need projects", code="not_a_need")
    asked = _amounts(_content(row)["resources"])
    names = {v: k for k, v in RESOURCE_KINDS.items()}
    out: dict[str, dict[str, int]] = {
        k: {"asked": q, "committed": 0, "delivered": 0, "confirmed": 0} for k, q in asked.items()
    }
    rows = session.execute(
        select(
            CommitmentRow.resource_kind,
            func.sum(CommitmentRow.quantity),
            func.sum(CommitmentRow.delivered),
            func.sum(CommitmentRow.confirmed),
        )
        .where(CommitmentRow.need_id == row.project_id)
        .group_by(CommitmentRow.resource_kind)
    ).all()
    for kind, committed, delivered, confirmed in rows:
        entry = out.setdefault(
            names.get(int(kind), str(kind)),
            {"asked": 0, "committed": 0, "delivered": 0, "confirmed": 0},
        )
        entry["committed"] += int(committed or 0)
        entry["delivered"] += int(delivered or 0)
        entry["confirmed"] += int(confirmed or 0)
    pending = session.scalar(
        select(func.count(OutboxRecord.id)).where(
            OutboxRecord.kind == int(Kind.COMMITMENT),
            OutboxRecord.ref_id == row.project_id,
            OutboxRecord.status.in_(("queued", "sent")),
        )
    )
    return {"need_id": row.project_id, "by_resource": out, "pending_commitments": int(pending or 0)}


def accepted_match_ids(session: Session, need_id: str, org_code: str) -> list[str]:
    return [
        m.match_id
        for m in accepted_matches(session, need_id)
        if m.org_code == org_code and m.need_id == need_id
    ]


def parse_match_request(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data.get(k) for k in ("direction", "need_id", "supply_id", "org_code", "note")}
