"""The rows of a record kind's CSV (`csv_shapes` has its columns): read from the read model in
log order, a page of leaf indexes at a time so memory stays flat, with one query per page for
titles, statuses and flagged records' kinds (no query per row), and each row's chain location
and proof path after the kind's own cells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import display
from ledger.core.lifecycle import stage_name
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    FlagRow,
    LogEntry,
    ProjectAnchorRow,
    ReceiptRow,
)
from ledger.store.queries import status as project_status
from ledger.store.queries.anchors import anchor_titles
from ledger.store.queries.csv_cells import (
    PROJECT_KIND_NAMES,
    REASON_NAMES,
    RECORD_KIND_NAMES,
    category_zh,
    end_date_text,
    measure,
    resource_name,
    yes_no,
)
from ledger.store.queries.csv_shapes import HUMAN, MACHINE, model_of
from ledger.store.queries.lists import Filters, apply_filters
from ledger.store.queries.orgs import org_codes, org_names, registrations

__all__ = ["CountyNamer", "rows"]

PROOF_PATH = "/api/v1/proofs/record/{id}"
RECORD_PATH = "/api/v1/public/record/{id}"
_BATCH = 1000

#: County code → its name (with province and prefecture where the caller has them), or None.
CountyNamer = Callable[[int], str | None]


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
    model = model_of(kind)
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
