"""The public transparency portal (公开门户): bilingual server-rendered pages with SVG
charts, project timelines, organization and county scorecards, CSV downloads of every
listing, and a verify page that checks proofs and signatures in the browser."""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import ReadSessionDep, ServiceDep
from api.problems import code_of, problem, status_of
from api.web import charts, data
from api.web.i18n import Lang
from ledger.core.errors import LedgerError, NotFoundError
from ledger.core.records import CATEGORIES, RECORD_TYPES, Kind, ProjectKind, ResourceKind
from ledger.store import queries
from ledger.store.models import LogEntry
from ledger.store.proofs import LogProofs
from ledger.tools.proofcheck import ProofCheckError, verify_bundle

WEB = Path(__file__).resolve().parent.parent / "web"
STATIC = WEB / "static"
templates = Jinja2Templates(directory=str(WEB / "templates"))
router = APIRouter(tags=["portal 门户"], include_in_schema=False)

HEX32 = r"^0x[0-9a-fA-F]{64}$"
PAGE = 50


def _dt(ts: int | None) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M")


def _date(ts: int | None) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d")


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _qty(value: int, resource_kind: int, unit: str = "") -> str:
    if resource_kind == ResourceKind.FUNDS:
        return f"¥{value / 100:,.2f}"
    if resource_kind == ResourceKind.SERVICE:
        return f"{value:,} h"
    return f"{value:,} {unit}".strip()


def _short(h: str | None, n: int = 10) -> str:
    return "—" if not h else (h[:n] + "…" if len(h) > n + 2 else h)


STATUS_NAMES = {
    "draft": ("草稿", "draft"),
    "published": ("已发布", "published"),
    "matched": ("已对接", "matched"),
    "in_progress": ("实施中", "in progress"),
    "completed": ("已完成", "completed"),
    "closed": ("已关闭", "closed"),
}

templates.env.filters.update(dt=_dt, date=_date, pct=_pct, short=_short)
templates.env.globals.update(qty=_qty, CATEGORIES=CATEGORIES, ResourceKind=ResourceKind)


def _render(request: Request, name: str, lang: Lang, status: int = 200, **ctx: Any) -> HTMLResponse:
    bundle = (STATIC / "dist" / "verify.js").is_file()
    context = {
        "request": request,
        "L": lang,
        "t": lang.t,
        "switch_url": lang.switch_url(request.url),
        "has_bundle": bundle,
        "status_name": lambda status: lang.t(*STATUS_NAMES.get(status, (status, status))),
        **ctx,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def _error(request: Request, lang: Lang, exc: LedgerError) -> HTMLResponse:
    return _render(
        request, "error.html", lang, status=status_of(exc), code=code_of(exc), message=exc.message
    )


def _csv(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buf = io.StringIO()
    buf.write("\ufeff")  # so spreadsheet programs read the Chinese text as UTF-8
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _int_or_none(value: str | None, lo: int, hi: int) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    n = int(value.strip())
    return n if lo <= n <= hi else None


# ---------------------------------------------------------------- home


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, session: ReadSessionDep, lang: str | None = None, kind: str = "funds"
) -> Response:
    L = Lang.pick(lang)
    rk = {"funds": ResourceKind.FUNDS, "goods": ResourceKind.GOODS, "service": 3}.get(
        kind, ResourceKind.FUNDS
    )
    scale, unit = (0.01, L.t("元", " CNY")) if rk == ResourceKind.FUNDS else (1.0, "")
    series = [L.t("承诺", "committed"), L.t("已交付", "delivered"), L.t("已签收", "confirmed")]
    by_cat = data.totals_by(session, "category", rk)
    cat_bars = [
        charts.Bar(
            L.category(code),
            (t.committed, t.delivered, t.confirmed),
            href=L.url("/commitments", category=code),
        )
        for code, t in sorted(by_cat.items())
    ]
    keys = data.key_counties(session)
    by_county = data.totals_by(session, "county", rk)
    top = sorted(by_county.items(), key=lambda kv: (kv[0] not in keys, -kv[1].committed))[:15]
    county_bars = [
        charts.Bar(
            data.county_short(code) if L.code == "zh" else str(code),
            (t.committed, t.delivered, t.confirmed),
            highlight=code in keys,
            href=L.url(f"/counties/{code}"),
        )
        for code, t in top
    ]
    over_time = [
        (day, (t.committed, t.delivered, t.confirmed))
        for day, t in data.series_over_time(session, rk)
    ]
    what = L.resource(rk) + (f" ({unit.strip()})" if unit else "")
    return _render(
        request,
        "home.html",
        L,
        kind=kind if kind in ("funds", "goods", "service") else "funds",
        totals=data.grand_totals(session),
        counts=data.log_counts(session),
        by_cat=by_cat,
        by_county=top,
        keys=keys,
        county_name=data.county_name,
        chart_cat=charts.grouped_bars(
            "chart-category",
            L.t("按类别", "By category") + f" — {what}",
            cat_bars,
            series,
            scale=scale,
            unit=unit,
            cjk=L.code == "zh",
        ),
        chart_county=charts.grouped_bars(
            "chart-county",
            L.t("按县（★ 重点帮扶县）", "By county (★ key county)") + f" — {what}",
            county_bars,
            series,
            scale=scale,
            unit=unit,
            cjk=L.code == "zh",
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
        scale=scale,
    )


# ---------------------------------------------------------------- project libraries


def _library(
    request: Request,
    session: Session,
    project_kind: int,
    lang: str | None,
    q: str | None,
    county: str | None,
    category: str | None,
    key: str | None,
    page: int,
    fmt: str | None,
) -> Response:
    L = Lang.pick(lang)
    county_n = _int_or_none(county, 100000, 999999)
    category_n = _int_or_none(category, 1, len(CATEGORIES))
    key_only = key in ("1", "on", "true")
    if fmt == "csv":
        items, _ = data.projects(
            session,
            project_kind=project_kind,
            county=county_n,
            category=category_n,
            q=q,
            key_only=key_only,
            limit=100_000,
        )
        name = "needs" if project_kind == ProjectKind.NEED else "supply"
        return _csv(
            f"{name}.csv",
            [
                "project_id",
                "kind",
                "county",
                "county_name",
                "category",
                "category_zh",
                "version",
                "published_utc",
                "commitments",
                "funds_committed_fen",
                "funds_delivered_fen",
                "funds_confirmed_fen",
            ],
            (
                [
                    p.project_id,
                    name,
                    p.county,
                    data.county_name(p.county) or "",
                    p.category,
                    CATEGORIES[p.category - 1] if 1 <= p.category <= len(CATEGORIES) else "",
                    p.version,
                    _dt(p.published),
                    p.commitments,
                    p.totals.get(1, data.Triple()).committed,
                    p.totals.get(1, data.Triple()).delivered,
                    p.totals.get(1, data.Triple()).confirmed,
                ]
                for p in items
            ),
        )
    page = max(1, page)
    items, total = data.projects(
        session,
        project_kind=project_kind,
        county=county_n,
        category=category_n,
        q=q,
        key_only=key_only,
        offset=(page - 1) * PAGE,
        limit=PAGE,
    )
    filters = {
        "q": q or "",
        "county": county_n or "",
        "category": category_n or "",
        "key": "1" if key_only else "",
    }
    return _render(
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
        keys=data.key_counties(session),
        county_name=data.county_name,
    )


@router.get("/needs", response_class=HTMLResponse)
def needs(
    request: Request,
    session: ReadSessionDep,
    lang: str | None = None,
    q: str | None = Query(None, max_length=100),
    county: str | None = Query(None, max_length=10),
    category: str | None = Query(None, max_length=3),
    key: str | None = Query(None, max_length=5),
    page: int = Query(1, ge=1, le=100_000),
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    return _library(
        request, session, ProjectKind.NEED, lang, q, county, category, key, page, format
    )


@router.get("/supply", response_class=HTMLResponse)
def supply(
    request: Request,
    session: ReadSessionDep,
    lang: str | None = None,
    q: str | None = Query(None, max_length=100),
    county: str | None = Query(None, max_length=10),
    category: str | None = Query(None, max_length=3),
    key: str | None = Query(None, max_length=5),
    page: int = Query(1, ge=1, le=100_000),
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    return _library(
        request, session, ProjectKind.SUPPLY, lang, q, county, category, key, page, format
    )


# ---------------------------------------------------------------- commitments


@router.get("/commitments", response_class=HTMLResponse)
def commitments(
    request: Request,
    session: ReadSessionDep,
    lang: str | None = None,
    county: str | None = Query(None, max_length=10),
    category: str | None = Query(None, max_length=3),
    org: str | None = Query(None, max_length=42),
    cursor: str | None = Query(None, max_length=200),
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    L = Lang.pick(lang)
    f = queries.Filters(
        county=_int_or_none(county, 100000, 999999),
        category=_int_or_none(category, 1, len(CATEGORIES)),
        org=org.strip() if org and org.strip() else None,
    )
    try:
        if format == "csv":
            codes = data.org_addresses(session)
            return _csv(
                "commitments.csv",
                [
                    "record_id",
                    "need_id",
                    "org_code",
                    "org_address",
                    "county",
                    "category",
                    "resource_kind",
                    "quantity",
                    "unit",
                    "due_date_utc",
                    "delivered",
                    "confirmed",
                    "block_time_utc",
                    "tx_hash",
                    "leaf_index",
                ],
                (
                    [
                        r.record_id,
                        r.need_id,
                        codes.get(r.org, ""),
                        r.org,
                        r.county,
                        CATEGORIES[r.category - 1] if 1 <= r.category <= len(CATEGORIES) else "",
                        r.resource_kind,
                        r.quantity,
                        r.unit,
                        _dt(r.due_date),
                        r.delivered,
                        r.confirmed,
                        _dt(r.block_time),
                        r.tx_hash,
                        r.leaf_index,
                    ]
                    for r in data.commitment_export(session, f.county, f.category, f.org)
                ),
            )
        result = queries.list_records(session, "commitments", f, cursor=cursor, limit=PAGE)
    except LedgerError as exc:
        return _error(request, L, exc)
    return _render(
        request,
        "commitments.html",
        L,
        items=result.items,
        next_cursor=result.next_cursor,
        filters={"county": f.county or "", "category": f.category or "", "org": f.org or ""},
        county_name=data.county_name,
    )


# ---------------------------------------------------------------- project


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project(
    request: Request,
    session: ReadSessionDep,
    project_id: str,
    lang: str | None = None,
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    L = Lang.pick(lang)
    if not re.match(HEX32, project_id):
        return _error(
            request,
            L,
            LedgerError(
                L.t("项目编号应为 0x 开头的 64 位十六进制", "a project id is 0x and 64 hex digits"),
                code="bad_project_id",
            ),
        )
    try:
        page = data.project_page(session, project_id)
    except LedgerError as exc:
        return _error(request, L, exc)
    if format == "csv":
        return _csv(
            "timeline.csv",
            [
                "stage",
                "record_id",
                "kind",
                "leaf_index",
                "block_number",
                "block_time_utc",
                "tx_hash",
                "detail",
            ],
            (
                [
                    s.stage,
                    s.record_id,
                    data.kind_name(s.kind),
                    s.leaf_index,
                    s.block_number,
                    _dt(s.block_time),
                    s.tx_hash,
                    json.dumps(s.detail, ensure_ascii=False),
                ]
                for s in page.steps
            ),
        )
    return _render(
        request,
        "project.html",
        L,
        p=page,
        county_name=data.county_name,
        keys=data.key_counties(session),
    )


# ---------------------------------------------------------------- organizations


@router.get("/orgs", response_class=HTMLResponse)
def orgs(
    request: Request,
    session: ReadSessionDep,
    lang: str | None = None,
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    L = Lang.pick(lang)
    items = data.org_list(session)
    if format == "csv":
        return _csv(
            "organizations.csv",
            [
                "org_code",
                "name",
                "name_en",
                "commitments",
                "fulfilment_rate",
                "on_time_rate",
                "confirmed_rate",
            ],
            (
                [
                    i["org"],
                    i["name"],
                    i["name_en"],
                    i["commitments"],
                    "" if i["fulfilment_rate"] is None else f"{i['fulfilment_rate']:.4f}",
                    "" if i["on_time_rate"] is None else f"{i['on_time_rate']:.4f}",
                    "" if i["confirmed_rate"] is None else f"{i['confirmed_rate']:.4f}",
                ]
                for i in items
            ),
        )
    return _render(request, "orgs.html", L, items=items)


@router.get("/orgs/{org}", response_class=HTMLResponse)
def org(
    request: Request,
    session: ReadSessionDep,
    org: str,
    lang: str | None = None,
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    L = Lang.pick(lang)
    try:
        page = data.org_page(session, org[:64])
    except LedgerError as exc:
        return _error(request, L, exc)
    if format == "csv":
        full = data.org_page(session, org[:64], limit=1_000_000)
        return _commitment_csv(f"org-{page.org_code or 'unknown'}.csv", full.commitments)
    return _render(request, "org.html", L, o=page, county_name=data.county_name)


def _commitment_csv(filename: str, rows: Sequence[Any]) -> Response:
    return _csv(
        filename,
        [
            "record_id",
            "need_id",
            "org_address",
            "county",
            "category",
            "resource_kind",
            "quantity",
            "unit",
            "due_date_utc",
            "delivered",
            "confirmed",
            "block_time_utc",
        ],
        (
            [
                c.record_id,
                c.need_id,
                c.org,
                c.county,
                c.category,
                c.resource_kind,
                c.quantity,
                c.unit,
                _dt(c.due_date),
                c.delivered,
                c.confirmed,
                _dt(c.block_time),
            ]
            for c in rows
        ),
    )


# ---------------------------------------------------------------- counties


@router.get("/counties", response_class=HTMLResponse)
def counties(
    request: Request,
    session: ReadSessionDep,
    lang: str | None = None,
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    L = Lang.pick(lang)
    funds = data.totals_by(session, "county", ResourceKind.FUNDS)
    counts: dict[int, int] = {}
    for rk in ResourceKind:
        for code, t in data.totals_by(session, "county", rk).items():
            counts[code] = counts.get(code, 0) + t.commitments
    keys = data.key_counties(session)
    rows = [
        (
            code,
            data.county_name(code) or "",
            code in keys,
            counts[code],
            funds.get(code, data.Triple()),
        )
        for code in sorted(counts)
    ]
    if format == "csv":
        return _csv(
            "counties.csv",
            [
                "county",
                "name",
                "key_county",
                "commitments",
                "funds_committed_fen",
                "funds_delivered_fen",
                "funds_confirmed_fen",
            ],
            ([c, n, int(k), m, t.committed, t.delivered, t.confirmed] for c, n, k, m, t in rows),
        )
    return _render(request, "counties.html", L, rows=rows)


@router.get("/counties/{county}", response_class=HTMLResponse)
def county(
    request: Request,
    session: ReadSessionDep,
    county: str,
    lang: str | None = None,
    format: str | None = Query(None, pattern="^(html|csv)$"),
) -> Response:
    L = Lang.pick(lang)
    code = _int_or_none(county, 100000, 999999)
    try:
        if code is None:
            raise LedgerError(
                L.t("县代码应为 6 位数字（GB/T 2260）", "a county code is 6 digits (GB/T 2260)"),
                code="bad_county_code",
            )
        page = data.county_page(session, code)
    except LedgerError as exc:
        return _error(request, L, exc)
    if format == "csv":
        full = data.county_page(session, code, limit=10_000_000)
        return _commitment_csv(f"county-{code}.csv", full.commitments)
    series = [L.t("承诺", "committed"), L.t("已交付", "delivered"), L.t("已签收", "confirmed")]
    chart = charts.grouped_bars(
        "chart-county-category",
        L.t("资金按类别（元）", "Funds by category (CNY)"),
        [
            charts.Bar(L.category(k), (t.committed, t.delivered, t.confirmed))
            for k, t in sorted(page.by_category.items())
        ],
        series,
        scale=0.01,
        unit=L.t("元", " CNY"),
        cjk=L.code == "zh",
    )
    return _render(request, "county.html", L, c=page, chart=chart)


# ---------------------------------------------------------------- transactions and verify


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
def transaction(
    request: Request,
    service: ServiceDep,
    session: ReadSessionDep,
    tx_hash: str,
    lang: str | None = None,
) -> Response:
    L = Lang.pick(lang)
    entries = (
        list(
            session.scalars(
                select(LogEntry)
                .where(LogEntry.tx_hash == tx_hash.lower())
                .order_by(LogEntry.leaf_index)
            )
        )
        if re.match(HEX32, tx_hash)
        else []
    )
    if not entries:
        return _error(
            request,
            L,
            NotFoundError(
                L.t("未找到该交易的记录", "no indexed records in this transaction"),
                code="tx_not_found",
            ),
        )
    return _render(
        request,
        "tx.html",
        L,
        tx_hash=tx_hash.lower(),
        entries=entries,
        rpc_url=service.settings.rpc_url,
    )


def _type_strings() -> dict[str, str]:
    return {str(int(k)): cls.type_string() for k, cls in RECORD_TYPES.items()}


def _log_key(service: Any) -> dict[str, Any] | None:
    """The published log key (GET /api/v1/log/key), or None before the first checkpoint."""
    from ledger.tlog.log_key import published_log_key

    try:
        d = service.deployment
        return published_log_key(service.settings, d.chain_id, d.address)
    except LedgerError:
        return None


@router.get("/verify", response_class=HTMLResponse)
def verify(
    request: Request,
    service: ServiceDep,
    session: ReadSessionDep,
    lang: str | None = None,
    id: str | None = Query(None, max_length=80),
) -> Response:
    L = Lang.pick(lang)
    ctx: dict[str, Any] = {
        "record_id": (id or "").strip(),
        "bundle": None,
        "record": None,
        "server_check": None,
        "error": None,
        "kind_num": 0,
    }
    rid = ctx["record_id"]
    if rid:
        try:
            if not re.match(HEX32, rid):
                raise LedgerError(
                    L.t(
                        "记录编号应为 0x 开头的 64 位十六进制",
                        "a record id is 0x and 64 hex digits",
                    ),
                    code="bad_record_id",
                )
            ctx["record"] = queries.get_record(session, rid)
            ctx["kind_num"] = int(Kind[ctx["record"]["kind"].upper()])
            bundle = LogProofs(service.db).bundle(rid)
            ctx["bundle"] = bundle
            try:
                verify_bundle(bundle)
                ctx["server_check"] = "ok"
            except ProofCheckError as exc:
                ctx["server_check"] = str(exc)
        except LedgerError as exc:
            ctx["error"] = exc.message
    return _render(
        request,
        "verify.html",
        L,
        status=404 if ctx["error"] and rid else 200,
        rpc_url=service.settings.rpc_url or "",
        log_key=_log_key(service),
        bundle_json=json.dumps(ctx["bundle"], indent=1) if ctx["bundle"] else "",
        type_strings=_type_strings(),
        **ctx,
    )


@router.get("/portal/static/{path:path}")
def static(path: str) -> Response:
    """The portal's CSS and the built verifier bundle (absent until `npm run build:web`)."""
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC.resolve() not in target.parents:
        return problem(404, "not_found", f"no static file {path}")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        media = "text/javascript"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=300"})
