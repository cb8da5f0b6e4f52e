"""Matching: ranked recommendations both ways, 点单/接单 proposals answered by the other side,
the relayer rule that a Commitment must cite an accepted match, and per-need progress.

Match messages are EIP-712 typed data under the ledger's domain (`LibraryMatch`), signed by
the proposer and by the responder and stored with both messages and signatures; they carry
the need's title, version, content hash, county, resources and deadline, the supply project's
title and the organization, so each side reads what it agrees to. They stay off chain, and a
Commitment's `matchId` ties the on-chain promise to the accepted match.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.eip712 import Domain
from ledger.core.errors import (
    ConflictError,
    LibraryError,
    MessageError,
    PermissionError_,
    RecordError,
)
from ledger.core.fields import ProjectKind, parse_bytes32
from ledger.core.lines import new_id
from ledger.core.records import Kind, SignedRecord
from ledger.library import auth, messages, pii
from ledger.library.content import RESOURCE_KINDS
from ledger.library.messages import LIBRARY_MATCH, LIBRARY_PUSH
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion, LibraryPush
from ledger.library.ownership import (
    check_owner,
    county_of,
    get_project,
    org_code_of,
    row_by_id,
)
from ledger.library.regions import province_of
from ledger.store.models import CommitmentRow, OutboxRecord
from ledger.store.sums import exact_sum, joined

ZERO32 = "0x" + "00" * 32
DIRECTIONS = {"order": "点单 county orders a supply project", "take": "接单 org takes a need"}
ACTIONS = ("propose", "accept", "decline")


def _open_project(session: Session, project_id: str, kind: ProjectKind) -> LibraryProject:
    row = get_project(session, project_id)
    if row.kind != kind or row.status not in ("published", "matched"):
        what = "need" if kind == ProjectKind.NEED else "supply project"
        raise ConflictError(
            f"only a published {what} can be matched",
            code="need_not_open" if kind == ProjectKind.NEED else "supply_not_open",
        )
    return row


def _latest_hash(session: Session, row: LibraryProject) -> str:
    v = session.get(LibraryProjectVersion, (row.project_id, row.version))
    return v.content_hash if v is not None else ZERO32


@dataclass(frozen=True)
class MatchProposal:
    """What a proposing side asks for: 点单 (order, with a supply project) or 接单 (take, with
    the organization's credit code) on one need."""

    direction: str
    need_id: str
    supply_id: str | None = None
    org_code: str | None = None
    note: str = ""


def match_message(
    session: Session,
    action: str,
    proposal: MatchProposal,
    *,
    match_id: str,
    nonce: str,
    expiry: int,
) -> dict[str, Any]:
    """The LibraryMatch message for a proposal, from the library's current state: the need's
    title, version, content hash, county, resources and deadline, the supply project's title
    and the organization, beside the ids."""
    direction, need_id, supply_id = proposal.direction, proposal.need_id, proposal.supply_id
    org_code, note = proposal.org_code, proposal.note
    if direction not in DIRECTIONS:
        raise LibraryError("direction must be order (点单) or take (接单)", code="bad_direction")
    if action not in ACTIONS:
        raise LibraryError("action must be propose, accept or decline", code="bad_action")
    need = _open_project(session, need_id, ProjectKind.NEED)
    content = json.loads(need.draft_json)
    supply, supply_title = ZERO32, ""
    if supply_id:
        sp = _open_project(session, supply_id, ProjectKind.SUPPLY)
        supply, supply_title, org_code = sp.project_id, sp.title, sp.org_code
    elif direction == "order":
        raise LibraryError("点单 needs the supply project's id", code="missing_supply")
    if not org_code:
        raise LibraryError("接单 needs the organization's credit code", code="missing_org")
    assert need.county is not None
    return {
        "action": action,
        "matchId": "0x" + parse_bytes32(match_id, "matchId").hex(),
        "direction": direction,
        "needId": need.project_id,
        "needTitle": need.title,
        "needVersion": need.version,
        "needContentHash": _latest_hash(session, need),
        "county": need.county,
        "supplyId": supply,
        "supplyTitle": supply_title,
        "orgCode": org_code,
        "resources": messages.resources_of(content["resources"]),
        "deadline": messages.date_number(content.get("deadline")),
        "note": note,
        "nonce": nonce,
        "expiry": expiry,
    }


def proposal_message(session: Session, proposer: str, proposal: MatchProposal) -> dict[str, Any]:
    """A fresh "propose" message for `proposer`: a match id scoped to its address, a new
    nonce and the default expiry, beside the library's current fields (match_message)."""
    return match_message(
        session,
        "propose",
        proposal,
        match_id="0x" + new_id(proposer).hex(),
        nonce=messages.new_nonce(),
        expiry=auth.expiry(),
    )


def proposal_of(match: LibraryMatch) -> dict[str, Any]:
    return dict(json.loads(match.proposal_message or "{}"))


def response_message(match: LibraryMatch, action: str, nonce: str, expiry: int) -> dict[str, Any]:
    """The message the other side signs to accept or decline: the proposal's fields."""
    return {**proposal_of(match), "action": action, "nonce": nonce, "expiry": expiry}


def match_typed_data(message: dict[str, Any], domain: Domain) -> dict[str, Any]:
    """The EIP-712 document of a LibraryMatch message."""
    return messages.typed_data(LIBRARY_MATCH, message, domain)


def sign_match(message: dict[str, Any], domain: Domain, private_key: bytes | str) -> str:
    return messages.sign(LIBRARY_MATCH, message, domain, private_key)


def _side_ok(session: Session, county: int, org_code: str, side: str, address: str) -> bool:
    if side == "county":
        return county_of(session, address) == county
    return org_code_of(session, address) == org_code


def propose(session: Session, message: Any, signature: str | None, domain: Domain) -> LibraryMatch:
    """Stores a proposal signed by the proposing side (county for 点单, org for 接单); its
    fields must be the library's current ones for that need (and supply project)."""
    verified = auth.verify(session, LIBRARY_MATCH, message, signature, domain)
    m = verified.message
    if m["action"] != "propose":
        raise MessageError("this route takes action propose", code="message_mismatch")
    side = "county" if m["direction"] == "order" else "org"
    if not _side_ok(session, int(m["county"]), str(m["orgCode"]), side, verified.signer):
        raise PermissionError_(
            f"{verified.signer} 不能提出此匹配 / {verified.signer} may not propose this match: "
            "a 点单 is signed by the need's county, a 接单 by the taking organization",
            code="not_match_party",
        )
    auth.require_scoped(verified, str(m["matchId"]), "matchId")
    note = str(m["note"])
    if len(note) > 500:
        raise LibraryError("note is longer than 500 characters", code="text_too_long")
    pii.screen(note, "note")
    supply_id = None if m["supplyId"] == ZERO32 else str(m["supplyId"])
    asked = MatchProposal(str(m["direction"]), str(m["needId"]), supply_id, m["orgCode"], note)
    expected = match_message(
        session, "propose", asked, match_id=m["matchId"], nonce=m["nonce"], expiry=m["expiry"]
    )
    auth.require_equal(verified, expected)
    if session.get(LibraryMatch, m["matchId"]) is not None:
        raise ConflictError(f"match {m['matchId']} already exists", code="match_exists")
    match = LibraryMatch(
        match_id=m["matchId"],
        direction=m["direction"],
        need_id=m["needId"],
        supply_id=m["supplyId"],
        county=m["county"],
        org_code=m["orgCode"],
        status="proposed",
        proposer=verified.signer,
        proposal_signature=verified.signature,
        proposal_message=json.dumps(m, ensure_ascii=False, sort_keys=True),
        note=note,
    )
    session.add(match)
    auth.consume(session, verified, "match_propose")
    session.flush()
    return match


def get_match(session: Session, match_id: str) -> LibraryMatch:
    return row_by_id(session, LibraryMatch, match_id, "match_id", "unknown_match")


def respond(
    session: Session, match_id: str, message: Any, signature: str | None, domain: Domain
) -> LibraryMatch:
    """The other side accepts or declines, signing the proposal's fields; refused if the
    need changed since it was proposed (the answer would be about other content)."""
    match = get_match(session, match_id)
    verified = auth.verify(session, LIBRARY_MATCH, message, signature, domain)
    side = "org" if match.direction == "order" else "county"
    if not _side_ok(session, match.county, match.org_code, side, verified.signer):
        raise PermissionError_(
            f"{verified.signer} 不能答复此匹配 / {verified.signer} may not answer this match: "
            f"the {side} side answers a {'点单' if match.direction == 'order' else '接单'}",
            code="not_match_party",
        )
    action = verified.message["action"]
    if action not in ("accept", "decline"):
        raise LibraryError("action must be accept or decline", code="bad_action")
    if not match.proposal_message:
        raise ConflictError(
            "this match was proposed before proposals were signed in full; propose it again",
            code="match_closed",
        )
    auth.require_equal(verified, proposal_of(match), skip=("action", "nonce", "expiry"))
    if match.status != "proposed":
        raise ConflictError(f"match is already {match.status}", code="match_closed")
    need = get_project(session, match.need_id)
    if need.version != verified.message["needVersion"]:
        raise ConflictError(
            "需求已更新 / the need has a new version since this match was proposed; propose again",
            code="need_changed",
        )
    match.status = "accepted" if action == "accept" else "declined"
    match.responder = verified.signer
    match.response_signature = verified.signature
    match.response_message = json.dumps(verified.message, ensure_ascii=False, sort_keys=True)
    match.responded_at = datetime.now(UTC)
    auth.consume(session, verified, "match_respond")
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
        "proposal_message": json.loads(m.proposal_message) if m.proposal_message else None,
        "response_message": json.loads(m.response_message) if m.response_message else None,
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
    org = org_code_of(session, signed.signer)
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


# ------------------------------------------------------------------ recommendations

WEIGHTS = {"category": 40, "region": 25, "capacity": 20, "key_county": 10, "waiting": 5}


@dataclass
class Recommendation:
    project_id: str
    title: str
    score: int
    components: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def push_message(
    session: Session, project_id: str, limit: int, nonce: str, expiry: int
) -> dict[str, Any]:
    row = get_project(session, project_id)
    return {
        "projectId": row.project_id,
        "title": row.title,
        "limit": limit,
        "nonce": nonce,
        "expiry": expiry,
    }


def push(
    session: Session, project_id: str, message: Any, signature: str | None, domain: Domain
) -> list[LibraryPush]:
    """Records the top recommendations as pushes, on the owner's signed LibraryPush."""
    row = get_project(session, project_id)
    verified = auth.verify(session, LIBRARY_PUSH, message, signature, domain)
    check_owner(session, row, verified.signer)
    if row.status not in ("published", "matched"):
        raise ConflictError("only a published project can be pushed", code="project_not_open")
    limit = int(verified.message["limit"])
    if not 1 <= limit <= 20:
        raise MessageError("limit must be 1..20", code="bad_message", field="limit")
    expected = push_message(
        session, project_id, limit, verified.message["nonce"], verified.message["expiry"]
    )
    auth.require_equal(verified, expected)
    pushed = _push(session, row, limit)
    auth.consume(session, verified, "push")
    return pushed


def _push(session: Session, row: LibraryProject, limit: int) -> list[LibraryPush]:
    pushed: list[LibraryPush] = []
    for rec in recommend(session, row.project_id, limit=limit):
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
            *exact_sum(CommitmentRow.quantity),
            *exact_sum(CommitmentRow.delivered),
            *exact_sum(CommitmentRow.confirmed),
        )
        .where(CommitmentRow.need_id == row.project_id)
        .group_by(CommitmentRow.resource_kind)
    ).all()
    for kind, *halves in rows:
        committed, delivered, confirmed = (joined(*halves[i : i + 2]) for i in (0, 2, 4))
        entry = out.setdefault(
            names.get(int(kind), str(kind)),
            {"asked": 0, "committed": 0, "delivered": 0, "confirmed": 0},
        )
        entry["committed"] += committed
        entry["delivered"] += delivered
        entry["confirmed"] += confirmed
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
