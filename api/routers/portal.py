"""The public transparency portal (公开门户): bilingual server-rendered pages with SVG
charts, project timelines, organization and county scorecards, CSV downloads of every
listing, and the portal's static files. Here too the page plumbing its sibling routers share:
each page's language (`PageLang`) and the route class that answers a LedgerError with the
error page (`PageRoute`). The transaction and verify pages are `api.routers.portal_verify`'s."""

from __future__ import annotations

import functools
import mimetypes
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from markupsafe import Markup

from api.deps import ReadSessionDep, ServiceDep
from api.problems import problem
from api.web import charts, data, downloads, render
from api.web.amounts import home_kind, one_measure, per_kind
from api.web.i18n import Lang
from api.web.names import (
    county_name,
    county_options,
    county_short,
    key_counties,
    org_options,
    place,
)
from api.web.project_page import project_page
from ledger.core.errors import LedgerError
from ledger.core.fields import ProjectKind, ResourceKind
from ledger.export import pairing as pairing_views
from ledger.store import queries
from ledger.store.models import CommitmentRow
from ledger.store.queries import fund as fund_queries
from ledger.store.queries import grievance, totals
from ledger.store.queries.orgs import org_list, org_page

HEX32 = r"^0x[0-9a-fA-F]{64}$"
PAGE = 50


def _pick_lang(lang: str | None = None) -> Lang:
    """The page language from `?lang=` (Chinese unless it starts with "en")."""
    return Lang.pick(lang)


class PageRoute(APIRoute):
    """A portal page: a LedgerError it raises is answered with the error page, in the page's
    language and with the error's status, not the API's JSON problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LedgerError as exc:
                return render.error(request, _pick_lang(request.query_params.get("lang")), exc)

        return route


router = APIRouter(tags=["portal 门户"], include_in_schema=False, route_class=PageRoute)


PageLang = Annotated[Lang, Depends(_pick_lang)]
"""Every page's language; the query parameter stays `lang`."""
CountyQ = Annotated[str | None, Query(max_length=10)]
CategoryQ = Annotated[str | None, Query(max_length=3)]
Format = Annotated[str | None, Query(pattern="^(html|csv)$")]
"""`?format=csv` downloads what the page lists; anything else renders it."""


def _series(L: Lang) -> list[str]:
    """The three measures every chart shows, in their fixed order."""
    return [L.t("承诺", "committed"), L.t("已交付", "delivered"), L.t("已签收", "confirmed")]


def _measures(t: totals.Triple) -> tuple[int, int, int]:
    return (t.committed, t.delivered, t.confirmed)


# ---------------------------------------------------------------- home


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: ReadSessionDep, L: PageLang, kind: str = "funds") -> Response:
    grand = totals.grand_totals(session)
    rk, unit_filter, kind = home_kind(kind, grand)
    scale, unit = (0.01, L.t("元", " CNY")) if rk == ResourceKind.FUNDS else (1.0, "")
    if unit_filter is not None:
        unit = " " + unit_filter
    series = _series(L)
    where = [] if unit_filter is None else [CommitmentRow.unit == unit_filter]
    by_cat = one_measure(session, "category", rk, where)
    cat_bars = [
        charts.Bar(
            L.category(code),
            _measures(t),
            href=L.url("/commitments", category=code),
        )
        for code, t in sorted(by_cat.items())
    ]
    keys = key_counties(session)
    by_county = one_measure(session, "county", rk, where)
    top = sorted(by_county.items(), key=lambda kv: (kv[0] not in keys, -kv[1].committed))[:15]
    county_bars = [
        charts.Bar(
            county_short(code),
            _measures(t),
            highlight=code in keys,
            href=L.url(f"/counties/{code}"),
        )
        for code, t in top
    ]
    over_time = [(day, _measures(t)) for day, t in totals.series_over_time(session, rk, 90, *where)]
    what = L.resource(rk) + (f" ({unit.strip()})" if unit else "")

    def bars(chart_id: str, title: str, items: list[charts.Bar]) -> Markup:
        return charts.grouped_bars(
            chart_id, f"{title} — {what}", items, series, scale=scale, unit=unit, cjk=L.code == "zh"
        )

    return render.page(
        request,
        "home.html",
        L,
        kind=kind,
        totals=grand,
        counts=totals.log_counts(session),
        by_cat=by_cat,
        by_county=top,
        keys=keys,
        place=place,
        rk=rk,
        unit=unit_filter or "",
        chart_cat=bars("chart-category", L.t("按类别", "By category"), cat_bars),
        chart_county=bars(
            "chart-county", L.t("按县（★ 重点帮扶县）", "By county (★ key county)"), county_bars
        ),
        chart_time=charts.cumulative_lines(
            "chart-time",
            L.t("累计随时间变化", "Cumulative over time") + f" — {what}",
            over_time,
            series,
            scale=scale,
            cjk=L.code == "zh",
        ),
        over_time=over_time,
    )


# ---------------------------------------------------------------- project libraries


@router.get("/needs", response_class=HTMLResponse)
@router.get("/supply", response_class=HTMLResponse)
def library(
    request: Request,
    session: ReadSessionDep,
    L: PageLang,
    q: str | None = Query(None, max_length=100),
    county: CountyQ = None,
    category: CategoryQ = None,
    key: str | None = Query(None, max_length=5),
    page: int = Query(1, ge=1, le=100_000),
    format: Format = None,
) -> Response:
    """The needs (/needs) or the supply (/supply) library."""
    supply = request.url.path.rstrip("/").endswith("/supply")
    project_kind = ProjectKind.SUPPLY if supply else ProjectKind.NEED
    county_n = render.county_code(county)
    category_n = render.category_code(category)
    key_only = key in ("1", "on", "true")
    find = functools.partial(
        data.projects,
        session,
        project_kind=project_kind,
        county=county_n,
        category=category_n,
        q=q,
        key_only=key_only,
    )
    if format == "csv":
        items, _ = find(limit=100_000)
        name = "needs" if project_kind == ProjectKind.NEED else "supply"
        return render.summary_csv(
            f"{name}.csv", downloads.PROJECT_FIELDS, downloads.project_rows(items, name)
        )
    page = max(1, page)
    items, total = find(offset=(page - 1) * PAGE, limit=PAGE)
    filters = {
        "q": q or "",
        "county": str(county_n or ""),
        "category": str(category_n or ""),
        "key": "1" if key_only else "",
    }
    return render.page(
        request,
        "library.html",
        L,
        project_kind=project_kind,
        path="/needs" if project_kind == ProjectKind.NEED else "/supply",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        filters=filters,
        keys=key_counties(session),
        county_options=county_options(session),
        place=place,
    )


# ---------------------------------------------------------------- commitments


@router.get("/commitments", response_class=HTMLResponse)
def commitments(
    request: Request,
    session: ReadSessionDep,
    L: PageLang,
    county: CountyQ = None,
    category: CategoryQ = None,
    org: str | None = Query(None, max_length=42),
    cursor: str | None = Query(None, max_length=200),
    format: Format = None,
) -> Response:
    f = queries.Filters(
        county=render.county_code(county),
        category=render.category_code(category),
        org=org.strip() if org and org.strip() else None,
    )
    if format == "csv":
        return render.records_csv(session, "commitments.csv", f)
    result = queries.list_records(session, "commitments", f, cursor=cursor, limit=PAGE)
    return render.page(
        request,
        "commitments.html",
        L,
        items=data.commitment_views(session, result.items),
        next_cursor=result.next_cursor,
        filters={
            "county": str(f.county or ""),
            "category": str(f.category or ""),
            "org": f.org or "",
        },
        county_options=county_options(session),
        org_options=org_options(session),
    )


# ---------------------------------------------------------------- project


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project(
    request: Request,
    session: ReadSessionDep,
    project_id: str,
    L: PageLang,
    format: Format = None,
) -> Response:
    if not re.match(HEX32, project_id):
        raise LedgerError(
            L.t("项目编号应为 0x 开头的 64 位十六进制", "a project id is 0x and 64 hex digits"),
            code="bad_project_id",
        )
    page = project_page(session, project_id)
    if format == "csv":
        return render.summary_csv(
            "timeline.csv", downloads.TIMELINE_FIELDS, downloads.timeline_rows(page.steps)
        )
    return render.page(
        request,
        "project.html",
        L,
        p=page,
        place=place,
        keys=key_counties(session),
        grievance_items=(items := grievance.project_grievances(session, project_id.lower())),
        gc=grievance.counts(items),
    )


# ---------------------------------------------------------------- organizations


@router.get("/orgs", response_class=HTMLResponse)
def orgs(
    request: Request,
    session: ReadSessionDep,
    L: PageLang,
    format: Format = None,
) -> Response:
    items = org_list(session)
    if format == "csv":
        return render.summary_csv(
            "organizations.csv", downloads.ORG_FIELDS, downloads.org_rows(items)
        )
    return render.page(request, "orgs.html", L, items=items)


@router.get("/orgs/{org}", response_class=HTMLResponse)
def org(
    request: Request,
    session: ReadSessionDep,
    service: ServiceDep,
    org: str,
    L: PageLang,
    format: Format = None,
) -> Response:
    page = org_page(session, org[:64])
    if format == "csv":
        who = queries.Filters(org=page.org_code or page.addresses[0])
        return render.records_csv(session, f"org-{page.org_code or 'unknown'}.csv", who)
    profile = data.org_profile(session, page.org_code, service.domain)
    amounts = per_kind(totals.aggregate(session, None, None, CommitmentRow.org.in_(page.addresses)))
    return render.page(
        request,
        "org.html",
        L,
        o=page,
        profile=profile,
        rows=data.commitment_views(session, page.commitments),
        amounts=amounts.get(None, []),
        programs=pairing_views.org_programs(session, page.org_code),  # programs (issue 18)
        funds=fund_queries.funds_of(session, page.addresses),
    )


# ---------------------------------------------------------------- counties


@router.get("/counties", response_class=HTMLResponse)
def counties(
    request: Request,
    session: ReadSessionDep,
    L: PageLang,
    format: Format = None,
) -> Response:
    by_county = totals.aggregate(session, "county")
    counts = totals.count_by(by_county)
    keys = key_counties(session)
    amounts = per_kind(by_county)
    if format == "csv":
        rows = [
            (code, county_name(code) or "", code in keys, amounts.get(code, []))
            for code in sorted(counts)
        ]
        return render.summary_csv(
            "counties.csv", downloads.COUNTY_FIELDS, downloads.county_rows(rows)
        )
    places = sorted((place(code) for code in counts), key=lambda p: (p.province, p.city, p.code))
    return render.page(
        request,
        "counties.html",
        L,
        rows=[(p, p.code in keys, counts[p.code], amounts.get(p.code, [])) for p in places],
        keys=keys,
    )


@router.get("/counties/{county}", response_class=HTMLResponse)
def county(
    request: Request,
    session: ReadSessionDep,
    county: str,
    L: PageLang,
    format: Format = None,
) -> Response:
    code = render.county_code(county)
    if code is None:
        raise LedgerError(
            L.t("县代码应为 6 位数字（GB/T 2260）", "a county code is 6 digits (GB/T 2260)"),
            code="bad_county_code",
        )
    page = data.county_page(session, code)
    if format == "csv":
        return render.records_csv(session, f"county-{code}.csv", queries.Filters(county=code))
    series = _series(L)
    chart = charts.grouped_bars(
        "chart-county-category",
        L.t("资金按类别（元）", "Funds by category (CNY)"),
        [charts.Bar(L.category(k), _measures(t)) for k, t in sorted(page.by_category.items())],
        series,
        scale=0.01,
        unit=L.t("元", " CNY"),
        cjk=L.code == "zh",
    )
    return render.page(
        request, "county.html", L, c=page, chart=chart, keys={page.county} if page.key else set()
    )


@router.get("/portal/static/{path:path}")
def static(path: str) -> Response:
    """The portal's CSS and the built verifier bundle (absent until `npm run build:web`)."""
    target = (render.STATIC / path).resolve()
    if not target.is_file() or render.STATIC.resolve() not in target.parents:
        return problem(404, "not_found", f"no static file {path}")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        media = "text/javascript"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=300"})
