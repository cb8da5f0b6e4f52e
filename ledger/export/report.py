"""The periodic report (定期报告): totals and trends, by county (key counties apart), by
category and by organization, open needs, overdue commitments and anomalies, with charts;
`ledger.export.report_files` writes it as HTML and PDF, every table as CSV and XLSX, and a
provenance appendix.

Provenance (docs/reports.md §3): every table row names the record ids behind it; the
report gives the log size and root at the cut-off (the period's end), so each id can be
proven into that root with an inclusion proof, and each row's ids have a Merkle root too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ledger.core import display
from ledger.core.errors import LedgerError
from ledger.core.fields import BEIJING, CATEGORIES, CATEGORY_EN, FlagReason, ResourceKind
from ledger.core.lifecycle import STAGE_NAMES, Progress, stage
from ledger.export.snapshot import Period, Snapshot, county_label, records_root
from ledger.store.queries.fund import pro_rata
from ledger.store.queries.grievance import ResponseRow, response_times
from ledger.store.queries.orgs import org_names
from ledger.store.queries.totals import Triple, tally

TEMPLATES = Path(__file__).parent / "templates"
UNRECEIPTED_DAYS = 30
RESOURCE_ZH = {1: "资金 funds", 2: "物资 goods", 3: "服务 services"}
FLAG_REASONS: dict[int, str] = {
    FlagReason.EVIDENCE_MISMATCH: "证据不符 evidence mismatch",
    FlagReason.LATE_DELIVERY: "交付逾期 late delivery",
    FlagReason.RECEIPT_SHORTFALL: "签收少于交付 receipt shortfall",
    FlagReason.DUPLICATE_BENEFICIARY: "受益人重复 duplicate beneficiary",
    FlagReason.DATA_TAMPERING: "数据篡改 data tampering",
    FlagReason.OTHER: "其他（见说明）other (see note)",
}


def _pct(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class Column:
    """A table column: its bilingual header and how its cells read.

    kind: text; count (an integer); yuan or wan (fen, read as ¥ or 万元); qty (a quantity in
    the row's resource kind and unit); pct (a ratio 0..1); date (unix seconds, read as the
    Beijing date). `pdf` False keeps a copyable detail (a code or id) to the XLSX and CSV.
    """

    key: str
    zh: str
    en: str
    kind: str = "text"
    pdf: bool = True

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"

    @property
    def numeric(self) -> bool:
        return self.kind in ("count", "yuan", "wan", "qty", "pct")


@dataclass
class Row:
    """One figure row of a table: its cells and the record ids it is computed from.

    Cells hold the values, not their text (fen for money, unix seconds for times); `text`
    formats a cell for a reader and `resource` gives the kind and unit of qty cells."""

    key: str
    cells: dict[str, Any]
    records: set[str] = field(default_factory=set)
    resource: tuple[int, str] | None = None
    highlight: bool = False

    @property
    def records_root(self) -> str:
        return records_root(self.records)

    def text(self, col: Column) -> str:
        return format_cell(col, self)


def format_cell(col: Column, row: Row) -> str:
    """A cell as a reader sees it, through ledger.core.display."""
    value = row.cells.get(col.key)
    if value is None or value == "":
        return display.NONE if col.numeric or col.kind == "date" else ""
    if col.kind == "count":
        return display.count(int(value))
    if col.kind == "yuan":
        return display.yuan(int(value))
    if col.kind == "wan":
        return display.wan(int(value))
    if col.kind == "qty":
        rk, unit = row.resource or (ResourceKind.FUNDS, "")
        return display.amount(int(value), rk, unit, large=True)
    if col.kind == "pct":
        return f"{100 * float(value):.1f}%"
    if col.kind == "date":
        return display.beijing_date(int(value))
    return str(value)


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[Row]
    note: str = ""

    @property
    def pdf_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pdf]


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


def period_name(period: Period) -> str:
    """The period in Chinese: 2030年第三季度, 2030年上半年, 2030年7月, 2030年度."""
    label = period.label
    m = re.fullmatch(r"(\d{4})(?:-(Q[1-4]|H[12]|\d{2}))?", label)
    if not m:
        return f"{period.start_date} 至 {period.last_date}" if label != "all" else "截至目前"
    year, part = m.group(1), m.group(2) or ""
    if not part:
        return f"{year}年度"
    if part.startswith("Q"):
        return f"{year}年第{'一二三四'[int(part[1]) - 1]}季度"
    if part.startswith("H"):
        return f"{year}年{'上下'[int(part[1]) - 1]}半年"
    return f"{year}年{int(part)}月"


def previous_period(period: Period) -> Period | None:
    """The period of the same length just before: the last quarter for a quarter, the last
    month for a month; None for `all`."""
    if period.start <= 0:
        return None
    first = datetime.fromtimestamp(period.start, BEIJING).date()
    stop = datetime.fromtimestamp(period.end, BEIJING).date()
    m = re.fullmatch(r"(\d{4})(?:-(Q[1-4]|H[12]|\d{2}))?", period.label)
    if first.day == 1 and stop.day == 1:
        months = (stop.year - first.year) * 12 + stop.month - first.month
        index = first.year * 12 + first.month - 1 - months
        start = date(index // 12, index % 12 + 1, 1)
        if m and m.group(2):
            part = m.group(2)
            if part.startswith("Q"):
                label = f"{start.year}-Q{(start.month - 1) // 3 + 1}"
            elif part.startswith("H"):
                label = f"{start.year}-H{(start.month - 1) // 6 + 1}"
            else:
                label = f"{start.year}-{start.month:02d}"
        elif m:
            label = str(start.year)
        else:
            label = f"{start.isoformat()}..{(first - timedelta(days=1)).isoformat()}"
    else:
        start = first - (stop - first)
        label = f"{start.isoformat()}..{(first - timedelta(days=1)).isoformat()}"
    begin = int(datetime(start.year, start.month, start.day, tzinfo=BEIJING).timestamp())
    return Period(label, begin, period.start)


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
            "committed": self.committed,
            "delivered": self.delivered,
            "confirmed": self.confirmed,
            "confirmed_share": _pct(self.confirmed, self.delivered),
        }


#: Columns several tables show (the report's own and the programs' sections), declared once
#: so that the same figure has the same header in every table.
ORG_COLUMN = Column("org", "社会组织", "organization")
CREDIT_CODE_COLUMN = Column("code", "统一社会信用代码", "credit code", pdf=False)
COUNTY_COLUMN = Column("county", "县（地市）", "county")
COUNTY_CODE_COLUMN = Column("code", "区划代码", "county code", pdf=False)
NEED_COLUMN = Column("need", "需求项目", "need")
COMMITMENTS_COLUMN = Column("commitments", "承诺数", "commitments", "count")

GROUP_COLUMNS = [
    COMMITMENTS_COLUMN,
    Column("in_kind", "其中实物/服务", "in kind", "count"),
    Column("committed", "承诺资金", "funds committed", "wan"),
    Column("delivered", "交付资金", "funds delivered", "wan"),
    Column("confirmed", "签收资金", "funds confirmed", "wan"),
    Column("confirmed_share", "签收率", "confirmed share", "pct"),
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


def _totals(snapshot: Snapshot, period: Period) -> Table:
    """Totals per resource kind and unit (the read model's grouping, `tally`), in the period
    and to the cut-off: funds, goods and services are never added together."""
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
    rows: list[Row] = []
    for t in tally(to_date):
        rk, unit, all_time = t.resource_kind, t.unit, t.amounts
        now = made.get((rk, unit), Triple())
        rows.append(
            Row(
                f"totals/{rk}/{unit or '-'}",
                {
                    "resource": RESOURCE_ZH.get(rk, str(rk)),
                    "unit": display.unit_of(rk, unit),
                    "commitments_period": now.commitments,
                    "committed_period": now.committed,
                    "delivered_period": now.delivered,
                    "confirmed_period": now.confirmed,
                    "commitments_total": all_time.commitments,
                    "committed_total": all_time.committed,
                    "delivered_total": all_time.delivered,
                    "confirmed_total": all_time.confirmed,
                    "fulfilment_total": _pct(
                        min(all_time.delivered, all_time.committed), all_time.committed
                    ),
                },
                behind[(rk, unit)],
                resource=(rk, unit),
            )
        )
    return Table(
        "totals",
        "总量（按资源类型，不相加）Totals by resource kind, never added together",
        [
            Column("resource", "类型", "kind"),
            Column("unit", "单位", "unit"),
            Column("commitments_period", "本期承诺数", "commitments", "count"),
            Column("committed_period", "本期承诺", "committed", "qty"),
            Column("delivered_period", "本期交付", "delivered", "qty"),
            Column("confirmed_period", "本期签收", "confirmed", "qty"),
            Column("commitments_total", "累计承诺数", "to date", "count"),
            Column("committed_total", "累计承诺", "committed to date", "qty"),
            Column("delivered_total", "累计交付", "delivered to date", "qty"),
            Column("confirmed_total", "累计签收", "confirmed to date", "qty"),
            Column("fulfilment_total", "累计完成率", "fulfilment", "pct"),
        ],
        rows,
    )


def _need_stage(snapshot: Snapshot, need_id: str, cs: list[Any]) -> str:
    """The need's status by the one lifecycle rule (ledger.core.lifecycle)."""
    need = snapshot.needs.get(need_id)
    progress = Progress(
        matched=bool(need and need.matched) or bool(cs),
        commitments=len(cs),
        fulfilled=sum(1 for c in cs if c.fully_delivered and c.confirmed >= c.quantity),
    )
    return stage("published", progress)


#: A program's section (issue 18, docs/programs.md): more tables computed from the snapshot
#: (and what its caller read beside it at the same cut-off), put after the report's own. The
#: one way a program adds to the report: `ledger.export.sections.program_sections` lists them
#: all (pairing, special funds, grievances); `special_funds_section` needs the snapshot alone.
ReportSection = Callable[[Snapshot, Period, set[int]], dict[str, "Table"]]


def special_funds_section(snapshot: Snapshot, period: Period, keys: set[int]) -> dict[str, Table]:
    """The fund program's section (`ReportSection`): the special funds at the cut-off."""
    return {"special_funds": _special_funds(snapshot)}


def tables_section(tables: Iterable[Table]) -> ReportSection:
    """A section of tables read beforehand, for the period the caller read them for."""
    fixed = {t.name: t for t in tables}

    def section(snapshot: Snapshot, period: Period, keys: set[int]) -> dict[str, Table]:
        return fixed

    return section


def grievance_section(
    session: Session, period: Period, province: int | None = None
) -> ReportSection:
    """The grievance program's section (`ReportSection`) of `period`: `grievance_tables`,
    read now from `session`."""
    return tables_section(grievance_tables(session, period, province))


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
    tables: dict[str, Table] = {"totals": _totals(snapshot, period)}

    # -- monthly trend of funds
    trend_rows = []
    for label, month in _months(period):
        agg = _flows(snapshot, month, lambda c: 0).get(0, _Agg())
        trend_rows.append(Row(f"trend/{label}", {"month": label, **agg.cells()}, agg.records))
    tables["trend"] = Table(
        "trend", "月度趋势（资金）Monthly trend (funds)",
        [Column("month", "月份", "month"), *GROUP_COLUMNS], trend_rows,
    )  # fmt: skip

    # -- by county, key counties apart
    county_flows = _flows(snapshot, period, lambda c: c.county)
    for name, title, wanted in (
        ("key_counties", "重点帮扶县 Key counties", True),
        ("other_counties", "其他县 Other counties", False),
    ):
        rows = [
            Row(
                f"county/{k}",
                {"county": county_label(k), "code": k, **agg.cells()},
                agg.records,
                highlight=wanted,
            )
            for k, agg in sorted(county_flows.items(), key=lambda kv: (-kv[1].committed, kv[0]))
            if (k in keys) == wanted
        ]
        tables[name] = Table(
            name, f"按县 By county — {title}",
            [Column("county", "县（地市）", "county (prefecture)"), *GROUP_COLUMNS,
             COUNTY_CODE_COLUMN],
            rows, "" if keys else "未提供重点帮扶县名单 no key-county list was given",
        )  # fmt: skip

    cat_flows = _flows(snapshot, period, lambda c: c.category)
    tables["categories"] = Table(
        "categories",
        "按领域 By category",
        [Column("category", "领域", "category"), *GROUP_COLUMNS],
        [
            Row(f"category/{k}", {"category": _category_name(k), **agg.cells()}, agg.records)
            for k, agg in sorted(cat_flows.items())
        ],
    )
    org_flows = _flows(snapshot, period, lambda c: snapshot.org_code(c.org))
    tables["organizations"] = Table(
        "organizations",
        "按社会组织 By organization",
        [ORG_COLUMN, *GROUP_COLUMNS, CREDIT_CODE_COLUMN],
        [
            Row(
                f"org/{k}",
                {"org": snapshot.org_names.get(k, (k, None))[0], "code": k, **agg.cells()},
                agg.records,
            )
            for k, agg in sorted(org_flows.items(), key=lambda kv: (-kv[1].committed, kv[0]))
        ],
    )

    # -- needs still open at the cut-off, with the status the portal and the API show
    by_need: dict[str, list[Any]] = defaultdict(list)
    for c in snapshot.commitments.values():
        by_need[c.need_id].append(c)
    open_rows = []
    for need in sorted(snapshot.needs.values(), key=lambda n: (n.county, n.block_time)):
        cs = by_need.get(need.project_id, [])
        status = _need_stage(snapshot, need.project_id, cs)
        if status == "completed":
            continue
        zh, en = STAGE_NAMES.get(status, (status, status))
        open_rows.append(
            Row(
                f"need/{need.project_id}",
                {
                    "need": snapshot.need_title(need.project_id),
                    "county": county_label(need.county),
                    "category": _category_name(need.category),
                    "since": need.block_time,
                    "commitments": len(cs),
                    "status": f"{zh} {en}",
                    "project_id": need.project_id,
                },
                set(need.anchor_ids) | {c.record_id for c in cs},
            )
        )
    tables["open_needs"] = Table(
        "open_needs",
        "尚未完成的需求 Needs still open",
        [
            NEED_COLUMN,
            COUNTY_COLUMN,
            Column("category", "领域", "category"),
            Column("since", "发布日期", "published", "date"),
            COMMITMENTS_COLUMN,
            Column("status", "状态", "status"),
            Column("project_id", "项目编号", "project id", pdf=False),
        ],
        open_rows,
    )

    # -- overdue commitments (due before the as-of time, not delivered in full)
    overdue = [
        c for c in snapshot.commitments.values() if c.due_date < as_of and c.delivered < c.quantity
    ]
    overdue_rows = []
    for c in sorted(overdue, key=lambda c: c.due_date):
        overdue_rows.append(
            Row(
                f"overdue/{c.record_id}",
                {
                    "need": snapshot.need_title(c.need_id),
                    "org": snapshot.org_name(c.org),
                    "county": county_label(c.county),
                    "due": c.due_date,
                    "committed": c.quantity,
                    "delivered": c.delivered,
                    "unit": display.unit_of(c.resource_kind, c.unit),
                    "commitment": c.record_id,
                },
                {c.record_id, *c.delivery_ids},
                resource=(c.resource_kind, c.unit),
            )
        )
    tables["overdue"] = Table(
        "overdue",
        f"逾期承诺 Overdue commitments — 截至 {display.beijing_time(as_of)} {display.TZ_LABEL}",
        [
            NEED_COLUMN,
            ORG_COLUMN,
            COUNTY_COLUMN,
            Column("due", "到期日", "due", "date"),
            Column("committed", "承诺", "committed", "qty"),
            Column("delivered", "已交付", "delivered", "qty"),
            Column("unit", "单位", "unit", pdf=False),
            Column("commitment", "承诺编号", "commitment id", pdf=False),
        ],
        overdue_rows,
    )
    describe = _Describer(snapshot)
    tables["flags"] = _flags(snapshot, period, describe)
    tables["anomalies"] = _anomalies(snapshot, overdue, as_of, describe)
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


class _Describer:
    """Records in words: what each is, whose, for which need, when (indexes built once)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.deliveries: dict[str, Any] = {}
        self.receipts: dict[str, Any] = {}
        for d in snapshot.deliveries:
            self.deliveries.setdefault(d.record_id, d)
            if d.receipt_id:
                self.receipts[d.receipt_id] = d
        self.anchors = {a: n.project_id for n in snapshot.needs.values() for a in n.anchor_ids}

    def _towards(self, c: Any, quantity: int) -> str:
        """Who gives what to which need: `quantity` of commitment `c`'s kind and unit."""
        snap = self.snapshot
        return (
            f"{snap.org_name(c.org)} → 《{snap.need_title(c.need_id)}》 "
            f"{display.amount(quantity, c.resource_kind, c.unit)}"
        )

    def __call__(self, record_id: str) -> str:
        snap = self.snapshot
        c = snap.commitments.get(record_id)
        if c is not None:
            return f"承诺 commitment：{self._towards(c, c.quantity)}"
        d = self.deliveries.get(record_id)
        if d is not None:
            c = snap.commitments[d.commitment_id]
            return (
                f"交付 delivery：{self._towards(c, d.quantity)}，"
                f"{display.beijing_date(d.block_time)}"
            )
        d = self.receipts.get(record_id)
        if d is not None:
            c = snap.commitments[d.commitment_id]
            return (
                f"签收 receipt：{county_label(c.county)} 签收 "
                f"{display.amount(d.confirmed or 0, c.resource_kind, c.unit)}"
                f"（交付 {display.amount(d.quantity, c.resource_kind, c.unit)}），"
                f"《{snap.need_title(c.need_id)}》"
            )
        if record_id in self.anchors:
            return f"需求项目发布 need published：《{snap.need_title(self.anchors[record_id])}》"
        return "本报告范围外的记录 a record outside this report's scope"


def _flags(snapshot: Snapshot, period: Period, describe: _Describer) -> Table:
    """The auditor flags signed in the period, on the records in scope."""
    owner = snapshot.record_owner()
    rows = []
    for f in snapshot.flags:
        if not period.contains(f.block_time) or f.target_id not in owner:
            continue
        rows.append(
            Row(
                f"flag/{f.record_id}",
                {
                    "when": f.block_time,
                    "reason": FLAG_REASONS.get(f.reason_code, f"原因代码 reason {f.reason_code}"),
                    "org": snapshot.org_name(owner[f.target_id]),
                    "target": describe(f.target_id),
                    "flag": f.record_id,
                    "target_id": f.target_id,
                },
                {f.record_id, f.target_id},
            )
        )
    return Table(
        "flags",
        "审计标记 Auditor flags（本期 in period）",
        [
            ORG_COLUMN,
            Column("reason", "原因", "reason"),
            Column("when", "日期", "date", "date"),
            Column("target", "被标记的记录", "record flagged"),
            Column("flag", "标记编号", "flag id", pdf=False),
            Column("target_id", "记录编号", "record id", pdf=False),
        ],
        rows,
    )


#: Follow-up outcomes that are findings, in words (1, received in full, is not one).
FOLLOW_UP_FINDINGS = {
    2: "回访：部分收到 follow-up: received in part",
    3: "回访：未收到 follow-up: not received",
    4: "回访：查无此户 follow-up: household not found",
}


def _anomaly(
    kind: str, record: str, kind_text: str, what: str, detail: str, records: set[str]
) -> Row:
    """One row of the anomalies table: what kind (its key and words), the record it is about
    (`what` says it in words), what was found, and the records behind it."""
    return Row(
        f"anomaly/{kind}/{record}",
        {"kind": kind_text, "what": what, "detail": detail, "record": record},
        records,
    )


def _anomalies(snapshot: Snapshot, overdue: list[Any], as_of: int, describe: _Describer) -> Table:
    """The simple anomalies the read model shows (the audit's full list is in ledger.audit),
    measured at `as_of`: a delivery is "unreceipted" once 30 days have passed by then."""
    rows: list[Row] = []
    for c in overdue:
        rows.append(
            _anomaly(
                "overdue",
                c.record_id,
                "逾期未交付 overdue",
                describe(c.record_id),
                f"到期 due {display.beijing_date(c.due_date)}，已交付 delivered "
                f"{display.amount(c.delivered, c.resource_kind, c.unit)}",
                {c.record_id},
            )
        )
    shares: dict[str, int] = defaultdict(int)
    for d in snapshot.deliveries:
        shares[d.record_id] += 1
    limit = as_of - UNRECEIPTED_DAYS * 86400
    for d in snapshot.deliveries:
        if d.receipt_id is None and shares[d.record_id] == 1 and d.block_time <= limit:
            days = (as_of - d.block_time) // 86400
            rows.append(
                _anomaly(
                    "unreceipted",
                    d.record_id,
                    f"交付{UNRECEIPTED_DAYS}天未签收 no receipt after {UNRECEIPTED_DAYS} days",
                    describe(d.record_id),
                    f"交付于 delivered {display.beijing_date(d.block_time)}，已 {days} 天 days",
                    {d.record_id},
                )
            )
        if d.receipt_id is not None and (d.confirmed or 0) < d.quantity:
            c = snapshot.commitments[d.commitment_id]
            rows.append(
                _anomaly(
                    "shortfall",
                    d.receipt_id,
                    "签收少于交付 receipt below delivery",
                    describe(d.receipt_id),
                    f"{display.amount(d.confirmed or 0, c.resource_kind, c.unit)}"
                    f" < {display.amount(d.quantity, c.resource_kind, c.unit)}",
                    {d.receipt_id, d.record_id},
                )
            )
    # household follow-up (回访): what the county found on a sampled line
    for f in snapshot.follow_ups:
        if f.outcome in FOLLOW_UP_FINDINGS and f.block_time <= as_of:
            got = f"，收到 received {f.quantity}" if f.quantity else ""
            rows.append(
                _anomaly(
                    "follow-up",
                    f.record_id,
                    FOLLOW_UP_FINDINGS[f.outcome],
                    f"回访 follow-up：{county_label(f.county)} 回访 "
                    f"{snapshot.org_name(f.org)} 的交付批次第 {f.line_index} 行 line "
                    f"{f.line_index}",
                    f"{display.beijing_date(f.block_time)}{got}",
                    {f.record_id, f.round_id, f.batch_id},
                )
            )
    return Table(
        "anomalies",
        f"异常 Anomalies — 截至 {display.beijing_time(as_of)} {display.TZ_LABEL}",
        [
            Column("kind", "类型", "kind"),
            Column("what", "记录", "record"),
            Column("detail", "说明", "detail"),
            Column("record", "记录编号", "record id", pdf=False),
        ],
        rows,
    )


def _funds(snapshot: Snapshot, period: Period) -> tuple[int, int, int, int]:
    """(commitments, funds committed, delivered, confirmed) in the period."""
    agg = _flows(snapshot, period, lambda c: 0).get(0, _Agg())
    return agg.commitments, agg.committed, agg.delivered, agg.confirmed


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
        n, committed, delivered, _ = _funds(snapshot, period)
        pn, pcommitted, pdelivered, _ = _funds(snapshot, report.previous)
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
    anomalies = report.tables["anomalies"].rows
    unreceipted = sum(1 for r in anomalies if r.key.startswith("anomaly/unreceipted/"))
    shortfall = sum(1 for r in anomalies if r.key.startswith("anomaly/shortfall/"))
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


# ---------------------------------------------------------------- special funds (专项基金)


def _special_funds(snapshot: Snapshot) -> Table:
    """Each special fund at the cut-off: pledged → contributed → committed → delivered →
    confirmed (fen), delivered and confirmed pro rata to each drawing commitment's progress
    (docs/programs.md); the sponsor named only with consent."""
    rows = []
    for f in snapshot.funds.values():
        delivered = confirmed = 0
        records = {f.fund_id, *f.contribution_ids}
        for d in f.draws:
            records.add(d.record_id)
            c = snapshot.commitments.get(d.commitment_id)
            if c is not None:
                delivered += pro_rata(d.amount, c.delivered, c.quantity)
                confirmed += pro_rata(d.amount, c.confirmed, c.quantity)
        rows.append(
            Row(
                f"special_funds/{f.fund_id}",
                {
                    "fund": f.name,
                    "org": snapshot.org_name(f.org),
                    "sponsor": f.sponsor_text,
                    "pledged": f.pledged,
                    "contributed": f.contributed,
                    "committed": f.committed,
                    "delivered": delivered,
                    "confirmed": confirmed,
                    "fund_id": f.fund_id,
                },
                records,
            )
        )
    return Table(
        "special_funds",
        "专项基金 Special funds",
        [
            Column("fund", "基金", "fund"),
            Column("org", "设立组织", "organization"),
            Column("sponsor", "出资方", "sponsor"),
            Column("pledged", "认捐", "pledged", "yuan"),
            Column("contributed", "到账", "contributed", "yuan"),
            Column("committed", "已承诺", "committed", "yuan"),
            Column("delivered", "已交付", "delivered", "yuan"),
            Column("confirmed", "已签收", "confirmed", "yuan"),
            Column("fund_id", "基金编号", "fund id", pdf=False),
        ],
        rows,
        note="已交付、已签收按各承诺的进度比例计入（动用额 × 已交付/承诺量）。 Delivered and "
        "confirmed count pro rata to each drawing commitment's progress (drawn × delivered / "
        "committed).",
    )


# ------------------------------------------------------------------ grievances (申诉)

_GRIEVANCE_COLUMNS = [
    Column("filed", "申诉", "filed", "count"),
    Column("not_registered", "未登记", "not registered", "count"),
    Column("open", "未答复", "open", "count"),
    Column("answered", "已答复", "answered", "count"),
    Column("upheld", "成立", "upheld", "count"),
    Column("partly_upheld", "部分成立", "partly upheld", "count"),
    Column("to_register", "登记用时中位数（天）", "median days to register"),
    Column("to_answer", "答复用时中位数（天）", "median days to answer"),
    Column("slowest", "最长答复用时（天）", "longest days to answer"),
]


def _days(seconds: float | None) -> str:
    return display.NONE if seconds is None else f"{seconds / 86400:.1f}"


def _grievance_row(key: str, label: dict[str, Any], r: ResponseRow) -> Row:
    cells = {
        **label,
        **r.counts,
        "to_register": _days(r.to_register["median_s"]),
        "to_answer": _days(r.to_answer["median_s"]),
        "slowest": _days(r.to_answer["max_s"]),
    }
    return Row(key, cells, set(r.records))


def grievance_tables(session: Session, period: Period, province: int | None = None) -> list[Table]:
    """The report's grievance section: the grievances filed in the period, as they stood at
    its end, per county and per organization (the one whose commitment, delivery or receipt
    a grievance names) — counts and response times, filed → registered → answered
    (`grievance_section` makes it a report section); its rows name the registration and
    answer ids."""
    by_county, by_org = response_times(session, period.start, period.end, province)
    names = org_names(session)
    county_rows = [
        _grievance_row(
            f"grievance-county/{r.key}", {"county": county_label(r.key), "code": r.key}, r
        )
        for r in by_county
    ]
    org_rows = [
        _grievance_row(
            f"grievance-org/{r.key}",
            {"org": names.get(r.key, (r.key, None))[0], "code": r.key},
            r,
        )
        for r in by_org
    ]
    return [
        Table(
            "grievances_by_county",
            "申诉：按县 Grievances by county",
            [COUNTY_COLUMN, *_GRIEVANCE_COLUMNS, COUNTY_CODE_COLUMN],
            county_rows,
            "公众提交，县乡村振兴部门在链上登记并答复；未登记的也计入。 Filed by the public, "
            "registered and answered on chain by the county office; those not registered yet "
            "are counted too.",
        ),
        Table(
            "grievances_by_org",
            "申诉：按社会组织 Grievances by organization",
            [ORG_COLUMN, *_GRIEVANCE_COLUMNS, CREDIT_CODE_COLUMN],
            org_rows,
            "按申诉所涉记录（承诺、交付、签收）所属的组织计。 Counted for the organization whose "
            "commitment, delivery or receipt the grievance names.",
        ),
    ]
