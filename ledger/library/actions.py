"""Library operations over a LedgerService: the steps the API and the CLI call, plus helpers
that sign with a key in hand (demo, tests, and other areas' tests that need a real match)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_account import Account

from ledger.library import matching, projects
from ledger.library.models import LibraryMatch, LibraryProject
from ledger.records import ProjectKind, SignedRecord
from ledger.service import LedgerService


def publish(service: LedgerService, project_id: str, signature: bytes) -> dict[str, Any]:
    """Verifies the owner's signature, queues the ProjectAnchor, then records the version."""
    with service.db.read() as session:
        signed = projects.check_publish(session, project_id, signature, service.domain)
    acceptance = service.relayer.accept([signed])[0]
    with service.db.write() as session:
        row = projects.record_version(session, project_id, signed)
        return {
            "project_id": row.project_id,
            "version": row.version,
            "status": row.status,
            "anchor_id": acceptance.record_id,
            "record_status": acceptance.status,
        }


def _sign_next(service: LedgerService, project_id: str, key: bytes | str) -> bytes:
    with service.db.read() as session:
        row = projects.get_project(session, project_id)
        anchor = projects.next_anchor(row)
    signed: SignedRecord = anchor.sign(key, service.domain)
    return signed.signature


def create_and_publish(
    service: LedgerService, kind: ProjectKind, content: Mapping[str, Any], key: bytes | str
) -> str:
    """Creates a draft owned by `key`'s address, signs version 1 and publishes it."""
    owner = Account.from_key(key).address
    with service.db.write() as session:
        project_id = projects.create_draft(session, kind, owner, content).project_id
    publish(service, project_id, _sign_next(service, project_id, key))
    return project_id


def change_status(service: LedgerService, project_id: str, status: str, key: bytes | str) -> None:
    """Moves a project through its lifecycle as a new signed version."""
    with service.db.write() as session:
        projects.request_transition(session, project_id, status)
    publish(service, project_id, _sign_next(service, project_id, key))


def edit(
    service: LedgerService, project_id: str, content: Mapping[str, Any], key: bytes | str
) -> None:
    """Replaces the content as a new signed version."""
    with service.db.write() as session:
        projects.update_draft(session, project_id, content)
    publish(service, project_id, _sign_next(service, project_id, key))


def create_and_accept_match(
    service: LedgerService,
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
    domain = service.domain
    with service.db.write() as session:
        org_code = projects._org_code_of(session, Account.from_key(org_key).address)
        direction = "order" if supply_id else "take"
        match = matching.prepare_match(
            session, direction, need_id, supply_id=supply_id, org_code=org_code
        )
        proposer, responder = (county_key, org_key) if supply_id else (org_key, county_key)
        matching.propose(
            session,
            match.match_id,
            matching.sign_match(match, "propose", domain, proposer),
            domain,
        )
        matching.respond(
            session,
            match.match_id,
            "accept",
            matching.sign_match(match, "accept", domain, responder),
            domain,
        )
        return match.match_id


def get(service: LedgerService, project_id: str) -> LibraryProject:
    with service.db.read() as session:
        return projects.get_project(session, project_id)


def get_match(service: LedgerService, match_id: str) -> LibraryMatch:
    with service.db.read() as session:
        return matching.get_match(session, match_id)
