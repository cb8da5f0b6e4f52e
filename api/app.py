"""The FastAPI application: routers discovered from `api.routers`, problem-details errors,
and a body-size limit. `create_app` takes the ledger service so tests can pass their own.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from api import problems, routers
from ledger import __version__
from ledger.config import Settings, get_settings
from ledger.service import LedgerService

DESCRIPTION = """
帮扶链 Bangfu Ledger: a tamper-evident ledger of aid that social organizations give to
rural counties. Every record is signed by its author (EIP-712) and is a leaf of an RFC 9162
Merkle log kept by the AidLedger contract.

* **orgs / counties** submit signed records and follow their status;
* **public** lists, totals and single records, each with its chain location;
* **auditors** proofs, checkpoints and audit reports.

Errors are `application/problem+json` with a stable `code`.
"""


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

    app = FastAPI(
        title="帮扶链 Bangfu Ledger API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    problems.install(app)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # No field of ours may hold a NUL; PostgreSQL cannot store one in text either.
        if "\x00" in request.url.path or "%00" in request.url.query:
            return problems.problem(
                400, "bad_characters", "the URL contains a NUL character; remove it"
            )
        length = request.headers.get("content-length")
        limit = settings.max_body_bytes
        if request.url.path.startswith("/api/v1/batches"):
            limit = 1 << 40  # batch uploads stream; their routes enforce their own limits
        if length is not None:
            if not length.isdigit():
                return problems.problem(400, "bad_content_length", "Content-Length is not a number")
            if int(length) > limit:
                return problems.problem(
                    413,
                    "body_too_large",
                    f"the body is {length} bytes; the limit is {limit}. Split the submission.",
                )
        return await call_next(request)

    for info in sorted(pkgutil.iter_modules(routers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routers.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    return app
