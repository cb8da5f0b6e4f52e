"""What the local checks read: a signer's roles and county, a project's first version, a
need, a commitment and what was delivered against it, a delivery, a record id. Each looks
in the read model (indexed events) plus our own live outbox, so records we accepted but
have not sent yet count as the contract will count them once they land.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, exists, func, or_, select, union
from sqlalchemy.orm import Session

from ledger.core.errors import RecordError
from ledger.core.fields import ProjectKind
from ledger.core.hexes import hex0x
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.store.models import (
    LIVE_STATUSES,
    CommitmentRow,
    DeliveryRow,
    LogEntry,
    OutboxRecord,
    OutboxShare,
    ProjectAnchorRow,
    RoleEvent,
)
from ledger.store.planner import not_by_index
from ledger.store.queries.anchors import first_anchor

#: Outbox statuses of a record that counts: waiting, in flight or on chain.
LIVE = LIVE_STATUSES
#: "This outbox row counts" (its status is LIVE), kept from choosing the status index:
#: nearly every row matches it (ledger/store/planner.py).
LIVE_ROW = not_by_index(OutboxRecord.status).in_(LIVE)


@dataclass(frozen=True)
class CommitmentState:
    """A commitment as the contract will hold it once our pending records land."""

    org: str
    county: int
    committed: int
    #: delivered so far, our pending deliveries included
    delivered: int


def current_roles(session: Session, address: str) -> dict[str, RoleEvent]:
    """The roles `address` holds now according to the indexed role events."""
    rows = session.scalars(
        select(RoleEvent).where(RoleEvent.address == address).order_by(RoleEvent.id)
    ).all()
    state: dict[str, RoleEvent] = {}
    for row in rows:
        if row.granted:
            state[row.role] = row
        else:
            state.pop(row.role, None)
    return state


def county_of(session: Session, address: str) -> int | None:
    """The county whose office `address` is, or None if it holds no COUNTY role."""
    cache = cache_of(session)
    if cache is not None:
        return cache.signer(session, address)[1]
    return _county_of_uncached(session, address)


def _county_of_uncached(session: Session, address: str) -> int | None:
    county = current_roles(session, address).get("COUNTY")
    if county is None:
        return None
    if county.county is not None:
        return county.county
    # RoleGranted carries no county; CountyRegistered (same transaction) does.
    return session.scalar(
        select(RoleEvent.county)
        .where(RoleEvent.address == address, RoleEvent.county.is_not(None))
        .order_by(RoleEvent.id.desc())
        .limit(1)
    )


class CheckCache:
    """What the accept path looks up again and again (a signer's roles and county, a
    commitment's owner, size and delivered total), kept for a few seconds per Relayer.

    The delivered totals move with every accepted delivery; a refused submission or a
    failed commit drops the entries it touched. Staleness is bounded by `ttl` and only
    affects records others relayed around us; the contract remains the final guard.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self.roles: dict[str, tuple[float, frozenset[str], int | None]] = {}
        self.commitments: dict[str, tuple[float, CommitmentState]] = {}
        #: a project's first version as (owner, project kind, county), once known
        self.projects: dict[str, tuple[float, tuple[str, int, int]]] = {}
        #: projects of which no version was indexed or in our live outbox when the
        #: accepting transaction began (it holds the write lock: only it can add one)
        self._unknown: frozenset[str] = frozenset()

    def begin_batch(self, unknown: Iterable[str]) -> None:
        """The projects the accepting transaction found no version of (one query for the
        whole batch); valid until `end_batch`."""
        self._unknown = frozenset(unknown)

    def end_batch(self) -> None:
        self._unknown = frozenset()

    def project(self, session: Session, project_id: str) -> tuple[str, int, int] | None:
        now = time.monotonic()
        hit = self.projects.get(project_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        if project_id in self._unknown:
            return None  # none at the batch's start, and none this batch accepted
        if not session.execute(_PROJECT_KNOWN, {"pid": project_id}).scalar():
            return None  # the usual case, a new project: one indexed look-up
        value = _project_state_uncached(session, project_id)
        if value is not None:
            self.projects[project_id] = (now + self.ttl, value)
        return value

    def accepted(self, signed: SignedRecord) -> None:
        """Notes what an accepted record fixes for the records after it (a project's
        first version)."""
        if signed.kind == Kind.PROJECT_ANCHOR:
            rec: Any = signed.record
            pid = hex0x(rec.project_id)
            now = time.monotonic()
            hit = self.projects.get(pid)
            if hit is None or hit[0] <= now:
                state = (signed.signer, int(rec.project_kind), int(rec.county))
                self.projects[pid] = (now + self.ttl, state)

    def forget_records(self, records: Iterable[SignedRecord]) -> None:
        """Drops what a refused submission's records put here (its rows rolled back)."""
        for signed in records:
            rec: Any = signed.record
            if signed.kind == Kind.PROJECT_ANCHOR:
                self.projects.pop(hex0x(rec.project_id), None)
            elif signed.kind == Kind.DELIVERY:
                self.commitments.pop(hex0x(rec.commitment_id), None)
            elif signed.kind == Kind.DELIVERY_BATCH:
                for cid in rec.commitment_ids:
                    self.commitments.pop(hex0x(cid), None)

    def signer(self, session: Session, address: str) -> tuple[frozenset[str], int | None]:
        now = time.monotonic()
        hit = self.roles.get(address)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        roles = frozenset(current_roles(session, address))
        county = _county_of_uncached(session, address) if "COUNTY" in roles else None
        self.roles[address] = (now + self.ttl, roles, county)
        return roles, county

    def commitment(self, session: Session, cid: str) -> CommitmentState | None:
        now = time.monotonic()
        hit = self.commitments.get(cid)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = _commitment_uncached(session, cid)
        if value is None:
            return None
        self.commitments[cid] = (now + self.ttl, value)
        return value

    def add_delivered(self, cid: str, quantity: int) -> None:
        hit = self.commitments.get(cid)
        if hit is not None:
            state = hit[1]
            self.commitments[cid] = (hit[0], replace(state, delivered=state.delivered + quantity))

    def forget_delivered(self) -> None:
        """Drops every commitment's delivered total: another writer added outbox rows."""
        self.commitments.clear()

    def forget(self, cids: Iterable[str] | None = None) -> None:
        if cids is None:
            self.commitments.clear()
            self.roles.clear()
            self.projects.clear()
        else:
            for cid in cids:
                self.commitments.pop(cid, None)


#: The key under which the accepting transaction's session carries its CheckCache.
CACHE_KEY = "check_cache"


def cache_of(session: Session) -> CheckCache | None:
    """The CheckCache the accepting transaction put on `session`, if any."""
    cache = session.info.get(CACHE_KEY)
    return cache if isinstance(cache, CheckCache) else None


def roles_of(session: Session, address: str) -> frozenset[str]:
    """The names of the roles `address` holds now."""
    cache = cache_of(session)
    if cache is not None:
        return cache.signer(session, address)[0]
    return frozenset(current_roles(session, address))


def _pending_anchors(session: Session, project_id: str) -> Iterator[tuple[OutboxRecord, Any]]:
    """Our live outbox's ProjectAnchor rows of a project, each with its decoded record."""
    for pending in session.scalars(
        select(OutboxRecord).where(
            OutboxRecord.kind == int(Kind.PROJECT_ANCHOR),
            OutboxRecord.ref_id == project_id,
            LIVE_ROW,
        )
    ):
        yield pending, signed_from_bytes(pending.record_bytes).record


def need_of(session: Session, need_id: str) -> tuple[int, str] | None:
    """(county, author) of a need project, indexed or pending in the outbox."""
    row = session.scalars(
        select(ProjectAnchorRow).where(ProjectAnchorRow.project_id == need_id).limit(1)
    ).first()
    if row is not None:
        return (row.county, row.author) if row.project_kind == ProjectKind.NEED else None
    for pending, rec in _pending_anchors(session, need_id):
        if getattr(rec, "project_kind", 0) == ProjectKind.NEED:
            return int(getattr(rec, "county", 0)), pending.signer
    return None


def project_state(session: Session, project_id: str) -> tuple[str, int, int] | None:
    """(owner, project kind, county) of a project as the contract will hold it when our
    pending records land: its first version, indexed or pending in the outbox; None if no
    version of it is known (the contract's `project.version == 0`)."""
    cache = cache_of(session)
    if cache is not None:
        return cache.project(session, project_id)
    return _project_state_uncached(session, project_id)


_pid = bindparam("pid", type_=ProjectAnchorRow.project_id.type)
#: Whether any version of a project is indexed or live in our outbox (one round trip).
_PROJECT_KNOWN = select(
    or_(
        exists().where(ProjectAnchorRow.project_id == _pid),
        exists().where(
            OutboxRecord.kind == int(Kind.PROJECT_ANCHOR),
            OutboxRecord.ref_id == _pid,
            LIVE_ROW,
        ),
    )
)


_pids = bindparam("pids", expanding=True, type_=ProjectAnchorRow.project_id.type)
_PROJECTS_KNOWN: CompoundSelect[tuple[str]] = union(
    select(ProjectAnchorRow.project_id).where(ProjectAnchorRow.project_id.in_(_pids)),
    select(OutboxRecord.ref_id).where(
        OutboxRecord.kind == int(Kind.PROJECT_ANCHOR),
        OutboxRecord.ref_id.in_(_pids),
        LIVE_ROW,
    ),
)


def projects_known(session: Session, project_ids: Iterable[str]) -> set[str]:
    """Which of `project_ids` have a version indexed or live in our outbox (one query)."""
    pids = list(project_ids)
    if not pids:
        return set()
    return {str(p) for p in session.scalars(_PROJECTS_KNOWN, {"pids": pids})}


def _project_state_uncached(session: Session, project_id: str) -> tuple[str, int, int] | None:
    row = first_anchor(session, project_id)
    if row is not None:
        return row.author, int(row.project_kind), int(row.county)
    first: tuple[int, str, int, int] | None = None
    for pending, rec in _pending_anchors(session, project_id):
        version = int(getattr(rec, "version", 0))
        if first is None or version < first[0]:
            first = (
                version,
                pending.signer,
                int(getattr(rec, "project_kind", 0)),
                int(getattr(rec, "county", 0)),
            )
    return None if first is None else first[1:]


def _delivered_so_far(session: Session, commitment_id: str) -> int:
    """Delivered against a commitment: our live outbox shares (pending or on chain) plus
    indexed deliveries that others relayed (not in our outbox)."""
    ours = session.scalar(
        select(func.coalesce(func.sum(OutboxShare.quantity), 0))
        .join(OutboxRecord, OutboxRecord.record_id == OutboxShare.record_id)
        .where(OutboxShare.commitment_id == commitment_id, LIVE_ROW)
    )
    others = session.scalar(
        select(func.coalesce(func.sum(DeliveryRow.quantity), 0)).where(
            DeliveryRow.commitment_id == commitment_id,
            ~exists().where(OutboxRecord.record_id == DeliveryRow.record_id),
        )
    )
    return int(ours or 0) + int(others or 0)


def commitment_state(session: Session, commitment_id: str) -> CommitmentState | None:
    """A commitment's owner, county, size and delivered total (pending deliveries
    included), or None if no such commitment is indexed or in our outbox."""
    cache = cache_of(session)
    if cache is None:
        return _commitment_uncached(session, commitment_id)
    return cache.commitment(session, commitment_id)


def _commitment_uncached(session: Session, commitment_id: str) -> CommitmentState | None:
    row = session.get(CommitmentRow, commitment_id)
    if row is not None:
        org, county, quantity = row.org, row.county, row.quantity
    else:
        pending = session.scalars(
            select(OutboxRecord).where(OutboxRecord.record_id == commitment_id, LIVE_ROW)
        ).first()
        if pending is None:
            return None
        rec = signed_from_bytes(pending.record_bytes).record
        need = need_of(session, hex0x(getattr(rec, "need_id", b"")))
        org, county, quantity = pending.signer, need[0] if need else 0, int(pending.quantity or 0)
    return CommitmentState(org, county, int(quantity), _delivered_so_far(session, commitment_id))


def delivery_of(session: Session, delivery_id: str) -> tuple[str, int] | None:
    """(commitment id, quantity) of a delivery or single-commitment batch, or None."""
    rows = session.scalars(select(DeliveryRow).where(DeliveryRow.record_id == delivery_id)).all()
    if rows:
        if len(rows) > 1:
            raise RecordError(
                "a receipt may confirm a batch only when it serves one commitment",
                code="BatchReceiptNeedsSingleCommitment",
            )
        return rows[0].commitment_id, rows[0].quantity
    pending = session.scalars(
        select(OutboxRecord).where(
            OutboxRecord.record_id == delivery_id,
            OutboxRecord.kind.in_([int(Kind.DELIVERY), int(Kind.DELIVERY_BATCH)]),
            LIVE_ROW,
        )
    ).first()
    if pending is None:
        return None
    rec = signed_from_bytes(pending.record_bytes).record
    if pending.kind == Kind.DELIVERY:
        return hex0x(getattr(rec, "commitment_id", b"")), int(pending.quantity or 0)
    cids: tuple[bytes, ...] = getattr(rec, "commitment_ids", ())
    if len(cids) != 1:
        raise RecordError(
            "a receipt may confirm a batch only when it serves one commitment",
            code="BatchReceiptNeedsSingleCommitment",
        )
    quantities: tuple[int, ...] = getattr(rec, "quantities", (0,))
    return hex0x(cids[0]), int(quantities[0])


def record_exists(session: Session, record_id: str) -> bool:
    """Whether a record id is in the log or live in our outbox."""
    in_log = session.scalar(select(LogEntry.leaf_index).where(LogEntry.record_id == record_id))
    if in_log is not None:
        return True
    return (
        session.scalar(select(OutboxRecord.id).where(OutboxRecord.record_id == record_id, LIVE_ROW))
        is not None
    )


def has_receipt(session: Session, delivery_id: str) -> bool:
    """Whether a delivery already has a receipt, live in our outbox or indexed."""
    already = session.scalar(
        select(OutboxRecord.id).where(
            OutboxRecord.kind == int(Kind.RECEIPT),
            OutboxRecord.ref_id == delivery_id,
            LIVE_ROW,
        )
    )
    return already is not None or bool(
        session.scalar(
            select(DeliveryRow.receipted).where(
                DeliveryRow.record_id == delivery_id, DeliveryRow.receipted.is_(True)
            )
        )
    )
