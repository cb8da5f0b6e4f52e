"""The browser workspaces (工作台) of county offices, organizations, the civil-affairs office
and auditors: server-rendered pages whose script (`dist/workspace.js`, ethers v6) keeps the
user's key encrypted in the browser and signs there. The server renders forms and answers
reads; it never sees a key or a password."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import ReadSessionDep
from api.problems import problem
from api.web import render
from api.web.pages import PageLang
from ledger.core import codes
from ledger.core.fields import BEIJING
from ledger.library.regions import counties
from ledger.relayer.lookups import current_roles

router = APIRouter(tags=["workspace 工作台"], include_in_schema=False)

PAGES = {
    "county": ("县乡村振兴部门工作台", "County office workspace"),
    "org": ("社会组织工作台", "Organization workspace"),
    "civil": ("民政部门工作台", "Civil-affairs office workspace"),
    "audit": ("审计工作台", "Auditor workspace"),
}


def _page(request: Request, L: Any, name: str, **ctx: Any) -> HTMLResponse:
    bundle = (render.STATIC / "dist" / "workspace.js").is_file()
    zh, en = PAGES.get(name, ("工作台", "Workspace"))
    return render.page(
        request,
        f"workspace/{name}.html",
        L,
        has_workspace=bundle,
        pages=PAGES,
        page=name,
        title_zh=zh,
        title_en=en,
        default_period=last_quarter(datetime.now(BEIJING)),
        **ctx,
    )


def last_quarter(now: datetime) -> str:
    """The last complete quarter at `now` (the periodic report's usual period), e.g. 2026-Q3."""
    q = (now.month - 1) // 3  # the current quarter's index: the last complete one is q
    return f"{now.year}-Q{q}" if q else f"{now.year - 1}-Q4"


@router.get("/workspace", response_class=HTMLResponse)
def keys_page(request: Request, L: PageLang) -> Response:
    """Keys on this device and sign-in."""
    return _page(request, L, "index")


def _role_page(name: str) -> Any:
    def page(request: Request, L: PageLang) -> Response:
        return _page(request, L, name)

    page.__name__ = f"{name}_page"
    page.__doc__ = f"The {PAGES[name][1].lower()}."
    return page


# one page a role, each rendered from workspace/<name>.html
for _name in PAGES:
    router.add_api_route(
        f"/workspace/{_name}",
        _role_page(_name),
        methods=["GET"],
        response_class=HTMLResponse,
        name=f"{_name}_page",
    )


@functools.cache
def _county_names() -> dict[str, str]:
    return {str(code): c.full_name for code, c in counties().items()}


@router.get("/workspace/data/counties.json")
def county_names() -> Response:
    """County names by GB/T 2260 code, for the forms and the signing dialog."""
    return JSONResponse(_county_names(), headers={"Cache-Control": "public, max-age=86400"})


@router.get("/workspace/data/roles/{address}")
def roles_of(address: str, session: ReadSessionDep) -> Response:
    """The roles an address holds now, from the indexed role events (public facts on
    chain), so that the key panel can show who the unlocked key is before sign-in."""
    if not is_address(address):
        return problem(
            422, codes.INVALID_ADDRESS, "地址无效 / the address must be 0x and 40 hex digits"
        )
    held = current_roles(session, to_checksum_address(address))
    out = [
        {
            "role": role,
            "county": row.county,
            "county_name": _county_names().get(str(row.county)) if row.county else None,
            "org_code": row.org_code,
            "name": row.name,
        }
        for role, row in sorted(held.items())
    ]
    return JSONResponse(out)
