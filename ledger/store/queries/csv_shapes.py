"""CSV shapes of the record kinds: the one column list behind the portal's downloads,
`bangfu export csv` and `GET /api/v1/exports/<kind>.csv` (`csv_rows` reads the rows and
`csv_cells` words their cells).

A CSV is read by people in a spreadsheet and by machines, so each row has both:

- first the columns a person reads: the project's title beside its id, the county's name
  beside its code, the organization's registered name beside its credit code, amounts in
  yuan as exact decimals (`90000.00`, no separators, so a spreadsheet reads a number), goods
  with their unit and services in hours — money and goods never share a column — and times
  in Beijing time, the zone in the header;
- then the raw columns for machines: record ids, hashes, addresses, codes, unix seconds and
  the record's chain location and proof path.

Headers are bilingual, Chinese first and the field name beside it (`金额（元） amount_yuan`).
"""

from __future__ import annotations

from typing import Any

from ledger.core import display
from ledger.core.errors import LedgerError
from ledger.store.models import LOCATION_COLUMNS
from ledger.store.queries.lists import LISTS

__all__ = [
    "CHAIN_COLUMNS",
    "HUMAN",
    "KINDS",
    "LABELS",
    "MACHINE",
    "PROJECT_ABOUT",
    "TRIPLE_COLUMNS",
    "bilingual",
    "columns",
    "fields",
    "model_of",
]

KINDS: tuple[str, ...] = tuple(LISTS)
#: Where each record is on chain: machine columns, after every kind's own.
CHAIN_COLUMNS = (
    *LOCATION_COLUMNS,
    "signer",
    "leaf_hash",
    "proof_path",
    "record_path",
)
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

#: The first columns of a commitment, delivery or receipt (cells of `csv_rows._about`): its
#: project and county, then (after a receipt's signer) the organization and the amounts.
_PROJECT = ("project_title", "county", "county_name", "category_zh")
_ORG = ("org_name", "org_code", "resource")
#: A delivery's or a receipt's organization and its one amount (in yuan, or a quantity).
_ORG_AMOUNT = (*_ORG, "amount_yuan", "quantity", "unit")
#: A commitment's amounts as committed, delivered and confirmed (a `queries.totals.Triple`):
#: in yuan for funds, else as quantities beside their unit.
TRIPLE_COLUMNS = (
    "amount_yuan",
    "delivered_yuan",
    "confirmed_yuan",
    "quantity",
    "delivered_quantity",
    "confirmed_quantity",
    "unit",
)
#: The first columns of a project, in its record's CSV and in the portal's needs and supply
#: listings alike: title, kind and status, county, category.
PROJECT_ABOUT = ("title", "project_kind_zh", "status", "county", "county_name", "category_zh")

#: Each kind's columns: what a person reads, then what a machine reads (chain columns last).
HUMAN: dict[str, tuple[str, ...]] = {
    "commitments": (
        *_PROJECT,
        *_ORG,
        *TRIPLE_COLUMNS,
        "due_date",
        "block_time_beijing",
    ),
    "deliveries": (
        *_PROJECT,
        *_ORG_AMOUNT,
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
        "block_time_beijing",
    ),
    "flags": ("auditor_name", "reason", "target_kind", "block_time_beijing"),
    "projects": (
        *PROJECT_ABOUT,
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


def bilingual(name: str) -> str:
    """A header cell: the Chinese label, then the field name."""
    return f"{LABELS[name]} {name}" if name in LABELS else name


def model_of(kind: str) -> Any:
    """The read-model row class a kind lists, or `unknown_kind`."""
    try:
        return LISTS[kind]
    except KeyError:
        raise LedgerError(
            f"unknown export kind {kind!r}; use one of: {', '.join(KINDS)}", code="unknown_kind"
        ) from None


def fields(kind: str) -> list[str]:
    """The field names of a kind's CSV: what a person reads, then the raw ids, hashes and
    codes, then the chain columns."""
    model_of(kind)
    return [*HUMAN[kind], *MACHINE[kind], *CHAIN_COLUMNS]


def columns(kind: str) -> list[str]:
    """The bilingual header of a kind's CSV."""
    return [bilingual(n) for n in fields(kind)]
