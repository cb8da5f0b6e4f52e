"""What every server-rendered page shares: its language (`PageLang`, from `?lang=`) and the
route class that answers a LedgerError with the error page, in the page's language and with
the error's status, not the API's JSON problem (`PageRoute`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api.web import render
from api.web.i18n import Lang
from ledger.core.errors import LedgerError

__all__ = ["PageLang", "PageRoute"]


def _pick_lang(lang: str | None = None) -> Lang:
    """The page language from `?lang=` (Chinese unless it starts with "en")."""
    return Lang.pick(lang)


class PageRoute(APIRoute):
    """A page's route: a LedgerError it raises is answered with the error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LedgerError as exc:
                return render.error(request, _pick_lang(request.query_params.get("lang")), exc)

        return route


PageLang = Annotated[Lang, Depends(_pick_lang)]
"""Every page's language; the query parameter stays `lang`."""
