"""The fund and grievance programs' tables in the periodic report (issue 18,
docs/programs.md): each special fund at the cut-off, and the grievances filed in the period
by county and by organization with their response times. `ledger.export.sections` makes
them report sections.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.core import display
from ledger.export.report_tables import (
    COUNTY_CODE_COLUMN,
    COUNTY_COLUMN,
    CREDIT_CODE_COLUMN,
    ORG_COLUMN,
    Column,
    Row,
    Table,
)
from ledger.export.snapshot import Period, Snapshot, county_label
from ledger.store.queries.fund import pro_rata
from ledger.store.queries.grievance import ResponseRow, response_times
from ledger.store.queries.orgs import org_names

# ---------------------------------------------------------------- special funds (专项基金)


def special_funds_table(snapshot: Snapshot) -> Table:
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
