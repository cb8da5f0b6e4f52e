"""The periodic report's auditor flags and anomalies, measured at the report's as-of time:
overdue commitments, deliveries with no receipt after 30 days, receipts below their
delivery and what household follow-ups found; each record named in words (`Describer`).
The audit's full list is in `ledger.audit`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledger.core import display
from ledger.core.fields import FlagReason
from ledger.export.report_tables import ORG_COLUMN, Column, Row, Table
from ledger.export.snapshot import Period, Snapshot, county_label

UNRECEIPTED_DAYS = 30
FLAG_REASONS: dict[int, str] = {
    FlagReason.EVIDENCE_MISMATCH: "证据不符 evidence mismatch",
    FlagReason.LATE_DELIVERY: "交付逾期 late delivery",
    FlagReason.RECEIPT_SHORTFALL: "签收少于交付 receipt shortfall",
    FlagReason.DUPLICATE_BENEFICIARY: "受益人重复 duplicate beneficiary",
    FlagReason.DATA_TAMPERING: "数据篡改 data tampering",
    FlagReason.OTHER: "其他（见说明）other (see note)",
}


class Describer:
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


def flags_table(snapshot: Snapshot, period: Period, describe: Describer) -> Table:
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


def anomalies_table(
    snapshot: Snapshot, overdue: list[Any], as_of: int, describe: Describer
) -> Table:
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


def anomaly_count(anomalies: Table, kind: str) -> int:
    """How many rows of the anomalies table are of `kind` (overdue, unreceipted, shortfall
    or follow-up)."""
    return sum(1 for r in anomalies.rows if r.key.startswith(f"anomaly/{kind}/"))
