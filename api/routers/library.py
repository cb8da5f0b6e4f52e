"""Needs and supply libraries over HTTP: drafts, owner-signed publishing, search, proofs,
recommendations, 点单/接单 matches, progress, key counties and bundles.

The server holds no county or organization key: each change returns the EIP-712 typed data
of the next ProjectAnchor (or match message) and takes effect only with the owner's signature.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import APIRouter, Query
from fastapi import Path as FPath
from pydantic import BaseModel, Field

from api.deps import ServiceDep, SessionDep
from api.schemas import (
    MARK,
    ORG_CODE,
    SIGNATURE,
    Address,
    Hex32,
    Hex32Path,
    Signature,
    documented,
)
from ledger.errors import LedgerError, PermissionError_
from ledger.library import actions, matching, projects, sharing
from ledger.library.projects import NeedContent, SupplyContent
from ledger.records import ProjectKind, sha256
from ledger.relayer import current_roles

router = APIRouter(prefix="/api/v1/library", tags=["project libraries 项目库"])


class DraftIn(BaseModel):
    owner: Address = Field(description="所有者签名地址 the county's or organization's address")
    content: dict[str, Any]


# `content` is typed in the document by the library's own models, which also validate it
# (ledger.library.projects.parse_content), with the library's error codes.
class NeedDraftIn(DraftIn):
    """A need draft: `content` as the needs library defines it."""

    content: documented(NeedContent, "需求项目内容 the need's content")  # type: ignore[valid-type]


class SupplyDraftIn(DraftIn):
    """A supply draft: `content` as the supply library defines it."""

    content: documented(SupplyContent, "供给项目内容 the supply project's content")  # type: ignore[valid-type]


class ContentIn(BaseModel):
    content: dict[str, Any] = Field(
        description="the new content: a need's (NeedContent) or a supply project's "
        "(SupplyContent), as the project is",
        json_schema_extra={"oneOf": [{MARK: "NeedContent"}, {MARK: "SupplyContent"}]},
    )


class TransitionIn(BaseModel):
    status: Literal["published", "matched", "in_progress", "completed", "closed"]


class SignatureIn(BaseModel):
    signature: Signature


class MatchIn(BaseModel):
    direction: Literal["order", "take"]
    need_id: Hex32
    supply_id: Hex32 | None = None
    org_code: str | None = Field(default=None, pattern=ORG_CODE)
    note: str = Field(default="", max_length=500)


class RespondIn(SignatureIn):
    action: Literal["accept", "decline"]


class KeyCountiesIn(BaseModel):
    csv: str = Field(max_length=100_000, description="CSV, first column the county code")
    source: str = Field(max_length=200)
    signature: str = Field(
        pattern=SIGNATURE, description="ADMIN's personal_sign of SHA-256(csv) as 0x-hex"
    )


def _sig(text: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise LedgerError("signature must be 0x-hex", code="bad_signature") from None


def _to_sign(service: ServiceDep, project_id: str) -> dict[str, Any]:
    with service.db.session() as session:
        row = projects.get_project(session, project_id)
        out = dataclasses.asdict(projects.to_sign(row, service.domain))
        out["project"] = projects.project_json(row)
        return out


@router.post("/needs", status_code=201, summary="新建需求项目草稿 Create a need draft")
def create_need(body: NeedDraftIn, service: ServiceDep) -> dict[str, Any]:
    """Returns the draft and the ProjectAnchor typed data the county signs to publish it."""
    with service.db.session() as session:
        pid = projects.create_draft(session, ProjectKind.NEED, body.owner, body.content).project_id
    return _to_sign(service, pid)


@router.post("/supply", status_code=201, summary="新建供给项目草稿 Create a supply draft")
def create_supply(body: SupplyDraftIn, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        pid = projects.create_draft(
            session, ProjectKind.SUPPLY, body.owner, body.content
        ).project_id
    return _to_sign(service, pid)


@router.put("/projects/{project_id}", summary="修改项目 Change a project (next version)")
def change(project_id: Hex32Path, body: ContentIn, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        projects.update_draft(session, project_id, body.content)
    return _to_sign(service, project_id)


@router.post("/projects/{project_id}/transition", summary="状态变更 Lifecycle move")
def transition(project_id: Hex32Path, body: TransitionIn, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        projects.request_transition(session, project_id, body.status)
    return _to_sign(service, project_id)


@router.get("/projects/{project_id}/to-sign", summary="待签名数据 Typed data to sign")
def pending(project_id: Hex32Path, service: ServiceDep) -> dict[str, Any]:
    return _to_sign(service, project_id)


@router.post("/projects/{project_id}/publish", status_code=202, summary="签名发布 Publish")
def publish(project_id: Hex32Path, body: SignatureIn, service: ServiceDep) -> dict[str, Any]:
    """Checks the owner's signature and queues the ProjectAnchor for the chain."""
    return actions.publish(service, project_id, _sig(body.signature))


@router.get("/projects", summary="检索项目 Search projects")
def search(
    session: SessionDep,
    kind: Literal["need", "supply"] | None = None,
    q: str | None = Query(None, max_length=100, description="标题与描述全文 free text"),
    county: int | None = Query(None, ge=100000, le=999999),
    province: int | None = Query(None, ge=10, le=99),
    category: int | None = Query(None, ge=1, le=10),
    key_county: bool | None = None,
    status: str | None = Query(None, max_length=16),
    resource_kind: int | None = Query(None, ge=1, le=3),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=100_000),
) -> list[dict[str, Any]]:
    rows = projects.search(
        session,
        projects.Search(
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
            text=q,
            limit=limit,
            offset=offset,
        ),
    )
    return [projects.project_json(r) for r in rows]


@router.get("/projects/{project_id}", summary="项目详情 One project")
def get_project(project_id: Hex32Path, session: SessionDep) -> dict[str, Any]:
    out = projects.project_json(projects.get_project(session, project_id))
    out["pushed_to"] = matching.pushes(session, project_id)
    return out


@router.get("/projects/{project_id}/versions", summary="历史版本 Versions")
def versions(project_id: Hex32Path, session: SessionDep) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "status": v.status,
            "content_hash": v.content_hash,
            "anchor_id": v.anchor_id,
            "signer": v.signer,
            "content_json": v.content_json,
        }
        for v in projects.versions(session, project_id)
    ]


@router.get("/projects/{project_id}/versions/{version}/proof", summary="版本证明 Proof")
def version_proof(
    project_id: Hex32Path, version: Annotated[int, FPath(ge=1, lt=1 << 31)], session: SessionDep
) -> dict[str, Any]:
    return projects.version_proof(session, project_id, version)


@router.get("/projects/{project_id}/recommendations", summary="推荐 Recommendations")
def recommendations(
    project_id: Hex32Path, session: SessionDep, limit: int = Query(10, ge=1, le=100)
) -> list[dict[str, Any]]:
    return [r.as_dict() for r in matching.recommend(session, project_id, limit=limit)]


@router.post("/projects/{project_id}/push", summary="推送 Push to the best matches")
def push(project_id: Hex32Path, session: SessionDep) -> list[str]:
    return [p.target for p in matching.push(session, project_id)]


@router.get("/needs/{project_id}/progress", summary="需求进度 Progress of a need")
def progress(project_id: Hex32Path, session: SessionDep) -> dict[str, Any]:
    return matching.progress(session, project_id)


@router.post("/matches", status_code=201, summary="点单/接单 Prepare a match")
def prepare_match(body: MatchIn, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        m = matching.prepare_match(
            session,
            body.direction,
            body.need_id,
            supply_id=body.supply_id,
            org_code=body.org_code,
            note=body.note,
        )
        return {
            "match": matching.match_json(m),
            "typed_data": matching.match_typed_data(m, "propose", service.domain),
        }


@router.post("/matches/{match_id}/propose", summary="提出 Sign the proposal")
def propose(match_id: Hex32Path, body: SignatureIn, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        m = matching.propose(session, match_id, body.signature, service.domain)
        return matching.match_json(m)


@router.post("/matches/{match_id}/respond", summary="接受或拒绝 Accept or decline")
def respond(match_id: Hex32Path, body: RespondIn, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        m = matching.respond(session, match_id, body.action, body.signature, service.domain)
        return matching.match_json(m)


@router.get("/matches/{match_id}", summary="匹配详情 One match")
def get_match(match_id: Hex32Path, service: ServiceDep) -> dict[str, Any]:
    with service.db.session() as session:
        m = matching.get_match(session, match_id)
        return {
            "match": matching.match_json(m),
            "accept_typed_data": matching.match_typed_data(m, "accept", service.domain),
            "decline_typed_data": matching.match_typed_data(m, "decline", service.domain),
        }


@router.get("/key-counties", summary="重点帮扶县 Key counties")
def key_counties(session: SessionDep) -> list[dict[str, Any]]:
    return [
        {"code": k.code, "name": k.name, "source": k.source} for k in projects.key_counties(session)
    ]


@router.put("/key-counties", summary="载入重点帮扶县 Load key counties (admin)")
def load_key_counties(body: KeyCountiesIn, session: SessionDep) -> dict[str, Any]:
    """The admin signs SHA-256 of the CSV text with personal_sign (EIP-191)."""
    try:
        signer = Account.recover_message(
            encode_defunct(primitive=sha256(body.csv.encode("utf-8"))), signature=body.signature
        )
    except Exception:  # noqa: BLE001 - malformed signatures raise several types
        raise LedgerError("signature is malformed", code="bad_signature") from None
    if "ADMIN" not in current_roles(session, signer):
        raise PermissionError_(f"{signer} is not an ADMIN of this ledger", code="not_admin")
    count = projects.load_key_counties(
        session, projects.parse_key_county_csv(body.csv), body.source
    )
    return {"loaded": count}


@router.post("/bundles/import", summary="导入共享包 Import a signed bundle")
def import_bundle(
    bundle: dict[str, Any],
    session: SessionDep,
    trusted: list[Address] = Query(
        ..., min_length=1, max_length=20, description="trusted exporter addresses"
    ),
) -> dict[str, Any]:
    return {"imported": sharing.import_bundle(session, bundle, trusted)}
