"""Events → rows for grievances (申诉): a county's Grievance record (kind 14) and its
GrievanceAnswer (kind 15), each written from the record alone plus the indexed need (its
county), so a rebuild from the chain makes the same rows. Rows go with their log entry on a
rollback (foreign key, ON DELETE CASCADE)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.indexer.rows import record_row
from ledger.store.grievance_models import GrievanceAnswerRow, GrievanceRow
from ledger.store.queries.anchors import first_anchor

__all__ = ["KINDS", "project"]

#: The record kinds this module indexes.
KINDS = (Kind.GRIEVANCE, Kind.GRIEVANCE_ANSWER)


def project(session: Session, signed: SignedRecord, rid: str, loc: dict[str, Any]) -> None:
    """Writes a grievance record's row (with its chain location `loc`)."""
    r: Any = signed.record
    if signed.kind == Kind.GRIEVANCE:
        pid = hex0x(r.project_id)
        first = first_anchor(session, pid)
        county = first.county if first is not None else None
        session.add(
            record_row(
                GrievanceRow,
                r,
                record_id=rid,
                target_id=hex0x(r.record_id),
                county=int(county or 0),
                signer=signed.signer,
                **loc,
            )
        )
    elif signed.kind == Kind.GRIEVANCE_ANSWER:
        gid = hex0x(r.grievance_id)
        registered = session.get(GrievanceRow, gid)
        if registered is None:
            # the registration is in the same batch of logs, not flushed yet
            session.flush()
            registered = session.get(GrievanceRow, gid)
        session.add(
            record_row(
                GrievanceAnswerRow,
                r,
                record_id=rid,
                county=registered.county if registered is not None else 0,
                signer=signed.signer,
                **loc,
            )
        )
