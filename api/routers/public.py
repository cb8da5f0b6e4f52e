"""The public: lists, totals and single records with their chain location; no login."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import ReadSessionDep
from api.schemas import ORG_OR_ADDRESS, PageOut
from ledger.core.lifecycle import stage_name
from ledger.store import queries
from ledger.store.queries import status as project_status
from ledger.store.queries import totals
from ledger.store.queries.lists import read_model_version

router = APIRouter(prefix="/api/v1/public", tags=["public 公众"])

MAX_TIME = 2**63 - 1
ListName = Literal["commitments", "deliveries", "receipts", "flags", "projects"]


def _not_modified(request: Request, response: Response, session: Any) -> Response | None:
    """ETag / If-None-Match keyed by the indexed log (`read_model_version`): nothing in a
    public answer changes until the indexer advances, so a client that holds the answer for
    this tag gets 304 with no body, without the query being run."""
    tag = f'"{read_model_version(session)}"'
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "public, no-cache"
    sent = request.headers.get("if-none-match")
    if sent and (sent.strip() == "*" or tag in (t.strip() for t in sent.split(","))):
        return Response(status_code=304, headers={"ETag": tag, "Cache-Control": "public, no-cache"})
    return None


def _filters(
    county: int | None,
    category: int | None,
    org: str | None,
    project: str | None,
    commitment: str | None,
    since: int | None,
    until: int | None,
) -> queries.Filters:
    return queries.Filters(
        county=county,
        category=category,
        org=org,
        project=project,
        commitment=commitment,
        since=since,
        until=until,
    )


@router.get("/{what}", response_model=PageOut, summary="公开列表 Public lists")
def public_list(
    what: ListName,
    session: ReadSessionDep,
    request: Request,
    response: Response,
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
) -> Any:
    """Newest first; each item carries its tx hash, block and log index. A project anchor
    also carries its project's status as a reader sees it now (`project_status`: the
    owner's anchored status moved on by matches, commitments, deliveries and receipts).

    Every list but projects (whose status moves with off-chain library state) carries an
    ETag keyed by the indexed log; send it back in If-None-Match to get 304 while the
    indexer has not advanced. Pages are keyset pages: `next_cursor` is the leaf index to
    continue below."""
    if what != "projects" and (done := _not_modified(request, response, session)) is not None:
        return done
    page = queries.list_records(
        session,
        what,
        _filters(county, category, org, project, commitment, since, until),
        cursor=cursor,
        limit=limit,
    )
    if what == "projects":
        now = project_status.statuses(session, (i["project_id"] for i in page.items))
        for item in page.items:
            shown = now.get(item["project_id"], "published")
            item["project_status"] = shown
            item["project_status_label"] = stage_name(shown)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/totals/{by}", summary="汇总 Totals by county, category or organization")
def public_totals(
    by: Literal["county", "category", "org"],
    session: ReadSessionDep,
    request: Request,
    response: Response,
    county: int | None = Query(None, ge=100000, le=999999),
    category: int | None = Query(None, ge=1, le=10),
    org: str | None = Query(None, pattern=ORG_OR_ADDRESS),
    since: int | None = Query(None, ge=0, le=MAX_TIME),
    until: int | None = Query(None, ge=0, le=MAX_TIME),
) -> Any:
    """Committed, delivered and confirmed, per resource kind and unit, read from the totals
    the indexer maintains (ETag / If-None-Match as the lists)."""
    if (done := _not_modified(request, response, session)) is not None:
        return done
    return totals.public(session, by, _filters(county, category, org, None, None, since, until))


@router.get("/record/{record_id}", summary="单条记录 One record with its chain location")
def public_record(
    session: ReadSessionDep,
    request: Request,
    response: Response,
    record_id: str = Path(..., pattern=r"^0x[0-9a-fA-F]{64}$"),
) -> Any:
    if (done := _not_modified(request, response, session)) is not None:
        return done
    return queries.get_record(session, record_id)
