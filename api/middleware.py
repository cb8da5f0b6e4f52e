"""ASGI middleware at the edge of the API: a body limit that counts bytes as they stream in
(chunked bodies included, so no Content-Length is trusted), and the security headers that
every answer carries (CSP, X-Frame-Options, nosniff).

Both are plain ASGI so they see every request, before FastAPI parses anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.core import codes

PROBLEM = "application/problem+json"


def problem_body(status: int, code: str, detail: str) -> dict[str, Any]:
    """The members every problem document has (RFC 9457, with our stable `code`)."""
    return {
        "type": f"https://bangfu.example/problems/{code}",
        "title": code,
        "status": status,
        "code": code,
        "detail": detail,
    }


def problem_bytes(status: int, code: str, detail: str) -> bytes:
    return json.dumps(problem_body(status, code, detail), ensure_ascii=False).encode("utf-8")


async def send_problem(
    send: Send, status: int, code: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = problem_bytes(status, code, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
                # The rest of a refused body is never read: the connection cannot be reused.
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class RouteLimit:
    """A larger limit for the routes that stream big bodies themselves (method, path regex)."""

    method: str
    path: re.Pattern[str]
    limit: int


class _TooLarge(Exception):
    """Raised inside `receive` when the body passes the limit; caught by BodyLimit."""


class BodyLimit:
    """Refuses a body over the limit with 413, counting the bytes as they arrive.

    A declared Content-Length over the limit is refused before any byte is read. Without one
    (chunked transfer encoding), the bytes are counted in `receive`: at the limit, reading
    stops, the application's answer is dropped and 413 is sent instead, so the rest of the
    body is never read into memory and a JSON route never parses a byte of it.
    """

    def __init__(self, app: ASGIApp, limit: int, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.limit = limit
        self.routes = tuple(routes)

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.method == method and route.path.fullmatch(path):
                return route.limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        query: bytes = scope.get("query_string", b"")
        # No field of ours may hold a NUL; PostgreSQL cannot store one in text either.
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            await send_problem(
                send,
                400,
                codes.BAD_CHARACTERS,
                "网址含有 NUL 字符 / the URL contains a NUL character; remove it",
            )
            return
        limit = self.limit_for(scope.get("method", "GET"), path)
        declared: bytes | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            if not declared.isdigit():
                await send_problem(
                    send,
                    400,
                    codes.BAD_CONTENT_LENGTH,
                    "Content-Length 不是数字 / Content-Length is not a number",
                )
                return
            if int(declared) > limit:
                await send_problem(
                    send, 413, codes.BODY_TOO_LARGE, _too_large(int(declared), limit)
                )
                return

        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the application's answer to a body it never got whole
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_problem(send, 413, codes.BODY_TOO_LARGE, _too_large(None, limit))


def _too_large(size: int | None, limit: int) -> str:
    said = f"the body is {size:,} bytes" if size is not None else "the body passed the limit"
    return f"请求体过大 / {said}; the limit is {limit:,} bytes. Split the submission."


# The portal's pages use only their own stylesheet and the bundled verifier script (no inline
# script or style). The verifier reads logRoot() from the JSON-RPC node the visitor chooses,
# so connect-src allows any http(s) origin; nothing else leaves the page.
PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Adds CSP, X-Frame-Options: DENY, nosniff and a referrer policy to every answer that
    does not set its own (the API documentation pages set a CSP that fits them)."""

    def __init__(self, app: ASGIApp, csp: str = PORTAL_CSP) -> None:
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
