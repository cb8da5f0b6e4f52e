"""A record in words: each field of a signed record as a person reads it — who signed it (role
and registered name), what it is, how much, for which need, when — with Chinese labels and
English beside. The tx page, the verify page and the proof bundle's `display` section all take
their words from `describe`; the browser verifier (web/verifier.js) says the same from the
bytes it checks.

This module is pure: the names (registrations, project titles, the commitment a delivery
draws on) come in a `Names` that `ledger.store.queries.words.names_for` reads from the read
model. What the record's own bytes say is marked `signed`; what only the names say is not:
a reader must not take a server's name for something the signature covers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ledger.core import display
from ledger.core.aid_records import (
    Commitment,
    Delivery,
    DeliveryBatch,
    Flag,
    ProjectAnchor,
    Receipt,
)
from ledger.core.fields import (
    CATEGORIES,
    CATEGORY_EN,
    FlagReason,
    FollowUpOutcome,
    GrievanceOutcome,
    ProjectKind,
    ResourceKind,
    SponsorKind,
    from_text32,
)
from ledger.core.program_records import (
    CommitmentSource,
    FollowUp,
    FollowUpRound,
    Fund,
    FundContribution,
    Grievance,
    GrievanceAnswer,
    Pairing,
    PairingAcceptance,
)
from ledger.core.records import Kind, Record, SignedRecord

__all__ = [
    "DISPLAY_NOTE",
    "FLAG_REASONS",
    "FOLLOW_UP_OUTCOMES",
    "GRIEVANCE_OUTCOMES",
    "KIND_WORDS",
    "RESOURCE_WORDS",
    "ROLE_WORDS",
    "CommitmentRef",
    "Field",
    "Names",
    "Party",
    "ProjectRef",
    "RecordRef",
    "RecordWords",
    "bundle_display",
    "describe",
    "end_date_text",
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
#: The roles a signer holds on chain, in words.
ROLE_WORDS: dict[str, tuple[str, str]] = {
    "COUNTY": ("县级乡村振兴部门", "county office"),
    "ORG": ("社会组织", "organization"),
    "AUDITOR": ("审计员", "auditor"),
    "ADMIN": ("民政部门管理员", "civil affairs admin"),
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
UNKNOWN = ("未知", "unknown")
#: What a record a field points at is called when the read model does not know it, by the
#: field's key (any other: 未知记录 unknown record).
_UNKNOWN_TARGET = {"delivery": ("未知交付", "unknown delivery")}


@dataclass(frozen=True)
class Party:
    """A signer as the chain's registrations name it."""

    address: str
    role: str  # COUNTY, ORG, AUDITOR, ADMIN, or "" for none
    name: str | None = None
    code: str | None = None  # the county code or the organization's credit code
    name_en: str | None = None  # an organization's English name, where one is known

    @property
    def link(self) -> str | None:
        if self.role == "ORG" and self.code:
            return f"/orgs/{self.code}"
        if self.role == "COUNTY" and self.code:
            return f"/counties/{self.code}"
        return None

    def words(self) -> tuple[str, str]:
        zh, en = ROLE_WORDS.get(self.role, ("未登记的签名者", "unregistered signer"))
        name = self.name or self.address
        return f"{zh} {name}", f"{en} {self.name_en or name}"


@dataclass(frozen=True)
class ProjectRef:
    """A library project as the read model knows it (its latest anchor)."""

    project_id: str
    title: str
    project_kind: int = ProjectKind.NEED
    county: int = 0


@dataclass(frozen=True)
class CommitmentRef:
    """What a delivery or receipt needs of its commitment to read its quantity."""

    record_id: str
    org: str
    need_id: str
    resource_kind: int
    quantity: int
    unit: str


@dataclass(frozen=True)
class RecordRef:
    """Any other record a field points at, in a few words (a flagged record, a receipt's
    delivery)."""

    record_id: str
    kind: int
    zh: str
    en: str


@dataclass
class Names:
    """What the read model says about the parties, projects and records a record names (keys
    lower-case: addresses, 0x-hex ids); `delivery_commitment` maps a delivery to the commitment
    it draws on, `county_names` a county code to its name."""

    parties: dict[str, Party] = field(default_factory=dict)
    projects: dict[str, ProjectRef] = field(default_factory=dict)
    commitments: dict[str, CommitmentRef] = field(default_factory=dict)
    records: dict[str, RecordRef] = field(default_factory=dict)
    delivery_commitment: dict[str, str] = field(default_factory=dict)
    county_names: dict[int, str] = field(default_factory=dict)

    def party(self, address: str) -> Party:
        return self.parties.get(address.lower()) or Party(address, "")

    def county(self, code: int) -> tuple[str, str]:
        name = self.county_names.get(code)
        return (f"{name}（{code}）", f"{name} ({code})") if name else (str(code), str(code))


@dataclass(frozen=True)
class Field:
    """One line of a record in words. `signed` says whether the text follows from the signed
    bytes alone (True) or also from names the server looked up (False); `link` is a portal
    path; `raw` is the field's value as signed, for the copyable details."""

    key: str
    label_zh: str
    label_en: str
    zh: str
    en: str
    signed: bool = True
    link: str | None = None
    raw: str | None = None


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


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def end_date_text(code: int) -> str:
    """A YYYYMMDD date code as YYYY-MM-DD, or — for none."""
    if not code:
        return display.NONE
    return f"{code // 10000:04d}-{code // 100 % 100:02d}-{code % 100:02d}"


def _category(code: int) -> tuple[str, str]:
    if 1 <= code <= len(CATEGORIES):
        return CATEGORIES[code - 1], CATEGORY_EN[code - 1]
    return UNKNOWN


def _amount(quantity: int, kind: int, unit: str) -> str:
    return display.amount(quantity, kind, unit)


class _Builder:
    def __init__(self, names: Names) -> None:
        self.names = names
        self.fields: list[Field] = []

    def add(
        self,
        key: str,
        label: tuple[str, str],
        text: tuple[str, str] | str,
        *,
        signed: bool = True,
        link: str | None = None,
        raw: object = None,
    ) -> None:
        zh, en = (text, text) if isinstance(text, str) else text
        self.fields.append(
            Field(key, label[0], label[1], zh, en, signed, link, None if raw is None else str(raw))
        )

    def time(self, key: str, label: tuple[str, str], at: int, *, block: bool = False) -> None:
        """A unix time as Beijing time, labelled so: a time the record signs (to the minute),
        or with `block` its block's time (to the second; the chain's, not the signature's)."""
        text = display.beijing_time(at, seconds=block)
        both = (f"{text}（{display.TZ_LABEL}）", f"{text} (Beijing time)")
        self.add(key, label, both, signed=not block, raw=at)

    def project(self, key: str, label: tuple[str, str], project_id: bytes) -> ProjectRef | None:
        pid = _hex(project_id)
        ref = self.names.projects.get(pid)
        if ref is None:
            self.add(key, label, ("未知项目", "unknown project"), signed=False, raw=pid)
        else:
            self.add(key, label, ref.title, signed=False, link=f"/projects/{pid}", raw=pid)
        return ref

    def record(self, key: str, label: tuple[str, str], record_id: bytes) -> None:
        """Another record this one points at, in the read model's words (not signed)."""
        rid = _hex(record_id)
        ref = self.names.records.get(rid)
        text = (ref.zh, ref.en) if ref else _UNKNOWN_TARGET.get(key, ("未知记录", "unknown record"))
        self.add(key, label, text, signed=False, link=f"/verify?id={rid}", raw=rid)

    def commitment(self, commitment_id: bytes) -> CommitmentRef | None:
        cid = _hex(commitment_id)
        ref = self.names.commitments.get(cid)
        if ref is None:
            self.add(
                "commitment",
                ("所属承诺", "Commitment"),
                ("未知承诺", "unknown commitment"),
                signed=False,
                raw=cid,
            )
            return None
        org = self.names.party(ref.org)
        amount = _amount(ref.quantity, ref.resource_kind, ref.unit)
        zh_org = org.name or ref.org
        en_org = org.name_en or zh_org
        self.add(
            "commitment",
            ("所属承诺", "Commitment"),
            (f"{zh_org} 承诺 {amount}", f"{en_org}: commitment of {amount}"),
            signed=False,
            link=f"/verify?id={cid}",
            raw=cid,
        )
        self.project("need", ("对应需求", "For the need"), bytes.fromhex(ref.need_id[2:]))
        return ref


def describe(signed: SignedRecord, names: Names, block_time: int | None = None) -> RecordWords:
    """`signed` in words, its names taken from `names`; `block_time` (unix seconds) is when
    its block was made, when the caller knows it."""
    rec = signed.record
    kind = int(signed.kind)
    kind_zh, kind_en = KIND_WORDS.get(kind, UNKNOWN)
    b = _Builder(names)
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
        pid = _hex(rec.project_id)
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
        amount = _amount(rec.quantity, rec.resource_kind, unit)
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
            amount = _amount(rec.quantity, ref.resource_kind, ref.unit)
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
        ref = names.commitments.get(names.delivery_commitment.get(_hex(rec.delivery_id), ""))
        if ref is not None:
            amount = _amount(rec.confirmed_quantity, ref.resource_kind, ref.unit)
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
            cid = _hex(cid_b)
            ref = names.commitments.get(cid)
            text = _amount(qty, ref.resource_kind, ref.unit) if ref else f"{qty:,}"
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
        summary_zh, summary_en = _program(rec, b, names, who_zh, who_en) or (kind_zh, kind_en)
    if block_time:
        b.time("recorded_at", ("上链时间", "On chain at"), block_time, block=True)
    return RecordWords(kind, kind_zh, kind_en, summary_zh, summary_en, b.fields)


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


def _program(
    rec: Record, b: _Builder, names: Names, who_zh: str, who_en: str
) -> tuple[str, str] | None:
    """The fields and the summary of a program record (docs/programs.md)."""
    if isinstance(rec, Pairing):
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
    if isinstance(rec, PairingAcceptance):
        b.record("pairing", ("所接受的结对", "Pairing accepted"), rec.pairing_id)
        county = names.county(rec.county)
        b.add("county", ("结对县", "County"), county, signed=False, raw=rec.county)
        return f"{who_zh} 接受结对帮扶", f"{who_en} accepts the pairing"
    if isinstance(rec, Fund):
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
    if isinstance(rec, FundContribution):
        b.record("fund", ("基金", "Fund"), rec.fund_id)
        amount = display.yuan(rec.amount)
        b.add("amount", ("到账金额", "Received"), amount, raw=rec.amount)
        day = end_date_text(rec.received_date)
        b.add("received_date", ("到账日期", "Received on"), day, raw=rec.received_date)
        return f"{who_zh} 记录基金到账 {amount}", f"{who_en} records {amount} received"
    if isinstance(rec, CommitmentSource):
        b.commitment(rec.commitment_id)
        if rec.pairing_id != bytes(32):
            b.record("pairing", ("所属结对", "Pairing"), rec.pairing_id)
        if rec.fund_id != bytes(32):
            b.record("fund", ("动用基金", "Fund drawn on"), rec.fund_id)
            amount = display.yuan(rec.fund_amount)
            b.add("fund_amount", ("动用金额", "Amount drawn"), amount, raw=rec.fund_amount)
            return f"{who_zh} 从专项基金动用 {amount}", f"{who_en} draws {amount} on a fund"
        return f"{who_zh} 注明承诺所属结对", f"{who_en} names the pairing a commitment serves"
    if isinstance(rec, FollowUpRound):
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
    if isinstance(rec, FollowUp):
        b.record("round", ("回访轮次", "Round"), rec.round_id)
        line = display.count(rec.line_index + 1)
        b.add("line", ("批次行", "Line"), (f"第 {line} 行", f"line {line}"), raw=rec.line_index)
        outcome = FOLLOW_UP_OUTCOMES.get(rec.outcome, UNKNOWN)
        b.add("outcome", ("回访结果", "Finding"), outcome, raw=rec.outcome)
        if rec.quantity:
            got = display.count(rec.quantity)
            b.add("quantity", ("实收数量", "Received"), got, raw=rec.quantity)
        return f"{who_zh} 回访：{outcome[0]}", f"{who_en} follows up: {outcome[1]}"
    if isinstance(rec, Grievance):
        b.project("project", ("申诉项目", "Project"), rec.project_id)
        if rec.record_id != bytes(32):
            b.record("record", ("所涉记录", "Record concerned"), rec.record_id)
        b.time("filed_at", ("提交时间", "Filed at"), rec.filed_at)
        return f"{who_zh} 登记申诉", f"{who_en} registers a grievance"
    if isinstance(rec, GrievanceAnswer):
        b.record("grievance", ("所答复的申诉", "Grievance"), rec.grievance_id)
        outcome = GRIEVANCE_OUTCOMES.get(rec.outcome, UNKNOWN)
        b.add("outcome", ("答复结论", "Answer"), outcome, raw=rec.outcome)
        return f"{who_zh} 答复申诉：{outcome[0]}", f"{who_en} answers a grievance: {outcome[1]}"
    return None


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
