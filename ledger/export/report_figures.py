"""The periodic report's own figure tables, computed from the snapshot: totals per resource
kind, the monthly trend of funds, the flows by county (key counties apart), by category and
by organization, the needs still open and the overdue commitments.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ledger.core import display
from ledger.core.fields import CATEGORIES, CATEGORY_EN, ResourceKind
from ledger.core.lifecycle import STAGE_NAMES, Progress, stage
from ledger.export.report_periods import month_periods
from ledger.export.report_tables import (
    COMMITMENTS_COLUMN,
    COUNTY_CODE_COLUMN,
    COUNTY_COLUMN,
    CREDIT_CODE_COLUMN,
    NEED_COLUMN,
    ORG_COLUMN,
    Column,
    Row,
    Table,
)
from ledger.export.snapshot import Period, Snapshot, county_label
from ledger.store.queries.totals import Triple, tally

#: The resource kinds in words, as the totals and the narrative name them.
RESOURCE_ZH = {1: "资金 funds", 2: "物资 goods", 3: "服务 services"}


def _pct(num: int, den: int) -> float | None:
    return num / den if den else None


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


#: The columns of a group's flows (`_Agg.cells`), in every table of flows.
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


def totals_table(snapshot: Snapshot, period: Period) -> Table:
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


def trend_table(snapshot: Snapshot, period: Period) -> Table:
    """The monthly trend of funds: each month's flows (`month_periods`)."""
    trend_rows = []
    for label, month in month_periods(period):
        agg = _flows(snapshot, month, lambda c: 0).get(0, _Agg())
        trend_rows.append(Row(f"trend/{label}", {"month": label, **agg.cells()}, agg.records))
    return Table(
        "trend", "月度趋势（资金）Monthly trend (funds)",
        [Column("month", "月份", "month"), *GROUP_COLUMNS], trend_rows,
    )  # fmt: skip


def county_tables(snapshot: Snapshot, period: Period, keys: set[int]) -> dict[str, Table]:
    """The flows by county, key counties and the others in two tables."""
    tables: dict[str, Table] = {}
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
    return tables


def category_table(snapshot: Snapshot, period: Period) -> Table:
    """The flows by category (领域)."""
    cat_flows = _flows(snapshot, period, lambda c: c.category)
    return Table(
        "categories",
        "按领域 By category",
        [Column("category", "领域", "category"), *GROUP_COLUMNS],
        [
            Row(f"category/{k}", {"category": _category_name(k), **agg.cells()}, agg.records)
            for k, agg in sorted(cat_flows.items())
        ],
    )


def organization_table(snapshot: Snapshot, period: Period) -> Table:
    """The flows by organization, the largest commitment first."""
    org_flows = _flows(snapshot, period, lambda c: snapshot.org_code(c.org))
    return Table(
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


def open_needs_table(snapshot: Snapshot) -> Table:
    """The needs still open at the cut-off, with the status the portal and the API show."""
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
    return Table(
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


def overdue_commitments(snapshot: Snapshot, as_of: int) -> list[Any]:
    """The commitments due before `as_of` and not delivered in full by then."""
    return [
        c for c in snapshot.commitments.values() if c.due_date < as_of and c.delivered < c.quantity
    ]


def overdue_table(snapshot: Snapshot, overdue: list[Any], as_of: int) -> Table:
    """The overdue commitments (`overdue_commitments`), the earliest due first."""
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
    return Table(
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


def period_funds(snapshot: Snapshot, period: Period) -> tuple[int, int, int, int]:
    """(commitments, funds committed, delivered, confirmed) in the period."""
    agg = _flows(snapshot, period, lambda c: 0).get(0, _Agg())
    return agg.commitments, agg.committed, agg.delivered, agg.confirmed
