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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound

from ledger.core.errors import ConflictError, RecordError
from ledger.core.fields import MAX_TITLE_BYTES, ProjectKind, valid_date_code, valid_title
from ledger.core.lines import id_scope, is_scoped
from ledger.core.records import MAX_BATCH_COMMITMENTS, Kind, SignedRecord
from ledger.evm.contract import LedgerContract, revert_error
from ledger.store import alarms
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


def _project_state(session: Session, project_id: str) -> tuple[str, int, int] | None:
    """(owner, project kind, county) of a project as the contract will hold it when our
    pending records land: its first version, indexed or pending in the outbox; None if no
    version of it is known (the contract's `project.version == 0`)."""
    row = session.scalars(
        select(ProjectAnchorRow)
        .where(ProjectAnchorRow.project_id == project_id)
        .order_by(ProjectAnchorRow.version)
        .limit(1)
    ).first()
    if row is not None:
        return row.author, int(row.project_kind), int(row.county)
    first: tuple[int, str, int, int] | None = None
    for pending in session.scalars(
        select(OutboxRecord).where(
            OutboxRecord.kind == int(Kind.PROJECT_ANCHOR),
            OutboxRecord.ref_id == project_id,
            OutboxRecord.status.in_(LIVE),
        )
    ):
        rec = SignedRecord.from_bytes(pending.record_bytes).record
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


def _check_anchor_fields(session: Session, rec: Any, signed: SignedRecord) -> None:
    """The contract's checks of a ProjectAnchor's human-readable fields, its project id and
    what a later version may not change (owner, kind, county)."""
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
    state = _project_state(session, _hex(pid))
    if state is None:
        # A project's first known version names it: its id must start with the signer's
        # address, whatever version number the record claims (the contract's order).
        if not is_scoped(pid, signed.signer):
            raise RecordError(
                f"项目编号不属于签名者 / the project id {_hex(pid)} must start with its "
                f"owner's address {signed.signer}",
                code="ProjectIdNotScoped",
                project_id=_hex(pid),
            )
        return
    owner, kind, county = state
    if owner != signed.signer:
        raise RecordError(
            f"项目不属于签名者 / project {_hex(pid)} belongs to {owner}, not to the signer "
            f"{signed.signer}",
            code="NotProjectOwner",
            project_id=_hex(pid),
        )
    got_kind, got_county = int(getattr(rec, "project_kind", 0)), int(getattr(rec, "county", 0))
    if got_kind != kind:
        raise RecordError(
            f"项目类型不可更改 / project {_hex(pid)} is of kind {kind}; a later version cannot "
            f"make it {got_kind}",
            code="ProjectKindChanged",
            project_id=_hex(pid),
            expected=kind,
            got=got_kind,
        )
    if got_county != county:
        raise RecordError(
            f"项目所属县不可更改 / project {_hex(pid)} serves county {county}; a later version "
            f"cannot move it to {got_county}",
            code="ProjectCountyChanged",
            project_id=_hex(pid),
            expected=county,
            got=got_county,
        )


def check_batch_shape(cids: Sequence[bytes], qtys: Sequence[int], line_count: int) -> None:
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


def check_batch_signer(session: Session, signed: SignedRecord) -> None:
    """Who may open a batch upload: the rules of a DeliveryBatch that concern its signer
    (id scoped to the signer, the ORG role, and owning every known commitment it names).
    The amounts are checked when the lines are complete (`check_record`)."""
    _check_scope(signed)
    _require_role(session, signed, "ORG")
    for cid in getattr(signed.record, "commitment_ids", ()):
        found = _commitment(session, _hex(cid))
        if found is not None and found[0] != signed.signer:
            raise RecordError(
                f"承诺不属于签名者 / commitment {_hex(cid)} belongs to {found[0]}, not to the "
                f"signer {signed.signer}",
                code="NotCommitmentOwner",
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
        _check_anchor_fields(session, rec, signed)
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
        check_batch_shape(cids, qtys, int(getattr(rec, "line_count", 0)))
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
            with self.db.write() as session:
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
        with self.db.read() as session:
            rows = session.scalars(select(OutboxRecord).where(OutboxRecord.record_id.in_(ids)))
            out = {row.record_id: row for row in rows}
            for row in out.values():
                session.expunge(row)
            return out


# ------------------------------------------------------------------ sending


class NonceManager:
    """One lock per sending account; the next nonce lives in the DB and advances in the
    same transaction that records the signed transaction, so none is reused or skipped.

    The chain's nonce is read by the caller before its write transaction (no JSON-RPC while
    the SQLite write lock is held) and passed in."""

    def __init__(self, db: Database, w3: Web3) -> None:
        self.db = db
        self.w3 = w3
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, sender: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sender, threading.Lock())

    def chain_nonce(self, sender: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending"))

    def next_nonce(self, session: Session, sender: str, chain_nonce: int | None = None) -> int:
        state = session.get(NonceState, sender)
        if state is None:
            start = self.chain_nonce(sender) if chain_nonce is None else chain_nonce
            state = NonceState(sender=sender, next_nonce=start)
            session.add(state)
            session.flush()
        elif chain_nonce is not None and chain_nonce != state.next_nonce:
            idle = not session.scalar(
                select(SentTransaction.tx_hash)
                .where(SentTransaction.sender == sender, SentTransaction.status == "pending")
                .limit(1)
            )
            if idle:
                # Nothing of ours is in flight, so the chain's nonce is the truth (a chain
                # restarted from an older state forgot some of ours): no gap, no reuse.
                state.next_nonce = chain_nonce
        return int(state.next_nonce)

    def advance(self, session: Session, sender: str, used: int) -> None:
        state = session.get(NonceState, sender)
        assert state is not None and state.next_nonce == used
        state.next_nonce = used + 1

    def resync(self, session: Session, sender: str, chain_nonce: int | None = None) -> int:
        """After the chain lost transactions: take the chain's nonce (nothing of ours is
        pending any more), so the next send fills the gap instead of waiting forever."""
        if chain_nonce is None:
            chain_nonce = self.chain_nonce(sender)
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
    conflicts: int = 0


@dataclass
class OnChain:
    """Where a record id is in the chain's log: its RecordAppended event."""

    index: int
    leaf_hash: bytes
    block_number: int
    block_hash: str


@dataclass
class _Plan:
    """What one send round decided from JSON-RPC answers, before its write transaction."""

    good: list[int] = field(default_factory=list)  # outbox ids to send, in order
    calls: list[bytes] = field(default_factory=list)
    gas: int = 0
    failed: dict[int, tuple[str, str]] = field(default_factory=dict)
    deferred: set[int] = field(default_factory=set)
    found: dict[int, OnChain] = field(default_factory=dict)
    conflict: dict[int, OnChain] = field(default_factory=dict)


ROLLED_BACK = "rolled_back"
RECORD_APPENDED = keccak(text="RecordAppended(uint256,bytes32,uint8,bytes32,bytes)")
RECORD_KIND = keccak(text="recordKind(bytes32)")[:4]


def locate(w3: Web3, address: str, from_block: int, record_id: bytes) -> OnChain | None:
    """The chain's RecordAppended event of `record_id` (its topic 2), or None."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(address),
            "fromBlock": max(0, from_block),
            "toBlock": "latest",
            "topics": ["0x" + RECORD_APPENDED.hex(), None, "0x" + bytes(record_id).hex()],
        }
    )
    if not logs:
        return None
    entry = logs[-1]
    leaf, _record = abi_decode(["bytes32", "bytes"], bytes(entry["data"]))
    return OnChain(
        index=int.from_bytes(bytes(entry["topics"][1]), "big"),
        leaf_hash=bytes(leaf),
        block_number=int(entry["blockNumber"]),
        block_hash=HexBytes(entry["blockHash"]).to_0x_hex(),
    )


def block_hashes(w3: Web3, numbers: Iterable[int]) -> dict[int, str | None]:
    """The chain's hash at each height (None where it has no such block), in batches."""
    wanted = sorted(set(numbers))
    out: dict[int, str | None] = {}
    if not wanted:
        return out
    head = int(w3.eth.block_number)
    for n in wanted:
        if n > head:
            out[n] = None
    wanted = [n for n in wanted if n <= head]
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        try:
            with w3.batch_requests() as batch:
                for n in chunk:
                    batch.add(w3.eth.get_block(n))
                blocks: list[Any] = list(batch.execute())
        except Exception:  # noqa: BLE001 - a node without batches: one at a time
            blocks = [None] * len(chunk)
        for n, block in zip(chunk, blocks, strict=True):
            if not isinstance(block, Mapping):
                try:
                    block = w3.eth.get_block(n)
                except Exception:  # noqa: BLE001 - gone
                    out[n] = None
                    continue
            out[n] = HexBytes(block["hash"]).to_0x_hex()
    return out


def requeue_lost(session: Session, row: OutboxRecord, why: str) -> None:
    """An acknowledged record the chain no longer holds goes back to the queue (its status
    answers `queued` again) with the reason kept beside it."""
    row.status, row.tx_hash, row.block_number, row.block_hash = "queued", None, None, None
    row.leaf_index = None
    row.error_code, row.error = ROLLED_BACK, why


def enqueue_signed(session: Session, signed: SignedRecord, *, why: str) -> OutboxRecord:
    """Puts a signed record that was on chain (a leaf of a lost history) into the outbox as
    queued, without the local checks: the contract decides when it is sent again."""
    ref_id, quantity = _ref_and_quantity(signed)
    rid = _hex(signed.id)
    row = OutboxRecord(
        record_id=rid,
        kind=int(signed.kind),
        signer=signed.signer,
        record_bytes=signed.canonical_bytes(),
        status="queued",
        ref_id=ref_id,
        quantity=quantity,
        error_code=ROLLED_BACK,
        error=why,
    )
    session.add(row)
    session.flush()
    for cid, qty in _shares(signed):
        session.add(OutboxShare(record_id=rid, commitment_id=cid, quantity=qty))
    session.flush()
    return row


class RelayWorker:
    """Sends queued outbox records and follows them to confirmation.

    No pass holds the database's write lock while it waits on JSON-RPC: each reads what it
    needs, asks the node, then applies its decisions in one short write transaction that
    re-checks the rows it touches are still as it read them.
    """

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
        window: int = 64,
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
        self.window = window
        self.nonces = NonceManager(db, self.w3)
        self.stats = WorkerStats()
        self._next_sender = 0
        self._deferred: set[str] = set()
        self.chain_id = int(self.w3.eth.chain_id)
        # Every confirmed record at or below this block was checked against the chain while
        # this block had this hash: while it still has, they are all still there. None (at
        # start) means: check every confirmed record once.
        self._anchor: tuple[int, str] | None = None
        self._halt_logged = False
        # The first pass also asks the contract about every confirmed record id (recordKind,
        # in multicalls), so a chain that lost records without changing block hashes (a
        # hand-repaired state file) is caught too.
        self._ids_checked = False

    # ---- one pass ---------------------------------------------------------------
    def run_once(self) -> int:
        """One pass: reconcile the chain, confirm, replace stuck, send. Returns work done.

        While history is rewritten (an alarm only `bangfu recover --accept-new-history`
        resolves) the worker reconciles and confirms but sends nothing."""
        self._deferred = set()
        work = self.reconcile()
        work += self.confirm()
        if self.halted():
            return work
        work += self.replace_stuck()
        work += self.send_queued()
        return work

    def halted(self) -> bool:
        with self.db.read() as session:
            halted = alarms.is_active(session, alarms.HISTORY_REWRITTEN)
        if halted and not self._halt_logged:
            log.warning(
                "history rewritten: sending is held until `bangfu recover --accept-new-history`"
            )
        self._halt_logged = halted
        return halted

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

    def locate(self, record_id: bytes) -> OnChain | None:
        return locate(
            self.w3, self.ledger.contract.address, self.ledger.deployment.block, record_id
        )

    def _plan(
        self, rows: Sequence[tuple[int, str, bytes, int]], sender: str, inflight: bool
    ) -> _Plan:
        signed = [SignedRecord.from_bytes(data) for _, _, data, _ in rows]
        calls = [self.ledger.submit_calldata(s) for s in signed]
        gas = self._estimate(sender, calls)
        if gas is not None:
            return _Plan(good=[r[0] for r in rows], calls=calls, gas=gas)
        plan = self._weed(rows, signed, sender, inflight)
        if not plan.good:
            return plan
        gas = self._estimate(sender, plan.calls)
        if gas is None:
            # Dependent records in one batch (a delivery after its commitment) cannot be
            # simulated together on some nodes: send one at a time.
            plan.good, plan.calls = plan.good[:1], plan.calls[:1]
            gas = self._estimate(sender, plan.calls) or 2_000_000
        plan.gas = gas
        return plan

    def _weed(
        self,
        rows: Sequence[tuple[int, str, bytes, int]],
        signed: Sequence[SignedRecord],
        sender: str,
        inflight: bool,
    ) -> _Plan:
        """Finds the records of a batch the contract would refuse, simulating them in order
        (a commitment may depend on an anchor earlier in the same batch). A record whose
        reference is still in flight in another of our transactions is deferred to a later
        pass; a record id already used on chain is found (the same leaf) or a conflict (a
        different one); any other refusal fails the record for good, with the contract's
        reason."""
        plan = _Plan()
        head: int | None = None
        for (oid, _rid, _data, attempts), record in zip(rows, signed, strict=True):
            call = self.ledger.submit_calldata(record)
            try:
                self.w3.eth.call(self.ledger.multicall_tx(sender, [*plan.calls, call]))  # type: ignore[arg-type]
            except (ContractCustomError, ContractLogicError) as exc:
                err = revert_error(self.ledger.abi, exc)
                if err.code == "RecordIdUsed":
                    where = self.locate(record.id)
                    if where is None:
                        plan.deferred.add(oid)  # used, but its event not visible yet
                    elif where.leaf_hash != record.leaf_hash():
                        plan.conflict[oid] = where
                    else:
                        head = int(self.w3.eth.block_number) if head is None else head
                        if where.block_number + self.confirmations <= head:
                            plan.found[oid] = where
                        else:
                            plan.deferred.add(oid)
                    continue
                if err.code in MISSING_REFERENCE and inflight and attempts < MAX_DEFERRALS:
                    plan.deferred.add(oid)
                    continue
                plan.failed[oid] = (err.code, err.message)
                continue
            plan.good.append(oid)
            plan.calls.append(call)
        return plan

    def _apply_plan(self, session: Session, plan: _Plan, rows: dict[int, OutboxRecord]) -> None:
        for oid, (code, message) in plan.failed.items():
            if oid in rows:
                row = rows[oid]
                row.status, row.error_code, row.error = "failed", code, message
                self.stats.failed += 1
        for oid in plan.deferred:
            if oid in rows:
                rows[oid].attempts += 1
                self._deferred.add(rows[oid].record_id)
        for oid, where in plan.found.items():
            if oid in rows:
                self._mark_found(rows[oid], where)
        for oid, where in plan.conflict.items():
            if oid in rows:
                self._mark_conflict(session, rows[oid], where)

    def _mark_found(self, row: OutboxRecord, where: OnChain) -> None:
        """Already on chain with the same bytes (sent before a crash, re-included after a
        reorg, or relayed by someone else): confirmed where it is."""
        row.status = "confirmed"
        row.block_number, row.block_hash, row.leaf_index = (
            where.block_number,
            where.block_hash,
            where.index,
        )
        if row.error_code == ROLLED_BACK:
            row.error_code, row.error = None, None
        self._confirmed_at(where.block_number)
        self.stats.confirmed += 1

    def _mark_conflict(self, session: Session, row: OutboxRecord, where: OnChain) -> None:
        """The chain holds a different record under this id: never 'confirmed'."""
        message = (
            f"记录编号冲突：链上第 {where.index} 号叶子是同一编号的另一条记录 / record id "
            f"conflict: leaf {where.index} (block {where.block_number}) holds a different "
            f"record under {row.record_id}, leaf hash 0x{where.leaf_hash.hex()}"
        )
        row.status, row.error_code, row.error = "conflict", "record_id_conflict", message
        row.tx_hash = None
        self.stats.conflicts += 1
        count = session.scalar(
            select(func.count()).select_from(OutboxRecord).where(OutboxRecord.status == "conflict")
        )
        alarms.raise_alarm(
            session,
            alarms.RECORD_CONFLICT,
            "relayer",
            message,
            record_id=row.record_id,
            leaf_index=where.index,
            chain_leaf_hash="0x" + where.leaf_hash.hex(),
            outbox_leaf_hash="0x" + SignedRecord.from_bytes(row.record_bytes).leaf_hash().hex(),
            conflicts=int(count or 0),
        )

    def _confirmed_at(self, block_number: int) -> None:
        if self._anchor is not None and block_number <= self._anchor[0]:
            self._anchor = None  # confirmed below the checked mark: check everything again

    def send_queued(self) -> int:
        """Sends up to `max_inflight` multicall transactions of queued records."""
        sent = 0
        for _ in range(self.max_inflight):
            with self.db.read() as session:
                inflight = int(
                    session.scalar(
                        select(func.count())
                        .select_from(SentTransaction)
                        .where(SentTransaction.status == "pending")
                    )
                    or 0
                )
                if inflight >= self.max_inflight * len(self.senders):
                    break
                rows = [
                    (r.id, r.record_id, r.record_bytes, r.attempts)
                    for r in session.scalars(
                        select(OutboxRecord)
                        .where(
                            OutboxRecord.status == "queued",
                            OutboxRecord.record_id.not_in(self._deferred),
                        )
                        .order_by(OutboxRecord.id)
                        .limit(self.batch_size)
                    )
                ]
            if not rows:
                break
            sender = self.senders[self._next_sender % len(self.senders)]
            self._next_sender += 1
            plan = self._plan(rows, sender.address, bool(inflight))
            fees = self._fees() if plan.good else None
            chain_nonce = self.nonces.chain_nonce(sender.address) if plan.good else None
            raw: bytes | None = None
            with self.db.write() as session:
                current = {
                    r.id: r
                    for r in session.scalars(
                        select(OutboxRecord).where(
                            OutboxRecord.id.in_([r[0] for r in rows]),
                            OutboxRecord.status == "queued",
                        )
                    )
                }
                self._apply_plan(session, plan, current)
                good = [current[oid] for oid in plan.good if oid in current]
                if good and len(good) == len(plan.good):
                    raw, tx_hash, nonce, max_fee, tip = self._sign(
                        session, sender, plan.calls, plan.gas, fees=fees, chain_nonce=chain_nonce
                    )
                    now = datetime.now(UTC)
                    _record_sent(
                        session, tx_hash, sender.address, nonce, max_fee, tip, raw, len(good)
                    )
                    for row in good:
                        row.status, row.tx_hash, row.sender, row.nonce = (
                            "sent",
                            tx_hash,
                            sender.address,
                            nonce,
                        )
                        row.attempts += 1
                        row.sent_at = now
            if raw is None:
                continue
            # Durable before broadcast: a crash here leaves a pending tx we rebroadcast.
            if os.environ.get(CRASH_AFTER_ENV) == "durable":
                os._exit(137)
            self._broadcast(raw)
            self.stats.sent_txs += 1
            self.stats.sent_records += len(plan.good)
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
        chain_nonce: int | None = None,
    ) -> tuple[bytes, str, int, int, int]:
        with self.nonces.lock(sender.address):
            if nonce is None:
                nonce = self.nonces.next_nonce(session, sender.address, chain_nonce)
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
        with self.db.read() as session:
            pending = list(
                session.scalars(
                    select(SentTransaction.tx_hash).where(SentTransaction.status == "pending")
                )
            )
        if not pending:
            return 0
        head = int(self.w3.eth.block_number)
        with self.w3.batch_requests() as batch:
            for tx_hash in pending:
                batch.add(self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
            try:
                receipts: list[Any] = list(batch.execute())
            except Exception:  # noqa: BLE001 - one unknown hash fails some nodes' batches
                receipts = [self._receipt(tx_hash) for tx_hash in pending]
        deep: list[tuple[str, Any]] = []
        for tx_hash, receipt in zip(pending, receipts, strict=True):
            if receipt is not None and not isinstance(receipt, Mapping):
                # web3's batch answers an unknown hash with an error tuple, not None:
                # ask for that one receipt on its own.
                receipt = self._receipt(tx_hash)
            if receipt and int(receipt["blockNumber"]) + self.confirmations <= head:
                deep.append((tx_hash, receipt))
        if not deep:
            return 0
        done = 0
        with self.db.write() as session:
            for tx_hash, receipt in deep:
                tx = session.get(SentTransaction, tx_hash)
                if tx is not None and tx.status == "pending":
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
        number = int(receipt["blockNumber"])
        for row in rows:
            row.status = "confirmed"
            row.block_number = number
            row.block_hash = receipt["blockHash"].to_0x_hex()
            row.leaf_index = leaves.get(row.record_id)
            if row.error_code == ROLLED_BACK:
                row.error_code, row.error = None, None
            self.stats.confirmed += 1
        self._confirmed_at(number)
        return len(rows)

    def replace_stuck(self) -> int:
        """Re-signs transactions pending too long with the same nonce and ≥ 12.5% higher fees,
        and requeues those the node no longer knows (a restarted or rolled-back chain)."""
        cutoff = time.time() - self.stuck_after
        with self.db.read() as session:
            pending = [
                (
                    tx.tx_hash,
                    tx.sender,
                    int(tx.nonce),
                    tx.raw,
                    tx.sent_at,
                    tx.max_fee,
                    tx.priority_fee,
                )
                for tx in session.scalars(
                    select(SentTransaction).where(SentTransaction.status == "pending")
                )
            ]
        if not pending:
            return 0
        work = 0
        drops: list[str] = []
        bumps: list[tuple[str, bytes, str, int, int, int, int, str]] = []
        lost_senders: set[str] = set()
        for tx_hash, sender, nonce, raw, sent_at, max_fee_old, tip_old in pending:
            known = self._known(tx_hash)
            if not known:
                chain_nonce = int(
                    self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "latest")
                )
                if chain_nonce > nonce:
                    continue  # mined by a replacement or about to be seen by confirm()
                # Signed and durable but never seen by the node (a crash between commit
                # and broadcast, or a node that restarted): send the same bytes again so
                # the nonce sequence stays gap-free. Only if the node still refuses them
                # are the records requeued under a fresh nonce.
                self._broadcast(raw)
                if self._known(tx_hash):
                    work += 1
                    continue
                drops.append(tx_hash)
                lost_senders.add(sender)
                continue
            at = sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at
            if at.timestamp() < cutoff and known == "pending":
                bump = self._prepare_bump(tx_hash, sender, nonce, max_fee_old, tip_old)
                if bump is not None:
                    bumps.append(bump)
        if not drops and not bumps:
            return work
        chain_nonces = {s: self.nonces.chain_nonce(s) for s in lost_senders}
        to_broadcast: list[bytes] = []
        with self.db.write() as session:
            for tx_hash in drops:
                tx = session.get(SentTransaction, tx_hash)
                if tx is None or tx.status != "pending":
                    continue
                tx.status = "dropped"
                for row in session.scalars(
                    select(OutboxRecord).where(OutboxRecord.tx_hash == tx_hash)
                ):
                    row.status, row.tx_hash = "queued", None
                    self.stats.requeued += 1
                work += 1
            for old_hash, raw, new_hash, nonce, max_fee, tip, count, sender in bumps:
                tx = session.get(SentTransaction, old_hash)
                if tx is None or tx.status != "pending":
                    continue
                _record_sent(session, new_hash, sender, nonce, max_fee, tip, raw, count)
                tx.status = "replaced"
                for row in session.scalars(
                    select(OutboxRecord).where(OutboxRecord.tx_hash == old_hash)
                ):
                    row.tx_hash = new_hash
                to_broadcast.append(raw)
            for sender in lost_senders:
                still = session.scalar(
                    select(func.count())
                    .select_from(SentTransaction)
                    .where(SentTransaction.sender == sender, SentTransaction.status == "pending")
                )
                if not still:
                    with self.nonces.lock(sender):
                        self.nonces.resync(session, sender, chain_nonces[sender])
        # Durable before broadcast: the replacement's row is committed first.
        for raw in to_broadcast:
            self._broadcast(raw)
            self.stats.replaced += 1
            work += 1
        return work

    def _known(self, tx_hash: str) -> str | None:
        """ "mined", "pending" or None when the node does not know the transaction."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        return "mined" if tx.get("blockNumber") is not None else "pending"

    def _prepare_bump(
        self, tx_hash: str, sender_address: str, nonce: int, old_fee: int, old_tip: int
    ) -> tuple[str, bytes, str, int, int, int, int, str] | None:
        """Signs the replacement of a stuck transaction (same nonce, higher fees); the caller
        records it and broadcasts it after its write transaction."""
        sender = next((s for s in self.senders if s.address == sender_address), None)
        if sender is None:
            return None
        with self.db.read() as session:
            data = [
                r.record_bytes
                for r in session.scalars(
                    select(OutboxRecord)
                    .where(OutboxRecord.tx_hash == tx_hash)
                    .order_by(OutboxRecord.id)
                )
            ]
        if not data:
            return None
        calls = [self.ledger.submit_calldata(SignedRecord.from_bytes(d)) for d in data]
        max_fee, tip = self._fees()
        fees = (max(max_fee, old_fee * 9 // 8 + 1), max(tip, old_tip * 9 // 8 + 1))
        gas = self._estimate(sender.address, calls) or 2_000_000
        gas_limit = int(gas * self.gas_margin) + 50_000
        tx = {
            "to": self.ledger.contract.address,
            "data": self.ledger.multicall_data(calls),
            "value": 0,
            "nonce": nonce,
            "gas": gas_limit,
            "maxFeePerGas": fees[0],
            "maxPriorityFeePerGas": fees[1],
            "chainId": self.chain_id,
            "type": 2,
        }
        signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
        return (
            tx_hash,
            bytes(signed.raw_transaction),
            signed.hash.to_0x_hex(),
            nonce,
            fees[0],
            fees[1],
            len(data),
            sender.address,
        )

    # ---- reconciling with a chain that went back ----------------------------------
    def record_kinds(self, ids: Sequence[bytes]) -> list[int]:
        """`recordKind(id)` of each id, 500 to a multicall eth_call."""
        out: list[int] = []
        for i in range(0, len(ids), 500):
            calls = [RECORD_KIND + bytes(rid).rjust(32, b"\0") for rid in ids[i : i + 500]]
            raw = self.w3.eth.call(
                {"to": self.ledger.contract.address, "data": self.ledger.multicall_data(calls)}
            )
            (results,) = abi_decode(["bytes[]"], bytes(raw))
            out.extend(int.from_bytes(r, "big") for r in results)
        return out

    def _absent(self, gone: set[int]) -> list[int]:
        """Outbox ids of confirmed records (outside the blocks already known gone) that the
        contract does not know."""
        with self.db.read() as session:
            rows = [
                (oid, rid)
                for oid, rid, number in session.execute(
                    select(OutboxRecord.id, OutboxRecord.record_id, OutboxRecord.block_number)
                    .where(OutboxRecord.status == "confirmed")
                    .order_by(OutboxRecord.id)
                ).all()
                if number not in gone
            ]
        if not rows:
            return []
        kinds = self.record_kinds([bytes.fromhex(rid[2:]) for _, rid in rows])
        return [oid for (oid, _), kind in zip(rows, kinds, strict=True) if kind == 0]

    def reconcile(self) -> int:
        """Compares every confirmed record with the chain and queues again each one whose
        block is no longer the chain's block at that height (a reorg, a chain restarted from
        an older state, a rewritten history). The first pass checks them all; later passes
        check the records above a block whose hash is unchanged since it was checked."""
        head = int(self.w3.eth.block_number)
        anchor = self._anchor
        if anchor is not None:
            now = block_hashes(self.w3, [anchor[0]]).get(anchor[0])
            if now != anchor[1]:
                anchor = None
        low = anchor[0] if anchor is not None else -1
        with self.db.read() as session:
            blocks = [
                (int(n), h)
                for n, h in session.execute(
                    select(OutboxRecord.block_number, OutboxRecord.block_hash)
                    .where(
                        OutboxRecord.status == "confirmed",
                        OutboxRecord.block_number.is_not(None),
                        OutboxRecord.block_number > low,
                    )
                    .distinct()
                ).all()
            ]
            unplaced = [
                (r.id, r.record_id, r.record_bytes)
                for r in session.scalars(
                    select(OutboxRecord).where(
                        OutboxRecord.status == "confirmed", OutboxRecord.block_number.is_(None)
                    )
                )
            ]
        canonical = block_hashes(self.w3, [n for n, _ in blocks])
        gone = [(n, h) for n, h in blocks if canonical.get(n) != h]
        lost_ids: list[int] = []
        if not self._ids_checked:
            lost_ids += self._absent({n for n, _ in gone})
            self._ids_checked = True
        placed: dict[int, OnChain] = {}
        for oid, _rid, data in unplaced:
            signed = SignedRecord.from_bytes(data)
            where = self.locate(signed.id)
            if where is None or where.leaf_hash != signed.leaf_hash():
                lost_ids.append(oid)
            else:
                placed[oid] = where
        mark = head - self.window
        if not gone and not lost_ids and not placed:
            if mark > 0 and (anchor is None or mark > anchor[0]):
                h = block_hashes(self.w3, [mark]).get(mark)
                self._anchor = (mark, h) if h is not None else anchor
            else:
                self._anchor = anchor
            return 0
        chain_nonces = (
            {s.address: self.nonces.chain_nonce(s.address) for s in self.senders} if gone else {}
        )
        work = 0
        with self.db.write() as session:
            for number, block_hash in gone:
                why = (
                    f"区块 {number} 已不在链上，重新发送 / block {number} ({block_hash}) is no "
                    "longer on the chain: sending the record again"
                )
                for row in session.scalars(
                    select(OutboxRecord).where(
                        OutboxRecord.status == "confirmed",
                        OutboxRecord.block_number == number,
                        OutboxRecord.block_hash == block_hash,
                    )
                ):
                    requeue_lost(session, row, why)
                    self.stats.requeued += 1
                    work += 1
            for oid in lost_ids:
                lost = session.get(OutboxRecord, oid)
                if lost is not None and lost.status == "confirmed":
                    requeue_lost(
                        session,
                        lost,
                        "链上没有该记录 / the record is not on the chain: sending it again",
                    )
                    self.stats.requeued += 1
                    work += 1
            for oid, where in placed.items():
                found = session.get(OutboxRecord, oid)
                if found is not None and found.status == "confirmed" and found.block_number is None:
                    found.block_number, found.block_hash = where.block_number, where.block_hash
                    found.leaf_index = where.index
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
                    with self.nonces.lock(sender.address):
                        self.nonces.resync(session, sender.address, chain_nonces[sender.address])
        if gone:
            log.warning(
                "%d confirmed records are no longer on chain (blocks %s..%s): queued again",
                work,
                min(n for n, _ in gone),
                max(n for n, _ in gone),
            )
        self._anchor = None  # check again from the bottom next pass
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
