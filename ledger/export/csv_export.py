"""CSV exports of every record kind, one row per indexed record (per batch share for
deliveries), each with its chain location and where to fetch its inclusion proof.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.store.models import DeliveryRow, LogEntry, RoleEvent
from ledger.store.queries import LISTS

KINDS: tuple[str, ...] = tuple(LISTS)
PROOF_PATH = "/api/v1/proofs/record/{id}"
RECORD_PATH = "/api/v1/public/record/{id}"
CHAIN_COLUMNS = (
    "leaf_index",
    "chain_id",
    "block_number",
    "block_hash",
    "block_time",
    "tx_hash",
    "log_index",
    "signer",
    "leaf_hash",
    "proof_path",
    "record_path",
)
_BATCH = 1000


def _model(kind: str) -> Any:
    try:
        return LISTS[kind]
    except KeyError:
        raise LedgerError(
            f"unknown export kind {kind!r}; use one of: {', '.join(KINDS)}", code="unknown_kind"
        ) from None


def columns(kind: str) -> list[str]:
    """The header of a kind's CSV: its own fields, labels, then the chain columns."""
    model = _model(kind)
    own = [c.name for c in model.__table__.columns if c.name != "id"]
    extra: list[str] = []
    if "category" in own:
        extra += ["category_zh", "category_en"]
    if "org" in own:
        extra.append("org_code")
    return own + extra + list(CHAIN_COLUMNS)


def rows(session: Session, kind: str) -> Iterator[list[Any]]:
    """Rows in log order, read in pages of leaf indexes so memory stays flat."""
    model = _model(kind)
    own = [c.name for c in model.__table__.columns if c.name != "id"]
    codes = {
        a: c
        for a, c in session.execute(
            select(RoleEvent.address, RoleEvent.org_code).where(RoleEvent.org_code.is_not(None))
        ).all()
        if c
    }
    after = -1
    while True:
        stmt = (
            select(model, LogEntry)
            .join(LogEntry, LogEntry.record_id == model.record_id)
            .where(LogEntry.leaf_index > after)
            .order_by(LogEntry.leaf_index)
        )
        if model is DeliveryRow:
            stmt = stmt.order_by(DeliveryRow.commitment_id)
        page = session.execute(stmt.limit(_BATCH)).all()
        if not page:
            return
        if len(page) == _BATCH and model is DeliveryRow:
            # keep every share of the last batch together on the next page
            last = page[-1][1].leaf_index
            trimmed = [p for p in page if p[1].leaf_index != last]
            page = trimmed or page
        for row, entry in page:
            values: list[Any] = [getattr(row, n) for n in own]
            if "category" in own:
                cat = int(row.category)
                ok = 1 <= cat <= len(CATEGORIES)
                values += [CATEGORIES[cat - 1] if ok else "", CATEGORY_EN[cat - 1] if ok else ""]
            if "org" in own:
                values.append(codes.get(row.org, ""))
            values += [
                entry.leaf_index,
                entry.chain_id,
                entry.block_number,
                entry.block_hash,
                entry.block_time,
                entry.tx_hash,
                entry.log_index,
                entry.signer,
                entry.leaf_hash,
                PROOF_PATH.format(id=entry.record_id),
                RECORD_PATH.format(id=entry.record_id),
            ]
            yield [int(v) if isinstance(v, bool) else v for v in values]
        after = page[-1][1].leaf_index


def write_csv(session: Session, kind: str, out: TextIO) -> int:
    """Writes the CSV of `kind` to `out`; returns the number of data rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(kind))
    n = 0
    for row in rows(session, kind):
        writer.writerow(row)
        n += 1
    return n


def iter_csv(session: Session, kind: str) -> Iterator[str]:
    """The CSV as text chunks, for a streaming HTTP response."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns(kind))
    for i, row in enumerate(rows(session, kind), 1):
        writer.writerow(row)
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
