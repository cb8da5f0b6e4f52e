"""The relayer's local copy of the contract's rules: who may sign what (roles, ownership,
counties), the shape of ids, titles, dates and batches, and no over-delivery. Every record
passes them before it is accepted into the outbox, so a refusal is told to the submitter
at once rather than found when the transaction reverts; the contract remains the final
guard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from ledger.core.errors import RecordError
from ledger.core.fields import MAX_TITLE_BYTES, ProjectKind, valid_date_code, valid_title
from ledger.core.lines import id_scope, is_scoped
from ledger.core.records import MAX_BATCH_COMMITMENTS, Kind, SignedRecord
from ledger.relayer import rules_grievance, rules_pairing
from ledger.relayer.lookups import (
    commitment_state,
    county_of,
    delivery_of,
    has_receipt,
    hex0x,
    project_state,
    record_exists,
)
from ledger.relayer.rules_common import known, known_commitment, known_need, require_role
from ledger.relayer.rules_followup import FOLLOW_UP_KINDS, check_followup
from ledger.relayer.rules_fund import FUND_KINDS, check_fund_record

#: A pre-check sees each record before it is accepted, in the accepting DB transaction,
#: after the contract's rules (e.g. the library's rule that a Commitment cites a match).
PreCheck = Callable[[Session, SignedRecord], None]


def _check_delivery_amount(session: Session, signed: SignedRecord, cid: bytes, qty: int) -> None:
    commitment = known_commitment(session, hex0x(cid))
    org, committed, delivered = commitment.org, commitment.committed, commitment.delivered
    if org != signed.signer:
        raise RecordError(
            f"commitment {hex0x(cid)} belongs to {org}, not to the signer {signed.signer}",
            code="NotCommitmentOwner",
        )
    if qty <= 0:
        raise RecordError("quantity must be positive", code="InvalidQuantity")
    if delivered + qty > committed:
        raise RecordError(
            f"delivering {qty} more against commitment {hex0x(cid)} would make {delivered + qty}, "
            f"more than the {committed} committed",
            code="OverDelivery",
            commitment_id=hex0x(cid),
            committed=committed,
            would_be_delivered=delivered + qty,
        )


MAX_QUANTITY = (1 << 63) - 1


def _check_scope(signed: SignedRecord) -> None:
    """The contract's id rule: a record id starts with its signer's address."""
    if not is_scoped(signed.id, signed.signer):
        raise RecordError(
            f"记录编号不属于签名者 / the record id {hex0x(signed.id)} is scoped to "
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
    state = project_state(session, hex0x(pid))
    if state is None:
        # A project's first known version names it: its id must start with the signer's
        # address, whatever version number the record claims (the contract's order).
        if not is_scoped(pid, signed.signer):
            raise RecordError(
                f"项目编号不属于签名者 / the project id {hex0x(pid)} must start with its "
                f"owner's address {signed.signer}",
                code="ProjectIdNotScoped",
                project_id=hex0x(pid),
            )
        return
    owner, kind, county = state
    if owner != signed.signer:
        raise RecordError(
            f"项目不属于签名者 / project {hex0x(pid)} belongs to {owner}, not to the signer "
            f"{signed.signer}",
            code="NotProjectOwner",
            project_id=hex0x(pid),
        )
    got_kind, got_county = int(getattr(rec, "project_kind", 0)), int(getattr(rec, "county", 0))
    # What a project's first version fixed for good: (code, fixed, claimed, why).
    for code, fixed, claimed, why in (
        (
            "ProjectKindChanged",
            kind,
            got_kind,
            f"项目类型不可更改 / project {hex0x(pid)} is of kind {kind}; a later version cannot "
            f"make it {got_kind}",
        ),
        (
            "ProjectCountyChanged",
            county,
            got_county,
            f"项目所属县不可更改 / project {hex0x(pid)} serves county {county}; a later version "
            f"cannot move it to {got_county}",
        ),
    ):
        if claimed != fixed:
            raise RecordError(why, code=code, project_id=hex0x(pid), expected=fixed, got=claimed)


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
    require_role(session, signed, "ORG")
    for cid in getattr(signed.record, "commitment_ids", ()):
        found = commitment_state(session, hex0x(cid))
        if found is not None and found.org != signed.signer:
            raise RecordError(
                f"承诺不属于签名者 / commitment {hex0x(cid)} belongs to {found.org}, not to the "
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
            require_role(session, signed, "COUNTY")
            county = county_of(session, signed.signer)
            if county != getattr(rec, "county", None):
                raise RecordError(
                    f"the signer is the county office of {county}, not of "
                    f"{getattr(rec, 'county', None)}",
                    code="WrongCounty",
                )
        elif pk == ProjectKind.SUPPLY:
            require_role(session, signed, "ORG")
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
        require_role(session, signed, "ORG")
        known_need(session, hex0x(getattr(rec, "need_id", b"")))
        if not 0 < int(getattr(rec, "quantity", 0)) < 1 << 63:
            raise RecordError("quantity must be between 1 and 2^63-1", code="InvalidQuantity")
        if int(getattr(rec, "resource_kind", 0)) not in (1, 2, 3):
            raise RecordError(
                "资源类型须为 1 资金、2 物资或 3 服务 / resourceKind must be 1 funds, 2 goods or "
                "3 service",
                code="InvalidResourceKind",
            )
    elif kind == Kind.DELIVERY:
        require_role(session, signed, "ORG")
        _check_delivery_amount(
            session, signed, getattr(rec, "commitment_id", b""), int(getattr(rec, "quantity", 0))
        )
    elif kind == Kind.DELIVERY_BATCH:
        require_role(session, signed, "ORG")
        cids: tuple[bytes, ...] = getattr(rec, "commitment_ids", ())
        qtys = getattr(rec, "quantities", ())
        check_batch_shape(cids, qtys, int(getattr(rec, "line_count", 0)))
        for cid, qty in zip(cids, qtys, strict=True):
            _check_delivery_amount(session, signed, cid, int(qty))
    elif kind == Kind.RECEIPT:
        require_role(session, signed, "COUNTY")
        delivery_id = hex0x(getattr(rec, "delivery_id", b""))
        commitment_id, delivered = known(
            delivery_of(session, delivery_id),
            "UnknownDelivery",
            f"没有这次交付 / no delivery {delivery_id} is recorded",
            delivery_id=delivery_id,
        )
        commitment = commitment_state(session, commitment_id)
        county = county_of(session, signed.signer)
        if commitment is not None and commitment.org == signed.signer:
            raise RecordError(
                "不能签收自己的交付 / the signer made this commitment and cannot confirm its "
                "own delivery",
                code="SelfReceipt",
            )
        if commitment is None or commitment.county != county:
            raise RecordError(
                f"only the county office of the need's county "
                f"({commitment.county if commitment else '?'}) may sign this receipt",
                code="WrongCounty",
            )
        if int(getattr(rec, "confirmed_quantity", 0)) > delivered:
            raise RecordError(
                f"confirms {getattr(rec, 'confirmed_quantity', 0)}, more than the {delivered} "
                "delivered",
                code="OverConfirmation",
            )
        if has_receipt(session, delivery_id):
            raise RecordError(
                f"delivery {delivery_id} already has a receipt", code="AlreadyReceipted"
            )
    elif kind == Kind.FLAG:
        require_role(session, signed, "AUDITOR")
        target = hex0x(getattr(rec, "record_id", b""))
        if not record_exists(session, target):
            raise RecordError(f"no record {target} is recorded", code="UnknownRecord")
    elif kind in rules_pairing.KINDS or kind in FUND_KINDS:  # programs (issue 18)
        # a commitment source (kind 11) has a pairing part and a fund part: both apply
        if kind in rules_pairing.KINDS:
            rules_pairing.check(session, signed)
        if kind in FUND_KINDS:
            check_fund_record(session, signed)
    elif kind in FOLLOW_UP_KINDS:
        check_followup(session, signed)
    elif kind in rules_grievance.KINDS:
        rules_grievance.check(session, signed)
