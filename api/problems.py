"""Errors as RFC 9457 problem-details JSON with a stable `code`; never a traceback, and
never a dropped keep-alive connection: an unexpected error becomes a 500 (or a 503 when
SQLite is busy) inside the application, so the server keeps the connection open."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.core.errors import LedgerError

log = logging.getLogger("bangfu.api")
PROBLEM = "application/problem+json"


def problem(
    status: int,
    code: str,
    detail: str,
    response_headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"https://bangfu.example/problems/{code}",
        "title": code,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=response_headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this path (for `Allow` on 405)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str, list[Any]]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "invalid_json", "the request body is not valid JSON", []
    simplified = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
        for e in errors[:20]
    ]
    for e in simplified:
        # pydantic names its validators in the location (function-after[…]): keep the fields.
        e["loc"] = [p for p in e["loc"] if re.fullmatch(r"[\w.-]+", p)]
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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, f"http_{exc.status_code}"
        )
        headers = dict(exc.headers or {})
        detail = str(exc.detail)
        if exc.status_code == 405:
            allow = allowed_methods(request)
            headers["Allow"] = ", ".join(allow)
            detail = f"不支持此方法 / {request.method} is not allowed here; use {', '.join(allow)}"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"没有此地址 / nothing at {request.url.path}"
        return problem(exc.status_code, code, detail, response_headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # only errors outside CatchUnexpected (in an outer middleware) still come here
        return unexpected(exc)

    app.add_middleware(CatchUnexpected)


# What each error status means, with the codes it carries most often; every operation of the
# OpenAPI document gets these as application/problem+json (see `document`).
ERROR_RESPONSES: dict[int, str] = {
    400: "请求有误 bad request: invalid_json, bad_content_length, bad_characters, bad_cursor, "
    "and the ledger's own codes for malformed input",
    401: "未认证 unauthorized: a write that needs its owner's signature or session came without "
    "a valid one",
    403: "无权操作 forbidden: forbidden, not_admin and other permission codes",
    404: "不存在 not found: not_found and the ledger's *_not_found codes",
    409: "冲突 conflict: conflict, RecordIdUsed, duplicate_in_submission, busy",
    413: "请求体过大 body_too_large: the body passed the limit (counted as it streams)",
    422: "无法处理 unprocessable: invalid_request (the request does not fit this document) or "
    "a refusal by the ledger's rules, e.g. bad_signature, MissingRole, UnknownNeed",
    500: "内部错误 internal_error: logged on the server; nothing was half-written",
    503: "暂不可用 unavailable: chain_unreachable, no_deployment",
}
BODY_ONLY = {413}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable machine-readable `code`; "
    "some problems add fields such as `index`, `errors` or `line_index`.",
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "description": "stable snake_case (or contract error) code"},
        "detail": {"type": "string", "description": "what went wrong and what to do next"},
    },
    "additionalProperties": True,
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the problem+json error responses to every operation of an OpenAPI document.

    Done here once, so a new route gets documented errors without anyone remembering to; a
    route's own description of a status (e.g. 401 on custodial signing) is kept, and its
    content becomes the problem document. FastAPI's default 422 schema is replaced, since
    the validation handler above answers problem+json.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    ref = {"$ref": "#/components/schemas/Problem"}
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch") or not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            wanted = dict(ERROR_RESPONSES)
            if "requestBody" not in op:
                for status in BODY_ONLY:
                    wanted.pop(status)
            for status, description in wanted.items():
                responses.setdefault(str(status), {"description": description})
            for status, entry in responses.items():
                if status[:1] not in ("4", "5") or not isinstance(entry, dict):
                    continue
                content = entry.setdefault("content", {})
                json_schema = content.get("application/json", {}).get("schema", {})
                if "HTTPValidationError" in str(json_schema.get("$ref", "")):
                    del content["application/json"]
                # A route's own body for a status (e.g. /readyz's 503) stays beside it.
                content[PROBLEM] = {"schema": ref}
    return schema
