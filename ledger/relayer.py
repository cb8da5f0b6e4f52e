"""The relayer: accepts signed records into a durable outbox, then gets them on chain.

`Relayer.accept` checks each record locally (signature, role, unused id, references, no
over-delivery, plus any registered pre-checks such as the library's match rule) and writes
the accepted ones to the outbox in one database transaction before anyone is told
"accepted". `RelayWorker` sends queued records in multicall transactions with a local nonce
manager, replaces stuck transactions with a fee bump, marks records confirmed only at the
configured depth, and sends again any record that later disappears from the chain.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound

from ledger.errors import ConflictError, RecordError
from ledger.onchain import LedgerContract, revert_error
from ledger.records import (
    MAX_BATCH_COMMITMENTS,
    MAX_TITLE_BYTES,
    Kind,
    ProjectKind,
    SignedRecord,
    id_scope,
    is_scoped,
    valid_date_code,
    valid_title,
)
from ledger.store.db import Database
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    LogEntry,
    NonceState,
    OutboxRecord,
    OutboxShare,
    ProjectAnchorRow,
    RoleEvent,
    SentTransaction,
)

log = logging.getLogger("bangfu.relayer")

#: Test hook for the crash tests: with BANGFU_RELAYER_CRASH_AFTER=durable the process dies
#: (exit 137, as after SIGKILL) right after the first 'sent' rows are committed and before the
#: transaction is broadcast, the worst moment for durability. Never set it in production.
CRASH_AFTER_ENV = "BANGFU_RELAYER_CRASH_AFTER"

PENDING = ("queued", "sent")
#: Refusals that a record still in flight (e.g. its need's anchor) may cure.
MISSING_REFERENCE = frozenset(
    {"UnknownNeed", "UnknownCommitment", "UnknownDelivery", "UnknownRecord"}
)
MAX_DEFERRALS = 50
LIVE = ("queued", "sent", "confirmed")

#: A pre-check sees each record before it is accepted, in the accepting DB transaction.
PreCheck = Callable[[Session, SignedRecord], None]
_pre_checks: list[PreCheck] = []


def register_pre_check(check: PreCheck) -> PreCheck:
    """Adds a rule every record must pass before it is accepted (e.g. the match rule)."""
    if check not in _pre_checks:
        _pre_checks.append(check)
    return check


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


@dataclass(frozen=True)
class Acceptance:
    """What the API answers for one submitted record."""

    record_id: str
    kind: str
    status: str
    duplicate: bool
    outbox_id: int


# ------------------------------------------------------------------ local checks


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


def _county_of(session: Session, address: str) -> int | None:
    cache = _cache(session)
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
        self.commitments: dict[str, tuple[float, list[Any]]] = {}

    def signer(self, session: Session, address: str) -> tuple[frozenset[str], int | None]:
        now = time.monotonic()
        hit = self.roles.get(address)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        roles = frozenset(current_roles(session, address))
        county = _county_of_uncached(session, address) if "COUNTY" in roles else None
        self.roles[address] = (now + self.ttl, roles, county)
        return roles, county

    def commitment(self, session: Session, cid: str) -> list[Any] | None:
        now = time.monotonic()
        hit = self.commitments.get(cid)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = _commitment_uncached(session, cid)
        if value is None:
            return None
        entry = list(value)
        self.commitments[cid] = (now + self.ttl, entry)
        return entry

    def add_delivered(self, cid: str, quantity: int) -> None:
        hit = self.commitments.get(cid)
        if hit is not None:
            hit[1][3] += quantity

    def forget(self, cids: Iterable[str] | None = None) -> None:
        if cids is None:
            self.commitments.clear()
            self.roles.clear()
        else:
            for cid in cids:
                self.commitments.pop(cid, None)


def _cache(session: Session) -> CheckCache | None:
    cache = session.info.get("check_cache")
    return cache if isinstance(cache, CheckCache) else None


def _roles_of(session: Session, address: str) -> frozenset[str]:
    cache = _cache(session)
    if cache is not None:
        return cache.signer(session, address)[0]
    return frozenset(current_roles(session, address))


def _require_role(session: Session, signed: SignedRecord, role: str) -> None:
    if role not in _roles_of(session, signed.signer):
        raise RecordError(
            f"{signed.signer} does not hold the {role} role on this ledger; ask the "
            "civil-affairs office to register the key",
            code="MissingRole",
        )


def _pending(session: Session, kind: Kind, ref_id: str) -> Any:
    return select(OutboxRecord).where(
        OutboxRecord.kind == int(kind),
        OutboxRecord.ref_id == ref_id,
        OutboxRecord.status.in_(LIVE),
        OutboxRecord.record_id.not_in(select(LogEntry.record_id)),
    )


def _need(session: Session, need_id: str) -> tuple[int, str] | None:
    """(county, author) of a need project, indexed or pending in the outbox."""
    row = session.scalars(
        select(ProjectAnchorRow).where(ProjectAnchorRow.project_id == need_id).limit(1)
    ).first()
    if row is not None:
        return (row.county, row.author) if row.project_kind == ProjectKind.NEED else None
    for pending in session.scalars(
        select(OutboxRecord).where(
            OutboxRecord.kind == int(Kind.PROJECT_ANCHOR),
            OutboxRecord.ref_id == need_id,
            OutboxRecord.status.in_(LIVE),
        )
    ):
        rec = SignedRecord.from_bytes(pending.record_bytes).record
        if getattr(rec, "project_kind", 0) == ProjectKind.NEED:
            return int(getattr(rec, "county", 0)), pending.signer
    return None


def _delivered_so_far(session: Session, commitment_id: str) -> int:
    """Delivered against a commitment: our live outbox shares (pending or on chain) plus
    indexed deliveries that others relayed (not in our outbox)."""
    ours = session.scalar(
        select(func.coalesce(func.sum(OutboxShare.quantity), 0))
        .join(OutboxRecord, OutboxRecord.record_id == OutboxShare.record_id)
        .where(OutboxShare.commitment_id == commitment_id, OutboxRecord.status.in_(LIVE))
    )
    others = session.scalar(
        select(func.coalesce(func.sum(DeliveryRow.quantity), 0)).where(
            DeliveryRow.commitment_id == commitment_id,
            ~exists().where(OutboxRecord.record_id == DeliveryRow.record_id),
        )
    )
    return int(ours or 0) + int(others or 0)


def _commitment(session: Session, commitment_id: str) -> tuple[str, int, int, int] | None:
    """(org, county, committed, delivered incl. pending) of a commitment, or None."""
    cache = _cache(session)
    if cache is None:
        return _commitment_uncached(session, commitment_id)
    entry = cache.commitment(session, commitment_id)
    return None if entry is None else (entry[0], entry[1], entry[2], entry[3])


def _commitment_uncached(session: Session, commitment_id: str) -> tuple[str, int, int, int] | None:
    row = session.get(CommitmentRow, commitment_id)
    if row is not None:
        org, county, quantity = row.org, row.county, row.quantity
    else:
        pending = session.scalars(
            select(OutboxRecord).where(
                OutboxRecord.record_id == commitment_id, OutboxRecord.status.in_(LIVE)
            )
        ).first()
        if pending is None:
            return None
        rec = SignedRecord.from_bytes(pending.record_bytes).record
        need = _need(session, _hex(getattr(rec, "need_id", b"")))
        org, county, quantity = pending.signer, need[0] if need else 0, int(pending.quantity or 0)
    return org, county, int(quantity), _delivered_so_far(session, commitment_id)


def _check_delivery_amount(session: Session, signed: SignedRecord, cid: bytes, qty: int) -> None:
    commitment = _commitment(session, _hex(cid))
    if commitment is None:
        raise RecordError(
            f"no commitment {_hex(cid)} is recorded",
            code="UnknownCommitment",
            commitment_id=_hex(cid),
        )
    org, _county, committed, delivered = commitment
    if org != signed.signer:
        raise RecordError(
            f"commitment {_hex(cid)} belongs to {org}, not to the signer {signed.signer}",
            code="NotCommitmentOwner",
        )
    if qty <= 0:
        raise RecordError("quantity must be positive", code="InvalidQuantity")
    if delivered + qty > committed:
        raise RecordError(
            f"delivering {qty} more against commitment {_hex(cid)} would make {delivered + qty}, "
            f"more than the {committed} committed",
            code="OverDelivery",
            commitment_id=_hex(cid),
            committed=committed,
            would_be_delivered=delivered + qty,
        )


def _delivery(session: Session, delivery_id: str) -> tuple[str, int] | None:
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
            OutboxRecord.status.in_(LIVE),
        )
    ).first()
    if pending is None:
        return None
    rec = SignedRecord.from_bytes(pending.record_bytes).record
    if pending.kind == Kind.DELIVERY:
        return _hex(getattr(rec, "commitment_id", b"")), int(pending.quantity or 0)
    cids: tuple[bytes, ...] = getattr(rec, "commitment_ids", ())
    if len(cids) != 1:
        raise RecordError(
            "a receipt may confirm a batch only when it serves one commitment",
            code="BatchReceiptNeedsSingleCommitment",
        )
    quantities: tuple[int, ...] = getattr(rec, "quantities", (0,))
    return _hex(cids[0]), int(quantities[0])


def _record_exists(session: Session, record_id: str) -> bool:
    in_log = session.scalar(select(LogEntry.leaf_index).where(LogEntry.record_id == record_id))
    if in_log is not None:
        return True
    return (
        session.scalar(
            select(OutboxRecord.id).where(
                OutboxRecord.record_id == record_id, OutboxRecord.status.in_(LIVE)
            )
        )
        is not None
    )


#: The largest quantity the contract accepts (its MAX_QUANTITY, so SQL's BIGINT holds it).
MAX_QUANTITY = (1 << 63) - 1


def _check_scope(signed: SignedRecord) -> None:
    """The contract's id rule: a record id starts with its signer's address."""
    if not is_scoped(signed.id, signed.signer):
        raise RecordError(
            f"记录编号不属于签名者 / the record id {_hex(signed.id)} is scoped to "
            f"{id_scope(signed.id)}, not to its signer {signed.signer}; make ids with "
            "new_id(signer)",
            code="RecordIdNotScoped",
        )


def _check_anchor_fields(rec: Any, signed: SignedRecord) -> None:
    """The contract's checks of a ProjectAnchor's human-readable fields and its project id."""
    pid: bytes = getattr(rec, "project_id", b"")
    if not valid_title(str(getattr(rec, "title", ""))):
        raise RecordError(
            f"标题须为 1..{MAX_TITLE_BYTES} 字节的 UTF-8 / the title must be 1..{MAX_TITLE_BYTES} "
            "UTF-8 bytes",
            code="InvalidTitle",
        )
    if not 0 <= int(getattr(rec, "budget", 0)) <= MAX_QUANTITY:
        raise RecordError("预算超出范围 / the budget must be 0..2^63-1 fen", code="InvalidBudget")
    if not valid_date_code(int(getattr(rec, "end_date", 0))):
        raise RecordError(
            "截止日期须为 YYYYMMDD 或 0 / endDate must be a date written YYYYMMDD, or 0",
            code="InvalidEndDate",
        )
    if not is_scoped(pid, signed.signer):
        # Only a project's first version can name a new id; a later one by anyone but the
        # owner (whose address the id starts with) is someone else's project.
        if int(getattr(rec, "version", 0)) == 1:
            raise RecordError(
                f"项目编号不属于签名者 / the project id {_hex(pid)} must start with its "
                f"owner's address {signed.signer}",
                code="ProjectIdNotScoped",
            )
        raise RecordError(
            f"project {_hex(pid)} belongs to {id_scope(pid)}, not to the signer {signed.signer}",
            code="NotProjectOwner",
        )


def _check_batch_shape(cids: Sequence[bytes], qtys: Sequence[int], line_count: int) -> None:
    """The contract's batch rules: lines and commitments, one quantity each, at most
    MAX_BATCH_COMMITMENTS, ids strictly increasing (so none repeats)."""
    if not cids or not line_count:
        raise RecordError(
            "批次没有承诺或明细行 / the batch has no commitment or no line", code="EmptyBatch"
        )
    if len(cids) != len(qtys):
        raise RecordError(
            f"批次的承诺与数量个数不同 / {len(cids)} commitments but {len(qtys)} quantities",
            code="BatchLengthMismatch",
        )
    if len(cids) > MAX_BATCH_COMMITMENTS:
        raise RecordError(
            f"批次承诺过多 / a batch serves at most {MAX_BATCH_COMMITMENTS} commitments, "
            f"not {len(cids)}",
            code="TooManyCommitments",
        )
    for i in range(1, len(cids)):
        if cids[i] <= cids[i - 1]:
            raise RecordError(
                f"批次承诺编号须严格递增 / commitment ids must strictly increase (at {i}); "
                "sort them (records.batch_totals does)",
                code="CommitmentsNotSorted",
            )


def check_record(session: Session, signed: SignedRecord) -> None:
    """The contract's rules, checked against the read model plus the pending outbox."""
    rec = signed.record
    kind = signed.kind
    _check_scope(signed)
    if kind == Kind.PROJECT_ANCHOR:
        pk = int(getattr(rec, "project_kind", 0))
        if pk == ProjectKind.NEED:
            _require_role(session, signed, "COUNTY")
            county = _county_of(session, signed.signer)
            if county != getattr(rec, "county", None):
                raise RecordError(
                    f"the signer is the county office of {county}, not of "
                    f"{getattr(rec, 'county', None)}",
                    code="WrongCounty",
                )
        elif pk == ProjectKind.SUPPLY:
            _require_role(session, signed, "ORG")
        else:
            raise RecordError(
                "项目类型须为 1（需求）或 2（供给）/ projectKind must be 1 (need) or 2 (supply)",
                code="InvalidProjectKind",
            )
        if not 1 <= int(getattr(rec, "category", 0)) <= 10:
            raise RecordError("领域编号须为 1..10 / category must be 1..10", code="InvalidCategory")
        county_code = int(getattr(rec, "county", 0))
        if pk == ProjectKind.SUPPLY and county_code and not 100000 <= county_code <= 999999:
            raise RecordError(
                f"县级代码须为六位数字 / county {county_code} is not a six-digit code",
                code="InvalidCountyCode",
            )
        _check_anchor_fields(rec, signed)
    elif kind == Kind.COMMITMENT:
        _require_role(session, signed, "ORG")
        need_id = _hex(getattr(rec, "need_id", b""))
        if _need(session, need_id) is None:
            raise RecordError(
                f"no need project {need_id} is anchored", code="UnknownNeed", need_id=need_id
            )
        if not 0 < int(getattr(rec, "quantity", 0)) < 1 << 63:
            raise RecordError("quantity must be between 1 and 2^63-1", code="InvalidQuantity")
        if int(getattr(rec, "resource_kind", 0)) not in (1, 2, 3):
            raise RecordError(
                "资源类型须为 1 资金、2 物资或 3 服务 / resourceKind must be 1 funds, 2 goods or "
                "3 service",
                code="InvalidResourceKind",
            )
    elif kind == Kind.DELIVERY:
        _require_role(session, signed, "ORG")
        _check_delivery_amount(
            session, signed, getattr(rec, "commitment_id", b""), int(getattr(rec, "quantity", 0))
        )
    elif kind == Kind.DELIVERY_BATCH:
        _require_role(session, signed, "ORG")
        cids: tuple[bytes, ...] = getattr(rec, "commitment_ids", ())
        qtys = getattr(rec, "quantities", ())
        _check_batch_shape(cids, qtys, int(getattr(rec, "line_count", 0)))
        for cid, qty in zip(cids, qtys, strict=True):
            _check_delivery_amount(session, signed, cid, int(qty))
    elif kind == Kind.RECEIPT:
        _require_role(session, signed, "COUNTY")
        delivery_id = _hex(getattr(rec, "delivery_id", b""))
        found = _delivery(session, delivery_id)
        if found is None:
            raise RecordError(f"no delivery {delivery_id} is recorded", code="UnknownDelivery")
        commitment_id, delivered = found
        commitment = _commitment(session, commitment_id)
        county = _county_of(session, signed.signer)
        if commitment is not None and commitment[0] == signed.signer:
            raise RecordError(
                "不能签收自己的交付 / the signer made this commitment and cannot confirm its "
                "own delivery",
                code="SelfReceipt",
            )
        if commitment is None or commitment[1] != county:
            raise RecordError(
                f"only the county office of the need's county "
                f"({commitment[1] if commitment else '?'}) may sign this receipt",
                code="WrongCounty",
            )
        if int(getattr(rec, "confirmed_quantity", 0)) > delivered:
            raise RecordError(
                f"confirms {getattr(rec, 'confirmed_quantity', 0)}, more than the {delivered} "
                "delivered",
                code="OverConfirmation",
            )
        already = session.scalar(
            select(OutboxRecord.id).where(
                OutboxRecord.kind == int(Kind.RECEIPT),
                OutboxRecord.ref_id == delivery_id,
                OutboxRecord.status.in_(LIVE),
            )
        )
        if already is not None or session.scalar(
            select(DeliveryRow.receipted).where(
                DeliveryRow.record_id == delivery_id, DeliveryRow.receipted.is_(True)
            )
        ):
            raise RecordError(
                f"delivery {delivery_id} already has a receipt", code="AlreadyReceipted"
            )
    elif kind == Kind.FLAG:
        _require_role(session, signed, "AUDITOR")
        target = _hex(getattr(rec, "record_id", b""))
        if not _record_exists(session, target):
            raise RecordError(f"no record {target} is recorded", code="UnknownRecord")
    for check in _pre_checks:
        check(session, signed)


def _ref_and_quantity(signed: SignedRecord) -> tuple[str | None, int | None]:
    rec = signed.record
    match signed.kind:
        case Kind.PROJECT_ANCHOR:
            return _hex(getattr(rec, "project_id", b"")), None
        case Kind.COMMITMENT:
            return _hex(getattr(rec, "need_id", b"")), int(getattr(rec, "quantity", 0))
        case Kind.DELIVERY:
            return _hex(getattr(rec, "commitment_id", b"")), int(getattr(rec, "quantity", 0))
        case Kind.RECEIPT:
            return _hex(getattr(rec, "delivery_id", b"")), int(
                getattr(rec, "confirmed_quantity", 0)
            )
        case Kind.FLAG:
            return _hex(getattr(rec, "record_id", b"")), None
        case _:
            return None, sum(int(q) for q in getattr(rec, "quantities", ()))


# ------------------------------------------------------------------ accepting


def _shares(signed: SignedRecord) -> list[tuple[str, int]]:
    rec: Any = signed.record
    if signed.kind == Kind.DELIVERY:
        return [(_hex(rec.commitment_id), int(rec.quantity))]
    if signed.kind == Kind.DELIVERY_BATCH:
        return [(_hex(c), int(q)) for c, q in zip(rec.commitment_ids, rec.quantities, strict=True)]
    return []


@dataclass
class _Request:
    records: Sequence[SignedRecord]
    done: threading.Event
    result: list[Acceptance] | None = None
    error: Exception | None = None


class Relayer:
    """Accepts signed records into the outbox. Safe to share between API threads.

    Concurrent submissions are written with group commit: whichever thread holds the lock
    checks and writes every waiting submission in one database transaction, each in its own
    savepoint (a refused submission rolls back alone), so one fsync serves many requests.
    Checks and writes are serialized, so two concurrent deliveries cannot both pass the
    over-delivery check; the contract remains the final guard.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Request] = []
        self._cache = CheckCache()

    def accept(self, records: Sequence[SignedRecord], *, atomic: bool = True) -> list[Acceptance]:
        """Checks every record, then writes them to the outbox, all or none of them.

        One bad record refuses the whole submission (nothing of it is written). The answer
        comes only after the outbox rows are committed. Resubmitting a record already
        accepted (same bytes) answers its current status with `duplicate`.
        """
        request = _Request(records, threading.Event())
        with self._queue_lock:
            self._queue.append(request)
        with self._lock:
            if not request.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._write(batch)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _write(self, batch: list[_Request]) -> None:
        try:
            with self.db.session(immediate=True) as session:
                session.info["check_cache"] = self._cache
                for request in batch:
                    savepoint = session.begin_nested()
                    try:
                        request.result = self._accept_in(session, request.records)
                        savepoint.commit()
                    except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                        savepoint.rollback()
                        self._cache.forget(
                            cid for signed in request.records for cid, _ in _shares(signed)
                        )
                        request.error = exc
        except Exception as exc:  # noqa: BLE001 - the commit failed: nobody was accepted
            self._cache.forget()
            for request in batch:
                if request.error is None:
                    request.result, request.error = None, exc
        finally:
            for request in batch:
                request.done.set()

    def _accept_in(self, session: Session, records: Sequence[SignedRecord]) -> list[Acceptance]:
        results: list[Acceptance] = []
        seen: set[str] = set()
        for signed in records:
            rid = _hex(signed.id)
            if rid in seen:
                raise ConflictError(
                    f"record {rid} appears twice in one submission",
                    code="duplicate_in_submission",
                )
            seen.add(rid)
            existing = session.scalars(
                select(OutboxRecord).where(OutboxRecord.record_id == rid)
            ).first()
            data = signed.canonical_bytes()
            if existing is not None:
                if existing.record_bytes != data:
                    raise ConflictError(
                        f"record id {rid} is already used by a different record",
                        code="RecordIdUsed",
                    )
                if existing.status != "failed":
                    results.append(
                        Acceptance(rid, signed.kind.slug, existing.status, True, existing.id)
                    )
                    continue
                session.delete(existing)
                session.flush()
            else:
                on_chain = session.scalar(
                    select(LogEntry.record_bytes).where(LogEntry.record_id == rid)
                )
                if on_chain is not None and on_chain != data:
                    raise ConflictError(
                        f"record id {rid} is already used on chain", code="RecordIdUsed"
                    )
            check_record(session, signed)
            ref_id, quantity = _ref_and_quantity(signed)
            row = OutboxRecord(
                record_id=rid,
                kind=int(signed.kind),
                signer=signed.signer,
                record_bytes=data,
                status="queued",
                ref_id=ref_id,
                quantity=quantity,
            )
            session.add(row)
            session.flush()  # the shares' foreign key needs the outbox row first
            for cid, qty in _shares(signed):
                session.add(OutboxShare(record_id=rid, commitment_id=cid, quantity=qty))
                self._cache.add_delivered(cid, qty)
            session.flush()
            results.append(Acceptance(rid, signed.kind.slug, "queued", False, row.id))
        return results

    def status(self, record_ids: Iterable[str]) -> dict[str, OutboxRecord]:
        ids = [r.lower() for r in record_ids]
        with self.db.session() as session:
            rows = session.scalars(select(OutboxRecord).where(OutboxRecord.record_id.in_(ids)))
            out = {row.record_id: row for row in rows}
            for row in out.values():
                session.expunge(row)
            return out


# ------------------------------------------------------------------ sending


class NonceManager:
    """One lock per sending account; the next nonce lives in the DB and advances in the
    same transaction that records the signed transaction, so none is reused or skipped."""

    def __init__(self, db: Database, w3: Web3) -> None:
        self.db = db
        self.w3 = w3
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, sender: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sender, threading.Lock())

    def next_nonce(self, session: Session, sender: str) -> int:
        state = session.get(NonceState, sender)
        chain_nonce = int(
            self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
        )
        if state is None:
            state = NonceState(sender=sender, next_nonce=chain_nonce)
            session.add(state)
            session.flush()
        return int(state.next_nonce)

    def advance(self, session: Session, sender: str, used: int) -> None:
        state = session.get(NonceState, sender)
        assert state is not None and state.next_nonce == used
        state.next_nonce = used + 1

    def resync(self, session: Session, sender: str) -> int:
        """After the chain lost transactions: take the chain's nonce (nothing of ours is
        pending any more), so the next send fills the gap instead of waiting forever."""
        chain_nonce = int(
            self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
        )
        state = session.get(NonceState, sender)
        if state is None:
            session.add(NonceState(sender=sender, next_nonce=chain_nonce))
        else:
            state.next_nonce = chain_nonce
        return chain_nonce


@dataclass
class WorkerStats:
    sent_txs: int = 0
    sent_records: int = 0
    confirmed: int = 0
    failed: int = 0
    requeued: int = 0
    replaced: int = 0


class RelayWorker:
    """Sends queued outbox records and follows them to confirmation."""

    def __init__(
        self,
        db: Database,
        ledger: LedgerContract,
        senders: Sequence[LocalAccount],
        *,
        confirmations: int = 0,
        batch_size: int = 200,
        gas_margin: float = 1.25,
        stuck_after: float = 30.0,
        max_inflight: int = 8,
    ) -> None:
        if not senders:
            raise ValueError("the relayer needs at least one sending account")
        self.db = db
        self.ledger = ledger
        self.w3 = ledger.w3
        self.senders = list(senders)
        self.confirmations = confirmations
        self.batch_size = batch_size
        self.gas_margin = gas_margin
        self.stuck_after = stuck_after
        self.max_inflight = max_inflight
        self.nonces = NonceManager(db, self.w3)
        self.stats = WorkerStats()
        self._next_sender = 0
        self._deferred: set[str] = set()
        self.chain_id = int(self.w3.eth.chain_id)

    # ---- one pass ---------------------------------------------------------------
    def run_once(self) -> int:
        """One pass: reconcile the chain, confirm, replace stuck, send. Returns work done."""
        self._deferred = set()
        work = self.reconcile()
        work += self.confirm()
        work += self.replace_stuck()
        work += self.send_queued()
        return work

    def run_forever(self, stop: threading.Event, poll: float = 0.5) -> None:
        while not stop.is_set():
            try:
                work = self.run_once()
            except Exception:
                log.exception("relayer pass failed; retrying")
                work = 0
            if not work:
                stop.wait(poll)

    # ---- sending -----------------------------------------------------------------
    def _fees(self) -> tuple[int, int]:
        block = self.w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas", 0) or 0)
        tip = 1_000_000_000
        return 2 * base + tip, tip

    def _calldata(self, rows: Sequence[OutboxRecord]) -> list[bytes]:
        return [
            self.ledger.submit_calldata(SignedRecord.from_bytes(row.record_bytes)) for row in rows
        ]

    def _estimate(self, sender: str, calls: list[bytes]) -> int | None:
        try:
            return int(self.w3.eth.estimate_gas(self.ledger.multicall_tx(sender, calls)))  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError, ValueError):
            return None

    def _weed(self, session: Session, rows: list[OutboxRecord], sender: str) -> list[OutboxRecord]:
        """Finds the records of a batch the contract would refuse, simulating them in order
        (a commitment may depend on an anchor earlier in the same batch). A record whose
        reference is still in flight in another of our transactions is deferred to a later
        pass; any other refusal fails the record for good, with the contract's reason."""
        good: list[OutboxRecord] = []
        calls: list[bytes] = []
        inflight = bool(
            session.scalar(
                select(func.count())
                .select_from(SentTransaction)
                .where(SentTransaction.status == "pending")
            )
        )
        for row in rows:
            signed = SignedRecord.from_bytes(row.record_bytes)
            call = self.ledger.submit_calldata(signed)
            try:
                self.w3.eth.call(self.ledger.multicall_tx(sender, [*calls, call]))  # type: ignore[arg-type]
            except (ContractCustomError, ContractLogicError) as exc:
                err = revert_error(self.ledger.abi, exc)
                if err.code == "RecordIdUsed" and self._on_chain_same(signed):
                    # Already on chain (sent before a crash, or re-included after a reorg).
                    self._mark_found(session, row)
                    continue
                if err.code in MISSING_REFERENCE and inflight and row.attempts < MAX_DEFERRALS:
                    row.attempts += 1
                    self._deferred.add(row.record_id)
                    continue
                row.status, row.error_code, row.error = "failed", err.code, err.message
                self.stats.failed += 1
                continue
            good.append(row)
            calls.append(call)
        return good

    def _mark_found(self, session: Session, row: OutboxRecord) -> None:
        entry = session.scalars(select(LogEntry).where(LogEntry.record_id == row.record_id)).first()
        row.status = "confirmed"
        row.block_number = entry.block_number if entry else None
        row.block_hash = entry.block_hash if entry else None
        row.leaf_index = entry.leaf_index if entry else None
        self.stats.confirmed += 1

    def _on_chain_same(self, signed: SignedRecord) -> bool:
        return self.ledger.record_kind(signed.id) == int(signed.kind)

    def send_queued(self) -> int:
        """Sends up to `max_inflight` multicall transactions of queued records."""
        sent = 0
        for _ in range(self.max_inflight):
            with self.db.session(immediate=True) as session:
                inflight = session.scalar(
                    select(func.count())
                    .select_from(SentTransaction)
                    .where(SentTransaction.status == "pending")
                )
                if inflight and inflight >= self.max_inflight * len(self.senders):
                    break
                rows = list(
                    session.scalars(
                        select(OutboxRecord)
                        .where(
                            OutboxRecord.status == "queued",
                            OutboxRecord.record_id.not_in(self._deferred),
                        )
                        .order_by(OutboxRecord.id)
                        .limit(self.batch_size)
                    )
                )
                if not rows:
                    break
                sender = self.senders[self._next_sender % len(self.senders)]
                self._next_sender += 1
                calls = self._calldata(rows)
                gas = self._estimate(sender.address, calls)
                if gas is None:
                    rows = self._weed(session, rows, sender.address)
                    if not rows:
                        continue
                    calls = self._calldata(rows)
                    gas = self._estimate(sender.address, calls)
                    if gas is None:
                        # Dependent records in one batch (a delivery after its commitment)
                        # cannot be simulated together on some nodes: send one at a time.
                        rows = rows[:1]
                        calls = calls[:1]
                        gas = self._estimate(sender.address, calls) or 2_000_000
                raw, tx_hash, nonce, max_fee, tip = self._sign(session, sender, calls, gas)
                now = datetime.now(UTC)
                _record_sent(session, tx_hash, sender.address, nonce, max_fee, tip, raw, len(rows))
                for row in rows:
                    row.status, row.tx_hash, row.sender, row.nonce = (
                        "sent",
                        tx_hash,
                        sender.address,
                        nonce,
                    )
                    row.attempts += 1
                    row.sent_at = now
            # Durable before broadcast: a crash here leaves a pending tx we rebroadcast.
            if os.environ.get(CRASH_AFTER_ENV) == "durable":
                os._exit(137)
            self._broadcast(raw)
            self.stats.sent_txs += 1
            self.stats.sent_records += len(rows)
            sent += 1
        return sent

    def _sign(
        self,
        session: Session,
        sender: LocalAccount,
        calls: list[bytes],
        gas: int,
        *,
        nonce: int | None = None,
        fees: tuple[int, int] | None = None,
    ) -> tuple[bytes, str, int, int, int]:
        with self.nonces.lock(sender.address):
            if nonce is None:
                nonce = self.nonces.next_nonce(session, sender.address)
                self.nonces.advance(session, sender.address, nonce)
            max_fee, tip = fees or self._fees()
            tx = {
                "to": self.ledger.contract.address,
                "data": self.ledger.multicall_data(calls),
                "value": 0,
                "nonce": nonce,
                "gas": int(gas * self.gas_margin) + 50_000,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
                "chainId": self.chain_id,
                "type": 2,
            }
            signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
            return bytes(signed.raw_transaction), signed.hash.to_0x_hex(), nonce, max_fee, tip

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - "already known"/"nonce too low" are fine
            log.info("broadcast: %s", exc)

    # ---- confirming --------------------------------------------------------------
    def confirm(self) -> int:
        """Marks records confirmed once their transaction is at the required depth."""
        with self.db.session(immediate=True) as session:
            pending = list(
                session.scalars(select(SentTransaction).where(SentTransaction.status == "pending"))
            )
            if not pending:
                return 0
            head = int(self.w3.eth.block_number)
            done = 0
            with self.w3.batch_requests() as batch:
                for tx in pending:
                    batch.add(self.w3.eth.get_transaction_receipt(tx.tx_hash))  # type: ignore[arg-type]
                try:
                    receipts: list[Any] = list(batch.execute())
                except Exception:  # noqa: BLE001 - one unknown hash fails some nodes' batches
                    receipts = [self._receipt(tx.tx_hash) for tx in pending]
            for tx, receipt in zip(pending, receipts, strict=True):
                if receipt is not None and not isinstance(receipt, Mapping):
                    # web3's batch answers an unknown hash with an error tuple, not None:
                    # ask for that one receipt on its own.
                    receipt = self._receipt(tx.tx_hash)
                if not receipt:
                    continue
                if int(receipt["blockNumber"]) + self.confirmations > head:
                    continue
                done += self._settle(session, tx, receipt)
            return done

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def _settle(self, session: Session, tx: SentTransaction, receipt: Any) -> int:
        rows = list(session.scalars(select(OutboxRecord).where(OutboxRecord.tx_hash == tx.tx_hash)))
        # Other transactions with the same nonce were replacements that lost the race.
        session.execute(
            update(SentTransaction)
            .where(
                SentTransaction.sender == tx.sender,
                SentTransaction.nonce == tx.nonce,
                SentTransaction.tx_hash != tx.tx_hash,
                SentTransaction.status == "pending",
            )
            .values(status="replaced")
        )
        tx.status = "mined"
        if receipt["status"] != 1:
            # The whole multicall reverted: send the records again; weeding finds the bad one.
            for row in rows:
                row.status, row.tx_hash = "queued", None
                self.stats.requeued += 1
            return len(rows)
        leaves = {}
        for ev in self.ledger.contract.events.RecordAppended().process_receipt(
            receipt, errors=_DISCARD
        ):
            leaves["0x" + bytes(ev["args"]["recordId"]).hex()] = int(ev["args"]["index"])
        for row in rows:
            row.status = "confirmed"
            row.block_number = int(receipt["blockNumber"])
            row.block_hash = receipt["blockHash"].to_0x_hex()
            row.leaf_index = leaves.get(row.record_id)
            self.stats.confirmed += 1
        return len(rows)

    def replace_stuck(self) -> int:
        """Re-signs transactions pending too long with the same nonce and ≥ 12.5% higher fees,
        and requeues those the node no longer knows (a restarted or rolled-back chain)."""
        cutoff = time.time() - self.stuck_after
        work = 0
        with self.db.session(immediate=True) as session:
            pending = list(
                session.scalars(select(SentTransaction).where(SentTransaction.status == "pending"))
            )
            lost_senders: set[str] = set()
            for tx in pending:
                known = self._known(tx.tx_hash)
                if not known:
                    chain_nonce = int(
                        self.w3.eth.get_transaction_count(
                            Web3.to_checksum_address(tx.sender), "latest"
                        )
                    )
                    if chain_nonce > tx.nonce:
                        continue  # mined by a replacement or about to be seen by confirm()
                    # Signed and durable but never seen by the node (a crash between commit
                    # and broadcast, or a node that restarted): send the same bytes again so
                    # the nonce sequence stays gap-free. Only if the node still refuses them
                    # are the records requeued under a fresh nonce.
                    self._broadcast(tx.raw)
                    if self._known(tx.tx_hash):
                        work += 1
                        continue
                    tx.status = "dropped"
                    for row in session.scalars(
                        select(OutboxRecord).where(OutboxRecord.tx_hash == tx.tx_hash)
                    ):
                        row.status, row.tx_hash = "queued", None
                        self.stats.requeued += 1
                    lost_senders.add(tx.sender)
                    work += 1
                    continue
                sent_at = (
                    tx.sent_at.replace(tzinfo=UTC) if tx.sent_at.tzinfo is None else tx.sent_at
                )
                if sent_at.timestamp() < cutoff and known == "pending":
                    work += self._bump(session, tx)
            for sender in lost_senders:
                still = session.scalar(
                    select(func.count())
                    .select_from(SentTransaction)
                    .where(SentTransaction.sender == sender, SentTransaction.status == "pending")
                )
                if not still:
                    with self.nonces.lock(sender):
                        self.nonces.resync(session, sender)
        return work

    def _known(self, tx_hash: str) -> str | None:
        """ "mined", "pending" or None when the node does not know the transaction."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        return "mined" if tx.get("blockNumber") is not None else "pending"

    def _bump(self, session: Session, tx: SentTransaction) -> int:
        sender = next((s for s in self.senders if s.address == tx.sender), None)
        if sender is None:
            return 0
        rows = list(session.scalars(select(OutboxRecord).where(OutboxRecord.tx_hash == tx.tx_hash)))
        calls = self._calldata(rows)
        max_fee, tip = self._fees()
        fees = (max(max_fee, tx.max_fee * 9 // 8 + 1), max(tip, tx.priority_fee * 9 // 8 + 1))
        gas = self._estimate(sender.address, calls) or 2_000_000
        raw, tx_hash, nonce, max_fee, tip = self._sign(
            session, sender, calls, gas, nonce=tx.nonce, fees=fees
        )
        _record_sent(session, tx_hash, tx.sender, nonce, fees[0], fees[1], raw, len(rows))
        tx.status = "replaced"
        for row in rows:
            row.tx_hash = tx_hash
        session.flush()
        self._broadcast(raw)
        self.stats.replaced += 1
        return 1

    # ---- reconciling with a chain that went back ----------------------------------
    def reconcile(self, window: int = 64) -> int:
        """Sends again confirmed records whose block is no longer on the chain."""
        head = int(self.w3.eth.block_number)
        with self.db.session(immediate=True) as session:
            blocks = session.execute(
                select(OutboxRecord.block_number, OutboxRecord.block_hash)
                .where(
                    OutboxRecord.status == "confirmed",
                    OutboxRecord.block_number >= max(0, head - window),
                )
                .distinct()
            ).all()
            beyond = session.execute(
                select(OutboxRecord.block_number, OutboxRecord.block_hash)
                .where(OutboxRecord.status == "confirmed", OutboxRecord.block_number > head)
                .distinct()
            ).all()
            gone: list[tuple[Any, Any]] = [tuple(r) for r in beyond]
            for number, block_hash in blocks:
                if number > head:
                    continue
                try:
                    block = self.w3.eth.get_block(number)
                except Exception:  # noqa: BLE001
                    gone.append((number, block_hash))
                    continue
                if block["hash"].to_0x_hex() != block_hash:
                    gone.append((number, block_hash))
            work = 0
            for number, block_hash in gone:
                rows = session.scalars(
                    select(OutboxRecord).where(
                        OutboxRecord.status == "confirmed",
                        OutboxRecord.block_number == number,
                        OutboxRecord.block_hash == block_hash,
                    )
                )
                for row in rows:
                    row.status, row.tx_hash, row.block_number, row.block_hash = (
                        "queued",
                        None,
                        None,
                        None,
                    )
                    row.leaf_index = None
                    self.stats.requeued += 1
                    work += 1
            if gone:
                for tx in session.scalars(
                    select(SentTransaction).where(SentTransaction.status == "pending")
                ):
                    tx.status = "dropped"
                    for row in session.scalars(
                        select(OutboxRecord).where(OutboxRecord.tx_hash == tx.tx_hash)
                    ):
                        row.status, row.tx_hash = "queued", None
                for sender in self.senders:
                    self.nonces.resync(session, sender.address)
            return work


def _record_sent(
    session: Session,
    tx_hash: str,
    sender: str,
    nonce: int,
    max_fee: int,
    tip: int,
    raw: bytes,
    count: int,
) -> None:
    """Records a signed transaction as pending. After a chain rollback the relayer can sign
    exactly the transaction it signed before (same records, nonce and fees, so the same
    hash): the old row is revived rather than inserted twice."""
    existing = session.get(SentTransaction, tx_hash)
    if existing is None:
        session.add(
            SentTransaction(
                tx_hash=tx_hash,
                sender=sender,
                nonce=nonce,
                max_fee=max_fee,
                priority_fee=tip,
                raw=raw,
                record_count=count,
                status="pending",
            )
        )
    else:
        existing.status = "pending"
        existing.sent_at = datetime.now(UTC)
    session.flush()


def _discard() -> Any:
    from web3.logs import DISCARD

    return DISCARD


_DISCARD = _discard()
