"""Errors as RFC 9457 problem-details JSON with a stable `code`; never a traceback, and
never a dropped keep-alive connection: an unexpected error becomes a 500 (or a 503 when
SQLite is busy) inside the application, so the server keeps the connection open."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.errors import LedgerError

log = logging.getLogger("bangfu.api")
PROBLEM = "application/problem+json"


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://bangfu.example/problems/{code}",
        "title": code,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str, list[Any]]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "invalid_json", "the request body is not valid JSON", []
    simplified = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
        for e in errors[:20]
    ]
    first = simplified[0] if simplified else {"loc": [], "msg": "invalid"}
    where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
    return 422, "invalid_request", f"{where}: {first['msg']}", simplified


def unexpected(exc: BaseException) -> JSONResponse:
    """The answer to an error that is not a LedgerError: logged here, never shown."""
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        log.warning("database busy: %s", exc.orig)
        response = problem(
            503,
            "database_busy",
            "数据库繁忙，未写入任何内容，请稍后重试 / the database is busy and nothing was "
            "written; try again in a moment",
        )
        response.headers["Retry-After"] = "1"
        return response
    log.error("unexpected error", exc_info=exc)
    return problem(
        500,
        "internal_error",
        "服务器内部错误，已记录，请稍后重试 / an unexpected error happened; it was logged. "
        "Try again later.",
    )


class CatchUnexpected:
    """Answers an unexpected error from inside the application.

    Starlette's outermost error middleware sends its 500 and then re-raises, and uvicorn
    closes the connection of a request whose application raised: every client that reuses
    connections would lose its next request too. This answers the problem document itself
    and returns normally. An error after the answer began to be sent still propagates (the
    half-sent answer must end with the connection); one after it was sent is only logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "done": False}

        async def tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if state["done"]:
                log.error("error after the answer was sent", exc_info=exc)
                return
            if state["started"]:
                raise
            await unexpected(exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every error into a problem document."""

    @app.exception_handler(LedgerError)
    async def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        extra = {k: v for k, v in exc.fields.items() if k not in ("code", "detail")}
        return problem(exc.http_status, exc.code, exc.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, detail, errors = _validation_detail(exc)
        return problem(status, code, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, f"http_{exc.status_code}"
        )
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # only errors outside CatchUnexpected (in an outer middleware) still come here
        return unexpected(exc)

    app.add_middleware(CatchUnexpected)
