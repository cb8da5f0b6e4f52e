"""Need and supply projects: content schemas, canonical JSON, lifecycle, signed versions.

Every published version (and every status change) is one ProjectAnchor record signed by the
owner — a COUNTY key of the need's county, or an ORG key of the supply project's organization
— whose contentHash is SHA-256 of that version's canonical JSON, and which carries the title,
budget and end date in clear. The canonical JSON of every version is kept, so any past
version can be proven against the on-chain log.

Every write is signed by the owner (`ledger.library.messages.LIBRARY_PROJECT`): a draft is
created and edited with a "draft" message; publishing, editing a published project and a
lifecycle move are "publish" / "edit" / "transition" messages sent with the ProjectAnchor
signature of the next version. Published content is never changed in place.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ledger.core.errors import ConflictError, LedgerError, NotFoundError, PermissionError_
from ledger.core.merkle import MerkleTree
from ledger.core.records import (
    CATEGORIES,
    Domain,
    ProjectAnchor,
    ProjectKind,
    SignedRecord,
    category_code,
    date_code,
    parse_bytes32,
    recover_signer,
    sha256,
)
from ledger.library import auth, pii
from ledger.library.messages import (
    DEFAULT_LIFETIME,
    KEY_COUNTY_LIST,
    LIBRARY_PROJECT,
    MAX_RESOURCES,
    MessageError,
    SignatureError,
    new_nonce,
    typed_data,
)
from ledger.library.models import KeyCounty, KeyCountyList, LibraryProject, LibraryProjectVersion
from ledger.library.regions import require_county, require_province
from ledger.relayer.lookups import current_roles
from ledger.store.models import LogEntry, ProjectAnchorRow

# ------------------------------------------------------------------ errors


class LibraryError(LedgerError):
    """A project or match request is malformed or not allowed in the project's state."""

    code = "invalid_project"
    http_status = 422


# ------------------------------------------------------------------ canonical JSON


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nfc(v) for v in value]
    if isinstance(value, float):
        # floats have no single text form; amounts are integers (fen, units, hours)
        raise LibraryError("numbers in project content must be integers", code="bad_number")
    return value


def canonical_json(content: Mapping[str, Any]) -> bytes:
    """THE canonical form: NFC strings, sorted keys, no whitespace, UTF-8, integers only."""
    return json.dumps(
        _nfc(content), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def content_hash(content: Mapping[str, Any]) -> bytes:
    return sha256(canonical_json(content))


def search_text(*parts: str) -> str:
    """Text for LIKE search: NFC, case-folded, so 'ABC' finds 'abc' and 册亨 finds 册亨县."""
    return unicodedata.normalize("NFC", " ".join(parts)).casefold()


# ------------------------------------------------------------------ content

MAX_QUANTITY = 10**15  # a hard ceiling: larger asks are typing errors, not aid
STATUSES = ("draft", "published", "matched", "in_progress", "completed", "closed")
#: Allowed lifecycle moves; a match that falls through returns a project to published.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"published"}),
    "published": frozenset({"matched", "closed"}),
    "matched": frozenset({"in_progress", "published", "closed"}),
    "in_progress": frozenset({"completed"}),
    "completed": frozenset({"closed"}),
    "closed": frozenset(),
}
EDITABLE = frozenset({"draft", "published", "matched", "in_progress"})
RESOURCE_KINDS = {"funds": 1, "goods": 2, "service": 3}
RESOURCE_UNITS = {"funds": "fen", "service": "hour"}

Text100 = Annotated[str, Field(min_length=1, max_length=100)]
#: The on-chain ProjectAnchor takes a title of 1..200 UTF-8 bytes.
MAX_TITLE_BYTES = 200
Text64 = Annotated[str, Field(min_length=1, max_length=64)]


def _category(value: Any) -> str:
    if not isinstance(value, str):
        raise LibraryError("category must be text", code="unknown_category")
    return CATEGORIES[category_code(value.strip()) - 1]


def _title_fits(v: str) -> str:
    if not v.strip():
        raise ValueError("title must not be blank")
    if len(unicodedata.normalize("NFC", v).encode("utf-8")) > MAX_TITLE_BYTES:
        raise ValueError(f"title must fit in {MAX_TITLE_BYTES} UTF-8 bytes (about 66 汉字)")
    return v


class Resource(BaseModel):
    """A resource asked for (need) or offered (supply): funds in fen, goods, service hours."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["funds", "goods", "service"]
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit: str = Field(default="", max_length=16)
    item: str = Field(default="", max_length=64)

    @field_validator("unit")
    @classmethod
    def _unit_fits(cls, v: str) -> str:
        if len(v.encode("utf-8")) > 32:
            raise ValueError("unit must fit in 32 UTF-8 bytes")
        return v

    def normalized(self) -> Resource:
        unit = RESOURCE_UNITS.get(self.kind, self.unit or "件")
        return self.model_copy(update={"unit": unit})


class NeedContent(BaseModel):
    """What a county publishes in the needs library (no personal data: roles, not names)."""

    model_config = ConfigDict(extra="forbid")

    county: int
    village: str = Field(default="", max_length=64)
    title: Text100
    description: str = Field(default="", max_length=4000)
    category: str
    mode: Literal["relief", "capacity"]  # 输血 / 造血
    beneficiaries: int = Field(ge=0, le=10_000_000)
    budget_fen: int = Field(ge=0, le=MAX_QUANTITY)
    resources: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)
    deadline: date
    contact_role: Text64

    @field_validator("title")
    @classmethod
    def _title_bytes(cls, v: str) -> str:
        return _title_fits(v)

    @field_validator("county", mode="before")
    @classmethod
    def _county(cls, v: Any) -> int:
        return require_county(v).code

    @field_validator("category", mode="before")
    @classmethod
    def _cat(cls, v: Any) -> str:
        return _category(v)


class SupplyContent(BaseModel):
    """What an organization publishes in the supply library."""

    model_config = ConfigDict(extra="forbid")

    title: Text100
    description: str = Field(default="", max_length=4000)
    categories: list[str] = Field(min_length=1, max_length=10)
    regions: list[int] = Field(min_length=1, max_length=500)  # provinces (52) or counties
    capacity: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)
    period_start: date
    period_end: date

    @field_validator("title")
    @classmethod
    def _title_bytes(cls, v: str) -> str:
        return _title_fits(v)

    @field_validator("categories", mode="before")
    @classmethod
    def _cats(cls, v: Any) -> list[str]:
        if not isinstance(v, list):
            raise LibraryError("categories must be a list", code="unknown_category")
        return sorted({_category(c) for c in v}, key=CATEGORIES.index)

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, v: Any) -> list[int]:
        if not isinstance(v, list):
            raise LibraryError("regions must be a list of codes", code="bad_county_code")
        out = {
            require_province(c) if len(str(c).strip()) == 2 else require_county(c).code for c in v
        }
        return sorted(out)


def parse_content(kind: ProjectKind, data: Mapping[str, Any]) -> NeedContent | SupplyContent:
    """Validated content, or LibraryError naming the first bad field."""
    model: type[NeedContent] | type[SupplyContent] = (
        NeedContent if kind == ProjectKind.NEED else SupplyContent
    )
    try:
        parsed = model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise LibraryError(
            f"{where}: {first.get('msg')}", code="invalid_project", field=where
        ) from None
    if isinstance(parsed, SupplyContent) and parsed.period_end < parsed.period_start:
        raise LibraryError("period_end is before period_start", code="invalid_project")
    pii.screen(parsed.model_dump(mode="json"))
    return parsed


def _resources(content: NeedContent | SupplyContent) -> list[Resource]:
    items = content.resources if isinstance(content, NeedContent) else content.capacity
    return [r.normalized() for r in items]


def document(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    status: str,
    org_code: str | None = None,
) -> dict[str, Any]:
    """The JSON that is hashed and anchored for one version (status included, so a status
    change is a signed, provable version too)."""
    body = content.model_dump(mode="json")
    body["resources" if kind == ProjectKind.NEED else "capacity"] = [
        r.model_dump(mode="json") for r in _resources(content)
    ]
    doc: dict[str, Any] = {
        "format": "bangfu-project/1",
        "project_id": project_id,
        "kind": "need" if kind == ProjectKind.NEED else "supply",
        "status": status,
        **body,
    }
    if org_code is not None:
        doc["org_code"] = org_code
    return doc


# ------------------------------------------------------------------ ownership


def _org_code_of(session: Session, address: str) -> str | None:
    role = current_roles(session, address).get("ORG")
    return role.org_code if role is not None else None


def _county_of(session: Session, address: str) -> int | None:
    role = current_roles(session, address).get("COUNTY")
    return role.county if role is not None else None


def check_owner(session: Session, project: LibraryProject, address: str) -> None:
    """Only a COUNTY key of the need's county, or an ORG key of the supply project's
    organization, may act on a project."""
    if project.kind == ProjectKind.NEED:
        county = _county_of(session, address)
        if county is None or county != project.county:
            raise PermissionError_(
                f"{address} is not a registered key of county {project.county}; only that "
                "county's rural-revitalization office may change this need",
                code="not_project_owner",
            )
    else:
        org = _org_code_of(session, address)
        if org is None or org != project.org_code:
            raise PermissionError_(
                f"{address} is not a registered key of organization {project.org_code}; only "
                "that organization may change this supply project",
                code="not_project_owner",
            )


def is_key_county(session: Session, county: int | None) -> bool:
    return county is not None and session.get(KeyCounty, county) is not None


# ------------------------------------------------------------------ state


def get_project(session: Session, project_id: str) -> LibraryProject:
    pid = "0x" + parse_bytes32(project_id, "project_id").hex()
    row = session.get(LibraryProject, pid)
    if row is None:
        raise NotFoundError(f"no project {pid} in the library", code="unknown_project")
    return row


def budget_of(content: NeedContent | SupplyContent) -> int:
    """Fen: a need's budget, or a supply project's funds capacity (decision 2)."""
    if isinstance(content, NeedContent):
        return content.budget_fen
    return sum(r.quantity for r in content.capacity if r.kind == "funds")


def end_date_of(content: NeedContent | SupplyContent) -> int:
    """YYYYMMDD: a need's deadline, or a supply project's period_end (decision 2)."""
    return date_code(content.deadline if isinstance(content, NeedContent) else content.period_end)


def _first_category(content: NeedContent | SupplyContent) -> int:
    cats = [content.category] if isinstance(content, NeedContent) else content.categories
    return category_code(cats[0])


def project_message(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    *,
    action: str,
    status: str,
    version: int,
    org_code: str | None,
    nonce: str,
    expiry: int,
) -> dict[str, Any]:
    """The LibraryProject message for one version of a project: the human fields, and the
    SHA-256 of the canonical JSON of that version's document."""
    doc = document(kind, project_id, content, status, org_code)
    return {
        "action": action,
        "projectId": project_id.lower(),
        "projectKind": int(kind),
        "county": content.county if isinstance(content, NeedContent) else 0,
        "orgCode": org_code or "",
        "title": content.title,
        "category": _first_category(content),
        "budget": budget_of(content),
        "endDate": end_date_of(content),
        "status": status,
        "version": version,
        "contentHash": "0x" + sha256(canonical_json(doc)).hex(),
        "nonce": nonce,
        "expiry": expiry,
    }


def make_anchor(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    *,
    status: str,
    version: int,
    org_code: str | None,
) -> ProjectAnchor:
    """The ProjectAnchor of one version, with its human-readable fields (decision 2)."""
    pid = parse_bytes32(project_id, "project_id")
    doc = document(kind, project_id, content, status, org_code)
    return ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, version),
        project_id=pid,
        project_kind=int(kind),
        county=content.county if isinstance(content, NeedContent) else 0,
        category=_first_category(content),
        content_hash=sha256(canonical_json(doc)),
        title=content.title,
        budget=budget_of(content),
        end_date=end_date_of(content),
        version=version,
    )


def _owner_org(session: Session, kind: ProjectKind, content: Any, signer: str) -> str | None:
    """Who may own a new project: a COUNTY key of the need's county, or any ORG key (the
    project belongs to that organization). Returns the organization's code for supply."""
    if isinstance(content, NeedContent):
        if _county_of(session, signer) != content.county:
            raise PermissionError_(
                f"{signer} 不是 {content.county} 县的登记密钥 / {signer} is not a registered key "
                f"of county {content.county}; register the county office's key first "
                "(bangfu register county)",
                code="not_project_owner",
            )
        return None
    org_code = _org_code_of(session, signer)
    if org_code is None:
        raise PermissionError_(
            f"{signer} 不是登记的社会组织密钥 / {signer} is not a registered organization key; "
            "register it first (bangfu register org)",
            code="not_project_owner",
        )
    return org_code


def create_draft(
    session: Session,
    kind: ProjectKind,
    data: Mapping[str, Any],
    message: Any,
    signature: str | None,
    domain: Domain,
) -> LibraryProject:
    """A new draft, signed by its owner with a LibraryProject "draft" message (version 1,
    the document it will publish). The project id starts with the owner's address."""
    verified = auth.verify(session, LIBRARY_PROJECT, message, signature, domain)
    content = parse_content(kind, data)
    org_code = _owner_org(session, kind, content, verified.signer)
    pid = str(verified.message["projectId"])
    auth.require_scoped(verified, pid, "projectId")
    expected = project_message(
        kind,
        pid,
        content,
        action="draft",
        status="published",
        version=1,
        org_code=org_code,
        nonce=verified.message["nonce"],
        expiry=verified.message["expiry"],
    )
    auth.require_equal(verified, expected)
    if session.get(LibraryProject, pid) is not None:
        raise ConflictError(f"project {pid} already exists", code="project_exists")
    county = content.county if isinstance(content, NeedContent) else None
    row = LibraryProject(
        project_id=pid,
        kind=int(kind),
        status="draft",
        owner=verified.signer,
        county=county,
        org_code=org_code,
        version=0,
        origin="local",
        draft_json="",
        title="",
        search_text="",
        category=1,
        categories="",
        resource_kinds="",
        key_county=is_key_county(session, county),
    )
    # the draft's content is what version 1 will anchor, so it already says "published"
    _apply(row, content, "published")
    session.add(row)
    auth.consume(session, verified, "draft")
    session.flush()
    return row


def _apply(row: LibraryProject, content: NeedContent | SupplyContent, status: str) -> None:
    doc = document(ProjectKind(row.kind), row.project_id, content, status, row.org_code)
    row.draft_json = canonical_json(doc).decode("utf-8")
    row.title = content.title
    row.search_text = search_text(content.title, content.description)
    cats = [content.category] if isinstance(content, NeedContent) else content.categories
    row.category = category_code(cats[0])
    row.categories = "," + ",".join(str(category_code(c)) for c in cats) + ","
    kinds = sorted({RESOURCE_KINDS[r.kind] for r in _resources(content)})
    row.resource_kinds = "," + ",".join(map(str, kinds)) + ","


def content_from_json(kind: ProjectKind, text: str) -> NeedContent | SupplyContent:
    doc = json.loads(text)
    for key in ("format", "project_id", "kind", "status", "org_code"):
        doc.pop(key, None)
    return parse_content(kind, doc)


def content_of(row: LibraryProject) -> NeedContent | SupplyContent:
    """A draft's pending content, or a published project's latest anchored content."""
    return content_from_json(ProjectKind(row.kind), row.draft_json)


def update_draft(
    session: Session,
    project_id: str,
    data: Mapping[str, Any],
    message: Any,
    signature: str | None,
    domain: Domain,
) -> LibraryProject:
    """Replaces a draft's content, signed by its owner ("draft" message). Published projects
    are immutable: change them with `check_version(..., "edit")`, a new signed version."""
    row = get_project(session, project_id)
    verified = auth.verify(session, LIBRARY_PROJECT, message, signature, domain)
    check_owner(session, row, verified.signer)
    if row.status != "draft":
        raise ConflictError(
            "已发布内容不可修改，修改即新版本 / published content is immutable; a change is a "
            "new version signed by the owner (action edit, with the anchor signature)",
            code="published_is_immutable",
        )
    content = parse_content(ProjectKind(row.kind), data)
    if isinstance(content, NeedContent) and content.county != row.county:
        raise LibraryError("a need cannot move to another county", code="county_changed")
    expected = project_message(
        ProjectKind(row.kind),
        row.project_id,
        content,
        action="draft",
        status="published",
        version=1,
        org_code=row.org_code,
        nonce=verified.message["nonce"],
        expiry=verified.message["expiry"],
    )
    auth.require_equal(verified, expected)
    _apply(row, content, "published")
    auth.consume(session, verified, "draft")
    session.flush()
    return row


@dataclass(frozen=True)
class PendingVersion:
    """A checked new version: the owner's request, the signed anchor and its document."""

    verified: auth.Verified
    signed: SignedRecord
    action: str
    status: str
    content_json: str


def _new_status(session: Session, row: LibraryProject, action: str, status: str | None) -> str:
    if action == "publish":
        if row.status != "draft":
            raise ConflictError("the project is already published", code="already_published")
        return "published"
    if action == "edit":
        if row.status == "draft":
            raise ConflictError("edit a draft with action draft", code="project_is_draft")
        if row.status not in EDITABLE:
            raise LibraryError(
                f"a {row.status} project can no longer be edited", code="project_not_editable"
            )
        return row.status
    if action != "transition" or status is None:
        raise LibraryError(f"unknown action {action!r}", code="bad_action")
    if status not in STATUSES:
        raise LibraryError(f"unknown status {status!r}; use one of {STATUSES}", code="bad_status")
    if row.status == "draft" or status not in TRANSITIONS[row.status]:
        allowed = ", ".join(sorted(TRANSITIONS[row.status])) or "none"
        raise ConflictError(
            f"a {row.status} project cannot become {status} (allowed: {allowed})",
            code="transition_not_allowed",
        )
    if status == "matched":
        from ledger.library.matching import accepted_matches

        if not accepted_matches(session, row.project_id):
            raise ConflictError(
                "a project becomes matched only after a 点单/接单 is accepted",
                code="no_accepted_match",
            )
    return status


def check_version(
    session: Session,
    project_id: str,
    action: str,
    message: Any,
    signature: str | None,
    anchor_signature: str | None,
    domain: Domain,
    *,
    data: Mapping[str, Any] | None = None,
    status: str | None = None,
) -> PendingVersion:
    """Checks a new version (read only): `publish` a draft, `edit` a published project's
    content, or a lifecycle `transition`. The owner signs the LibraryProject request and the
    ProjectAnchor of version current + 1; both must recover to the same owner.

    The caller queues the anchor with the relayer, then calls `record_version` (which
    consumes the nonce); a crash between the two is healed by sending the request again."""
    row = get_project(session, project_id)
    verified = auth.verify(session, LIBRARY_PROJECT, message, signature, domain)
    check_owner(session, row, verified.signer)
    if row.origin != "local":
        raise LibraryError("imported projects are read-only here", code="imported_project")
    if verified.message["action"] != action:
        raise MessageError(
            f"this route takes action {action!r}, the message says {verified.message['action']!r}",
            code="message_mismatch",
            field="action",
        )
    new_status = _new_status(session, row, action, status)
    kind = ProjectKind(row.kind)
    if action == "edit":
        if data is None:
            raise LibraryError("an edit needs the new content", code="invalid_project")
        content = parse_content(kind, data)
        if isinstance(content, NeedContent) and content.county != row.county:
            raise LibraryError("a need cannot move to another county", code="county_changed")
    else:
        content = content_of(row)
    version = row.version + 1
    expected = project_message(
        kind,
        row.project_id,
        content,
        action=action,
        status=new_status,
        version=version,
        org_code=row.org_code,
        nonce=verified.message["nonce"],
        expiry=verified.message["expiry"],
    )
    auth.require_equal(verified, expected)
    doc_json = canonical_json(
        document(kind, row.project_id, content, new_status, row.org_code)
    ).decode("utf-8")
    if action == "edit" and doc_json == row.draft_json:
        raise ConflictError("nothing changed since the last version", code="nothing_to_publish")
    anchor = make_anchor(
        kind, row.project_id, content, status=new_status, version=version, org_code=row.org_code
    )
    if not anchor_signature:
        raise SignatureError(
            "缺少锚定签名 / a new version needs the owner's signature over its ProjectAnchor "
            "(anchor_signature)",
            code="signature_required",
        )
    try:
        raw = bytes.fromhex(anchor_signature.removeprefix("0x"))
        anchor_signer = recover_signer(anchor.digest(domain), raw)
    except (ValueError, LedgerError):
        raise SignatureError(
            "锚定签名无效 / anchor_signature is malformed; sign the ProjectAnchor typed data",
            code="bad_signature",
        ) from None
    if anchor_signer != verified.signer:
        raise PermissionError_(
            f"the ProjectAnchor is signed by {anchor_signer}, the request by {verified.signer}; "
            "the owner signs both",
            code="not_project_owner",
        )
    signed = SignedRecord(record=anchor, domain=domain, signer=anchor_signer, signature=raw)
    return PendingVersion(verified, signed, action, new_status, doc_json)


def record_version(session: Session, project_id: str, pending: PendingVersion) -> LibraryProject:
    """Stores the version (after the anchor was queued), consumes the request's nonce and
    moves the project to the new content and status."""
    row = get_project(session, project_id)
    signed = pending.signed
    anchor = signed.record
    assert isinstance(anchor, ProjectAnchor)
    if anchor.version != row.version + 1:
        raise ConflictError(
            "the project changed while publishing; fetch it and sign again", code="stale_version"
        )
    auth.consume(session, pending.verified, pending.action)
    session.add(
        LibraryProjectVersion(
            project_id=row.project_id,
            version=anchor.version,
            status=pending.status,
            content_json=pending.content_json,
            content_hash="0x" + anchor.content_hash.hex(),
            anchor_id="0x" + anchor.id.hex(),
            anchor_bytes=signed.canonical_bytes(),
            signer=signed.signer,
        )
    )
    _apply(row, content_from_json(ProjectKind(row.kind), pending.content_json), pending.status)
    row.version = anchor.version
    if row.status == "draft":
        row.published_at = datetime.now(UTC)
    row.status = pending.status
    session.flush()
    return row


@dataclass(frozen=True)
class ToSign:
    """What the owner signs to make the next version: the LibraryProject request (with a
    suggested nonce and expiry) and the ProjectAnchor, and the document both hash."""

    project_id: str
    version: int
    status: str
    content_json: str
    content_hash: str
    typed_data: dict[str, Any]  # the ProjectAnchor
    request_typed_data: dict[str, Any]  # the LibraryProject message


def to_sign(
    session: Session,
    row: LibraryProject,
    domain: Domain,
    *,
    status: str | None = None,
    lifetime: int = DEFAULT_LIFETIME,
) -> ToSign:
    """For a draft: publishing it; with `status`: that lifecycle move of a published project."""
    action = "publish" if row.status == "draft" else "transition"
    new_status = _new_status(session, row, action, status)
    kind = ProjectKind(row.kind)
    content = content_of(row)
    version = row.version + 1
    message = project_message(
        kind,
        row.project_id,
        content,
        action=action,
        status=new_status,
        version=version,
        org_code=row.org_code,
        nonce=new_nonce(),
        expiry=auth.now() + lifetime,
    )
    anchor = make_anchor(
        kind, row.project_id, content, status=new_status, version=version, org_code=row.org_code
    )
    doc = document(kind, row.project_id, content, new_status, row.org_code)
    return ToSign(
        project_id=row.project_id,
        version=version,
        status=new_status,
        content_json=canonical_json(doc).decode("utf-8"),
        content_hash=message["contentHash"],
        typed_data=anchor.typed_data(domain),
        request_typed_data=typed_data(LIBRARY_PROJECT, message, domain),
    )


def versions(session: Session, project_id: str) -> list[LibraryProjectVersion]:
    row = get_project(session, project_id)
    return list(
        session.scalars(
            select(LibraryProjectVersion)
            .where(LibraryProjectVersion.project_id == row.project_id)
            .order_by(LibraryProjectVersion.version)
        )
    )


def anchored_fields(session: Session, anchor_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The human-readable fields of each anchor as the indexer read them from the chain
    (title, budget in fen, end date as YYYYMMDD or 0), by anchor id; an anchor not indexed
    yet is absent."""
    if not anchor_ids:
        return {}
    rows = session.scalars(
        select(ProjectAnchorRow).where(
            ProjectAnchorRow.record_id.in_([a.lower() for a in anchor_ids])
        )
    )
    return {
        r.record_id: {"title": r.title, "budget": int(r.budget), "end_date": int(r.end_date)}
        for r in rows
    }


# ------------------------------------------------------------------ proofs


def version_proof(session: Session, project_id: str, version: int) -> dict[str, Any]:
    """A past version's canonical JSON, its ProjectAnchor record bytes and an RFC 9162
    inclusion proof against the indexed log (raises if the anchor is not indexed yet)."""
    row = get_project(session, project_id)
    v = session.get(LibraryProjectVersion, (row.project_id, version))
    if v is None:
        raise NotFoundError(f"project {row.project_id} has no version {version}", code="no_version")
    entry = session.scalar(select(LogEntry).where(LogEntry.record_id == v.anchor_id))
    if entry is None:
        raise ConflictError(
            f"version {version} is not on chain yet; wait for the relayer and indexer",
            code="not_yet_on_chain",
        )
    leaves = [
        bytes.fromhex(h[2:])
        for h in session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.leaf_index))
    ]
    tree = MerkleTree(leaves)
    return {
        "project_id": row.project_id,
        "version": version,
        "content_json": v.content_json,
        "content_hash": v.content_hash,
        # as indexed from the chain: what the signed anchor says, beside the content
        "anchored": anchored_fields(session, [v.anchor_id]).get(v.anchor_id.lower()),
        "record": "0x" + entry.record_bytes.hex(),
        "leaf_index": entry.leaf_index,
        "tree_size": tree.size,
        "root": "0x" + tree.root().hex(),
        "inclusion_proof": ["0x" + p.hex() for p in tree.inclusion_proof(entry.leaf_index)],
    }


def verify_version_proof(proof: Mapping[str, Any]) -> SignedRecord:
    """Checks a version proof offline: content hash, anchor fields, signature, inclusion."""
    from ledger.core.merkle import verify_inclusion
    from ledger.core.records import leaf_hash

    try:
        data = bytes.fromhex(str(proof["record"])[2:])
        signed = SignedRecord.from_bytes(data)
        signed.verify()
        anchor = signed.record
        content = str(proof["content_json"]).encode("utf-8")
        path = [bytes.fromhex(str(p)[2:]) for p in proof["inclusion_proof"]]
        root = bytes.fromhex(str(proof["root"])[2:])
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
    except (KeyError, ValueError, TypeError) as exc:
        raise LibraryError(f"malformed proof: {exc}", code="bad_proof") from None
    if not isinstance(anchor, ProjectAnchor):
        raise LibraryError("the proven record is not a ProjectAnchor", code="bad_proof")
    if sha256(content) != anchor.content_hash:
        raise LibraryError(
            "content does not hash to the anchored contentHash", code="content_mismatch"
        )
    doc = json.loads(content)
    if doc.get("project_id") != "0x" + anchor.project_id.hex() or anchor.version != int(
        proof.get("version", -1)
    ):
        raise LibraryError("content and anchor name different projects", code="content_mismatch")
    verify_inclusion(leaf_hash(data), index, size, path, root)
    return signed


# ------------------------------------------------------------------ search


@dataclass(frozen=True)
class Search:
    kind: ProjectKind | None = None
    county: int | None = None
    province: int | None = None
    category: int | None = None
    key_county: bool | None = None
    status: str | None = None
    resource_kind: int | None = None
    text: str | None = None
    owner_org: str | None = None
    include_drafts: bool = False
    limit: int = 50
    offset: int = 0


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, q: Search) -> list[LibraryProject]:
    """Projects matching every given filter, newest first. Free text is a case-folded,
    NFC-normalized substring match (works for Chinese, on SQLite and PostgreSQL alike)."""
    stmt = select(LibraryProject)
    if not q.include_drafts:
        stmt = stmt.where(LibraryProject.status != "draft")
    if q.kind is not None:
        stmt = stmt.where(LibraryProject.kind == int(q.kind))
    if q.county is not None:
        stmt = stmt.where(LibraryProject.county == q.county)
    if q.province is not None:
        stmt = stmt.where(
            LibraryProject.county >= q.province * 10000,
            LibraryProject.county < (q.province + 1) * 10000,
        )
    if q.category is not None:
        stmt = stmt.where(LibraryProject.categories.like(f"%,{q.category},%"))
    if q.key_county is not None:
        stmt = stmt.where(LibraryProject.key_county.is_(q.key_county))
    if q.status is not None:
        stmt = stmt.where(LibraryProject.status == q.status)
    if q.resource_kind is not None:
        stmt = stmt.where(LibraryProject.resource_kinds.like(f"%,{q.resource_kind},%"))
    if q.owner_org is not None:
        stmt = stmt.where(LibraryProject.org_code == q.owner_org)
    if q.text:
        for word in search_text(q.text).split():
            pattern = f"%{_like_escape(word)}%"
            stmt = stmt.where(
                or_(LibraryProject.search_text.like(pattern, escape="\\")),
            )
    stmt = stmt.order_by(LibraryProject.updated_at.desc(), LibraryProject.project_id)
    return list(session.scalars(stmt.limit(min(q.limit, 200)).offset(q.offset)))


def project_json(row: LibraryProject) -> dict[str, Any]:
    """A project as the API shows it (the pending content for drafts)."""
    return {
        "project_id": row.project_id,
        "kind": "need" if row.kind == ProjectKind.NEED else "supply",
        "status": row.status,
        "version": row.version,
        "county": row.county,
        "org_code": row.org_code,
        "key_county": row.key_county,
        "origin": row.origin,
        "content": json.loads(row.draft_json),
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }


# ------------------------------------------------------------------ key counties


def parse_key_county_csv(text: str) -> list[int]:
    """County codes from a CSV whose first column is the code ('#' comments, a header ok)."""
    codes: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        cell = line.split(",")[0].strip().strip('"')
        if not cell or cell.startswith("#") or cell.lower() == "code":
            continue
        try:
            codes.append(require_county(cell).code)
        except LedgerError as exc:
            raise LibraryError(f"line {n}: {exc.message}", code=exc.code, line=n) from None
    if not codes:
        raise LibraryError("the key-county list has no county codes", code="empty_list")
    return codes


def load_key_counties(session: Session, codes: list[int], source: str) -> int:
    """Replaces the key-county list and re-flags existing need projects."""
    for row in session.scalars(select(KeyCounty)):
        session.delete(row)
    session.flush()
    for code in sorted(set(codes)):
        session.add(KeyCounty(code=code, name=require_county(code).full_name, source=source[:200]))
    session.flush()
    keys = set(codes)
    for project in session.scalars(select(LibraryProject)):
        project.key_county = project.county in keys
    return len(keys)


def key_counties(session: Session) -> list[KeyCounty]:
    return list(session.scalars(select(KeyCounty).order_by(KeyCounty.code)))


def key_county_list_version(session: Session) -> int:
    """The version of the loaded key-county list (0 when none was loaded by signature)."""
    return int(session.scalar(select(func.max(KeyCountyList.version))) or 0)


def key_county_message(version: int, source: str, codes: list[int], expiry: int) -> dict[str, Any]:
    """The KeyCountyList message the admin signs: the codes themselves, not a hash of them."""
    return {
        "version": version,
        "source": source,
        "counties": sorted({require_county(c).code for c in codes}),
        "expiry": expiry,
    }


def load_signed_key_counties(
    session: Session,
    message: Any,
    signature: str | None,
    domain: Domain,
    admins: list[str],
) -> int:
    """Replaces the key-county list with an admin-signed KeyCountyList whose version is
    higher than the loaded one's; an older or equal version (a replay) is refused."""
    verified = auth.verify(session, KEY_COUNTY_LIST, message, signature, domain)
    auth.require_admin(session, verified.signer, admins)
    current = key_county_list_version(session)
    if verified.message["version"] <= current:
        raise SignatureError(
            f"名单版本 {verified.message['version']} 不新于已载入的 {current} / the list's "
            f"version must be above the loaded version {current}; an old list cannot come back",
            code="list_version_not_newer",
            loaded_version=current,
        )
    codes = list(verified.message["counties"])
    if not codes:
        raise LibraryError("the key-county list has no county codes", code="empty_list")
    if codes != sorted(set(codes)):
        raise MessageError(
            "counties must be ascending without repeats", code="bad_message", field="counties"
        )
    for code in codes:
        require_county(code)
    source = str(verified.message["source"])
    if not 1 <= len(source) <= 200:
        raise MessageError("source must be 1..200 characters", code="bad_message", field="source")
    pii.screen(source, "source")
    count = load_key_counties(session, codes, source)
    session.add(
        KeyCountyList(
            version=verified.message["version"],
            source=source,
            signer=verified.signer,
            message_json=json.dumps(verified.message, ensure_ascii=False, sort_keys=True),
            signature=verified.signature,
        )
    )
    session.flush()
    return count
