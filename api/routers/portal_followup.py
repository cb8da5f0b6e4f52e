"""The portal's follow-up page (回访, `/follow-up`): every round with its county, its batch's
organization, its sample and what the counties found, and the confirmation rate per
organization with its formula. The same facts as `/api/v1/follow-up/*`, rendered."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ReadSessionDep
from api.routers import followup as api_followup
from api.web import render
from api.web.pages import PageLang, PageRoute

router = APIRouter(tags=["portal 门户"], include_in_schema=False, route_class=PageRoute)


@router.get("/follow-up", response_class=HTMLResponse)
def follow_up_page(request: Request, session: ReadSessionDep, L: PageLang) -> HTMLResponse:
    rounds = api_followup.list_rounds(session)
    rates = api_followup.confirmation(session)
    return render.page(request, "follow_up.html", L, rounds=rounds, rates=rates)
