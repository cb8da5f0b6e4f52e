"""Need and supply projects: their lifecycle (drafts, publishing, edits, status moves) as
signed versions. The content schemas and canonical JSON are in `content`, owners in
`ownership`, version proofs in `proofs`, search in `search`, the key counties in
`key_counties`.

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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.eip712 import Domain, recover_signer
from ledger.core.errors import (
    ConflictError,
    LedgerError,
    LibraryError,
    MessageError,
    PermissionError_,
    SignatureError,
)
from ledger.core.fields import ProjectKind
from ledger.core.records import SignedRecord
from ledger.library import auth
from ledger.library.content import (
    NeedContent,
    SupplyContent,
    apply_content,
    canonical_json,
    content_from_json,
    content_of,
    document,
    make_anchor,
    parse_content,
    project_message,
)
from ledger.library.key_counties import (
    is_key_county,
)
from ledger.library.matching import accepted_matches
from ledger.library.messages import DEFAULT_LIFETIME, LIBRARY_PROJECT, new_nonce, typed_data
from ledger.library.models import LibraryProject, LibraryProjectVersion
from ledger.library.ownership import check_owner, get_project, owner_org

__all__ = [
    "EDITABLE",
    "STATUSES",
    "TRANSITIONS",
    "PendingVersion",
    "ToSign",
    "check_version",
    "create_draft",
    "draft_message",
    "next_version",
    "record_version",
    "to_sign",
    "update_draft",
    "versions",
]

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


def draft_message(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    org_code: str | None,
    *,
    nonce: str,
    expiry: int,
) -> dict[str, Any]:
    """The "draft" LibraryProject message: version 1, the document it will publish."""
    return project_message(
        kind,
        project_id,
        content,
        action="draft",
        status="published",
        version=1,
        org_code=org_code,
        nonce=nonce,
        expiry=expiry,
    )


def next_version(
    row: LibraryProject,
    content: NeedContent | SupplyContent,
    action: str,
    status: str,
    nonce: str,
    expiry: int,
) -> tuple[dict[str, Any], ProjectAnchor]:
    """The LibraryProject message and the ProjectAnchor of `row`'s next version."""
    kind = ProjectKind(row.kind)
    version = row.version + 1
    message = project_message(
        kind,
        row.project_id,
        content,
        action=action,
        status=status,
        version=version,
        org_code=row.org_code,
        nonce=nonce,
        expiry=expiry,
    )
    anchor = make_anchor(
        kind, row.project_id, content, status=status, version=version, org_code=row.org_code
    )
    return message, anchor


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
    org_code = owner_org(session, kind, content, verified.signer)
    pid = str(verified.message["projectId"])
    auth.require_scoped(verified, pid, "projectId")
    expected = draft_message(
        kind,
        pid,
        content,
        org_code,
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
    apply_content(row, content, "published")
    session.add(row)
    auth.consume(session, verified, "draft")
    session.flush()
    return row


def _new_content(row: LibraryProject, data: Mapping[str, Any]) -> NeedContent | SupplyContent:
    """A project's changed content; a need keeps its county."""
    content = parse_content(ProjectKind(row.kind), data)
    if isinstance(content, NeedContent) and content.county != row.county:
        raise LibraryError("a need cannot move to another county", code="county_changed")
    return content


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
    content = _new_content(row, data)
    expected = draft_message(
        ProjectKind(row.kind),
        row.project_id,
        content,
        row.org_code,
        nonce=verified.message["nonce"],
        expiry=verified.message["expiry"],
    )
    auth.require_equal(verified, expected)
    apply_content(row, content, "published")
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
    if status == "matched" and not accepted_matches(session, row.project_id):
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
        content = _new_content(row, data)
    else:
        content = content_of(row)
    nonce, expiry = verified.message["nonce"], verified.message["expiry"]
    expected, anchor = next_version(row, content, action, new_status, nonce, expiry)
    auth.require_equal(verified, expected)
    doc_json = canonical_json(
        document(kind, row.project_id, content, new_status, row.org_code)
    ).decode("utf-8")
    if action == "edit" and doc_json == row.draft_json:
        raise ConflictError("nothing changed since the last version", code="nothing_to_publish")
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
    content = content_from_json(ProjectKind(row.kind), pending.content_json)
    apply_content(row, content, pending.status)
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
    expiry = auth.expiry(lifetime)
    message, anchor = next_version(row, content, action, new_status, new_nonce(), expiry)
    doc = document(kind, row.project_id, content, new_status, row.org_code)
    return ToSign(
        project_id=row.project_id,
        version=anchor.version,
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
