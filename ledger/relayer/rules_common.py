"""What the relayer's rule modules (`rules`, `rules_pairing`, `rules_fund`, `rules_followup`,
`rules_grievance`) ask alike: whether the signer holds a role, and the records still in our
live outbox (queued, sent or confirmed, not indexed yet), so that a record may follow one
that is still waiting to be sent, and a second copy of a pending record is refused as the
chain would refuse it; and a referenced record's state, from its read-model row or else
from its pending outbox row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import Select, exists, select, text
from sqlalchemy.orm import Session

from ledger.core.errors import RecordError
from ledger.core.hexes import hex0x
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.lookups import LIVE_ROW, CommitmentState, commitment_state, need_of, roles_of
from ledger.store.models import OUTBOX_LIVE, LogEntry, OutboxRecord

__all__ = [
    "indexed_or_pending",
    "known",
    "known_commitment",
    "known_need",
    "pending_record",
    "pending_records",
    "pending_rows",
    "require_role",
    "state_of",
]

Row = TypeVar("Row")
State = TypeVar("State")
Found = TypeVar("Found")


def known(found: Found | None, code: str, message: str, **ids: str) -> Found:
    """`found`, or the contract's refusal (`code`, e.g. `UnknownFund`) of a record that
    names something the ledger does not have: `message` says what, `ids` name it."""
    if found is None:
        raise RecordError(message, code=code, **ids)
    return found


def known_commitment(session: Session, commitment_id: str) -> CommitmentState:
    """The commitment a record names, indexed or pending; `UnknownCommitment` if none."""
    return known(
        commitment_state(session, commitment_id),
        "UnknownCommitment",
        f"没有承诺 {commitment_id} / no commitment {commitment_id} is recorded",
        commitment_id=commitment_id,
    )


def known_need(session: Session, need_id: str) -> tuple[int, str]:
    """(county, author) of the need project a record names; `UnknownNeed` if none."""
    return known(
        need_of(session, need_id),
        "UnknownNeed",
        f"没有编号为 {need_id} 的需求项目 / no need project {need_id} is anchored",
        need_id=need_id,
    )


def require_role(session: Session, signed: SignedRecord, role: str) -> None:
    """The contract's `_requireRole`: refuses a record whose signer does not hold `role`."""
    if role not in roles_of(session, signed.signer):
        raise RecordError(
            f"{signed.signer} 未持有 {role} 角色 / does not hold the {role} role on this "
            "ledger; ask the civil-affairs office to register the key",
            code="MissingRole",
        )


def pending_rows(kind: Kind) -> Select[tuple[OutboxRecord]]:
    """Our live outbox rows of `kind` not indexed yet (once indexed, a record counts from
    the read model instead, so nothing counts twice). The status condition is written as
    the partial index `ix_outbox_live_kind` has it, so that the rows are reached by their
    kind: the outbox is mostly deliveries, and this is asked for the program kinds."""
    return select(OutboxRecord).where(
        text(f"outbox.{OUTBOX_LIVE}"),
        OutboxRecord.kind == int(kind),
        ~exists().where(LogEntry.record_id == OutboxRecord.record_id),
    )


def pending_records(session: Session, kind: Kind) -> Iterator[tuple[OutboxRecord, Any]]:
    """`pending_rows(kind)`, each with its decoded record."""
    for row in session.scalars(pending_rows(kind)):
        yield row, signed_from_bytes(row.record_bytes).record


def pending_record(session: Session, record_id: str, kind: Kind) -> tuple[OutboxRecord, Any] | None:
    """The live outbox row of the record `record_id` of `kind`, with its decoded record;
    None if our outbox has none."""
    row = session.scalars(
        select(OutboxRecord).where(
            OutboxRecord.record_id == record_id,
            OutboxRecord.kind == int(kind),
            LIVE_ROW,
        )
    ).first()
    if row is None:
        return None
    return row, signed_from_bytes(row.record_bytes).record


def state_of(
    session: Session,
    model: type[Row],
    record_id: str,
    kind: Kind,
    from_row: Callable[[Row], State],
    from_pending: Callable[[OutboxRecord, Any], State],
) -> State | None:
    """What the rules need of the record `record_id` of `kind`: `from_row` of its read-model
    row (`model`, keyed by record id) once indexed, else `from_pending` of its live outbox
    row and decoded record; None if it is neither."""
    row = session.get(model, record_id)
    if row is not None:
        return from_row(row)
    found = pending_record(session, record_id, kind)
    return None if found is None else from_pending(*found)


def _column_value(value: Any) -> str | int:
    """A record field as the read model stores it: bytes32 as 0x-hex, numbers as int."""
    return hex0x(value) if isinstance(value, bytes | bytearray) else int(value)


def indexed_or_pending(session: Session, model: Any, kind: Kind, **match: str | int) -> bool:
    """Whether a record of `kind` whose fields have the values `match` is indexed (a row of
    `model`, the read-model table of `kind`, whose columns carry the record's field names)
    or pending in our outbox."""
    where = [getattr(model, name) == value for name, value in match.items()]
    if session.scalar(select(model.record_id).where(*where).limit(1)):
        return True
    return any(
        all(_column_value(getattr(rec, name)) == value for name, value in match.items())
        for _, rec in pending_records(session, kind)
    )
