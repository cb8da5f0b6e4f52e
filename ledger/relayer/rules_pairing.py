"""The relayer's copy of the contract's rules for the pairing program (结对帮扶,
docs/programs.md): a Pairing (kind 7), its PairingAcceptance (kind 8), and the
common and pairing part of a CommitmentSource (kind 11; the fund part is the fund
program's). Each look-up sees the read model plus our live outbox, so an acceptance may
follow a pairing, and a source a commitment, that is still waiting to be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ledger.core.errors import RecordError
from ledger.core.fields import valid_date_code
from ledger.core.hexes import hex0x
from ledger.core.records import Kind, SignedRecord
from ledger.relayer.lookups import LIVE_ROW, county_of
from ledger.relayer.rules_common import known, known_commitment, require_role, state_of
from ledger.relayer.rules_fund import already_sourced
from ledger.store.models import OutboxRecord
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow

__all__ = ["KINDS", "PairingState", "check", "pairing_state"]

#: The kinds `check` covers (kind 11: everything but the fund it draws on).
KINDS = frozenset({Kind.PAIRING, Kind.PAIRING_ACCEPTANCE, Kind.COMMITMENT_SOURCE})
#: The contract's MAX_QUANTITY (uint64 max >> 1).
MAX_QUANTITY = (1 << 63) - 1
CATEGORY_COUNT = 10
_ZERO = bytes(32)


@dataclass(frozen=True)
class PairingState:
    """A pairing as the contract will hold it once our pending records land."""

    org: str
    county: int
    accepted: bool


def _live(session: Session, kind: Kind, **where: str) -> Any:
    """The condition "a live outbox record of `kind` with these columns"."""
    return exists().where(
        OutboxRecord.kind == int(kind),
        LIVE_ROW,
        *(getattr(OutboxRecord, k) == v for k, v in where.items()),
    )


def pairing_state(session: Session, pairing_id: str) -> PairingState | None:
    """The pairing's proposer, county and whether it is accepted (indexed or pending)."""
    found = state_of(
        session,
        PairingRow,
        pairing_id,
        Kind.PAIRING,
        lambda row: (row.org, int(row.county)),
        lambda pending, rec: (pending.signer, int(rec.county)),
    )
    if found is None:
        return None
    org, county = found
    accepted = bool(
        session.scalar(
            select(
                exists().where(PairingAcceptanceRow.pairing_id == pairing_id)
                | _live(session, Kind.PAIRING_ACCEPTANCE, ref_id=pairing_id)
            )
        )
    )
    return PairingState(org, county, accepted)


def _known_pairing(session: Session, pid: str) -> PairingState:
    """The pairing `pid` names (indexed or pending); refused as the contract would if none."""
    return known(
        pairing_state(session, pid),
        "UnknownPairing",
        f"没有结对 {pid} / no pairing {pid} is recorded",
        pairing_id=pid,
    )


def _check_pairing(session: Session, signed: SignedRecord) -> None:
    r: Any = signed.record
    rid = hex0x(signed.id)
    require_role(session, signed, "ORG")
    county = int(r.county)
    if not 100000 <= county <= 999999:
        raise RecordError(
            f"县级代码须为六位数字 / county {county} is not a six-digit code",
            code="InvalidCountyCode",
        )
    start, end = int(r.start_date), int(r.end_date)
    if start == 0 or not valid_date_code(start) or not valid_date_code(end) or end < start:
        raise RecordError(
            f"结对期限无效 / the period {start}..{end} must be two dates written YYYYMMDD, "
            "the end not before the start",
            code="InvalidPeriod",
            id=rid,
        )
    categories = int(r.categories)
    if categories == 0 or categories >= 1 << CATEGORY_COUNT:
        raise RecordError(
            f"帮扶领域须为 1..{CATEGORY_COUNT} 中至少一个 / the focus categories must name at "
            f"least one category of 1..{CATEGORY_COUNT} (bitmask {categories})",
            code="InvalidCategories",
            id=rid,
        )
    if int(r.funds_target) > MAX_QUANTITY:
        raise RecordError(
            "资金目标超出范围 / fundsTarget must be at most 2^63-1 fen", code="InvalidQuantity"
        )


def _check_acceptance(session: Session, signed: SignedRecord) -> None:
    r: Any = signed.record
    require_role(session, signed, "COUNTY")
    pid = hex0x(r.pairing_id)
    state = _known_pairing(session, pid)
    mine = county_of(session, signed.signer)
    if mine != state.county or int(r.county) != state.county:
        raise RecordError(
            f"只有结对县 {state.county} 的县级部门可以接受 / only the county office of "
            f"{state.county} may accept this pairing (the signer's county: {mine}, the record "
            f"names {int(r.county)})",
            code="WrongCounty",
        )
    if state.accepted:
        raise RecordError(
            f"结对已被接受 / pairing {pid} was already accepted",
            code="PairingAlreadyAccepted",
            pairing_id=pid,
        )


def _check_source(session: Session, signed: SignedRecord) -> None:
    r: Any = signed.record
    require_role(session, signed, "ORG")
    cid = hex0x(r.commitment_id)
    commitment = known_commitment(session, cid)
    if commitment.org != signed.signer:
        raise RecordError(
            f"承诺不属于签名者 / commitment {cid} belongs to {commitment.org}, not to the "
            f"signer {signed.signer}",
            code="NotCommitmentOwner",
        )
    sourced = session.scalar(
        select(
            exists().where(PairingCommitmentRow.commitment_id == cid)
            | _live(session, Kind.COMMITMENT_SOURCE, ref_id=cid)
        )
    )
    # the fund program's view too: a draw indexed, a source under the derived id, one pending
    if sourced or already_sourced(session, bytes(r.commitment_id)):
        raise RecordError(
            f"承诺的来源已记录 / commitment {cid} already has its source recorded",
            code="CommitmentAlreadySourced",
            commitment_id=cid,
        )
    pairing, fund, amount = bytes(r.pairing_id), bytes(r.fund_id), int(r.fund_amount)
    if (pairing == _ZERO and fund == _ZERO) or ((fund == _ZERO) != (amount == 0)):
        raise RecordError(
            "来源须指明结对或基金；基金金额须与基金同时出现 / a source names a pairing or a "
            "fund, and a fund amount comes with a fund and only with one",
            code="EmptySource",
            id=hex0x(signed.id),
        )
    if pairing == _ZERO:
        return
    pid = hex0x(pairing)
    state = _known_pairing(session, pid)
    if state.org != signed.signer:
        raise RecordError(
            f"只有提出结对的组织可以引用它 / only the organization that proposed pairing {pid} "
            "may cite it",
            code="NotPairingParty",
            pairing_id=pid,
        )
    if not state.accepted:
        raise RecordError(
            f"结对尚未被县接受 / pairing {pid} is not accepted by its county yet",
            code="PairingNotAccepted",
            pairing_id=pid,
        )
    if state.county != commitment.county:
        raise RecordError(
            f"承诺所在县与结对县不同 / the commitment's need is in county {commitment.county}, "
            f"the pairing's county is {state.county}",
            code="PairingCountyMismatch",
            pairing_id=pid,
            pairing_county=state.county,
            commitment_county=commitment.county,
        )


def check(session: Session, signed: SignedRecord) -> None:
    """The contract's rules for one record of a kind in `KINDS`."""
    if signed.kind == Kind.PAIRING:
        _check_pairing(session, signed)
    elif signed.kind == Kind.PAIRING_ACCEPTANCE:
        _check_acceptance(session, signed)
    elif signed.kind == Kind.COMMITMENT_SOURCE:
        _check_source(session, signed)
