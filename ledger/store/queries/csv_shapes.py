"""CSV shapes of the record kinds: the one column list and row reader behind the portal's
downloads, `bangfu export csv` and `GET /api/v1/exports/<kind>.csv`.

Headers are bilingual, Chinese first and the field name beside it (`记录编号 record_id`);
rows are in log order, read in pages of leaf indexes so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.store.models import DeliveryRow, LogEntry
from ledger.store.queries.lists import LISTS, Filters, apply_filters
from ledger.store.queries.orgs import org_codes

KINDS: tuple[str, ...] = tuple(LISTS)
PROOF_PATH = "/api/v1/proofs/record/{id}"
RECORD_PATH = "/api/v1/public/record/{id}"
CHAIN_COLUMNS = (
    "leaf_index",
    "chain_id",
    "block_number",
    "block_hash",
    "block_time",
    "block_time_utc",
    "tx_hash",
    "log_index",
    "signer",
    "leaf_hash",
    "proof_path",
    "record_path",
)
#: Own columns read as unix seconds that get a readable UTC companion `<name>_utc`.
TIMES = ("due_date", "delivered_at")
_BATCH = 1000

#: The Chinese half of every header.
LABELS: dict[str, str] = {
    "record_id": "记录编号",
    "need_id": "需求编号",
    "match_id": "对接编号",
    "org": "签名地址",
    "org_code": "机构代码",
    "county": "县代码",
    "category": "类别代码",
    "category_zh": "类别",
    "category_en": "类别英文",
    "resource_kind": "资源类型",
    "quantity": "数量",
    "unit": "单位",
    "due_date": "截止时间",
    "due_date_utc": "截止时间UTC",
    "terms_hash": "条款哈希",
    "delivered": "已交付",
    "confirmed": "已签收",
    "commitment_id": "承诺编号",
    "delivered_at": "交付时间",
    "delivered_at_utc": "交付时间UTC",
    "evidence_hash": "凭证哈希",
    "beneficiary_count": "受益人数",
    "beneficiary_root": "受益人根",
    "batch": "批量",
    "line_count": "行数",
    "receipted": "已签收记录",
    "delivery_id": "交付编号",
    "confirmed_quantity": "签收数量",
    "note_hash": "备注哈希",
    "target_id": "标记对象",
    "auditor": "审计地址",
    "reason_code": "原因代码",
    "project_id": "项目编号",
    "project_kind": "项目类型",
    "content_hash": "内容哈希",
    "version": "版本",
    "author": "作者地址",
    "title": "标题",
    "budget": "预算",
    "end_date": "结束日期",
    "leaf_index": "日志序号",
    "chain_id": "链编号",
    "block_number": "区块高度",
    "block_hash": "区块哈希",
    "block_time": "区块时间",
    "block_time_utc": "区块时间UTC",
    "tx_hash": "交易哈希",
    "log_index": "事件序号",
    "signer": "签名者",
    "leaf_hash": "叶哈希",
    "proof_path": "证明路径",
    "record_path": "记录路径",
    # the portal's summaries (needs and supply, organizations, counties, timelines)
    "kind": "类型",
    "county_name": "县名",
    "published_utc": "发布时间UTC",
    "commitments": "承诺数",
    "funds_committed_fen": "承诺资金(分)",
    "funds_delivered_fen": "交付资金(分)",
    "funds_confirmed_fen": "签收资金(分)",
    "name": "名称",
    "name_en": "英文名称",
    "fulfilment_rate": "完成率",
    "on_time_rate": "按期率",
    "confirmed_rate": "签收率",
    "key_county": "重点帮扶县",
    "stage": "阶段",
    "detail": "详情",
}


def bilingual(name: str) -> str:
    """A header cell: the Chinese label, then the field name."""
    return f"{LABELS[name]} {name}" if name in LABELS else name


def utc(ts: int | None) -> str:
    """Unix seconds as `YYYY-MM-DD HH:MM` UTC, or "" for none."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M") if ts else ""


def _model(kind: str) -> Any:
    try:
        return LISTS[kind]
    except KeyError:
        raise LedgerError(
            f"unknown export kind {kind!r}; use one of: {', '.join(KINDS)}", code="unknown_kind"
        ) from None


def _own(model: Any) -> list[str]:
    # block_time is one of the chain columns; a second copy would collide in the header
    return [c.name for c in model.__table__.columns if c.name not in ("id", "block_time")]


def fields(kind: str) -> list[str]:
    """The field names of a kind's CSV: its own fields (and readable times), labels, then
    the chain columns."""
    out: list[str] = []
    own = _own(_model(kind))
    for name in own:
        out.append(name)
        if name in TIMES:
            out.append(f"{name}_utc")
    if "category" in own:
        out += ["category_zh", "category_en"]
    if "org" in own:
        out.append("org_code")
    return out + list(CHAIN_COLUMNS)


def columns(kind: str) -> list[str]:
    """The bilingual header of a kind's CSV."""
    return [bilingual(n) for n in fields(kind)]


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


def rows(session: Session, kind: str, f: Filters | None = None) -> Iterator[list[Any]]:
    """The rows of a kind matching `f`, in log order, a page of leaf indexes at a time."""
    model = _model(kind)
    own = _own(model)
    # plain columns, not ORM objects: a log entry's record bytes are not read at all
    stmt = (
        select(*(getattr(model, n) for n in own), *_CHAIN)
        .join(LogEntry, LogEntry.record_id == model.record_id)
        .order_by(LogEntry.leaf_index)
    )
    if f is not None:
        stmt = apply_filters(stmt, model, f)
    if model is DeliveryRow:
        stmt = stmt.order_by(DeliveryRow.commitment_id)
    n_own = len(own)
    cat = own.index("category") if "category" in own else None
    org = own.index("org") if "org" in own else None
    times = [own.index(t) for t in TIMES if t in own]
    codes = org_codes(session)
    after = -1
    while True:
        page = session.execute(stmt.where(LogEntry.leaf_index > after).limit(_BATCH)).all()
        if not page:
            return
        if len(page) == _BATCH and model is DeliveryRow:
            # keep every share of the last batch together on the next page
            last = page[-1][n_own]
            trimmed = [p for p in page if p[n_own] != last]
            page = trimmed or page
        for r in page:
            values: list[Any] = []
            for j in range(n_own):
                values.append(r[j])
                if j in times:
                    values.append(utc(r[j]))
            if cat is not None:
                c = int(r[cat])
                ok = 1 <= c <= len(CATEGORIES)
                values += [CATEGORIES[c - 1] if ok else "", CATEGORY_EN[c - 1] if ok else ""]
            if org is not None:
                values.append(codes.get(r[org], ""))
            (
                leaf,
                chain_id,
                number,
                block_hash,
                block_time,
                tx,
                log_index,
                signer,
                leaf_hash,
                rid,
            ) = r[n_own:]
            values += [
                leaf,
                chain_id,
                number,
                block_hash,
                block_time,
                utc(block_time),
                tx,
                log_index,
                signer,
                leaf_hash,
                PROOF_PATH.format(id=rid),
                RECORD_PATH.format(id=rid),
            ]
            yield [int(v) if isinstance(v, bool) else v for v in values]
        after = page[-1][n_own]
