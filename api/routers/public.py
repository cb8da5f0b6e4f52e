"""The public: lists, totals and single records with their chain location; no login."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from api.answer_cache import answer, uncached
from api.schemas import ORG_OR_ADDRESS, PageOut
from ledger.core.lifecycle import stage_name
from ledger.store import queries
from ledger.store.queries import status as project_status
from ledger.store.queries import totals

router = APIRouter(prefix="/api/v1/public", tags=["public 公众"])

# The routes answer with the bytes `api.answer_cache` encoded (or kept): a raw Response, so
# FastAPI validates no response model on the way out; `response_model` still documents the
# shape in the OpenAPI document. They are `async`: a cache hit runs in the event loop with
# no thread hop; a miss runs its queries in the thread pool.
ETAG = {
    "ETag": {
        "description": "read_model_version: send back in If-None-Match",
        "schema": {"type": "string"},
    }
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the indexer has not advanced since this ETag"}
}


def _key(f: queries.Filters, **paging: object) -> tuple[str, ...]:
    """The cache key of a read: its filters and paging, without the ones left out."""
    params = {**asdict(f), **paging}
    return tuple(f"{k}={v}" for k, v in sorted(params.items()) if v is not None)


MAX_TIME = 2**63 - 1
ListName = Literal["commitments", "deliveries", "receipts", "flags", "projects"]
# What every cached route documents: the ETag on 200, and 304 while nothing has changed.
CACHED: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG}, **NOT_MODIFIED}


@router.get(
    "/{what}",
    response_model=PageOut,
    responses=CACHED,
    summary="公开列表 Public lists",
)
async def public_list(
    what: ListName,
    request: Request,
    county: int | None = Query(None, ge=100000, le=999999, description="6-digit county code"),
    category: int | None = Query(None, ge=1, le=10, description="category 1..10"),
    org: str | None = Query(None, pattern=ORG_OR_ADDRESS, description="credit code or address"),
    project: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{64}$", description="need id"),
    commitment: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{64}$"),
    since: int | None = Query(None, ge=0, le=MAX_TIME, description="block time ≥ (unix s)"),
    until: int | None = Query(None, ge=0, le=MAX_TIME, description="block time < (unix s)"),
    cursor: str | None = Query(
        None, max_length=200, pattern=r"^[A-Za-z0-9_-]+={0,2}$", description="from next_cursor"
    ),
    limit: int = Query(50, ge=1, le=queries.MAX_PAGE),
) -> Response:
    """Newest first; each item carries its tx hash, block and log index. A project anchor
    also carries its project's status as a reader sees it now (`project_status`: the
    owner's anchored status moved on by matches, commitments, deliveries and receipts).

    Every list but projects (whose status moves with off-chain library state) carries an
    ETag keyed by the indexed log; send it back in If-None-Match to get 304 while the
    indexer has not advanced. Pages are keyset pages: `next_cursor` is the leaf index to
    continue below."""
    f = queries.Filters(
        county=county,
        category=category,
        org=org,
        project=project,
        commitment=commitment,
        since=since,
        until=until,
    )

    def compute(session: Session, codes: Callable[[], dict[str, str]]) -> Any:
        page = queries.list_records(session, what, f, cursor=cursor, limit=limit, codes=codes())
        if what == "projects":
            now = project_status.statuses(session, (i["project_id"] for i in page.items))
            for item in page.items:
                shown = now.get(item["project_id"], "published")
                item["project_status"] = shown
                item["project_status_label"] = stage_name(shown)
        return {"items": page.items, "next_cursor": page.next_cursor}

    if what == "projects":
        return await uncached(request, compute)
    key = _key(f, cursor=cursor, limit=limit)
    return await answer(request, ("list", what, *key), compute)


@router.get(
    "/totals/{by}",
    responses=CACHED,
    summary="汇总 Totals by county, category or organization",
)
async def public_totals(
    by: Literal["county", "category", "org"],
    request: Request,
    county: int | None = Query(None, ge=100000, le=999999),
    category: int | None = Query(None, ge=1, le=10),
    org: str | None = Query(None, pattern=ORG_OR_ADDRESS),
    since: int | None = Query(None, ge=0, le=MAX_TIME),
    until: int | None = Query(None, ge=0, le=MAX_TIME),
) -> Response:
    """Committed, delivered and confirmed, per resource kind and unit, read from the totals
    the indexer maintains (ETag / If-None-Match as the lists)."""
    f = queries.Filters(county=county, category=category, org=org, since=since, until=until)

    def compute(session: Session, codes: Callable[[], dict[str, str]]) -> Any:
        return totals.public(session, by, f, codes=codes() if by == "org" else {})

    return await answer(request, ("totals", by, *_key(f)), compute)


@router.get(
    "/record/{record_id}",
    responses=CACHED,
    summary="单条记录 One record with its chain location",
)
async def public_record(
    request: Request,
    record_id: str = Path(..., pattern=r"^0x[0-9a-fA-F]{64}$"),
) -> Response:
    def compute(session: Session, codes: Callable[[], dict[str, str]]) -> Any:
        return queries.get_record(session, record_id)

    return await answer(request, ("record", record_id.lower()), compute)
