"""Portal pages of the pairing program and east–west cooperation (docs/programs.md):
`/pairings` — per key county, who is paired with it and the progress against each target,
with the key counties nobody is paired with or that fall behind; `/east-west` — the flows
of aid from home province to receiving province as a matrix and a chart, the designated
assistance pairings, and each organization's key-county share. Render only: the figures
come from `ledger.export.pairing`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ReadSessionDep
from api.web import charts, render
from api.web.pages import PageLang, PageRoute
from ledger.export import pairing as views

router = APIRouter(tags=["portal 门户"], include_in_schema=False, route_class=PageRoute)


@router.get("/pairings", response_class=HTMLResponse)
def pairings_page(request: Request, session: ReadSessionDep, L: PageLang) -> Response:
    keyed = views.key_counties(session)
    watch = views.oversight(session)
    others = [
        p for p in views.pairings(session) if not p["key_county"]
    ]  # pairings with counties outside the key-county list
    return render.page(request, "pairings.html", L, keyed=keyed, watch=watch, others=others)


@router.get("/east-west", response_class=HTMLResponse)
def east_west_page(request: Request, session: ReadSessionDep, L: PageLang) -> Response:
    ew = views.east_west(session)
    bars = [
        charts.Bar(
            f"{f['home_name'].split(' ')[0]} → {f['receiving_name'].split(' ')[0]}",
            (f["funds_committed_fen"], f["funds_delivered_fen"], f["funds_confirmed_fen"]),
            highlight=f["east_west"],
        )
        for f in ew["flows"]
    ]
    chart = charts.grouped_bars(
        "chart-east-west",
        L.t("资金流向：来源省份 → 受援省份（元）", "Funds from home to receiving province (CNY)"),
        bars,
        [L.t("承诺", "committed"), L.t("已交付", "delivered"), L.t("已签收", "confirmed")],
        scale=0.01,
        unit=L.t("元", " CNY"),
        cjk=L.code == "zh",
    )
    return render.page(request, "east_west.html", L, ew=ew, chart=chart)
