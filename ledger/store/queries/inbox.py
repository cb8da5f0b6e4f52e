"""Read-model queries of a party's inbox (ledger.workspace.inbox): deliveries waiting for a
county's receipt, overdue commitments, the address's outbox rows and names of needs and
organizations."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    Organization,
    OutboxRecord,
)
from ledger.store.queries.orgs import org_codes

#: The most rows of each list an inbox shows (newest first).
LIMIT = 200


def awaiting_receipt(
    session: Session, county: int, limit: int = LIMIT
) -> list[tuple[DeliveryRow, CommitmentRow | None]]:
    """Deliveries (each share of a batch) to `county` that no receipt names yet."""
    stmt = (
        select(DeliveryRow, CommitmentRow)
        .outerjoin(CommitmentRow, CommitmentRow.record_id == DeliveryRow.commitment_id)
        .where(DeliveryRow.county == county, DeliveryRow.receipted.is_(False))
        .order_by(DeliveryRow.delivered_at.desc(), DeliveryRow.id.desc())
        .limit(limit)
    )
    return [(d, c) for d, c in session.execute(stmt).tuples()]


def overdue(
    session: Session,
    now: int,
    *,
    county: int | None = None,
    org: str | None = None,
    limit: int = LIMIT,
) -> list[CommitmentRow]:
    """Commitments of `county` (or made by the address `org`) past their due date and not
    delivered in full."""
    stmt = select(CommitmentRow).where(
        CommitmentRow.due_date < now, CommitmentRow.delivered < CommitmentRow.quantity
    )
    if county is not None:
        stmt = stmt.where(CommitmentRow.county == county)
    if org is not None:
        stmt = stmt.where(CommitmentRow.org == org)
    return list(session.scalars(stmt.order_by(CommitmentRow.due_date).limit(limit)))


def outbox_of(session: Session, signer: str, limit: int = LIMIT) -> list[OutboxRecord]:
    """The records `signer` signed, as the relayer has them, newest first."""
    stmt = (
        select(OutboxRecord)
        .where(OutboxRecord.signer == signer)
        .order_by(OutboxRecord.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def org_names_by_code(session: Session, org_codes_: Iterable[str]) -> dict[str, str]:
    """Organization names from the `organizations` table."""
    codes = sorted({c for c in org_codes_ if c})
    if not codes:
        return {}
    rows = session.execute(
        select(Organization.org_code, Organization.name).where(Organization.org_code.in_(codes))
    ).tuples()
    return {code: name for code, name in rows if name}


def org_code_by_address(session: Session) -> dict[str, str]:
    """Every organization address's credit code (current role events)."""
    return org_codes(session)
