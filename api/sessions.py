"""The session dependencies: the signed-in address from the `bangfu_session` cookie, and the
CSRF check on every request the cookie authenticates that is not a GET or HEAD.

The cookie only ever authorizes private reads (inbox, drafts, private evidence) and signing
out; writes carry their author's EIP-712 signature and need no cookie (ledger.workspace).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response

from api.deps import ServiceDep
from ledger.core import codes
from ledger.core.errors import LedgerError, PermissionError_
from ledger.workspace import signin
from ledger.workspace.signin import Current

COOKIE = "bangfu_session"
CSRF_COOKIE = "bangfu_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def origin_of(request: Request) -> str:
    """scheme://host[:port] as this server is reached (what a SignIn must name)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def current_session(request: Request, service: ServiceDep) -> Current:
    """The live session of the request's cookie, else 401; 403 csrf_failed when a request
    that changes something does not carry the session's CSRF token."""
    with service.db.read() as session:
        current = signin.current(session, request.cookies.get(COOKIE))
    if request.method not in SAFE_METHODS and not current.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise PermissionError_(
            f"CSRF 校验失败 / send the session's CSRF token in the {CSRF_HEADER} header "
            f"(the {CSRF_COOKIE} cookie holds it)",
            code=codes.CSRF_FAILED,
        )
    return current


def optional_session(request: Request, service: ServiceDep) -> Current | None:
    """The session of a GET that anyone may make (public evidence), if its cookie is live."""
    if not request.cookies.get(COOKIE):
        return None
    try:
        return current_session(request, service)
    except LedgerError:
        return None


SessionRequired = Annotated[Current, Depends(current_session)]
OptionalSession = Annotated[Current | None, Depends(optional_session)]


def set_cookies(
    response: Response, token: str, csrf_token: str, expires_at: datetime, *, secure: bool
) -> None:
    """The session cookie (HttpOnly: no script reads it) and the CSRF cookie (the page's
    script reads it and sends it back in the header), both SameSite=Strict."""
    max_age = max(1, math.ceil((expires_at - datetime.now(expires_at.tzinfo)).total_seconds()))
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )


def clear_cookies(response: Response, *, secure: bool) -> None:
    for name, http_only in ((COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="strict")
