"""The FastAPI application: routers discovered from `api.routers`, problem-details errors
(documented on every operation), a body-size limit that holds for chunked bodies, and
security headers. `create_app` takes the ledger service so tests can pass their own.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import pkgutil
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp

from api import problem_docs, problems, routers, schemas
from api.middleware import BodyLimit, RouteLimit, SecurityHeaders
from ledger import __version__
from ledger.app import LedgerService
from ledger.batches.files import MAX_BATCH_LINES
from ledger.batches.wire import MAX_FRAME
from ledger.config import Settings, get_settings

# What uvicorn must be started with when it parses HTTP with h11 (`bangfu run` does): GET
# /api/v1/records/status takes up to 500 ids in its query string (36 kB), past h11's default
# 16 KiB limit on a request head.
H11_MAX_INCOMPLETE_EVENT_SIZE = 131_072

DESCRIPTION = """
帮扶链 Bangfu Ledger: a tamper-evident ledger of aid that social organizations give to
rural counties. Every record is signed by its author (EIP-712) and is a leaf of an RFC 9162
Merkle log kept by the AidLedger contract.

* **orgs / counties** submit signed records and follow their status;
* **public** lists, totals and single records, each with its chain location;
* **auditors** proofs, checkpoints and audit reports.

Errors are `application/problem+json` with a stable snake_case `code`; the Problem schema's
`x-error-codes` lists every code with the HTTP status it answers with.
"""


class BangfuAPI(FastAPI):
    """FastAPI with the security headers outside everything, so that even the 500 answer
    of Starlette's outermost ServerErrorMiddleware carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(service: LedgerService | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or (service.settings if service else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "service", None) is None:
            app.state.service = LedgerService(settings)
            app.state.service.db.migrate()
        yield
        if service is None:
            app.state.service.close()

    app = BangfuAPI(
        title="帮扶链 Bangfu Ledger API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    problems.install(app)

    # The batch line upload streams (it checks and writes lines as they arrive) and has its
    # own bound: the signed line count, each line at most MAX_FRAME bytes.
    lines_limit = MAX_BATCH_LINES * (4 + MAX_FRAME)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        routes=[
            RouteLimit("PUT", re.compile(r"/api/v1/batches/uploads/[^/]+/lines"), lines_limit),
            # an evidence file, its form fields and the multipart frame
            RouteLimit(
                "POST", re.compile(r"/api/v1/evidence"), settings.evidence_max_bytes + 65536
            ),
        ],
    )
    _docs(app)

    for info in sorted(pkgutil.iter_modules(routers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routers.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_docs.document(
                schemas.add_components(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        description=app.description,
                        routes=app.routes,
                    )
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _inline_hashes(html: str, tag: str) -> list[str]:
    """CSP source expressions for the inline <script> or <style> elements of a page."""
    out = []
    for match in re.finditer(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out


def _docs(app: FastAPI) -> None:
    """/docs and /redoc, each with a CSP that fits it: their scripts come from the CDN that
    FastAPI uses, the one inline script is allowed by its hash. (These pages, unlike the
    portal's, need inline styles, which Swagger UI and ReDoc set at run time.)"""
    cdn = "https://cdn.jsdelivr.net"
    common = (
        f"default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com {cdn}; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )

    def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")
        html = bytes(page.body).decode()
        scripts = " ".join(_inline_hashes(html, "script"))
        page.headers["Content-Security-Policy"] = (
            f"{common}; script-src 'self' {cdn} {scripts}; style-src 'self' {cdn} 'unsafe-inline'"
        )
        return page

    def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")
        page.headers["Content-Security-Policy"] = (
            f"{common}; script-src 'self' {cdn}; worker-src blob:; "
            "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com"
        )
        return page

    app.add_api_route("/docs", swagger, include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route("/redoc", redoc, include_in_schema=False, response_class=HTMLResponse)
