"""Special funds (专项基金): open a fund with its off-chain details (the signed Fund record, the
sponsor's name and salt, the purpose text), attach details to a fund already submitted, and
read funds as JSON or as portal pages: pledged → contributed → committed → delivered →
confirmed, in yuan. Contributions and draws are ordinary signed records (POST
/api/v1/records: fund_contribution, commitment_source)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import HEX32, SIGNED_BY_SLUG, AcceptedOut, signed_record
from api.web import render
from api.web.i18n import Lang
from api.web.names import county_short
from ledger.core.errors import LedgerError
from ledger.store.queries import fund as queries
from ledger.workspace import funds

router = APIRouter(tags=["funds 专项基金"])

FundPath = Annotated[str, Path(pattern=HEX32, description="the fund's id (its Fund record id)")]

if TYPE_CHECKING:
    SignedFundIn = BaseModel
else:
    SignedFundIn = SIGNED_BY_SLUG["fund"]


class FundDetailsIn(BaseModel):
    """The off-chain details of a fund; they must hash to the Fund's sponsorHash
    (SHA-256(salt ‖ name)) and purposeHash (SHA-256(purpose))."""

    model_config = ConfigDict(extra="forbid")

    sponsor_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="出资方名称 the sponsor's name: shown only with consent (sponsorPublic)"
    )
    sponsor_salt: Annotated[str, StringConstraints(pattern=HEX32)] = Field(
        description="the 32-byte salt of sponsorHash, 0x-hex (never shown)"
    )
    purpose: Annotated[str, StringConstraints(max_length=funds.MAX_PURPOSE)] = Field(
        description="用途说明 the purpose text (public)"
    )

    def details(self) -> funds.FundDetails:
        return funds.FundDetails(
            self.sponsor_name, bytes.fromhex(self.sponsor_salt[2:]), self.purpose
        )


class FundOpenIn(FundDetailsIn):
    """A signed Fund record with its off-chain details."""

    record: SignedFundIn


class FundOpenOut(BaseModel):
    fund_id: str
    accepted: AcceptedOut
    details_stored: bool


class FundDetailsOut(BaseModel):
    fund_id: str
    details_stored: bool


@router.post(
    "/api/v1/funds",
    response_model=FundOpenOut,
    status_code=202,
    summary="开设专项基金 Open a special fund (a signed Fund and its off-chain details)",
)
def open_fund(body: FundOpenIn, service: ServiceDep) -> FundOpenOut:
    """Checks the details against the signed Fund (hashes, no personal data in the purpose,
    no sponsor's name in public text without consent), accepts the Fund into the outbox as
    POST /api/v1/records does, then keeps the details (the name never in an answer unless
    the sponsor consented)."""
    signed = signed_record(body.record, service.domain)
    fund = funds.open_checked([signed])
    details = body.details()
    funds.check_details(fund, details)
    (accepted,) = service.relayer.accept([signed])
    with service.db.write() as session:
        stored = funds.store_details(session, accepted.record_id, details)
    return FundOpenOut(
        fund_id=accepted.record_id,
        accepted=AcceptedOut.of(accepted),
        details_stored=stored,
    )


@router.put(
    "/api/v1/funds/{fund_id}/details",
    response_model=FundDetailsOut,
    summary="登记基金说明 Attach the off-chain details of a fund already submitted",
)
def put_details(fund_id: FundPath, body: FundDetailsIn, service: ServiceDep) -> FundDetailsOut:
    """For a Fund submitted as a plain record (SDK, CLI): its details, checked as on opening."""
    stored = funds.attach_details(service.db, fund_id, body.details())
    return FundDetailsOut(fund_id=fund_id.lower(), details_stored=stored)


@router.get("/api/v1/funds", summary="专项基金列表 Every special fund, newest first")
def list_funds(session: ReadSessionDep) -> dict[str, Any]:
    return {"funds": [queries.fund_json(v) for v in queries.fund_list(session)]}


@router.get("/api/v1/funds/{fund_id}", summary="专项基金 One fund, its contributions and draws")
def get_fund(fund_id: FundPath, session: ReadSessionDep) -> dict[str, Any]:
    return queries.fund_json(queries.fund_page(session, fund_id), full=True)


# ---------------------------------------------------------------- portal pages


@router.get("/funds", response_class=HTMLResponse, include_in_schema=False)
def funds_page(request: Request, session: ReadSessionDep, lang: str | None = None) -> Response:
    L = Lang.pick(lang)
    return render.page(request, "funds.html", L, funds=queries.fund_list(session))


@router.get("/funds/{fund_id}", response_class=HTMLResponse, include_in_schema=False)
def fund_page(
    request: Request, session: ReadSessionDep, fund_id: str, lang: str | None = None
) -> Response:
    L = Lang.pick(lang)
    try:
        view = queries.fund_page(session, fund_id[:66])
    except LedgerError as exc:
        return render.error(request, L, exc)
    return render.page(
        request,
        "fund.html",
        L,
        f=view,
        stages=queries.STAGES,
        kinds=queries.SPONSOR_KINDS,
        county_short=county_short,
    )
