"""The portal's follow-up page (回访, `/follow-up`): every round with its county, its batch's
organization, its sample and what the counties found, and the confirmation rate per
organization with its formula. The same facts as `/api/v1/follow-up/*`, rendered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import ReadSessionDep
from api.routers import followup as api_followup
from api.web import render
from api.web.i18n import Lang

router = APIRouter(tags=["portal 门户"], include_in_schema=False)


def _pick_lang(lang: str | None = None) -> Lang:
    """The page language from `?lang=` (Chinese unless it starts with "en")."""
    return Lang.pick(lang)


PageLang = Annotated[Lang, Depends(_pick_lang)]


@router.get("/follow-up", response_class=HTMLResponse)
def follow_up_page(request: Request, session: ReadSessionDep, L: PageLang) -> HTMLResponse:
    rounds = api_followup.list_rounds(session)
    rates = api_followup.confirmation(session)
    return render.page(request, "follow_up.html", L, rounds=rounds, rates=rates)
