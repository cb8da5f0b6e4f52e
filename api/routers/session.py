"""Signing in with a key held in the browser: a signed EIP-712 `SignIn` challenge opens a
short-lived session (HttpOnly, SameSite=Strict cookie, plus a CSRF token) for private reads.
The server never sees the key; see docs/sessions.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ServiceDep
from api.sessions import (
    COOKIE,
    SessionRequired,
    clear_cookies,
    origin_of,
    set_cookies,
)
from ledger.core import codes
from ledger.core.errors import PermissionError_
from ledger.workspace import signin

router = APIRouter(prefix="/api/v1/session", tags=["sign-in 登录"])


class SignInBody(BaseModel):
    message: dict[str, Any] | None = Field(
        default=None, description="the SignIn message of the challenge, as signed"
    )
    signature: str | None = Field(
        default=None, description="EIP-712 signature over the SignIn message, 0x-hex 65 bytes"
    )


def _body(address: str, roles: list[dict[str, Any]], csrf: str, expires: Any) -> dict[str, Any]:
    return {
        "address": address,
        "roles": roles,
        "csrf_token": csrf,
        "expires_at": expires.isoformat(),
    }


@router.get("/challenge", summary="登录挑战 / a SignIn challenge to sign")
def challenge(
    request: Request,
    service: ServiceDep,
    address: str = Query(description="the address that will sign in, 0x…"),
) -> dict[str, Any]:
    return signin.challenge(address, origin_of(request), service.domain)


@router.post("", summary="登录 / sign in with a signed challenge")
def sign_in(body: SignInBody, request: Request, service: ServiceDep) -> Response:
    origin = origin_of(request)
    sent_from = request.headers.get("origin")
    if sent_from is not None and sent_from != origin:
        # a page of another site posting a challenge it got signed (login CSRF)
        raise PermissionError_(
            f"来源不符 / a sign-in from {sent_from!r} is not taken at {origin!r}",
            code=codes.WRONG_ORIGIN,
        )
    lifetime = service.settings.session_lifetime
    with service.db.write() as session:
        opened = signin.sign_in(
            session,
            body.message,
            body.signature,
            service.domain,
            origin=origin,
            lifetime=lifetime,
            previous=request.cookies.get(COOKIE),
        )
        roles = [r.as_dict() for r in signin.roles_of(session, opened.address)]
    response = JSONResponse(_body(opened.address, roles, opened.csrf_token, opened.expires_at))
    set_cookies(
        response,
        opened.token,
        opened.csrf_token,
        opened.expires_at,
        secure=origin.startswith("https://"),
    )
    return response


@router.get("", summary="当前会话 / the current session")
def current(request: Request, service: ServiceDep, me: SessionRequired) -> dict[str, Any]:
    with service.db.read() as session:
        roles = [r.as_dict() for r in signin.roles_of(session, me.address)]
    token = request.cookies.get(COOKIE, "")
    return _body(me.address, roles, signin.csrf_of(token), me.expires_at)


@router.delete("", status_code=204, summary="退出 / sign out (X-CSRF-Token header)")
def sign_out(request: Request, service: ServiceDep, me: SessionRequired) -> Response:
    with service.db.write() as session:
        signin.sign_out(session, me.token_hash)
    response = Response(status_code=204)
    clear_cookies(response, secure=request.url.scheme == "https")
    return response
