"""Organizations in the read model: signing address → credit code, names, scorecards
(fulfilment, on-time and confirmed rates), one organization's page and the list of all.

The address → credit code map is read here and nowhere else: lists, totals, CSV shapes,
the portal and the report snapshot all take it from `org_codes`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from ledger.core.errors import NotFoundError
from ledger.store.models import CommitmentRow, DeliveryRow, LogEntry, Organization, RoleEvent


def org_codes(session: Session) -> dict[str, str]:
    """Signing address → credit code, from the indexed role grants; a later grant of the
    same address wins, so the map is the same whichever database reads it."""
    rows = session.execute(
        select(RoleEvent.address, RoleEvent.org_code)
        .where(RoleEvent.org_code.is_not(None))
        .order_by(RoleEvent.block_number, RoleEvent.log_index)
    ).all()
    return {a: c for a, c in rows if c}


def org_signers(code: str) -> Select[tuple[str]]:
    """A subquery of the signing addresses granted under one credit code (for `IN`)."""
    return select(RoleEvent.address).where(RoleEvent.org_code == code)


def org_names(session: Session) -> dict[str, tuple[str, str | None]]:
    """Credit code → (Chinese name, English name or None). The Chinese name is the one of
    the code's latest OrganizationRegistered on chain (its role event, which a reorg rolls
    back); the organizations table gives the English name, and a name where no event has one."""
    out = {
        code: (name, en)
        for code, name, en in session.execute(
            select(Organization.org_code, Organization.name, Organization.name_en)
        )
    }
    chain = session.execute(
        select(RoleEvent.org_code, RoleEvent.name)
        .where(RoleEvent.org_code.is_not(None), RoleEvent.name.is_not(None))
        .order_by(RoleEvent.block_number, RoleEvent.log_index)
    ).all()
    for code, name in chain:
        if code and name:
            out[code] = (name, out.get(code, (name, None))[1])
    return out


@dataclass
class Scorecard:
    """How an organization (or everyone in a county) keeps its commitments.

    fulfilment: commitments delivered in full / all commitments;
    on_time: commitments delivered in full by their due date / commitments already due
    (due date passed) or delivered in full; confirmed: commitments whose deliveries the
    county confirmed in full / commitments with any delivery.
    """

    commitments: int = 0
    fulfilled: int = 0
    due_or_fulfilled: int = 0
    on_time: int = 0
    with_delivery: int = 0
    confirmed: int = 0

    @staticmethod
    def _rate(n: int, d: int) -> float | None:
        return n / d if d else None

    @property
    def fulfilment_rate(self) -> float | None:
        return self._rate(self.fulfilled, self.commitments)

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.on_time, self.due_or_fulfilled)

    @property
    def confirmed_rate(self) -> float | None:
        return self._rate(self.confirmed, self.with_delivery)


def scorecards(session: Session, key: Any, *where: Any) -> dict[Any, Scorecard]:
    """Scorecards per value of `key` (e.g. CommitmentRow.org) over the commitments matching
    `where`, aggregated in SQL. A commitment is fulfilled when its delivered total reaches
    its quantity; the contract refuses over-delivery, so its last delivery is the one that
    completed it, and that delivery's time decides "on time"."""
    now = int(time.time())
    last = (
        select(
            DeliveryRow.commitment_id.label("cid"), func.max(DeliveryRow.delivered_at).label("at")
        )
        .group_by(DeliveryRow.commitment_id)
        .subquery()
    )
    full = CommitmentRow.delivered >= CommitmentRow.quantity

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    stmt = (
        select(
            key if key is not None else literal(None),
            func.count(),
            count(full),
            count(or_(full, CommitmentRow.due_date <= now)),
            count(and_(full, last.c.at <= CommitmentRow.due_date)),
            count(CommitmentRow.delivered > 0),
            count(
                and_(
                    CommitmentRow.delivered > 0, CommitmentRow.confirmed >= CommitmentRow.delivered
                )
            ),
        )
        .outerjoin(last, last.c.cid == CommitmentRow.record_id)
        .where(*where)
    )
    if key is not None:
        stmt = stmt.group_by(key)
    return {
        k: Scorecard(*(int(v or 0) for v in values)) for k, *values in session.execute(stmt).all()
    }


def scorecard(session: Session, *where: Any) -> Scorecard:
    """One scorecard over the commitments matching `where`."""
    return scorecards(session, None, *where).get(None, Scorecard())


def chunks(items: list[str], n: int) -> Iterable[list[str]]:
    """`items` in runs of at most `n`, so an `IN (...)` stays under the database's limit."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


def locations(session: Session, ids: list[str]) -> dict[str, LogEntry]:
    """Record id → its log entry (chain location), for the ids that are indexed."""
    out: dict[str, LogEntry] = {}
    for chunk in chunks(sorted(set(ids)), 500):
        for e in session.scalars(select(LogEntry).where(LogEntry.record_id.in_(chunk))):
            out[e.record_id] = e
    return out


@dataclass
class OrgPage:
    org_code: str | None
    name: tuple[str, str | None] | None
    addresses: list[str]
    card: Scorecard
    commitments: list[CommitmentRow]
    locations: dict[str, LogEntry]


def org_page(session: Session, org: str, limit: int = 200) -> OrgPage:
    """An organization by credit code or signing address: its commitments and scorecard."""
    codes = org_codes(session)
    if org.lower().startswith("0x"):
        addrs = [a for a in codes if a.lower() == org.lower()]
        if not addrs:
            rows = session.scalars(
                select(CommitmentRow.org).where(func.lower(CommitmentRow.org) == org.lower())
            ).first()
            addrs = [rows] if rows else []
        code = codes.get(addrs[0]) if addrs else None
        if code:
            addrs = [a for a, c in codes.items() if c == code]
    else:
        code = org.upper()
        addrs = [a for a, c in codes.items() if c == code]
    if not addrs:
        raise NotFoundError(
            f"no organization {org} is registered on this ledger; check the credit code",
            code="org_not_found",
        )
    shown = list(
        session.scalars(
            select(CommitmentRow)
            .where(CommitmentRow.org.in_(addrs))
            .order_by(CommitmentRow.block_time.desc())
            .limit(limit)
        )
    )
    card = scorecard(session, CommitmentRow.org.in_(addrs))
    return OrgPage(
        code,
        org_names(session).get(code) if code else None,
        addrs,
        card,
        shown,
        locations(session, [c.record_id for c in shown]),
    )


def org_list(session: Session) -> list[dict[str, Any]]:
    """Every organization with commitments: code, name, counts and rates."""
    codes = org_codes(session)
    names = org_names(session)
    by_org: dict[str, Scorecard] = defaultdict(Scorecard)
    for address, card in scorecards(session, CommitmentRow.org).items():
        total = by_org[codes.get(address, address)]
        for f in fields(Scorecard):
            setattr(total, f.name, getattr(total, f.name) + getattr(card, f.name))
    for code in set(codes.values()):
        by_org.setdefault(code, Scorecard())
    out = []
    for code, card in sorted(by_org.items()):
        name = names.get(code)
        out.append(
            {
                "org": code,
                "name": name[0] if name else "",
                "name_en": (name[1] or "") if name else "",
                "commitments": card.commitments,
                "fulfilment_rate": card.fulfilment_rate,
                "on_time_rate": card.on_time_rate,
                "confirmed_rate": card.confirmed_rate,
            }
        )
    return out


#: The roles a registration function grants, by their events' role names.
REGISTERED_ROLES = ("COUNTY", "ORG", "AUDITOR")


def registrations(session: Session) -> list[dict[str, Any]]:
    """Every key ever registered as a county office, organization or auditor, from the
    indexed role events: its latest registration (county, credit code, name, type,
    authority, block) and whether it holds the role now (its latest grant or revocation)."""
    rows = session.scalars(
        select(RoleEvent)
        .where(RoleEvent.role.in_(REGISTERED_ROLES))
        .order_by(RoleEvent.block_number, RoleEvent.log_index)
    ).all()
    current: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        entry = current.setdefault(
            (row.address, row.role),
            {
                "address": row.address,
                "role": row.role,
                "county": None,
                "org_code": None,
                "name": None,
                "org_type": None,
                "authority": None,
                "active": False,
                "block_number": row.block_number,
            },
        )
        entry["active"] = row.granted
        # A registration event (it names the county, credit code or name) replaces the
        # details; a bare RoleGranted/RoleRevoked only moves `active`.
        if row.county is not None or row.org_code is not None or row.name is not None:
            entry.update(
                county=row.county,
                org_code=row.org_code,
                name=row.name,
                org_type=row.org_type,
                authority=row.authority,
                block_number=row.block_number,
            )
    return sorted(
        current.values(),
        key=lambda e: (REGISTERED_ROLES.index(e["role"]), -e["block_number"], e["address"]),
    )


@dataclass(frozen=True)
class Party:
    """Who a signing address is, from its latest registration on chain: the role, the
    registered name, and the credit code or county it was registered for."""

    address: str
    role: str  # COUNTY | ORG | AUDITOR
    name: str | None
    org_code: str | None = None
    county: int | None = None


def parties(session: Session) -> dict[str, Party]:
    """Lower-cased signing address → its registered role and name (the latest registration
    of each address; an address registered in two roles keeps the later one)."""
    out: dict[str, Party] = {}
    for r in sorted(registrations(session), key=lambda e: e["block_number"]):
        out[r["address"].lower()] = Party(
            r["address"], r["role"], r["name"], r["org_code"], r["county"]
        )
    return out
