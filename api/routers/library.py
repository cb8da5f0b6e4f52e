"""Needs and supply libraries over HTTP: drafts, owner-signed versions, search, proofs,
recommendations, 点单/接单 matches and progress. The key counties and bundle imports are
`api.routers.library_admin`'s, the need lists (需求表) `api.routers.library_need_lists`'s.

The server holds no county or organization key, and no write happens without its author's
EIP-712 signature (`ledger.library.messages`): each body carries the signed `message` and its
`signature` (plus the ProjectAnchor's `anchor_signature` for a new version). Unsigned,
expired, replayed or badly signed requests get 401, the wrong signer 403, and change nothing.
Drafts are visible to their owner alone: send `X-Bangfu-Read: <address>:<expiry>:<signature>`
with a signed `LibraryRead`.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Annotated, Any, Literal

from eth_utils import is_address
from fastapi import APIRouter, Depends, Header, Query
from fastapi import Path as FPath
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import (
    ADDRESS,
    HEX32,
    MARK,
    ORG_CODE,
    Hex32Path,
    LedgerSignature,
    documented,
    signed_message,
)
from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import LibraryError, NotFoundError, PermissionError_, SignatureError
from ledger.core.fields import ProjectKind
from ledger.library import (
    actions,
    auth,
    matching,
    messages,
    need_progress,
    ownership,
    projects,
    proofs,
)
from ledger.library import (
    recommendations as project_recommendations,
)
from ledger.library import (
    search as project_search,
)
from ledger.library.content import NeedContent, SupplyContent
from ledger.library.messages import (
    LIBRARY_MATCH,
    LIBRARY_PROJECT,
    LIBRARY_PUSH,
    LIBRARY_READ,
)
from ledger.library.models import LibraryProject

#: Where every library route is, and its tag in the document (the sibling `library_*`
#: routers share them).
PREFIX = "/api/v1/library"
TAGS: list[str | Enum] = ["project libraries 项目库"]

router = APIRouter(prefix=PREFIX, tags=TAGS)

SIGNED = (
    "作者的 EIP-712 签名 0x-hex 65 bytes; without it the write is refused with 401 "
    "signature_required"
)

# Each body is typed in the document as exactly as the server checks it: `message` by the
# EIP-712 type of the route's message (api.schemas.message_model, derived from the tables in
# ledger.library.messages), `content` by the library's own models, signatures by their
# pattern. The ledger still checks these values itself, with its own codes (bad_message,
# invalid_project, signature_required, bad_signature), so a client sees the same code
# whether or not it read the document. `message` and the signatures may be left out: the
# write is then refused as signature_required (401), never as a malformed request.


class Signed(BaseModel):
    signature: LedgerSignature | None = Field(default=None, description=SIGNED)


class ProjectSignedIn(Signed):
    message: signed_message(LIBRARY_PROJECT) = None  # type: ignore[valid-type]


class PushIn(Signed):
    message: signed_message(LIBRARY_PUSH) = None  # type: ignore[valid-type]


class MatchIn(Signed):
    message: signed_message(LIBRARY_MATCH) = None  # type: ignore[valid-type]


class NeedDraftIn(ProjectSignedIn):
    """A need draft: `content` as the needs library defines it."""

    content: documented(NeedContent, "需求项目内容 the need's content")  # type: ignore[valid-type]


class SupplyDraftIn(ProjectSignedIn):
    """A supply draft: `content` as the supply library defines it."""

    content: documented(SupplyContent, "供给项目内容 the supply project's content")  # type: ignore[valid-type]


class VersionIn(ProjectSignedIn):
    anchor_signature: LedgerSignature | None = Field(
        default=None, description="所有者对 ProjectAnchor 的签名 the owner's anchor"
    )


class EditIn(VersionIn):
    content: dict[str, Any] = Field(
        description="the new content: a need's (NeedContent) or a supply project's "
        "(SupplyContent), as the project is",
        json_schema_extra={"oneOf": [{MARK: "NeedContent"}, {MARK: "SupplyContent"}]},
    )


class TransitionIn(VersionIn):
    status: Literal["published", "matched", "in_progress", "completed", "closed"]


Hex32Query = Annotated[str, Query(pattern=HEX32, description="0x-hex id (32 bytes)")]
# 0 is a version number too (GET /key-counties/version answers 0 before any list): it names
# no project version, so its proof is 404 no_version.
Version = Annotated[int, FPath(ge=0, lt=1 << 31, description="版本 1, 2, … (0: none)")]
MoveStatus = Literal["published", "matched", "in_progress", "completed", "closed"]


def read_auth(
    session: Session, domain: Domain, row: LibraryProject, header: str | None
) -> LibraryProject:
    """A draft is shown to its owner alone, on a signed LibraryRead; others get 404."""
    if row.status != "draft":
        return row
    hidden = NotFoundError(
        f"no project {row.project_id} in the library", code=codes.UNKNOWN_PROJECT
    )
    if not header:
        raise hidden
    try:
        reader, expiry, signature = header.split(":")
        message = messages.parse(
            LIBRARY_READ, {"projectId": row.project_id, "reader": reader, "expiry": int(expiry)}
        )
    except (ValueError, messages.MessageError):
        raise SignatureError(
            "X-Bangfu-Read must be <address>:<expiry>:<signature>", code=codes.BAD_SIGNATURE
        ) from None
    signer = messages.recover(LIBRARY_READ, message, domain, signature)
    messages.check_expiry(int(message["expiry"]), auth.now())
    if signer != message["reader"]:
        raise SignatureError("the read signature is not the reader's", code=codes.BAD_SIGNATURE)
    try:
        ownership.check_owner(session, row, signer)
    except PermissionError_:
        raise hidden from None
    return row


def _readable(session: Session, service: ServiceDep, project_id: str, header: str | None) -> Any:
    return read_auth(session, service.domain, ownership.get_project(session, project_id), header)


ReadHeader = Header(
    default=None,
    alias="X-Bangfu-Read",
    description="草稿仅所有者可见 drafts: <address>:<expiry>:<signature of LibraryRead>",
)


def _readable_project(
    project_id: Hex32Path,
    session: ReadSessionDep,
    service: ServiceDep,
    x_bangfu_read: str | None = ReadHeader,
) -> LibraryProject:
    """The route's project, once the caller may read it (a draft: its owner's X-Bangfu-Read)."""
    row: LibraryProject = _readable(session, service, project_id, x_bangfu_read)
    return row


ReadableProject = Annotated[LibraryProject, Depends(_readable_project)]


def _to_sign(service: ServiceDep, project_id: str, status: str | None = None) -> dict[str, Any]:
    with service.db.read() as session:
        row = ownership.get_project(session, project_id)
        out = dataclasses.asdict(projects.to_sign(session, row, service.domain, status=status))
        out["project"] = project_search.project_one_json(session, row)
        return out


def _create_draft(
    service: ServiceDep, kind: ProjectKind, body: NeedDraftIn | SupplyDraftIn
) -> dict[str, Any]:
    with service.db.write() as session:
        pid = projects.create_draft(
            session, kind, body.content, body.message, body.signature, service.domain
        ).project_id
    return _to_sign(service, pid)


@router.post("/needs", status_code=201, summary="新建需求项目草稿 Create a need draft")
def create_need(body: NeedDraftIn, service: ServiceDep) -> dict[str, Any]:
    """Signed by the county's key ("draft" LibraryProject message, projectId starting with
    its address). Returns the draft and what to sign to publish it."""
    return _create_draft(service, ProjectKind.NEED, body)


@router.post("/supply", status_code=201, summary="新建供给项目草稿 Create a supply draft")
def create_supply(body: SupplyDraftIn, service: ServiceDep) -> dict[str, Any]:
    return _create_draft(service, ProjectKind.SUPPLY, body)


@router.put("/projects/{project_id}", summary="修改项目 Change a project (next version)")
def change(project_id: Hex32Path, body: EditIn, service: ServiceDep) -> dict[str, Any]:
    """A draft: a "draft" message. A published project: an "edit" message and the anchor
    signature of the next version — published content is never changed in place."""
    done = actions.edit_project(
        service, project_id, body.content, body.message, body.signature, body.anchor_signature
    )
    if done is not None:
        return done
    return _to_sign(service, project_id)


@router.post("/projects/{project_id}/transition", summary="状态变更 Lifecycle move")
def transition(project_id: Hex32Path, body: TransitionIn, service: ServiceDep) -> dict[str, Any]:
    """A "transition" message and the anchor signature of the next version."""
    return actions.new_version(
        service,
        project_id,
        "transition",
        body.message,
        body.signature,
        body.anchor_signature,
        status=body.status,
    )


@router.get("/projects/{project_id}/to-sign", summary="待签名数据 Typed data to sign")
def pending(
    project_id: Hex32Path,
    service: ServiceDep,
    status: MoveStatus | None = Query(None, description="a lifecycle move to prepare"),
    x_bangfu_read: str | None = ReadHeader,
) -> dict[str, Any]:
    """For a draft: publishing it. With `status`: that move of a published project. The
    request carries a suggested nonce and expiry; sign both documents as they are."""
    with service.db.read() as session:
        _readable(session, service, project_id, x_bangfu_read)
    return _to_sign(service, project_id, status)


@router.post("/projects/{project_id}/publish", status_code=202, summary="签名发布 Publish")
def publish(project_id: Hex32Path, body: VersionIn, service: ServiceDep) -> dict[str, Any]:
    """A "publish" message and the owner's ProjectAnchor signature for version 1."""
    return actions.new_version(
        service, project_id, "publish", body.message, body.signature, body.anchor_signature
    )


@router.get("/projects", summary="检索项目 Search projects")
def search(
    session: ReadSessionDep,
    kind: Literal["need", "supply"] | None = None,
    q: str | None = Query(None, max_length=100, description="标题与描述全文 free text"),
    county: int | None = Query(None, ge=100000, le=999999),
    province: int | None = Query(None, ge=10, le=99),
    category: int | None = Query(None, ge=1, le=10),
    key_county: bool | None = None,
    status: MoveStatus | None = Query(
        None, description="当前状态 the status a reader sees (moved on by the chain's records)"
    ),
    resource_kind: int | None = Query(None, ge=1, le=3),
    open: bool | None = Query(
        None, description="可对接 only projects still open to 点单/接单, whatever their records"
    ),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=100_000),
) -> list[dict[str, Any]]:
    rows = project_search.search(
        session,
        project_search.Search(
            kind=None
            if kind is None
            else ProjectKind.NEED
            if kind == "need"
            else ProjectKind.SUPPLY,
            county=county,
            province=province,
            category=category,
            key_county=key_county,
            status=status,
            resource_kind=resource_kind,
            open_only=bool(open),
            text=q,
            limit=limit,
            offset=offset,
        ),
    )
    return project_search.projects_json(session, rows)


@router.get("/projects/{project_id}", summary="项目详情 One project")
def get_project(
    project_id: Hex32Path, row: ReadableProject, session: ReadSessionDep
) -> dict[str, Any]:
    out = project_search.project_one_json(session, row)
    out["pushed_to"] = project_recommendations.pushes(session, project_id)
    return out


@router.get("/projects/{project_id}/versions", summary="历史版本 Versions")
def versions(project_id: Hex32Path, session: ReadSessionDep) -> list[dict[str, Any]]:
    """Each version; `anchored` is its anchor's title, budget (fen) and end date (YYYYMMDD)
    as indexed from the chain, or null while the anchor is not indexed yet."""
    rows = projects.versions(session, project_id)
    anchored = proofs.anchored_fields(session, [v.anchor_id for v in rows])
    return [
        {
            "version": v.version,
            "status": v.status,
            "content_hash": v.content_hash,
            "anchor_id": v.anchor_id,
            "signer": v.signer,
            "content_json": v.content_json,
            "anchored": anchored.get(v.anchor_id.lower()),
        }
        for v in rows
    ]


@router.get("/projects/{project_id}/versions/{version}/proof", summary="版本证明 Proof")
def version_proof(
    project_id: Hex32Path, version: Version, session: ReadSessionDep
) -> dict[str, Any]:
    return proofs.version_proof(session, project_id, version)


@router.get("/projects/{project_id}/recommendations", summary="推荐 Recommendations")
def recommendations(
    project_id: Hex32Path,
    _: ReadableProject,
    session: ReadSessionDep,
    limit: int = Query(10, ge=1, le=100),
) -> list[dict[str, Any]]:
    ranked = project_recommendations.recommend(session, project_id, limit=limit)
    return [r.as_dict() for r in ranked]


@router.post("/projects/{project_id}/push", summary="推送 Push to the best matches")
def push(project_id: Hex32Path, body: PushIn, service: ServiceDep) -> list[str]:
    """The owner's signed LibraryPush."""
    with service.db.write() as session:
        return [
            p.target
            for p in project_recommendations.push(
                session, project_id, body.message, body.signature, service.domain
            )
        ]


@router.get("/needs/{project_id}/progress", summary="需求进度 Progress of a need")
def progress(project_id: Hex32Path, _: ReadableProject, session: ReadSessionDep) -> dict[str, Any]:
    return need_progress.progress(session, project_id)


@router.get("/matches/to-sign", summary="待签名的匹配提议 A proposal to sign")
def match_to_sign(
    session: ReadSessionDep,
    service: ServiceDep,
    direction: Literal["order", "take"],
    need_id: Hex32Query,
    proposer: str = Query(
        ...,
        pattern=ADDRESS,
        description="提议方地址 the proposing key (mixed case: its EIP-55 checksum)",
    ),
    supply_id: str | None = Query(None, pattern=HEX32),
    org_code: str | None = Query(None, pattern=ORG_CODE, description="统一社会信用代码"),
    note: str = Query("", max_length=500),
) -> dict[str, Any]:
    """The LibraryMatch proposal with the need's and supply project's current human fields,
    a match id scoped to `proposer`, a nonce and an expiry."""
    if not is_address(proposer):
        raise LibraryError(
            "proposer must be a 0x address of 20 bytes",
            code=codes.INVALID_ADDRESS,
            field="proposer",
        )
    proposal = matching.MatchProposal(direction, need_id, supply_id, org_code, note)
    message = matching.proposal_message(session, proposer, proposal)
    return {"message": message, "typed_data": matching.match_typed_data(message, service.domain)}


@router.post("/matches", status_code=201, summary="点单/接单 Propose a match (signed)")
def propose_match(body: MatchIn, service: ServiceDep) -> dict[str, Any]:
    """The proposing side's signed LibraryMatch (action propose)."""
    with service.db.write() as session:
        m = matching.propose(session, body.message, body.signature, service.domain)
        return matching.match_json(m)


@router.post("/matches/{match_id}/respond", summary="接受或拒绝 Accept or decline")
def respond(match_id: Hex32Path, body: MatchIn, service: ServiceDep) -> dict[str, Any]:
    """The other side's signed LibraryMatch (action accept or decline)."""
    with service.db.write() as session:
        m = matching.respond(session, match_id, body.message, body.signature, service.domain)
        return matching.match_json(m)


@router.get("/matches/{match_id}", summary="匹配详情 One match")
def get_match(match_id: Hex32Path, service: ServiceDep) -> dict[str, Any]:
    """The match, and the accept / decline messages to sign (fresh nonce and expiry)."""
    with service.db.read() as session:
        m = matching.get_match(session, match_id)
        out: dict[str, Any] = {"match": matching.match_json(m)}
        if m.status == "proposed":
            expiry = auth.expiry()
            for action in ("accept", "decline"):
                msg = matching.response_message(m, action, messages.new_nonce(), expiry)
                out[f"{action}_typed_data"] = matching.match_typed_data(msg, service.domain)
        return out
