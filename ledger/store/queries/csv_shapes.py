"""CSV shapes of the record kinds: the one column list and row reader behind the portal's
downloads, `bangfu export csv` and `GET /api/v1/exports/<kind>.csv`.

A CSV is read by people in a spreadsheet and by machines, so each row has both:

- first the columns a person reads: the project's title beside its id, the county's name
  beside its code, the organization's registered name beside its credit code, amounts in
  yuan as exact decimals (`90000.00`, no separators, so a spreadsheet reads a number), goods
  with their unit and services in hours — money and goods never share a column — and times
  in Beijing time, the zone in the header;
- then the raw columns for machines: record ids, hashes, addresses, codes, unix seconds and
  the record's chain location and proof path.

Headers are bilingual, Chinese first and the field name beside it (`金额（元） amount_yuan`);
rows are in log order, read in pages of leaf indexes so memory stays flat, with one query
per page for titles and statuses (no query per row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import display
from ledger.core.errors import LedgerError
from ledger.core.fields import CATEGORIES, CATEGORY_EN, FlagReason, ProjectKind, ResourceKind
from ledger.core.lifecycle import stage_name
from ledger.core.records import Kind
from ledger.store.models import (
    LOCATION_COLUMNS,
    CommitmentRow,
    DeliveryRow,
    FlagRow,
    LogEntry,
    ProjectAnchorRow,
    ReceiptRow,
)
from ledger.store.queries import status as project_status
from ledger.store.queries.anchors import anchor_titles
from ledger.store.queries.lists import LISTS, Filters, apply_filters
from ledger.store.queries.orgs import org_codes, org_names, registrations

__all__ = [
    "KINDS",
    "LABELS",
    "PROJECT_KIND_NAMES",
    "RECORD_KIND_NAMES",
    "RESOURCE_NAMES",
    "CountyNamer",
    "bilingual",
    "category_zh",
    "columns",
    "fields",
    "measure",
    "resource_name",
    "rows",
    "yes_no",
]

KINDS: tuple[str, ...] = tuple(LISTS)
PROOF_PATH = "/api/v1/proofs/record/{id}"
RECORD_PATH = "/api/v1/public/record/{id}"
#: Where each record is on chain: machine columns, after every kind's own.
CHAIN_COLUMNS = (
    *LOCATION_COLUMNS,
    "signer",
    "leaf_hash",
    "proof_path",
    "record_path",
)
_BATCH = 1000
_BJ = f"（{display.TZ_LABEL}）"

#: The Chinese half of every header (a unit or a time zone in brackets where it has one).
LABELS: dict[str, str] = {
    # what a person reads
    "project_title": "项目名称",
    "title": "项目名称",
    "project_kind_zh": "项目类型",
    "status": "当前状态",
    "county": "县代码",
    "county_name": "县名",
    "category_zh": "类别",
    "category_en": "类别英文",
    "org_name": "机构名称",
    "org_code": "机构代码",
    "author_name": "发布单位",
    "signer_name": "签名单位",
    "auditor_name": "审计单位",
    "resource": "资源类型",
    "amount_yuan": "金额（元）",
    "delivered_yuan": "已交付金额（元）",
    "confirmed_yuan": "已签收金额（元）",
    "budget_yuan": "预算（元）",
    "quantity": "数量（物资或服务）",
    "delivered_quantity": "已交付数量",
    "confirmed_quantity": "已签收数量",
    "unit": "单位",
    "due_date": f"截止日期{_BJ}",
    "end_date": f"截止日期{_BJ}",
    "delivered_at": f"交付时间{_BJ}",
    "block_time_beijing": f"区块时间{_BJ}",
    "beneficiary_count": "受益人数",
    "batch": "批量交付",
    "line_count": "行数",
    "receipted": "已签收",
    "reason": "原因",
    "target_kind": "被标记记录类型",
    "version": "版本",
    # for machines
    "record_id": "记录编号",
    "project_id": "项目编号",
    "need_id": "需求编号",
    "match_id": "对接编号",
    "commitment_id": "承诺编号",
    "delivery_id": "交付编号",
    "target_id": "被标记记录编号",
    "org": "机构签名地址",
    "author": "发布者地址",
    "auditor": "审计签名地址",
    "category": "类别代码",
    "project_kind": "项目类型代码",
    "resource_kind": "资源类型代码",
    "reason_code": "原因代码",
    "due_date_unix": "截止时间戳（秒）",
    "delivered_at_unix": "交付时间戳（秒）",
    "end_date_code": "截止日期代码",
    "terms_hash": "条款哈希",
    "evidence_hash": "凭证哈希",
    "beneficiary_root": "受益人根",
    "note_hash": "备注哈希",
    "content_hash": "内容哈希",
    "leaf_index": "日志序号",
    "chain_id": "链编号",
    "block_number": "区块高度",
    "block_hash": "区块哈希",
    "block_time": "区块时间戳（秒）",
    "tx_hash": "交易哈希",
    "log_index": "事件序号",
    "signer": "签名者地址",
    "leaf_hash": "叶哈希",
    "proof_path": "证明路径",
    "record_path": "记录路径",
    # the portal's summaries (needs and supply, organizations, counties, timelines)
    "kind": "类型",
    "published": f"发布时间{_BJ}",
    "commitments": "承诺数",
    "funds_committed_yuan": "承诺资金（元）",
    "funds_delivered_yuan": "交付资金（元）",
    "funds_confirmed_yuan": "签收资金（元）",
    "services_committed_hours": "承诺服务（小时）",
    "services_delivered_hours": "交付服务（小时）",
    "services_confirmed_hours": "签收服务（小时）",
    "name": "名称",
    "name_en": "英文名称",
    "fulfilment_rate": "完成率",
    "on_time_rate": "按期率",
    "confirmed_rate": "签收率",
    "key_county": "重点帮扶县",
    "stage": "阶段",
    "stage_code": "阶段代码",
    "record_kind": "记录类型代码",
    "detail": "详情（JSON）",
}

#: The first columns of a commitment, delivery or receipt (cells of `_about`): its project and
#: county, then (after a receipt's signer) the organization and the amount.
_PROJECT = ("project_title", "county", "county_name", "category_zh")
_ORG_AMOUNT = ("org_name", "org_code", "resource", "amount_yuan")

#: Each kind's columns: what a person reads, then what a machine reads (chain columns last).
HUMAN: dict[str, tuple[str, ...]] = {
    "commitments": (
        *_PROJECT,
        *_ORG_AMOUNT,
        "delivered_yuan",
        "confirmed_yuan",
        "quantity",
        "delivered_quantity",
        "confirmed_quantity",
        "unit",
        "due_date",
        "block_time_beijing",
    ),
    "deliveries": (
        *_PROJECT,
        *_ORG_AMOUNT,
        "quantity",
        "unit",
        "delivered_at",
        "beneficiary_count",
        "batch",
        "line_count",
        "receipted",
        "block_time_beijing",
    ),
    "receipts": (
        *_PROJECT,
        "signer_name",
        *_ORG_AMOUNT,
        "quantity",
        "unit",
        "block_time_beijing",
    ),
    "flags": ("auditor_name", "reason", "target_kind", "block_time_beijing"),
    "projects": (
        "title",
        "project_kind_zh",
        "status",
        "county",
        "county_name",
        "category_zh",
        "author_name",
        "budget_yuan",
        "end_date",
        "version",
        "block_time_beijing",
    ),
}
MACHINE: dict[str, tuple[str, ...]] = {
    "commitments": (
        "record_id",
        "need_id",
        "match_id",
        "org",
        "category",
        "resource_kind",
        "due_date_unix",
        "terms_hash",
    ),
    "deliveries": (
        "record_id",
        "commitment_id",
        "need_id",
        "org",
        "category",
        "resource_kind",
        "delivered_at_unix",
        "evidence_hash",
        "beneficiary_root",
    ),
    "receipts": (
        "record_id",
        "delivery_id",
        "commitment_id",
        "need_id",
        "org",
        "category",
        "resource_kind",
        "note_hash",
    ),
    "flags": ("record_id", "target_id", "auditor", "reason_code", "note_hash"),
    "projects": (
        "record_id",
        "project_id",
        "project_kind",
        "category",
        "end_date_code",
        "author",
        "content_hash",
    ),
}

RESOURCE_NAMES: dict[int, str] = {
    ResourceKind.FUNDS: "资金 funds",
    ResourceKind.GOODS: "物资 goods",
    ResourceKind.SERVICE: "服务 services",
}
PROJECT_KIND_NAMES: dict[int, str] = {
    ProjectKind.NEED: "需求 need",
    ProjectKind.SUPPLY: "供给 supply",
}
REASON_NAMES: dict[int, str] = {
    FlagReason.EVIDENCE_MISMATCH: "证据不符 evidence mismatch",
    FlagReason.LATE_DELIVERY: "逾期交付 late delivery",
    FlagReason.RECEIPT_SHORTFALL: "签收不足 receipt shortfall",
    FlagReason.DUPLICATE_BENEFICIARY: "受益人重复 duplicate beneficiary",
    FlagReason.DATA_TAMPERING: "数据篡改 data tampering",
    FlagReason.OTHER: "其他 other",
}
RECORD_KIND_NAMES: dict[int, str] = {
    Kind.PROJECT_ANCHOR: "项目 project",
    Kind.COMMITMENT: "承诺 commitment",
    Kind.DELIVERY: "交付 delivery",
    Kind.RECEIPT: "签收 receipt",
    Kind.FLAG: "审计标记 flag",
    Kind.DELIVERY_BATCH: "批量交付 delivery batch",
}

#: County code → its name (with province and prefecture where the caller has them), or None.
CountyNamer = Callable[[int], str | None]


def bilingual(name: str) -> str:
    """A header cell: the Chinese label, then the field name."""
    return f"{LABELS[name]} {name}" if name in LABELS else name


def yes_no(value: bool) -> str:
    return "是 yes" if value else "否 no"


def category_zh(code: int) -> str:
    return CATEGORIES[code - 1] if 1 <= code <= len(CATEGORIES) else ""


def category_en(code: int) -> str:
    return CATEGORY_EN[code - 1] if 1 <= code <= len(CATEGORY_EN) else ""


def resource_name(kind: int) -> str:
    return RESOURCE_NAMES.get(int(kind), str(kind))


def measure(resource_kind: int, value: int, unit: str) -> tuple[str, str, str]:
    """(yuan, quantity, unit) cells of one amount: funds in the yuan column only, goods and
    services in the quantity column with their unit (services in hours)."""
    if resource_kind == ResourceKind.FUNDS:
        return display.yuan_decimal(value), "", ""
    return "", str(int(value)), display.unit_of(resource_kind, unit)


def end_date_text(code: int) -> str:
    """A YYYYMMDD date code (a Beijing date, as entered) as YYYY-MM-DD, or "" for none."""
    text = str(int(code or 0))
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 else ""


def _model(kind: str) -> Any:
    try:
        return LISTS[kind]
    except KeyError:
        raise LedgerError(
            f"unknown export kind {kind!r}; use one of: {', '.join(KINDS)}", code="unknown_kind"
        ) from None


def fields(kind: str) -> list[str]:
    """The field names of a kind's CSV: what a person reads, then the raw ids, hashes and
    codes, then the chain columns."""
    _model(kind)
    return [*HUMAN[kind], *MACHINE[kind], *CHAIN_COLUMNS]


def columns(kind: str) -> list[str]:
    """The bilingual header of a kind's CSV."""
    return [bilingual(n) for n in fields(kind)]


@dataclass
class Names:
    """Who and where, by name, read once per file: signing address → registered name,
    credit code → organization name, county code → county name."""

    signers: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)
    counties: dict[int, str] = field(default_factory=dict)
    county_namer: CountyNamer | None = None

    @classmethod
    def load(cls, session: Session, county_namer: CountyNamer | None = None) -> Names:
        out = cls(codes=org_codes(session), county_namer=county_namer)
        out.orgs = {code: zh for code, (zh, _en) in org_names(session).items() if zh}
        for reg in registrations(session):
            if reg["name"]:
                out.signers[reg["address"]] = reg["name"]
                if reg["role"] == "COUNTY" and reg["county"] is not None:
                    out.counties.setdefault(int(reg["county"]), reg["name"])
        return out

    def county(self, code: int | None) -> str:
        if not code:
            return ""
        if self.county_namer is not None:
            name = self.county_namer(int(code))
            if name:
                return name
        return self.counties.get(int(code), "")

    def org_code(self, address: str) -> str:
        return self.codes.get(address, "")

    def org(self, address: str) -> str:
        code = self.codes.get(address)
        return self.orgs.get(code, "") if code else self.signers.get(address, "")

    def signer(self, address: str) -> str:
        code = self.codes.get(address)
        if code and code in self.orgs:
            return self.orgs[code]
        return self.signers.get(address, "")


_CHAIN = (
    LogEntry.leaf_index,
    LogEntry.chain_id,
    LogEntry.block_number,
    LogEntry.block_hash,
    LogEntry.block_time,
    LogEntry.tx_hash,
    LogEntry.log_index,
    LogEntry.signer,
    LogEntry.leaf_hash,
    LogEntry.record_id,
)
#: What a delivery or a receipt takes from its commitment: how it is measured, for which need.
_FROM_COMMITMENT = (CommitmentRow.resource_kind, CommitmentRow.unit, CommitmentRow.need_id)


def _chain_cells(chain: Sequence[Any]) -> list[Any]:
    leaf, chain_id, number, block_hash, block_time, tx, log_index, signer, leaf_hash, rid = chain
    return [
        leaf,
        chain_id,
        number,
        block_hash,
        block_time,
        tx,
        log_index,
        signer,
        leaf_hash,
        PROOF_PATH.format(id=rid),
        RECORD_PATH.format(id=rid),
    ]


def _target_kinds(session: Session, ids: set[str]) -> dict[str, int]:
    if not ids:
        return {}
    return dict(
        session.execute(
            select(LogEntry.record_id, LogEntry.kind).where(LogEntry.record_id.in_(sorted(ids)))
        )
        .tuples()
        .all()
    )


def _statement(kind: str, model: Any) -> Any:
    extra = _FROM_COMMITMENT if model in (DeliveryRow, ReceiptRow) else ()
    stmt = select(model, *extra, *_CHAIN).join(LogEntry, LogEntry.record_id == model.record_id)
    if extra:
        stmt = stmt.join(CommitmentRow, CommitmentRow.record_id == model.commitment_id)
    return stmt.order_by(LogEntry.leaf_index)


class _Page:
    """What one page of rows looks up at once: titles, statuses, flagged records' kinds."""

    def __init__(self, session: Session, kind: str, page: Sequence[Any]) -> None:
        need_ids: set[str] = set()
        self.statuses: dict[str, str] = {}
        self.target_kinds: dict[str, int] = {}
        if kind == "commitments":
            need_ids = {r[0].need_id for r in page}
        elif kind in ("deliveries", "receipts"):
            need_ids = {r[3] for r in page}
        elif kind == "projects":
            self.statuses = project_status.statuses(session, {r[0].project_id for r in page})
        elif kind == "flags":
            self.target_kinds = _target_kinds(session, {r[0].target_id for r in page})
        self.titles = anchor_titles(session, need_ids)


def _about(
    row: Any, names: Names, page: _Page, need_id: str, rk: int, quantity: int, unit_text: str
) -> dict[str, Any]:
    """The cells a commitment, a delivery and a receipt share: the project, county, category
    and organization they concern, and the amount (`quantity` of resource kind `rk`)."""
    amount, qty, unit = measure(rk, quantity, unit_text)
    return {
        "project_title": page.titles.get(need_id, ""),
        "county": row.county,
        "county_name": names.county(row.county),
        "category_zh": category_zh(row.category),
        "org_name": names.org(row.org),
        "org_code": names.org_code(row.org),
        "resource": resource_name(rk),
        "amount_yuan": amount,
        "quantity": qty,
        "unit": unit,
        "need_id": need_id,
        "org": row.org,
        "category": row.category,
        "resource_kind": rk,
    }


def _cells(kind: str, r: Any, names: Names, page: _Page) -> dict[str, Any]:
    """The human and machine cells of one row (the chain columns are added by `rows`)."""
    row = r[0]
    if kind == "commitments":
        c: CommitmentRow = row
        delivered, d_qty, _ = measure(c.resource_kind, c.delivered, c.unit)
        confirmed, c_qty, _ = measure(c.resource_kind, c.confirmed, c.unit)
        return {
            **_about(c, names, page, c.need_id, c.resource_kind, c.quantity, c.unit),
            "delivered_yuan": delivered,
            "confirmed_yuan": confirmed,
            "delivered_quantity": d_qty,
            "confirmed_quantity": c_qty,
            "due_date": display.beijing_date(c.due_date),
            "record_id": c.record_id,
            "match_id": c.match_id,
            "due_date_unix": c.due_date,
            "terms_hash": c.terms_hash,
        }
    if kind in ("deliveries", "receipts"):
        # their resource, unit and need are their commitment's (_FROM_COMMITMENT)
        rk, unit_text, need_id = r[1], r[2], r[3]
        if kind == "receipts":
            rc: ReceiptRow = row
            return {
                **_about(rc, names, page, need_id, rk, rc.confirmed_quantity, unit_text),
                "signer_name": names.signer(rc.signer),
                "record_id": rc.record_id,
                "delivery_id": rc.delivery_id,
                "commitment_id": rc.commitment_id,
                "note_hash": rc.note_hash,
            }
        d: DeliveryRow = row
        return {
            **_about(d, names, page, need_id, rk, d.quantity, unit_text),
            "delivered_at": display.beijing_time(d.delivered_at),
            "beneficiary_count": d.beneficiary_count,
            "batch": yes_no(d.batch),
            "line_count": d.line_count,
            "receipted": yes_no(d.receipted),
            "record_id": d.record_id,
            "commitment_id": d.commitment_id,
            "delivered_at_unix": d.delivered_at,
            "evidence_hash": d.evidence_hash,
            "beneficiary_root": d.beneficiary_root,
        }
    if kind == "flags":
        fl: FlagRow = row
        target = page.target_kinds.get(fl.target_id)
        return {
            "auditor_name": names.signer(fl.auditor),
            "reason": REASON_NAMES.get(fl.reason_code, str(fl.reason_code)),
            "target_kind": RECORD_KIND_NAMES.get(target, "") if target else "",
            "record_id": fl.record_id,
            "target_id": fl.target_id,
            "auditor": fl.auditor,
            "reason_code": fl.reason_code,
            "note_hash": fl.note_hash,
        }
    a: ProjectAnchorRow = row
    status = page.statuses.get(a.project_id, "published")
    return {
        "title": a.title,
        "project_kind_zh": PROJECT_KIND_NAMES.get(a.project_kind, str(a.project_kind)),
        "status": stage_name(status),
        "county": a.county or "",
        "county_name": names.county(a.county),
        "category_zh": category_zh(a.category),
        "author_name": names.signer(a.author),
        "budget_yuan": display.yuan_decimal(a.budget),
        "end_date": end_date_text(a.end_date),
        "version": a.version,
        "record_id": a.record_id,
        "project_id": a.project_id,
        "project_kind": a.project_kind,
        "category": a.category,
        "end_date_code": a.end_date or "",
        "author": a.author,
        "content_hash": a.content_hash,
    }


def rows(
    session: Session,
    kind: str,
    f: Filters | None = None,
    *,
    county_name: CountyNamer | None = None,
) -> Iterator[list[Any]]:
    """The rows of a kind matching `f`, in log order, a page of leaf indexes at a time.
    `county_name` names a county code (the export passes the GB/T 2260 table, which lives
    above the store); without it, or where it knows no name, the county's registered name."""
    model = _model(kind)
    stmt = _statement(kind, model)
    if f is not None:
        stmt = apply_filters(stmt, model, f)
    if model is DeliveryRow:
        stmt = stmt.order_by(DeliveryRow.commitment_id)
    names = Names.load(session, county_name)
    own = [*HUMAN[kind], *MACHINE[kind]]
    at = len(_FROM_COMMITMENT) + 1 if model in (DeliveryRow, ReceiptRow) else 1
    after = -1
    while True:
        page = session.execute(stmt.where(LogEntry.leaf_index > after).limit(_BATCH)).all()
        if not page:
            return
        if len(page) == _BATCH and model is DeliveryRow:
            # keep every share of the last batch together on the next page
            last = page[-1][at]
            trimmed = [p for p in page if p[at] != last]
            page = trimmed or page
        lookups = _Page(session, kind, page)
        for r in page:
            cells = _cells(kind, r, names, lookups)
            chain = _chain_cells(r[at:])
            cells["block_time_beijing"] = display.beijing_time(chain[4], seconds=True)
            yield [cells[n] for n in own] + chain
        after = page[-1][at]
