"""The periodic report (定期报告): totals and trends, by county (key counties apart), by
category and by organization, open needs, overdue commitments and anomalies, with charts;
`ledger.export.report_files` writes it as HTML and PDF, every table as CSV and XLSX, and a
provenance appendix.

Provenance (docs/reports.md §3): every table row names the record ids behind it; the
report gives the log size and root at the cut-off (the period's end), so each id can be
proven into that root with an inclusion proof, and each row's ids have a Merkle root too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.core.errors import LedgerError
from ledger.core.fields import BEIJING, CATEGORIES, CATEGORY_EN, ResourceKind
from ledger.export.snapshot import Period, Snapshot, records_root
from ledger.store.queries.totals import Triple, tally

TEMPLATES = Path(__file__).parent / "templates"
UNRECEIPTED_DAYS = 30
RESOURCE_ZH = {1: "资金 funds", 2: "物资 goods", 3: "服务 services"}


def yuan(fen: int) -> str:
    """Fen as an exact yuan string (no float rounding)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _date(t: int) -> str:
    return datetime.fromtimestamp(t, BEIJING).date().isoformat()


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.1f}%" if den else "—"


@dataclass
class Row:
    """One figure row of a table: its cells and the record ids it is computed from."""

    key: str
    cells: dict[str, Any]
    records: set[str] = field(default_factory=set)

    @property
    def records_root(self) -> str:
        return records_root(self.records)


@dataclass
class Table:
    name: str
    title: str
    columns: list[tuple[str, str]]
    rows: list[Row]
    note: str = ""


@dataclass
class Report:
    period: Period
    province: int | None
    generated: str
    log_size: int
    log_root: str
    last_block: int | None
    chain_verified: bool | None
    key_counties: set[int]
    tables: dict[str, Table]
    charts: dict[str, tuple[bytes, str]]

    @property
    def title(self) -> str:
        where = f"{self.province} 省（区、市）" if self.province else "全部地区"
        return f"社会组织参与乡村振兴帮扶定期报告 {self.period.label}（{where}）"


@dataclass
class _Agg(Triple):
    """A group's funds committed, delivered and confirmed and its commitments (`Triple`),
    plus how many of those commitments are in kind and the ids of the records summed."""

    in_kind: int = 0
    records: set[str] = field(default_factory=set)

    def cells(self) -> dict[str, Any]:
        return {
            "commitments": self.commitments,
            "in_kind": self.in_kind,
            "committed_yuan": yuan(self.committed),
            "delivered_yuan": yuan(self.delivered),
            "confirmed_yuan": yuan(self.confirmed),
            "confirmed_share": _pct(self.confirmed, self.delivered),
        }


GROUP_COLUMNS = [
    ("commitments", "承诺数 commitments"),
    ("in_kind", "其中实物/服务 in kind"),
    ("committed_yuan", "承诺资金(元) committed CNY"),
    ("delivered_yuan", "交付资金(元) delivered CNY"),
    ("confirmed_yuan", "签收资金(元) confirmed CNY"),
    ("confirmed_share", "签收率 confirmed/delivered"),
]


def _flows(snapshot: Snapshot, period: Period, group: Any) -> dict[Any, _Agg]:
    """Per group key: commitments made, funds committed, delivered and confirmed in the
    period, with the ids of the records each number sums."""
    out: dict[Any, _Agg] = defaultdict(_Agg)
    for c in snapshot.commitments.values():
        if period.contains(c.block_time):
            agg = out[group(c)]
            agg.commitments += 1
            agg.records.add(c.record_id)
            if c.resource_kind == ResourceKind.FUNDS:
                agg.committed += c.quantity
            else:
                agg.in_kind += 1
    for d in snapshot.deliveries:
        c = snapshot.commitments[d.commitment_id]
        if c.resource_kind != ResourceKind.FUNDS:
            continue
        if period.contains(d.block_time):
            agg = out[group(c)]
            agg.delivered += d.quantity
            agg.records.add(d.record_id)
        if d.receipt_id and d.receipt_time is not None and period.contains(d.receipt_time):
            agg = out[group(c)]
            agg.confirmed += d.confirmed or 0
            agg.records.add(d.receipt_id)
    return out


def _category_name(code: int) -> str:
    if 1 <= code <= len(CATEGORIES):
        return f"{CATEGORIES[code - 1]} {CATEGORY_EN[code - 1]}"
    return f"未知 unknown ({code})"


def _months(period: Period) -> list[tuple[str, Period]]:
    """Calendar months of the period, or the 12 months to the cut-off for long periods."""
    end = datetime.fromtimestamp(period.end, BEIJING)
    year, month = end.year, end.month
    if end.day == 1 and end.hour == 0 and end.minute == 0 and end.second == 0:
        month -= 1
    months: list[tuple[str, Period]] = []
    for _ in range(12):
        if month < 1:
            year, month = year - 1, 12
        start = int(datetime(year, month, 1, tzinfo=BEIJING).timestamp())
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        stop = int(datetime(ny, nm, 1, tzinfo=BEIJING).timestamp())
        label = f"{year}-{month:02d}"
        months.append((label, Period(label, start, min(stop, period.end))))
        if start <= period.start:
            break
        month -= 1
    return list(reversed(months))


def build_report(
    snapshot: Snapshot,
    period: Period,
    *,
    key_counties: Iterable[int] = (),
    chain_verified: bool | None = None,
    with_charts: bool = True,
) -> Report:
    """Computes every table of the report from the snapshot at the period's end."""
    if snapshot.cutoff != period.end:
        raise LedgerError(
            "the snapshot's cut-off must be the period's end", code="report_cutoff_mismatch"
        )
    keys = set(key_counties)
    tables: dict[str, Table] = {}

    # -- totals, per resource kind and unit (the read model's grouping, `tally`), in the
    # period and to the cut-off
    to_date: list[tuple[Any, int, str, Triple]] = []
    in_period: list[tuple[Any, int, str, Triple]] = []
    behind: dict[tuple[int, str], set[str]] = defaultdict(set)
    for c in snapshot.commitments.values():
        group = (c.resource_kind, c.unit)
        to_date.append((None, *group, Triple(c.quantity, c.delivered, c.confirmed, 1)))
        behind[group].add(c.record_id)
        if period.contains(c.block_time):
            in_period.append((None, *group, Triple(c.quantity, 0, 0, 1)))
    for d in snapshot.deliveries:
        c = snapshot.commitments[d.commitment_id]
        group = (c.resource_kind, c.unit)
        behind[group].add(d.record_id)
        if period.contains(d.block_time):
            in_period.append((None, *group, Triple(0, d.quantity, 0, 0)))
        if d.receipt_id:
            behind[group].add(d.receipt_id)
            if d.receipt_time is not None and period.contains(d.receipt_time):
                in_period.append((None, *group, Triple(0, 0, d.confirmed or 0, 0)))
    made = {(t.resource_kind, t.unit): t.amounts for t in tally(in_period)}
    total_rows: list[Row] = []
    for t in tally(to_date):
        rk, unit, all_time = t.resource_kind, t.unit, t.amounts
        now = made.get((rk, unit), Triple())
        fmt = yuan if rk == ResourceKind.FUNDS else str
        total_rows.append(
            Row(
                f"totals/{rk}/{unit or '-'}",
                {
                    "resource": RESOURCE_ZH.get(rk, str(rk)),
                    "unit": "元 CNY" if rk == ResourceKind.FUNDS else unit,
                    "commitments_period": now.commitments,
                    "committed_period": fmt(now.committed),
                    "delivered_period": fmt(now.delivered),
                    "confirmed_period": fmt(now.confirmed),
                    "commitments_total": all_time.commitments,
                    "committed_total": fmt(all_time.committed),
                    "delivered_total": fmt(all_time.delivered),
                    "confirmed_total": fmt(all_time.confirmed),
                    "fulfilment_total": _pct(
                        min(all_time.delivered, all_time.committed), all_time.committed
                    ),
                },
                behind[(rk, unit)],
            )
        )
    tables["totals"] = Table(
        "totals",
        "总量 Totals (本期 in period / 截至截止时间 to cut-off)",
        [
            ("resource", "类型 kind"),
            ("unit", "单位 unit"),
            ("commitments_period", "本期承诺数 commitments"),
            ("committed_period", "本期承诺 committed"),
            ("delivered_period", "本期交付 delivered"),
            ("confirmed_period", "本期签收 confirmed"),
            ("commitments_total", "累计承诺数 commitments to date"),
            ("committed_total", "累计承诺 committed to date"),
            ("delivered_total", "累计交付 delivered to date"),
            ("confirmed_total", "累计签收 confirmed to date"),
            ("fulfilment_total", "累计完成率 fulfilment"),
        ],
        total_rows,
    )

    # -- monthly trend of funds
    trend_rows = []
    for label, month in _months(period):
        agg = _flows(snapshot, month, lambda c: 0).get(0, _Agg())
        trend_rows.append(Row(f"trend/{label}", {"month": label, **agg.cells()}, agg.records))
    tables["trend"] = Table(
        "trend", "月度趋势（资金）Monthly trend (funds)", [("month", "月份 month"), *GROUP_COLUMNS],
        trend_rows,
    )  # fmt: skip

    # -- by county, key counties apart
    county_flows = _flows(snapshot, period, lambda c: c.county)
    for name, title, wanted in (
        ("key_counties", "重点帮扶县 Key counties", True),
        ("other_counties", "其他县 Other counties", False),
    ):
        rows = [
            Row(f"county/{k}", {"county": k, **agg.cells()}, agg.records)
            for k, agg in sorted(county_flows.items())
            if (k in keys) == wanted
        ]
        tables[name] = Table(
            name, f"按县 By county — {title}", [("county", "县 county"), *GROUP_COLUMNS], rows,
            "" if keys else "未提供重点帮扶县名单 no key-county list was given",
        )  # fmt: skip

    cat_flows = _flows(snapshot, period, lambda c: c.category)
    tables["categories"] = Table(
        "categories",
        "按领域 By category",
        [("category", "领域 category"), *GROUP_COLUMNS],
        [
            Row(f"category/{k}", {"category": _category_name(k), **agg.cells()}, agg.records)
            for k, agg in sorted(cat_flows.items())
        ],
    )
    org_flows = _flows(snapshot, period, lambda c: snapshot.org_code(c.org))
    tables["organizations"] = Table(
        "organizations",
        "按社会组织 By organization",
        [("org", "社会组织 organization"), *GROUP_COLUMNS],
        [
            Row(
                f"org/{k}",
                {
                    "org": snapshot.org_names.get(k, (k, None))[0]
                    + ("" if k not in snapshot.org_names else f" ({k})"),
                    **agg.cells(),
                },
                agg.records,
            )
            for k, agg in sorted(org_flows.items(), key=lambda kv: -kv[1].committed)
        ],
    )

    # -- needs still open at the cut-off
    by_need: dict[str, list[Any]] = defaultdict(list)
    for c in snapshot.commitments.values():
        by_need[c.need_id].append(c)
    open_rows = []
    for need in sorted(snapshot.needs.values(), key=lambda n: (n.county, n.block_time)):
        cs = by_need.get(need.project_id, [])
        if cs and all(c.fully_delivered for c in cs):
            continue
        status = "未对接 no commitment" if not cs else "执行中 in progress"
        open_rows.append(
            Row(
                f"need/{need.project_id}",
                {
                    "need": need.project_id,
                    "county": need.county,
                    "category": _category_name(need.category),
                    "since": _date(need.block_time),
                    "commitments": len(cs),
                    "status": status,
                },
                set(need.anchor_ids) | {c.record_id for c in cs},
            )
        )
    tables["open_needs"] = Table(
        "open_needs",
        "尚未完成的需求 Needs still open",
        [
            ("need", "需求项目 need"),
            ("county", "县 county"),
            ("category", "领域 category"),
            ("since", "发布 published"),
            ("commitments", "承诺数 commitments"),
            ("status", "状态 status"),
        ],
        open_rows,
    )

    # -- overdue commitments and anomalies
    overdue = [
        c
        for c in snapshot.commitments.values()
        if c.due_date < snapshot.cutoff and c.delivered < c.quantity
    ]
    overdue_rows = []
    for c in sorted(overdue, key=lambda c: c.due_date):
        fmt = yuan if c.resource_kind == ResourceKind.FUNDS else str
        overdue_rows.append(
            Row(
                f"overdue/{c.record_id}",
                {
                    "commitment": c.record_id,
                    "org": snapshot.org_code(c.org),
                    "county": c.county,
                    "due": _date(c.due_date),
                    "committed": fmt(c.quantity),
                    "delivered": fmt(c.delivered),
                    "unit": "元 CNY" if c.resource_kind == ResourceKind.FUNDS else c.unit,
                },
                {c.record_id, *c.delivery_ids},
            )
        )
    tables["overdue"] = Table(
        "overdue",
        "逾期承诺 Overdue commitments",
        [
            ("commitment", "承诺 commitment"),
            ("org", "社会组织 organization"),
            ("county", "县 county"),
            ("due", "到期 due"),
            ("committed", "承诺 committed"),
            ("delivered", "已交付 delivered"),
            ("unit", "单位 unit"),
        ],
        overdue_rows,
    )
    tables["anomalies"] = _anomalies(snapshot, overdue)

    report = Report(
        period=period,
        province=snapshot.province,
        generated=datetime.now(UTC).replace(microsecond=0).isoformat(),
        log_size=snapshot.log_size,
        log_root=snapshot.log_root,
        last_block=snapshot.last_block,
        chain_verified=chain_verified,
        key_counties=keys,
        tables=tables,
        charts={},
    )
    if with_charts:
        report.charts = _charts(report)
    return report


def _anomalies(snapshot: Snapshot, overdue: list[Any]) -> Table:
    """The simple anomalies the read model shows (the audit's full list is in ledger.audit)."""
    rows: list[Row] = []
    for c in overdue:
        rows.append(
            Row(
                f"anomaly/overdue/{c.record_id}",
                {"kind": "逾期未交付 overdue", "record": c.record_id, "detail": _date(c.due_date)},
                {c.record_id},
            )
        )
    shares: dict[str, int] = defaultdict(int)
    for d in snapshot.deliveries:
        shares[d.record_id] += 1
    limit = snapshot.cutoff - UNRECEIPTED_DAYS * 86400
    for d in snapshot.deliveries:
        if d.receipt_id is None and shares[d.record_id] == 1 and d.block_time <= limit:
            rows.append(
                Row(
                    f"anomaly/unreceipted/{d.record_id}",
                    {
                        "kind": f"交付{UNRECEIPTED_DAYS}天未签收 no receipt after "
                        f"{UNRECEIPTED_DAYS} days",
                        "record": d.record_id,
                        "detail": _date(d.block_time),
                    },
                    {d.record_id},
                )
            )
        if d.receipt_id is not None and (d.confirmed or 0) < d.quantity:
            rows.append(
                Row(
                    f"anomaly/shortfall/{d.receipt_id}",
                    {
                        "kind": "签收少于交付 receipt below delivery",
                        "record": d.receipt_id,
                        "detail": f"{d.confirmed} < {d.quantity}",
                    },
                    {d.receipt_id, d.record_id},
                )
            )
    return Table(
        "anomalies",
        "审计发现的异常 Anomalies",
        [("kind", "类型 kind"), ("record", "记录 record"), ("detail", "说明 detail")],
        rows,
    )


def _charts(report: Report) -> dict[str, tuple[bytes, str]]:
    from ledger.export import charts  # matplotlib is slow to import: only when charting

    out: dict[str, tuple[bytes, str]] = {}

    def series(rows: list[Row]) -> list[tuple[str, list[float]]]:
        return [
            (name, [float(r.cells[col]) for r in rows])
            for col, name in (
                ("committed_yuan", "承诺 committed"),
                ("delivered_yuan", "交付 delivered"),
                ("confirmed_yuan", "签收 confirmed"),
            )
        ]

    trend_rows = report.tables["trend"].rows
    out["trend"] = charts.trend(
        "资金月度趋势 Funds by month",
        [r.cells["month"] for r in trend_rows],
        series(trend_rows),
        unit="元 CNY",
    )
    counties = report.tables["key_counties"].rows + report.tables["other_counties"].rows
    if counties:
        out["counties"] = charts.grouped_bars(
            "按县 By county（红色为重点帮扶县 red: key counties）",
            [str(r.cells["county"]) for r in counties],
            series(counties),
            unit="元 CNY",
            highlight=[int(r.cells["county"]) in report.key_counties for r in counties],
        )
    cats = report.tables["categories"].rows
    if cats:
        out["categories"] = charts.grouped_bars(
            "按领域 By category",
            [str(r.cells["category"]).split(" ")[0] for r in cats],
            series(cats),
            unit="元 CNY",
            horizontal=True,
        )
    orgs = report.tables["organizations"].rows[:15]
    if orgs:
        out["organizations"] = charts.grouped_bars(
            "按社会组织 By organization", [str(r.cells["org"]) for r in orgs], series(orgs),
            unit="元 CNY", horizontal=True,
        )  # fmt: skip
    return out
