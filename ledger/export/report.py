"""The periodic report (定期报告): totals and trends, by county (key counties apart), by
category and by organization, open needs, overdue commitments and anomalies, with charts
and a first page in words. `build_report` assembles it from the report's own tables
(`ledger.export.report_figures`, `ledger.export.report_anomalies`) and the programs'
sections (`ledger.export.sections`); `ledger.export.report_files` writes it as HTML and
PDF, every table as CSV and XLSX, and a provenance appendix.

Provenance (docs/reports.md §3): every table row names the record ids behind it; the
report gives the log size and root at the cut-off (the period's end), so each id can be
proven into that root with an inclusion proof, and each row's ids have a Merkle root too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ledger.core import display
from ledger.core.errors import LedgerError
from ledger.core.fields import ResourceKind
from ledger.export.report_anomalies import (
    UNRECEIPTED_DAYS,
    Describer,
    anomalies_table,
    anomaly_count,
    flags_table,
)
from ledger.export.report_figures import (
    RESOURCE_ZH,
    category_table,
    county_tables,
    open_needs_table,
    organization_table,
    overdue_commitments,
    overdue_table,
    period_funds,
    totals_table,
    trend_table,
)
from ledger.export.report_periods import period_name, previous_period
from ledger.export.report_tables import ReportSection, Row, Table
from ledger.export.sections import special_funds_section
from ledger.export.snapshot import Period, Snapshot


@dataclass
class Report:
    period: Period
    province: int | None
    province_name: str | None
    generated: datetime
    #: anomalies and overdue commitments are measured at this time: the generation time, or
    #: the cut-off when the period is over (the snapshot knows nothing after it)
    as_of: int
    unit: str
    log_size: int
    log_root: str
    last_block: int | None
    chain_verified: bool | None
    key_counties: set[int]
    tables: dict[str, Table]
    charts: dict[str, tuple[bytes, str]]
    narrative: list[str] = field(default_factory=list)
    previous: Period | None = None

    @property
    def where(self) -> str:
        if self.province is None:
            return "全国"
        return self.province_name or f"{self.province} 省（区、市）"

    @property
    def title(self) -> str:
        return f"{self.where}社会组织参与乡村振兴帮扶定期报告（{period_name(self.period)}）"

    @property
    def title_en(self) -> str:
        where = (
            "all provinces"
            if self.province is None
            else f"province {self.province} ({self.province_name or 'unknown'})"
        )
        return (
            "Periodic report: social organizations in rural revitalization, "
            f"{where}, {self.period.label}"
        )

    @property
    def generated_text(self) -> str:
        return f"{display.beijing_time(int(self.generated.timestamp()))} {display.TZ_LABEL}"

    @property
    def as_of_text(self) -> str:
        return f"{display.beijing_time(self.as_of)} {display.TZ_LABEL}"


def build_report(
    snapshot: Snapshot,
    period: Period,
    *,
    key_counties: Iterable[int] = (),
    chain_verified: bool | None = None,
    with_charts: bool = True,
    generated: datetime | None = None,
    unit: str = "",
    sections: Iterable[ReportSection] | None = None,
) -> Report:
    """Computes every table of the report from the snapshot at the period's end; anomalies
    are measured at `generated` (now by default), or at the cut-off if that is earlier.

    `sections` are the programs' sections, in order, after the report's own tables
    (`ledger.export.sections.program_sections` reads them all); by default the one the
    snapshot alone makes, the special funds."""
    if sections is None:
        sections = [special_funds_section]
    if snapshot.cutoff != period.end:
        raise LedgerError(
            "the snapshot's cut-off must be the period's end", code="report_cutoff_mismatch"
        )
    generated = (generated or datetime.now(UTC)).replace(microsecond=0)
    as_of = min(int(generated.timestamp()), snapshot.cutoff)
    keys = set(key_counties)
    tables: dict[str, Table] = {
        "totals": totals_table(snapshot, period),
        "trend": trend_table(snapshot, period),
        **county_tables(snapshot, period, keys),
        "categories": category_table(snapshot, period),
        "organizations": organization_table(snapshot, period),
        "open_needs": open_needs_table(snapshot),
    }
    overdue = overdue_commitments(snapshot, as_of)
    tables["overdue"] = overdue_table(snapshot, overdue, as_of)
    describe = Describer(snapshot)
    tables["flags"] = flags_table(snapshot, period, describe)
    tables["anomalies"] = anomalies_table(snapshot, overdue, as_of, describe)
    for section in sections:  # programs (issue 18), at the end
        tables.update(section(snapshot, period, keys))

    report = Report(
        period=period,
        province=snapshot.province,
        province_name=snapshot.province_name,
        generated=generated,
        as_of=as_of,
        unit=unit,
        log_size=snapshot.log_size,
        log_root=snapshot.log_root,
        last_block=snapshot.last_block,
        chain_verified=chain_verified,
        key_counties=keys,
        tables=tables,
        charts={},
        previous=previous_period(period),
    )
    report.narrative = _narrative(snapshot, report)
    if with_charts:
        report.charts = _charts(report)
    return report


def _change(now: int, before: int) -> str:
    if before == 0:
        return "上期为零" if now else "与上期持平（均为零）"
    delta = (now - before) / before
    word = "增长" if delta > 0 else "下降" if delta < 0 else "持平"
    return f"{word} {abs(delta) * 100:.1f}%"


def _narrative(snapshot: Snapshot, report: Report) -> list[str]:
    """The first page in words, computed from the tables: totals per resource kind, change
    since the previous period, the key-county share, what is overdue, the auditor flags."""
    period = report.period
    out: list[str] = []
    made = [c for c in snapshot.commitments.values() if period.contains(c.block_time)]
    orgs = {snapshot.org_code(c.org) for c in made}
    counties = {c.county for c in made}
    parts = []
    for row in report.tables["totals"].rows:
        rk, unit = row.resource or (ResourceKind.FUNDS, "")
        if not row.cells["commitments_period"] and not row.cells["delivered_period"]:
            continue
        kind = RESOURCE_ZH.get(rk, str(rk)).split(" ")[0]
        parts.append(
            f"{kind}承诺 {display.amount(row.cells['committed_period'], rk, unit, large=True)}、"
            f"交付 {display.amount(row.cells['delivered_period'], rk, unit, large=True)}、"
            f"签收 {display.amount(row.cells['confirmed_period'], rk, unit, large=True)}"
        )
    out.append(
        f"本期（{period.start_date} 至 {period.last_date}）共有 {len(orgs)} 家社会组织向 "
        f"{len(counties)} 个县作出 {len(made)} 项帮扶承诺"
        + ("：" + "；".join(parts) + "。" if parts else "。")
        + "资金、物资与服务分别计量，不相加。"
    )
    if report.previous is not None:
        n, committed, delivered, _ = period_funds(snapshot, period)
        pn, pcommitted, pdelivered, _ = period_funds(snapshot, report.previous)
        out.append(
            f"与上期（{period_name(report.previous)}）相比：承诺 {n} 项（上期 {pn} 项）；"
            f"承诺资金 {display.wan(committed)}（上期 {display.wan(pcommitted)}，"
            f"{_change(committed, pcommitted)}）；交付资金 {display.wan(delivered)}"
            f"（上期 {display.wan(pdelivered)}，{_change(delivered, pdelivered)}）。"
        )
    if report.key_counties:
        funds = [c for c in made if c.resource_kind == ResourceKind.FUNDS]
        total = sum(c.quantity for c in funds)
        key = sum(c.quantity for c in funds if c.county in report.key_counties)
        n_key = sum(1 for c in made if c.county in report.key_counties)
        share = f"{100 * key / total:.1f}%" if total else "—"
        out.append(
            f"重点帮扶县：本期 {n_key} 项承诺（共 {len(made)} 项）投向重点帮扶县，"
            f"承诺资金 {display.wan(key)}，占本期承诺资金的 {share}。"
        )
    else:
        out.append("重点帮扶县：未提供重点帮扶县名单，未计算占比。")
    overdue = report.tables["overdue"].rows
    if overdue:
        names = "、".join(
            f"{r.cells['org']}（《{r.cells['need']}》，"
            f"到期 {display.beijing_date(r.cells['due'])}）"
            for r in overdue[:3]
        )
        more = f"等 {len(overdue)} 项" if len(overdue) > 3 else f"共 {len(overdue)} 项"
        out.append(f"逾期：截至 {report.as_of_text}，{names}{more}承诺已过到期日仍未交付完毕。")
    else:
        out.append(f"逾期：截至 {report.as_of_text}，没有逾期未交付的承诺。")
    flags = report.tables["flags"].rows
    unreceipted = anomaly_count(report.tables["anomalies"], "unreceipted")
    shortfall = anomaly_count(report.tables["anomalies"], "shortfall")
    if flags:
        reasons: dict[str, int] = defaultdict(int)
        for r in flags:
            reasons[str(r.cells["reason"]).split(" ")[0]] += 1
        listed = "、".join(f"{k} {v} 条" for k, v in sorted(reasons.items()))
        out.append(f"审计标记：本期审计员标记 {len(flags)} 条记录（{listed}）。")
    else:
        out.append("审计标记：本期没有审计员标记。")
    out.append(
        f"其他异常：交付满 {UNRECEIPTED_DAYS} 天未签收 {unreceipted} 笔，签收少于交付 "
        f"{shortfall} 笔（截至 {report.as_of_text}）。"
    )
    return out


def _charts(report: Report) -> dict[str, tuple[bytes, str]]:
    from ledger.export import charts  # matplotlib is slow to import: only when charting

    out: dict[str, tuple[bytes, str]] = {}

    def series(rows: list[Row]) -> list[tuple[str, list[float]]]:
        return [
            (name, [int(r.cells[col]) / 1_000_000 for r in rows])
            for col, name in (
                ("committed", "承诺 committed"),
                ("delivered", "交付 delivered"),
                ("confirmed", "签收 confirmed"),
            )
        ]

    trend_rows = report.tables["trend"].rows
    out["trend"] = charts.trend(
        "资金月度趋势 Funds by month",
        [r.cells["month"] for r in trend_rows],
        series(trend_rows),
        unit="万元",
    )
    counties = report.tables["key_counties"].rows + report.tables["other_counties"].rows
    if counties:
        out["counties"] = charts.grouped_bars(
            "按县 By county（红色为重点帮扶县 red: key counties）",
            [str(r.cells["county"]).split("（")[0] for r in counties],
            series(counties),
            unit="万元",
            highlight=[r.highlight for r in counties],
        )
    cats = report.tables["categories"].rows
    if cats:
        out["categories"] = charts.grouped_bars(
            "按领域 By category",
            [str(r.cells["category"]).split(" ")[0] for r in cats],
            series(cats),
            unit="万元",
            horizontal=True,
        )
    orgs = report.tables["organizations"].rows[:15]
    if orgs:
        out["organizations"] = charts.grouped_bars(
            "按社会组织 By organization", [str(r.cells["org"]) for r in orgs], series(orgs),
            unit="万元", horizontal=True,
        )  # fmt: skip
    return out
