"""Library operations over the ledger service: the steps the API and the CLI call, plus helpers
that sign with a key in hand (demo, tests, and other areas' tests that need a real match).

Every helper that takes a key signs exactly the messages an SDK user would sign; nothing here
skips a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from eth_account import Account

from ledger.config import Settings
from ledger.core.eip712 import Domain
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord
from ledger.library import (
    auth,
    key_counties,
    matching,
    messages,
    ownership,
    projects,
    sharing,
)
from ledger.library import (
    content as project_content,
)
from ledger.library.messages import LIBRARY_MATCH, LIBRARY_PROJECT
from ledger.library.models import LibraryMatch, LibraryProject
from ledger.relayer.outbox import Relayer
from ledger.store.db import Database


class LibraryService(Protocol):
    """What these operations need of the ledger service (`ledger.app.LedgerService` is
    one): the library sits below the app, so it names only the parts it uses."""

    @property
    def db(self) -> Database: ...

    @property
    def relayer(self) -> Relayer: ...

    @property
    def domain(self) -> Domain: ...

    @property
    def settings(self) -> Settings: ...


def load_key_counties(
    service: LibraryService, message: Any, signature: str | None
) -> dict[str, int]:
    """Loads the library admin's signed KeyCountyList; answers how many and the new version."""
    admins = service.settings.library_admin_list
    with service.db.write() as session:
        count = key_counties.load_signed_key_counties(
            session, message, signature, service.domain, admins
        )
        return {"loaded": count, "version": key_counties.key_county_list_version(session)}


def import_bundle(service: LibraryService, bundle: Any, message: Any, signature: str | None) -> int:
    """Imports a signed bundle under the admin's signed LibraryImport; answers how many."""
    settings = service.settings
    with service.db.write() as session:
        return sharing.import_signed_bundle(
            session,
            bundle,
            message,
            signature,
            service.domain,
            admins=settings.library_admin_list,
            trusted=settings.trusted_exporter_list,
        )


def new_version(
    service: LibraryService,
    project_id: str,
    action: str,
    message: Any,
    signature: str | None,
    anchor_signature: str | None,
    *,
    data: Mapping[str, Any] | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Checks the owner's request and anchor, queues the ProjectAnchor, then records the
    version (publish, edit or transition)."""
    with service.db.read() as session:
        pending = projects.check_version(
            session,
            project_id,
            action,
            message,
            signature,
            anchor_signature,
            service.domain,
            data=data,
            status=status,
        )
    acceptance = service.relayer.accept([pending.signed])[0]
    with service.db.write() as session:
        row = projects.record_version(session, project_id, pending)
        return {
            "project_id": row.project_id,
            "version": row.version,
            "status": row.status,
            "anchor_id": acceptance.record_id,
            "record_status": acceptance.status,
        }


def edit_project(
    service: LibraryService,
    project_id: str,
    data: Mapping[str, Any],
    message: Any,
    signature: str | None,
    anchor_signature: str | None,
) -> dict[str, Any] | None:
    """A draft is edited in place ("draft" message); a published project gets a new version
    ("edit" message and anchor signature). Returns the new version, or None for a draft."""
    with service.db.write() as session:
        row = ownership.get_project(session, project_id)
        if row.status == "draft":
            projects.update_draft(session, project_id, data, message, signature, service.domain)
            return None
    return new_version(service, project_id, "edit", message, signature, anchor_signature, data=data)


# ------------------------------------------------------------------ signing helpers


def _sign_version(
    service: LibraryService,
    project_id: str,
    key: bytes | str,
    action: str,
    *,
    data: Mapping[str, Any] | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    with service.db.read() as session:
        row = ownership.get_project(session, project_id)
        content = (
            project_content.parse_content(ProjectKind(row.kind), data)
            if data is not None
            else project_content.content_of(row)
        )
        new_status = status or ("published" if row.status == "draft" else row.status)
        nonce, expiry = messages.new_nonce(), auth.expiry()
        message, anchor = projects.next_version(row, content, action, new_status, nonce, expiry)
    signed: SignedRecord = anchor.sign(key, service.domain)
    return new_version(
        service,
        project_id,
        action,
        message,
        messages.sign(LIBRARY_PROJECT, message, service.domain, key),
        "0x" + signed.signature.hex(),
        data=data,
        status=status,
    )


def create_draft(
    service: LibraryService, kind: ProjectKind, content: Mapping[str, Any], key: bytes | str
) -> str:
    """A draft owned by `key`'s address, signed with a "draft" message."""
    owner = Account.from_key(key).address
    project_id = "0x" + new_id(owner).hex()
    with service.db.read() as session:
        parsed = project_content.parse_content(kind, content)
        org_code = None if kind == ProjectKind.NEED else ownership.org_code_of(session, owner)
    message = projects.draft_message(
        kind, project_id, parsed, org_code, nonce=messages.new_nonce(), expiry=auth.expiry()
    )
    signature = messages.sign(LIBRARY_PROJECT, message, service.domain, key)
    with service.db.write() as session:
        projects.create_draft(session, kind, content, message, signature, service.domain)
    return project_id


def create_and_publish(
    service: LibraryService, kind: ProjectKind, content: Mapping[str, Any], key: bytes | str
) -> str:
    """Creates a draft owned by `key`'s address, signs version 1 and publishes it."""
    project_id = create_draft(service, kind, content, key)
    _sign_version(service, project_id, key, "publish")
    return project_id


def change_status(service: LibraryService, project_id: str, status: str, key: bytes | str) -> None:
    """Moves a project through its lifecycle as a new signed version."""
    _sign_version(service, project_id, key, "transition", status=status)


def edit(
    service: LibraryService, project_id: str, content: Mapping[str, Any], key: bytes | str
) -> None:
    """Replaces the content as a new signed version."""
    _sign_version(service, project_id, key, "edit", data=content)


def propose_match(
    service: LibraryService,
    key: bytes | str,
    need_id: str,
    *,
    direction: str,
    supply_id: str | None = None,
    org_code: str | None = None,
    note: str = "",
) -> str:
    """Signs and stores a 点单/接单 proposal with `key` (the proposing side)."""
    proposer = Account.from_key(key).address
    with service.db.read() as session:
        proposal = matching.MatchProposal(direction, need_id, supply_id, org_code, note)
        message = matching.proposal_message(session, proposer, proposal)
    signature = messages.sign(LIBRARY_MATCH, message, service.domain, key)
    with service.db.write() as session:
        return matching.propose(session, message, signature, service.domain).match_id


def answer_match(service: LibraryService, key: bytes | str, match_id: str, action: str) -> None:
    """Signs the other side's accept or decline of a proposal with `key`."""
    with service.db.read() as session:
        match = matching.get_match(session, match_id)
        message = matching.response_message(match, action, messages.new_nonce(), auth.expiry())
    signature = messages.sign(LIBRARY_MATCH, message, service.domain, key)
    with service.db.write() as session:
        matching.respond(session, match_id, message, signature, service.domain)


def create_and_accept_match(
    service: LibraryService,
    county_key: bytes | str,
    org_key: bytes | str,
    need_id: str,
    *,
    supply_id: str | None = None,
) -> str:
    """A real, accepted match between a need and the organization of `org_key`: the org
    takes the need (接单) and the county accepts, or with `supply_id` the county orders the
    supply project (点单) and the org accepts. Returns the match id a Commitment cites.

    Tests elsewhere call this before submitting commitments, since the relayer refuses a
    Commitment whose matchId is not an accepted match."""
    with service.db.read() as session:
        org_code = ownership.org_code_of(session, Account.from_key(org_key).address)
    if supply_id:
        match_id = propose_match(
            service, county_key, need_id, direction="order", supply_id=supply_id
        )
        answer_match(service, org_key, match_id, "accept")
    else:
        match_id = propose_match(service, org_key, need_id, direction="take", org_code=org_code)
        answer_match(service, county_key, match_id, "accept")
    return match_id


def get(service: LibraryService, project_id: str) -> LibraryProject:
    with service.db.read() as session:
        return ownership.get_project(session, project_id)


def get_match(service: LibraryService, match_id: str) -> LibraryMatch:
    with service.db.read() as session:
        return matching.get_match(session, match_id)
