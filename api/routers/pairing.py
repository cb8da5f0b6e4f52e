"""The pairing program (结对帮扶) and east–west cooperation (东西部协作), for the public and
the civil-affairs office (docs/programs.md): pairings with their progress, the key
counties' pairings, the key counties nobody is paired with or that fall behind, and the
flows of aid between provinces. Read-only: pairings, acceptances and the commitment
sources citing them are signed records, submitted at POST /api/v1/records."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Path, Query

from api.deps import ReadSessionDep
from api.schemas import ORG_CODE
from ledger.core import codes
from ledger.core.errors import LedgerError, NotFoundError
from ledger.export import pairing as views
from ledger.store.queries import pairing as q

router = APIRouter(prefix="/api/v1", tags=["programs 帮扶项目"])

# A day that does not exist (02-30) passes the pattern and is refused as bad_date.
DAY = Query(
    None,
    pattern=r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    description="the day to judge progress on (YYYY-MM-DD, Beijing; default today)",
)


def _today(day: str | None) -> int | None:
    if day is None:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise LedgerError(
            f"{day} 不是日期 / {day} is not a calendar date (YYYY-MM-DD)", code=codes.BAD_DATE
        ) from None
    return d.year * 10000 + d.month * 100 + d.day


@router.get("/pairings", summary="结对帮扶 Pairings with their progress")
def list_pairings(
    session: ReadSessionDep,
    county: int | None = Query(None, ge=100000, le=999999, description="6-digit county code"),
    org: str | None = Query(None, pattern=ORG_CODE, description="credit code"),
    accepted: bool | None = Query(None, description="only accepted (true) or awaiting (false)"),
    day: str | None = DAY,
) -> list[dict[str, Any]]:
    """Every pairing (oldest first), optionally of one county or organization: its targets,
    whether the county accepted it, and the progress of the commitments citing it."""
    return views.pairings(
        session, county=county, org_code=org, accepted=accepted, today=_today(day)
    )


@router.get("/pairings/key-counties", summary="重点帮扶县的结对 Pairings of the key counties")
def key_county_pairings(session: ReadSessionDep, day: str | None = DAY) -> dict[str, Any]:
    """Per key county (国家乡村振兴重点帮扶县): who is paired with it and the progress against
    each pairing's targets."""
    return views.key_counties(session, _today(day))


@router.get(
    "/pairings/oversight",
    summary="结对督导 Key counties unpaired or behind (civil-affairs office)",
)
def pairing_oversight(session: ReadSessionDep, day: str | None = DAY) -> dict[str, Any]:
    """The key counties nobody is paired with today, and those with a pairing behind its
    targets (the rule is in the answer's `behind_rule`)."""
    return views.oversight(session, _today(day))


@router.get("/pairings/{pairing_id}", summary="一项结对 One pairing")
def one_pairing(
    session: ReadSessionDep,
    pairing_id: str = Path(..., pattern=r"^0x[0-9a-fA-F]{64}$"),
    day: str | None = DAY,
) -> dict[str, Any]:
    found = q.pairing(session, pairing_id.lower())
    if found is None:
        raise NotFoundError(
            f"没有结对 {pairing_id} / no pairing {pairing_id} is indexed (it may still be on "
            "its way to the chain)",
            code=codes.PAIRING_NOT_FOUND,
        )
    t = _today(day)
    return views.pairing_json(
        found, t if t is not None else q.today_code(), views.key_county_codes(session)
    )


@router.get("/east-west", summary="东西部协作 Flows between provinces")
def east_west(session: ReadSessionDep) -> dict[str, Any]:
    """Aid from organizations' home provinces to the receiving counties' provinces, as a
    matrix; designated-assistance pairings; and each organization's key-county share."""
    return views.east_west(session)
