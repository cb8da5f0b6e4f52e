"""Grievances (申诉): anyone files one about a need project from the portal or the API, with
no account; the county workspace lists its county's and registers and answers them (signed
records); the public reads each grievance with its registration and answer, and every need
project's counts.

Filing is rate-limited per client address (`too_many_grievances`, 429). Contact details are
taken but never answered, rendered, logged or put on chain.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReadSessionDep, ServiceDep
from api.problems import code_of, problem, status_of
from api.routers.portal import PageLang
from api.schemas import AcceptedOut, SignedRecordIn, signed_record
from api.sessions import SessionRequired
from api.web import render
from api.web.names import place
from ledger.core import codes
from ledger.core.errors import LedgerError
from ledger.core.grievances import MAX_ANSWER, MAX_CONTACT, MAX_TEXT, OUTCOME_NAMES
from ledger.library.grievances import Receipt, contact_for, file_grievance, submit_answer
from ledger.store.queries import grievance as queries
from ledger.store.queries.anchors import anchor_titles

router = APIRouter(tags=["grievances 申诉"])

HEX32 = r"^0x[0-9a-fA-F]{64}$"
FILING_NO = r"^SS-[0-9A-Z]{4}-[0-9A-Z]{4}$"
#: At most this many filings per client address in WINDOW seconds.
LIMIT, WINDOW = 5, 600.0


class Limiter:
    """A sliding window of filing times per client address, in this process's memory
    (addresses are never written anywhere)."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _window(self, client: str, now: float) -> deque[float]:
        if len(self._seen) > 10_000:  # forget idle addresses
            for key in [k for k, q in self._seen.items() if not q or q[-1] < now - self.window]:
                del self._seen[key]
        q = self._seen.setdefault(client, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def wait(self, client: str) -> float | None:
        """None if `client` may file now, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            q = self._window(client, now)
            return q[0] + self.window - now if len(q) >= self.limit else None

    def count(self, client: str) -> None:
        """Counts one filing of `client` (refused attempts are not counted)."""
        now = time.monotonic()
        with self._lock:
            self._window(client, now).append(now)


def _limiter(request: Request) -> Limiter:
    state = request.app.state
    limiter = getattr(state, "grievance_limiter", None)
    if limiter is None:
        limiter = state.grievance_limiter = Limiter()
    return limiter


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(request: Request) -> tuple[str, int] | None:
    wait = _limiter(request).wait(_client(request))
    if wait is None:
        return None
    minutes = max(1, int(wait // 60) + 1)
    return (
        f"申诉提交过于频繁，请约 {minutes} 分钟后再试 / too many grievances from this address; "
        f"try again in about {minutes} minutes",
        int(wait) + 1,
    )


# ---------------------------------------------------------------- JSON


class GrievanceIn(BaseModel):
    """A grievance about a need project; contact details are optional and never public."""

    model_config = ConfigDict(extra="forbid")
    project_id: str = Field(pattern=HEX32)
    record_id: str | None = Field(None, pattern=HEX32)
    text: str = Field(min_length=1, max_length=MAX_TEXT * 2)
    contact: str | None = Field(None, max_length=MAX_CONTACT * 2)


@dataclass(frozen=True)
class FiledOut(Receipt):
    """The filer's receipt and the address of the grievance's public page."""

    url: str


class AnswerIn(BaseModel):
    """A county's signed GrievanceAnswer and the public text whose hash it signed."""

    model_config = ConfigDict(extra="forbid")
    record: SignedRecordIn
    text: str = Field(min_length=1, max_length=MAX_ANSWER * 2)


@router.post(
    "/api/v1/grievances",
    response_model=FiledOut,
    status_code=201,
    summary="提交申诉 File a grievance",
    responses={
        429: {
            "description": "过于频繁 too_many_grievances: too many filings from this address; "
            "Retry-After says when to try again"
        }
    },
)
def file_json(body: GrievanceIn, request: Request, service: ServiceDep) -> Response:
    """Anyone, no account. The text is public and refused if it carries personal data (ID
    or mobile numbers); contact details, if given, are kept apart and never shown. Answers
    the filing number and the grievanceHash the county's registration will carry."""
    limited = _too_many(request)
    if limited is not None:
        return problem(
            429,
            codes.TOO_MANY_GRIEVANCES,
            limited[0],
            response_headers={"Retry-After": str(limited[1])},
        )
    receipt = file_grievance(service.db, body.project_id, body.text, body.record_id, body.contact)
    _limiter(request).count(_client(request))
    out = FiledOut(**receipt.to_json(), url=f"/grievances/{receipt.filing_no}")
    return JSONResponse(out.to_json(), status_code=201)


@router.get("/api/v1/grievances", summary="申诉列表 Grievances of a county or project")
def list_json(
    session: ReadSessionDep,
    county: int | None = Query(None, ge=100000, le=999999),
    project_id: str | None = Query(None, pattern=HEX32),
) -> dict[str, Any]:
    """The grievances about one county's need projects (the county workspace's list) or one
    project's, newest first, each with its status, registration and answer; and the counts."""
    if project_id is not None:
        items = queries.project_grievances(session, project_id.lower())
    elif county is not None:
        items = queries.county_grievances(session, county)
    else:
        raise LedgerError(
            "请给出 county 或 project_id / give county or project_id", code="bad_parameter"
        )
    return {"counts": queries.counts(items), "items": [g.public() for g in items]}


@router.get("/api/v1/grievances/{filing_no}", summary="一件申诉 One grievance")
def one_json(filing_no: str, session: ReadSessionDep) -> dict[str, Any]:
    """A grievance by its filing number: text, registration and answer, with chain places."""
    g = (
        queries.grievance(session, filing_no.upper())
        if re.match(FILING_NO, filing_no.upper())
        else None
    )
    if g is None:
        raise LedgerError(
            f"没有编号为 {filing_no} 的申诉 / no grievance {filing_no} was filed here",
            code="unknown_filing",
        )
    return g.public()


@router.get(
    "/api/v1/grievances/{filing_no}/contact",
    summary="申诉人联系方式（仅本县） The filer's contact details (the county office only)",
)
def contact_json(filing_no: str, service: ServiceDep, me: SessionRequired) -> Response:
    """A private read for the signed-in county office of the grievance's county: the
    contact details the filer left (null if none). Never cached, never in a public answer."""
    with service.db.read() as session:
        contact = contact_for(session, filing_no.upper(), me.address)
    return JSONResponse(
        {"filing_no": filing_no.upper(), "contact": contact},
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/api/v1/grievance-answers",
    response_model=AcceptedOut,
    status_code=202,
    summary="答复申诉 Answer a grievance",
)
def answer_json(body: AnswerIn, service: ServiceDep) -> AcceptedOut:
    """The county's signed GrievanceAnswer with its public text: the text must hash to the
    signed answerHash and carry no personal data; then the record is accepted as any other."""
    signed = signed_record(body.record, service.domain)
    return AcceptedOut.of(submit_answer(service.db, service.relayer, signed, body.text))


# ---------------------------------------------------------------- portal pages


def _form(
    request: Request,
    L: Any,
    session: Any,
    project_id: str,
    record_id: str,
    text: str = "",
    error: LedgerError | None = None,
) -> HTMLResponse:
    titles = anchor_titles(session, [project_id]) if re.match(HEX32, project_id) else {}
    return render.page(
        request,
        "grievance_new.html",
        L,
        status=status_of(error) if error is not None else 200,
        project_id=project_id,
        project_title=titles.get(project_id),
        record_id=record_id,
        text=text,
        error=error.message if error is not None else None,
        error_code=code_of(error) if error is not None else None,
        max_text=MAX_TEXT,
        max_contact=MAX_CONTACT,
    )


@router.get("/grievances/new", response_class=HTMLResponse, include_in_schema=False)
def new_page(
    request: Request,
    session: ReadSessionDep,
    L: PageLang,
    project: str = Query("", max_length=66),
    record: str = Query("", max_length=66),
) -> Response:
    """The filing form (no account, works on a phone, no script)."""
    return _form(request, L, session, project.lower(), record.lower())


@router.post("/grievances/new", response_class=HTMLResponse, include_in_schema=False)
def new_submit(
    request: Request,
    service: ServiceDep,
    L: PageLang,
    project_id: Annotated[str, Form(max_length=66)] = "",
    record_id: Annotated[str, Form(max_length=66)] = "",
    text: Annotated[str, Form(max_length=MAX_TEXT * 2)] = "",
    contact: Annotated[str, Form(max_length=MAX_CONTACT * 2)] = "",
) -> Response:
    """Files the form's grievance and shows the filer's receipt; on a refusal, the form again
    with the reason (the contact field is never echoed back)."""
    pid, rid = project_id.strip().lower(), record_id.strip().lower()
    retry: int | None = None
    try:
        if not re.match(HEX32, pid):
            raise LedgerError(
                "项目编号应为 0x 开头的 64 位十六进制 / a project id is 0x and 64 hex digits",
                code="bad_project_id",
            )
        if rid and not re.match(HEX32, rid):
            raise LedgerError(
                "记录编号应为 0x 开头的 64 位十六进制 / a record id is 0x and 64 hex digits",
                code="bad_hex",
            )
        limited = _too_many(request)
        if limited is not None:
            retry = limited[1]
            raise LedgerError(limited[0], code="too_many_grievances")
        receipt = file_grievance(service.db, pid, text, rid or None, contact or None)
        _limiter(request).count(_client(request))
    except LedgerError as exc:
        with service.db.read() as session:
            page = _form(request, L, session, pid, rid, text, exc)
        if retry is not None:
            page.headers["Retry-After"] = str(retry)
        return page
    with service.db.read() as session:
        g = queries.grievance(session, receipt.filing_no)
    return render.page(
        request,
        "grievance.html",
        L,
        status=201,
        g=g,
        receipt=receipt,
        outcome_names=OUTCOME_NAMES,
        place=place,
    )


@router.get("/grievances/{filing_no}", response_class=HTMLResponse, include_in_schema=False)
def grievance_page(
    request: Request, session: ReadSessionDep, filing_no: str, L: PageLang
) -> Response:
    """One grievance: its text, its registration and its answer, with chain links."""
    g = (
        queries.grievance(session, filing_no.upper())
        if re.match(FILING_NO, filing_no.upper())
        else None
    )
    if g is None:
        return render.error(
            request,
            L,
            LedgerError(
                L.t(f"没有编号为 {filing_no} 的申诉", f"no grievance {filing_no} was filed here"),
                code="unknown_filing",
            ),
        )
    return render.page(
        request,
        "grievance.html",
        L,
        g=g,
        receipt=None,
        outcome_names=OUTCOME_NAMES,
        place=place,
    )
