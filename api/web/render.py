"""Rendering for the portal's pages and downloads: the templates with their filters, the
page context (language, switch link, bundle presence), error pages and CSV responses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api.problems import code_of, status_of
from api.web.i18n import Lang
from ledger.core import display
from ledger.core.errors import LedgerError
from ledger.core.fields import CATEGORIES, ResourceKind
from ledger.core.lifecycle import STAGE_NAMES
from ledger.export.csv_export import iter_csv, iter_table
from ledger.store.queries.csv_shapes import bilingual
from ledger.store.queries.lists import Filters

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
templates = Jinja2Templates(directory=str(WEB / "templates"))

#: A project's status in words: the lifecycle's own names (已发布 → 已对接 → 执行中 → 已完成).
STATUS_NAMES = STAGE_NAMES


# The templates' own filters; the others are ledger.core.display's functions.


def iso_beijing(text: str | None) -> str:
    """An ISO timestamp (as the API answers it, UTC or naive UTC) as Beijing time."""
    if not text:
        return display.NONE
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return display.beijing_time(int(moment.timestamp()))


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def short(h: str | None, n: int = 10) -> str:
    return "—" if not h else (h[:n] + "…" if len(h) > n + 2 else h)


templates.env.filters.update(
    dt=display.beijing_time,
    date=display.beijing_date,
    pct=pct,
    short=short,
    count=display.count,
    iso_bj=iso_beijing,
)
templates.env.globals.update(
    amount=display.amount,
    TZ=display.TZ_LABEL,
    TZ_EN=display.TZ_LABEL_EN,
    WAN_FROM=display.WAN_FROM,
    CATEGORIES=CATEGORIES,
    ResourceKind=ResourceKind,
)


def page(request: Request, name: str, lang: Lang, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A page from its template, with what every template needs."""
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


def error(request: Request, lang: Lang, exc: LedgerError) -> HTMLResponse:
    return page(
        request, "error.html", lang, status=status_of(exc), code=code_of(exc), message=exc.message
    )


def download(filename: str, chunks: Iterable[str]) -> Response:
    return Response(
        "".join(chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def summary_csv(filename: str, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A summary CSV: bilingual headers over `names`, a BOM for spreadsheet programs."""
    return download(filename, iter_table([bilingual(n) for n in names], rows, bom=True))


def records_csv(session: Session, filename: str, f: Filters) -> Response:
    """The commitments matching `f` in the export's one commitments shape."""
    return download(filename, iter_csv(session, "commitments", f, bom=True))


def int_or_none(value: str | None, lo: int, hi: int) -> int | None:
    """A query parameter as a number in [lo, hi], or None for anything else."""
    if value is None or not value.strip().isdigit():
        return None
    n = int(value.strip())
    return n if lo <= n <= hi else None


def county_code(value: str | None) -> int | None:
    """A six-digit county code (GB/T 2260) from a query parameter, or None."""
    return int_or_none(value, 100000, 999999)


def category_code(value: str | None) -> int | None:
    """A category number from a query parameter, or None."""
    return int_or_none(value, 1, len(CATEGORIES))
