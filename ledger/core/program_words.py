"""The program records (kinds 7-15, docs/programs.md) in words: their fields and one-line
summary for `ledger.core.words.describe`, and the words for a follow-up's finding, a
grievance's answer, a fund's sponsor, a pairing's focus and a sample rate.
"""

from __future__ import annotations

from ledger.core import display, program_kinds
from ledger.core.fields import (
    CATEGORIES,
    CATEGORY_EN,
    FollowUpOutcome,
    GrievanceOutcome,
    SponsorKind,
)
from ledger.core.records import Record
from ledger.core.word_fields import UNKNOWN, FieldBuilder, Names, end_date_text

__all__ = [
    "FOLLOW_UP_OUTCOMES",
    "GRIEVANCE_OUTCOMES",
    "SPONSOR_WORDS",
    "focus_words",
    "program_words",
    "rate_words",
]

#: A follow-up visit's finding, a grievance's answer and a fund's sponsor, in words.
FOLLOW_UP_OUTCOMES: dict[int, tuple[str, str]] = {
    FollowUpOutcome.RECEIVED_IN_FULL: ("全部收到", "received in full"),
    FollowUpOutcome.RECEIVED_IN_PART: ("部分收到", "received in part"),
    FollowUpOutcome.NOT_RECEIVED: ("未收到", "not received"),
    FollowUpOutcome.HOUSEHOLD_NOT_FOUND: ("查无此户", "household not found"),
}
GRIEVANCE_OUTCOMES: dict[int, tuple[str, str]] = {
    GrievanceOutcome.UPHELD: ("申诉成立", "upheld"),
    GrievanceOutcome.PARTLY_UPHELD: ("部分成立", "partly upheld"),
    GrievanceOutcome.NOT_UPHELD: ("申诉不成立", "not upheld"),
}
SPONSOR_WORDS: dict[int, tuple[str, str]] = {
    SponsorKind.COMPANY: ("企业", "company"),
    SponsorKind.INDIVIDUAL: ("个人", "individual"),
}
YES_NO = {True: ("是", "yes"), False: ("否", "no")}


def _period(start: int, end: int) -> tuple[str, str]:
    return (
        f"{end_date_text(start)} 至 {end_date_text(end)}",
        f"{end_date_text(start)} to {end_date_text(end)}",
    )


def focus_words(mask: int) -> tuple[str, str]:
    """A pairing's focus categories (bit c-1 for category c) in words."""
    picked = [c for c in range(1, len(CATEGORIES) + 1) if mask >> (c - 1) & 1]
    if not picked or mask >> len(CATEGORIES):
        return UNKNOWN
    return (
        "、".join(CATEGORIES[c - 1] for c in picked),
        ", ".join(CATEGORY_EN[c - 1] for c in picked),
    )


def rate_words(bps: int) -> str:
    """Basis points as a percentage: 1000 → 10.00%."""
    return f"{bps // 100}.{bps % 100:02d}%"


def program_words(
    rec: Record, b: FieldBuilder, names: Names, who_zh: str, who_en: str
) -> tuple[str, str] | None:
    """The fields and the summary of a program record (docs/programs.md)."""
    if isinstance(rec, program_kinds.Pairing):
        county = names.county(rec.county)
        b.add("county", ("结对县", "County"), county, signed=False, raw=rec.county)
        period = _period(rec.start_date, rec.end_date)
        b.add("period", ("结对期限", "Period"), period, raw=f"{rec.start_date}-{rec.end_date}")
        b.add("focus", ("重点领域", "Focus"), focus_words(rec.categories), raw=rec.categories)
        target = display.yuan(rec.funds_target)
        b.add("funds_target", ("资金目标", "Funds target"), target, raw=rec.funds_target)
        projects = display.count(rec.projects_target)
        b.add(
            "projects_target",
            ("项目目标", "Projects target"),
            (f"{projects} 个", projects),
            raw=rec.projects_target,
        )
        hours = display.count(rec.hours_target)
        b.add(
            "hours_target",
            ("服务时长目标", "Service hours target"),
            (f"{hours} 小时", f"{hours} hours"),
            raw=rec.hours_target,
        )
        b.add("designated", ("定点帮扶", "Designated"), YES_NO[bool(rec.designated)])
        return (
            f"{who_zh} 提出与 {county[0]} 结对帮扶（{period[0]}）",
            f"{who_en} proposes to pair with {county[1]} ({period[1]})",
        )
    if isinstance(rec, program_kinds.PairingAcceptance):
        b.record("pairing", ("所接受的结对", "Pairing accepted"), rec.pairing_id)
        county = names.county(rec.county)
        b.add("county", ("结对县", "County"), county, signed=False, raw=rec.county)
        return f"{who_zh} 接受结对帮扶", f"{who_en} accepts the pairing"
    if isinstance(rec, program_kinds.Fund):
        b.add("fund", ("基金名称", "Fund"), rec.name)
        sponsor = SPONSOR_WORDS.get(rec.sponsor_kind, UNKNOWN)
        b.add("sponsor_kind", ("出资方", "Sponsor"), sponsor, raw=rec.sponsor_kind)
        shown = ("公开", "public") if rec.sponsor_public else ("不公开", "not public")
        b.add("sponsor_public", ("出资方名称", "Sponsor's name"), shown)
        pledged = display.yuan(rec.pledged)
        b.add("pledged", ("认捐金额", "Pledged"), pledged, raw=rec.pledged)
        return (
            f"{who_zh} 设立专项基金「{rec.name}」，认捐 {pledged}",
            f"{who_en} opens the special fund “{rec.name}”, {pledged} pledged",
        )
    if isinstance(rec, program_kinds.FundContribution):
        b.record("fund", ("基金", "Fund"), rec.fund_id)
        amount = display.yuan(rec.amount)
        b.add("amount", ("到账金额", "Received"), amount, raw=rec.amount)
        day = end_date_text(rec.received_date)
        b.add("received_date", ("到账日期", "Received on"), day, raw=rec.received_date)
        return f"{who_zh} 记录基金到账 {amount}", f"{who_en} records {amount} received"
    if isinstance(rec, program_kinds.CommitmentSource):
        b.commitment(rec.commitment_id)
        if rec.pairing_id != bytes(32):
            b.record("pairing", ("所属结对", "Pairing"), rec.pairing_id)
        if rec.fund_id != bytes(32):
            b.record("fund", ("动用基金", "Fund drawn on"), rec.fund_id)
            amount = display.yuan(rec.fund_amount)
            b.add("fund_amount", ("动用金额", "Amount drawn"), amount, raw=rec.fund_amount)
            return f"{who_zh} 从专项基金动用 {amount}", f"{who_en} draws {amount} on a fund"
        return f"{who_zh} 注明承诺所属结对", f"{who_en} names the pairing a commitment serves"
    if isinstance(rec, program_kinds.FollowUpRound):
        b.record("batch", ("回访批次", "Batch"), rec.batch_id)
        county = names.county(rec.county)
        b.add("county", ("县", "County"), county, signed=False, raw=rec.county)
        seed = display.count(rec.seed_block)
        b.add(
            "seed_block",
            ("抽样种子区块", "Seed block"),
            (f"第 {seed} 块", f"block {seed}"),
            raw=rec.seed_block,
        )
        rate = rate_words(rec.rate_bps)
        b.add("rate", ("抽样比例", "Sample rate"), rate, raw=rec.rate_bps)
        return (
            f"{who_zh} 开展回访，抽取 {rate}",
            f"{who_en} opens a follow-up round sampling {rate}",
        )
    if isinstance(rec, program_kinds.FollowUp):
        b.record("round", ("回访轮次", "Round"), rec.round_id)
        line = display.count(rec.line_index + 1)
        b.add("line", ("批次行", "Line"), (f"第 {line} 行", f"line {line}"), raw=rec.line_index)
        outcome = FOLLOW_UP_OUTCOMES.get(rec.outcome, UNKNOWN)
        b.add("outcome", ("回访结果", "Finding"), outcome, raw=rec.outcome)
        if rec.quantity:
            got = display.count(rec.quantity)
            b.add("quantity", ("实收数量", "Received"), got, raw=rec.quantity)
        return f"{who_zh} 回访：{outcome[0]}", f"{who_en} follows up: {outcome[1]}"
    if isinstance(rec, program_kinds.Grievance):
        b.project("project", ("申诉项目", "Project"), rec.project_id)
        if rec.record_id != bytes(32):
            b.record("record", ("所涉记录", "Record concerned"), rec.record_id)
        b.time("filed_at", ("提交时间", "Filed at"), rec.filed_at)
        return f"{who_zh} 登记申诉", f"{who_en} registers a grievance"
    if isinstance(rec, program_kinds.GrievanceAnswer):
        b.record("grievance", ("所答复的申诉", "Grievance"), rec.grievance_id)
        outcome = GRIEVANCE_OUTCOMES.get(rec.outcome, UNKNOWN)
        b.add("outcome", ("答复结论", "Answer"), outcome, raw=rec.outcome)
        return f"{who_zh} 答复申诉：{outcome[0]}", f"{who_en} answers a grievance: {outcome[1]}"
    return None
