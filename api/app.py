"""The FastAPI application: routers discovered from `api.routers`, problem-details errors
(documented on every operation), a body-size limit that holds for chunked bodies, and
security headers. `create_app` takes the ledger service so tests can pass their own.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from api import problem_docs, problems, routers, schemas
from api.middleware import BodyLimit, RouteLimit, SecurityHeaders
from api.routers.submit import SubmitFastPath
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
    of Starlette's outermost ServerErrorMiddleware carries them, and the record
    submissions that validate answered just inside them (`SubmitFastPath`)."""

    def build_middleware_stack(self) -> ASGIApp:
        limit = self.state.settings.max_body_bytes
        return SecurityHeaders(SubmitFastPath(super().build_middleware_stack(), self.state, limit))


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

    # The public routes first, then the record submission: Starlette tries routes in
    # order, and these are the most frequent requests (a cache hit tried ~97 other routes
    # first). No other router serves a path under /api/v1/public/ or /api/v1/records, so
    # the order changes no match.
    names = sorted(m.name for m in pkgutil.iter_modules(routers.__path__))
    for name in sorted(names, key=lambda n: (n != "public", n != "submit")):
        module = importlib.import_module(f"{routers.__name__}.{name}")
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


#: Swagger UI's files, copied from npm swagger-ui-dist by `make setup` (`npm run build:docs`)
#: and served by the portal's static route.
DOCS_ASSETS = Path(__file__).resolve().parent / "web" / "static" / "dist" / "swagger-ui"
DOCS_STATIC = "/portal/static/dist/swagger-ui"

#: /docs allows nothing but its own origin: no CDN, no inline script or style. (Swagger UI
#: sets styles through the DOM, which a CSP does not restrict; its icons are data: images.)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

#: Starts Swagger UI on /openapi.json (a file of its own: the CSP allows no inline script).
#: validatorUrl null: Swagger UI would otherwise send the document to an online validator.
DOCS_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  onComplete: () => { document.documentElement.dataset.docs = "ready"; },
});
"""


def _docs_page(title: str) -> str:
    if not (DOCS_ASSETS / "swagger-ui-bundle.js").is_file():
        return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
<p id="no-docs">API 文档页面尚未构建：请运行 <code>make setup</code>
（或 <code>npm run build:docs</code>）。OpenAPI 文档本身在
<a href="/openapi.json">/openapi.json</a>。</p>
<p lang="en">The documentation page is not built: run <code>make setup</code> (or
<code>npm run build:docs</code>). The OpenAPI document itself is at
<a href="/openapi.json">/openapi.json</a>.</p></body></html>"""
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{DOCS_STATIC}/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_STATIC}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_STATIC}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""


def _docs(app: FastAPI) -> None:
    """/docs: Swagger UI from local files (npm swagger-ui-dist, copied by `make setup`), under a
    CSP that allows only 'self', so it works offline and on a government intranet.

    /redoc is gone: ReDoc's standalone build injects <style> elements and starts a worker from a
    blob: URL, which a 'self'-only CSP refuses, and it would be a second copy of the same
    document. The address answers with a redirect to /docs, so old links keep working."""

    def swagger() -> HTMLResponse:
        return HTMLResponse(
            _docs_page(f"{app.title} - Swagger UI"),
            headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"},
        )

    def init() -> Response:
        return Response(
            DOCS_INIT,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    def redoc() -> RedirectResponse:
        return RedirectResponse("/docs", status_code=308)

    app.add_api_route("/docs", swagger, include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route("/docs/init.js", init, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
