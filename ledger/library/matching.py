"""Matching: 点单/接单 proposals answered by the other side, and the relayer rule that a
Commitment must cite an accepted match. (Recommendations and pushes are in
`ledger.library.recommendations`, per-need progress in `ledger.library.progress`.)

Match messages are EIP-712 typed data under the ledger's domain (`LibraryMatch`), signed by
the proposer and by the responder and stored with both messages and signatures; they carry
the need's title, version, content hash, county, resources and deadline, the supply project's
title and the organization, so each side reads what it agrees to. They stay off chain, and a
Commitment's `matchId` ties the on-chain promise to the accepted match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
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
from ledger.library.content import draft_of
from ledger.library.messages import LIBRARY_MATCH
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion
from ledger.library.ownership import county_of, get_project, org_code_of, row_by_id

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
    content = draft_of(need)
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
