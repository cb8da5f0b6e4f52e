"""A record in words: each field of a signed record as a person reads it — who signed it (role
and registered name), what it is, how much, for which need, when — with Chinese labels and
English beside. The tx page, the verify page and the proof bundle's `display` section all take
their words from `describe`; the browser verifier (web/verifier.js) says the same from the
bytes it checks.

This module is pure: the names (registrations, project titles, the commitment a delivery
draws on) come in a `Names` (`ledger.core.word_fields`) that
`ledger.store.queries.words.names_for` reads from the read model. What the record's own
bytes say is marked `signed`; what only the names say is not: a reader must not take a
server's name for something the signature covers. The program records' words are in
`ledger.core.program_words`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ledger.core import display
from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, Flag, ProjectAnchor, Receipt
from ledger.core.fields import (
    CATEGORIES,
    CATEGORY_EN,
    FlagReason,
    ProjectKind,
    ResourceKind,
    from_text32,
)
from ledger.core.hexes import hex0x
from ledger.core.program_words import program_words
from ledger.core.records import Kind, SignedRecord
from ledger.core.word_fields import UNKNOWN, Field, FieldBuilder, Names, end_date_text

__all__ = [
    "DISPLAY_NOTE",
    "FLAG_REASONS",
    "KIND_WORDS",
    "PROJECT_KIND_WORDS",
    "RESOURCE_WORDS",
    "RecordWords",
    "bundle_display",
    "describe",
]

#: Record kinds in words (Chinese, English), numbered as on chain.
KIND_WORDS: dict[int, tuple[str, str]] = {
    Kind.PROJECT_ANCHOR: ("项目登记", "project record"),
    Kind.COMMITMENT: ("承诺", "commitment"),
    Kind.DELIVERY: ("交付", "delivery"),
    Kind.RECEIPT: ("签收", "receipt"),
    Kind.FLAG: ("审计标记", "audit flag"),
    Kind.DELIVERY_BATCH: ("批量交付", "delivery batch"),
    Kind.PAIRING: ("结对帮扶", "pairing"),
    Kind.PAIRING_ACCEPTANCE: ("结对接受", "pairing accepted"),
    Kind.FUND: ("专项基金", "special fund"),
    Kind.FUND_CONTRIBUTION: ("基金到账", "fund contribution"),
    Kind.COMMITMENT_SOURCE: ("承诺来源", "commitment source"),
    Kind.FOLLOW_UP_ROUND: ("回访轮次", "follow-up round"),
    Kind.FOLLOW_UP: ("回访结果", "follow-up result"),
    Kind.GRIEVANCE: ("申诉登记", "grievance registered"),
    Kind.GRIEVANCE_ANSWER: ("申诉答复", "grievance answer"),
}
RESOURCE_WORDS: dict[int, tuple[str, str]] = {
    ResourceKind.FUNDS: ("资金", "funds"),
    ResourceKind.GOODS: ("物资", "goods"),
    ResourceKind.SERVICE: ("服务", "services"),
}
PROJECT_KIND_WORDS: dict[int, tuple[str, str]] = {
    ProjectKind.NEED: ("需求项目", "need"),
    ProjectKind.SUPPLY: ("供给项目", "supply offer"),
}
#: An auditor's reason codes in words.
FLAG_REASONS: dict[int, tuple[str, str]] = {
    FlagReason.EVIDENCE_MISMATCH: ("证据与记录不符", "evidence does not match the record"),
    FlagReason.LATE_DELIVERY: ("逾期交付", "late delivery"),
    FlagReason.RECEIPT_SHORTFALL: ("签收数量不足", "receipt short of the delivery"),
    FlagReason.DUPLICATE_BENEFICIARY: ("受益人重复", "duplicate beneficiary"),
    FlagReason.DATA_TAMPERING: ("数据篡改", "data tampering"),
    FlagReason.OTHER: ("其他（见说明）", "other (see the note)"),
}


@dataclass
class RecordWords:
    """A record in words: a one-line summary and its fields."""

    kind: int
    kind_zh: str
    kind_en: str
    summary_zh: str
    summary_en: str
    fields: list[Field]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _category(code: int) -> tuple[str, str]:
    if 1 <= code <= len(CATEGORIES):
        return CATEGORIES[code - 1], CATEGORY_EN[code - 1]
    return UNKNOWN


def describe(signed: SignedRecord, names: Names, block_time: int | None = None) -> RecordWords:
    """`signed` in words, its names taken from `names`; `block_time` (unix seconds) is when
    its block was made, when the caller knows it."""
    rec = signed.record
    kind = int(signed.kind)
    kind_zh, kind_en = KIND_WORDS.get(kind, UNKNOWN)
    b = FieldBuilder(names)
    b.add("kind", ("记录类型", "Record"), (kind_zh, kind_en), raw=kind)
    signer = names.party(signed.signer)
    b.add(
        "signer",
        ("签名者", "Signed by"),
        signer.words(),
        signed=False,
        link=signer.link,
        raw=signed.signer,
    )
    summary_zh, summary_en = kind_zh, kind_en
    who_zh = signer.name or signed.signer
    who_en = signer.name_en or who_zh
    if isinstance(rec, ProjectAnchor):
        pk_zh, pk_en = PROJECT_KIND_WORDS.get(rec.project_kind, UNKNOWN)
        pid = hex0x(rec.project_id)
        b.add("project", ("项目", "Project"), rec.title, link=f"/projects/{pid}", raw=pid)
        b.add("project_kind", ("项目类型", "Project type"), (pk_zh, pk_en), raw=rec.project_kind)
        if rec.county:
            # the code is signed, the county's name is the read model's
            county = names.county(rec.county)
            b.add("county", ("县", "County"), county, signed=False, raw=rec.county)
        b.add("category", ("类别", "Category"), _category(rec.category), raw=rec.category)
        b.add("budget", ("预算", "Budget"), display.yuan(rec.budget), raw=rec.budget)
        b.add("end_date", ("截止日期", "End date"), end_date_text(rec.end_date), raw=rec.end_date)
        b.add("version", ("版本", "Version"), str(rec.version), raw=rec.version)
        summary_zh = f"{who_zh} 登记{pk_zh}「{rec.title}」（第 {rec.version} 版）"
        summary_en = f"{who_en} records the {pk_en} “{rec.title}” (version {rec.version})"
    elif isinstance(rec, Commitment):
        unit = from_text32(rec.unit)
        amount = display.amount(rec.quantity, rec.resource_kind, unit)
        need = b.project("need", ("对应需求", "For the need"), rec.need_id)
        rk = RESOURCE_WORDS.get(rec.resource_kind, UNKNOWN)
        b.add("resource_kind", ("资源类型", "Resource"), rk, raw=rec.resource_kind)
        b.add("quantity", ("数量", "Amount"), amount, raw=rec.quantity)
        due = display.beijing_date(rec.due_date)
        b.add(
            "due_date",
            ("截止日期", "Due date"),
            (f"{due}（{display.TZ_LABEL}）", f"{due} (Beijing)"),
            raw=rec.due_date,
        )
        title = f"为「{need.title}」" if need else ""
        summary_zh = f"{who_zh} 承诺{title}提供 {amount}，{due} 前交付"
        summary_en = f"{who_en} commits {amount}" + (f" to “{need.title}”" if need else "")
        summary_en += f", due {due}"
    elif isinstance(rec, Delivery):
        ref = b.commitment(rec.commitment_id)
        if ref is not None:
            amount = display.amount(rec.quantity, ref.resource_kind, ref.unit)
            b.add("quantity", ("交付数量", "Delivered"), amount, signed=False, raw=rec.quantity)
        else:
            amount = f"{rec.quantity:,}"
            b.add("quantity", ("交付数量", "Delivered"), amount, raw=rec.quantity)
        b.time("delivered_at", ("交付时间", "Delivered at"), rec.delivered_at)
        n = display.count(rec.beneficiary_count)
        b.add(
            "beneficiaries",
            ("受益人数", "Beneficiaries"),
            (f"{n} 人", n),
            raw=rec.beneficiary_count,
        )
        summary_zh = f"{who_zh} 交付 {amount}"
        summary_en = f"{who_en} delivers {amount}"
    elif isinstance(rec, Receipt):
        b.record("delivery", ("所签收的交付", "Delivery received"), rec.delivery_id)
        ref = names.commitments.get(names.delivery_commitment.get(hex0x(rec.delivery_id), ""))
        if ref is not None:
            amount = display.amount(rec.confirmed_quantity, ref.resource_kind, ref.unit)
            b.project("need", ("对应需求", "For the need"), bytes.fromhex(ref.need_id[2:]))
            b.add(
                "confirmed",
                ("确认数量", "Confirmed"),
                amount,
                signed=False,
                raw=rec.confirmed_quantity,
            )
        else:
            amount = f"{rec.confirmed_quantity:,}"
            b.add("confirmed", ("确认数量", "Confirmed"), amount, raw=rec.confirmed_quantity)
        summary_zh = f"{who_zh} 签收 {amount}"
        summary_en = f"{who_en} confirms receipt of {amount}"
    elif isinstance(rec, Flag):
        b.record("flagged", ("被标记的记录", "Flagged record"), rec.record_id)
        reason = FLAG_REASONS.get(rec.reason_code, (f"原因代码 {rec.reason_code}", "unknown"))
        b.add("reason", ("原因", "Reason"), reason, raw=rec.reason_code)
        summary_zh = f"{who_zh} 标记：{reason[0]}"
        summary_en = f"{who_en} flags: {reason[1]}"
    elif isinstance(rec, DeliveryBatch):
        for i, (cid_b, qty) in enumerate(zip(rec.commitment_ids, rec.quantities, strict=True)):
            cid = hex0x(cid_b)
            ref = names.commitments.get(cid)
            text = display.amount(qty, ref.resource_kind, ref.unit) if ref else f"{qty:,}"
            need = names.projects.get(ref.need_id) if ref else None
            label = need.title if need else cid
            b.add(
                f"share_{i}",
                (f"承诺 {i + 1}", f"Commitment {i + 1}"),
                (f"{label}：{text}", f"{label}: {text}"),
                signed=False,
                link=f"/verify?id={cid}",
                raw=qty,
            )
        lines = display.count(rec.line_count)
        b.add("line_count", ("交付行数", "Lines"), (f"{lines} 行", lines), raw=rec.line_count)
        summary_zh = f"{who_zh} 批量交付 {lines} 行（{len(rec.commitment_ids)} 项承诺）"
        summary_en = f"{who_en} delivers {lines} lines ({len(rec.commitment_ids)} commitments)"
    elif kind >= Kind.PAIRING:
        summary_zh, summary_en = program_words(rec, b, names, who_zh, who_en) or (kind_zh, kind_en)
    if block_time:
        b.time("recorded_at", ("上链时间", "On chain at"), block_time, block=True)
    return RecordWords(kind, kind_zh, kind_en, summary_zh, summary_en, b.fields)


#: What the bundle's `display` section says about itself, for any reader of the file.
DISPLAY_NOTE = (
    "名称（签名者姓名、项目标题等）由服务器提供，不属于已验证的内容；验证程序自行解码记录中的"
    "字段。 / Names (the signer's name, project titles…) come from the server and are not part "
    "of what is verified; the verifier decodes the record's own fields itself."
)


def bundle_display(words: RecordWords) -> dict[str, Any]:
    """A proof bundle's `display` section: the server's words for its record, which a verifier
    shows beside what it decodes itself and never counts as checked."""
    return {"source": "server", "note": DISPLAY_NOTE, **words.to_json()}
