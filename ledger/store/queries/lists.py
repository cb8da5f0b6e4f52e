"""Public lists with filters and cursor pagination, one record, and the log's counts.

`Filters` and `apply_filters` are the one way a list, a total or a CSV shape narrows the
read model (county, category, organization, project, commitment, block time).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError, NotFoundError
from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind
from ledger.store import models
from ledger.store.queries.orgs import org_codes, org_signers

MAX_PAGE = 500


@dataclass
class Filters:
    county: int | None = None
    category: int | None = None
    org: str | None = None
    project: str | None = None
    commitment: str | None = None
    since: int | None = None  # unix seconds, block time
    until: int | None = None


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(leaf_index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": leaf_index}).encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))["before"]
        if not isinstance(value, int) or value < 0:
            raise ValueError
        return value
    except (ValueError, KeyError, TypeError):
        raise LedgerError(
            "the cursor is not one this server gave out; start again without it", code="bad_cursor"
        ) from None


def location(entry: Any, signer: str | None = None) -> dict[str, Any]:
    """The chain location of a log entry, or of a list row (which carries it, with its
    record's signer under its own name: `signer`)."""
    return {
        "record_id": entry.record_id,
        "leaf_index": entry.leaf_index,
        "signer": entry.signer if isinstance(entry, models.LogEntry) else signer,
        "chain_id": entry.chain_id,
        "block_number": entry.block_number,
        "block_hash": entry.block_hash,
        "block_time": entry.block_time,
        "tx_hash": entry.tx_hash,
        "log_index": entry.log_index,
    }


def category_label(code: int) -> dict[str, Any]:
    if 1 <= code <= len(CATEGORIES):
        return {"code": code, "zh": CATEGORIES[code - 1], "en": CATEGORY_EN[code - 1]}
    return {"code": code, "zh": "未知", "en": "unknown"}


def apply_filters(
    stmt: Select[Any], model: Any, f: Filters, *, on_row: bool = False
) -> Select[Any]:
    """`stmt` narrowed by `f` on the columns `model` has; time filters need `LogEntry`
    joined, or `on_row` to read the block time the row carries (migration 0010)."""
    if f.county is not None and hasattr(model, "county"):
        stmt = stmt.where(model.county == f.county)
    if f.category is not None and hasattr(model, "category"):
        stmt = stmt.where(model.category == f.category)
    if f.org is not None and hasattr(model, "org"):
        org = f.org
        if not org.lower().startswith("0x"):  # a credit code: map to its signing keys
            stmt = stmt.where(model.org.in_(org_signers(org.upper())))
        else:
            stmt = stmt.where(func.lower(model.org) == org.lower())
    if f.project is not None:
        if hasattr(model, "need_id"):
            stmt = stmt.where(model.need_id == f.project.lower())
        elif model is models.ProjectAnchorRow:
            stmt = stmt.where(models.ProjectAnchorRow.project_id == f.project.lower())
        elif hasattr(model, "commitment_id"):
            needs = select(models.CommitmentRow.record_id).where(
                models.CommitmentRow.need_id == f.project.lower()
            )
            stmt = stmt.where(model.commitment_id.in_(needs))
    if f.commitment is not None:
        if hasattr(model, "commitment_id"):
            stmt = stmt.where(model.commitment_id == f.commitment.lower())
        elif model is models.CommitmentRow:
            stmt = stmt.where(models.CommitmentRow.record_id == f.commitment.lower())
    block_time = model.block_time if on_row else models.LogEntry.block_time
    if f.since is not None:
        stmt = stmt.where(block_time >= f.since)
    if f.until is not None:
        stmt = stmt.where(block_time < f.until)
    return stmt


#: Per list, the row's column that holds its record's signer.
SIGNER_COLUMN = {
    "commitments": "org",
    "deliveries": "org",
    "receipts": "signer",
    "flags": "auditor",
    "projects": "author",
}
#: Location columns a row carries that are not its own fields in a list's items (a
#: commitment's block time always was one).
_LOCATION_ONLY = frozenset(models.LOCATION_COLUMNS) - {"block_time"}


def _row_dict(row: Any, codes: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in row.__table__.columns:
        if col.name == "id" or col.name in _LOCATION_ONLY:
            continue
        if col.name == "block_time" and not isinstance(row, models.CommitmentRow):
            continue
        out[col.name] = getattr(row, col.name)
    if "category" in out:
        out["category"] = category_label(int(out["category"]))
    if "org" in out:
        out["org_code"] = codes.get(out["org"])
    return out


LISTS: dict[str, Any] = {
    "commitments": models.CommitmentRow,
    "deliveries": models.DeliveryRow,
    "receipts": models.ReceiptRow,
    "flags": models.FlagRow,
    "projects": models.ProjectAnchorRow,
}


def list_records(
    session: Session,
    what: str,
    f: Filters,
    *,
    cursor: str | None = None,
    limit: int = 50,
    codes: dict[str, str] | None = None,
) -> Page:
    """One page of a public list, newest first, with the chain location of each row.

    Keyset pagination on the leaf index the row carries: each page is one range scan of an
    index that starts with the filter's columns and ends with the leaf index, read
    backwards from the cursor, so a page costs the same at the millionth leaf as at the
    first; no join with the log. `codes` is the address → credit code map if the caller
    holds it for this session's read model (`org_codes`), read here otherwise."""
    model = LISTS[what]
    limit = max(1, min(limit, MAX_PAGE))
    before = decode_cursor(cursor)
    stmt = apply_filters(select(model), model, f, on_row=True)
    if before is not None:
        stmt = stmt.where(model.leaf_index < before)
    order: list[Any] = [model.leaf_index.desc()]
    if model is models.DeliveryRow:
        order.append(models.DeliveryRow.commitment_id)
    stmt = stmt.order_by(*order).limit(limit + 1)
    rows = list(session.scalars(stmt))
    if codes is None:
        codes = org_codes(session)
    signer = SIGNER_COLUMN[what]
    items = [
        {**_row_dict(r, codes), "chain": location(r, getattr(r, signer))} for r in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1].leaf_index) if len(rows) > limit else None
    if (
        model is models.DeliveryRow
        and next_cursor
        and rows[limit].leaf_index == rows[limit - 1].leaf_index
    ):
        # a multi-commitment batch straddles the page edge: end the page before it
        edge = rows[limit - 1].leaf_index
        items = [i for i in items if i["chain"]["leaf_index"] != edge]
        next_cursor = encode_cursor(edge + 1)
    return Page(items, next_cursor)


def get_record(session: Session, record_id: str) -> dict[str, Any]:
    """One record: its decoded fields, canonical bytes, leaf hash and chain location."""
    entry = session.scalars(
        select(models.LogEntry).where(models.LogEntry.record_id == record_id.lower())
    ).first()
    if entry is None:
        raise NotFoundError(f"no record {record_id} is indexed (yet)", code="record_not_found")
    signed = signed_from_bytes(entry.record_bytes)
    return {
        "kind": Kind(entry.kind).slug,
        "record": signed.record.to_json(),
        "signer": signed.signer,
        "signature": "0x" + signed.signature.hex(),
        "bytes": "0x" + entry.record_bytes.hex(),
        "leaf_hash": entry.leaf_hash,
        "chain": location(entry),
    }


def records_in_tx(session: Session, tx_hash: str) -> list[models.LogEntry]:
    """The log entries one transaction appended, in log order."""
    stmt = (
        select(models.LogEntry)
        .where(models.LogEntry.tx_hash == tx_hash.lower())
        .order_by(models.LogEntry.leaf_index)
    )
    return list(session.scalars(stmt))


_CHECKPOINT = models.IndexerCheckpoint.__table__
_ROLES = models.RoleEvent.__table__
_MAIN = _CHECKPOINT.c.name == "main"
#: One statement, no FROM of its own: the indexer's cursor row (size, root, tip block hash)
#: and the role events' count, newest id and newest tx, each a scalar subquery on a small
#: table or a primary key.
VERSION_STATEMENT = select(
    select(_CHECKPOINT.c.log_size).where(_MAIN).scalar_subquery(),
    select(_CHECKPOINT.c.log_root).where(_MAIN).scalar_subquery(),
    select(_CHECKPOINT.c.last_block_hash).where(_MAIN).scalar_subquery(),
    select(func.count(_ROLES.c.id)).scalar_subquery(),
    select(func.max(_ROLES.c.id)).scalar_subquery(),
    select(_ROLES.c.tx_hash).order_by(_ROLES.c.id.desc()).limit(1).scalar_subquery(),
)


def read_model_version(session: Session | Connection) -> str:
    """A tag that changes whenever the indexer changes what a public answer may hold: the
    indexed log's size and root (a reorg that replaces leaves changes the root), the block
    the indexer stands on (a reorg that puts the same leaves in other blocks moves their
    chain location, not the root) and the role grants indexed (which name the
    organizations). One statement (`VERSION_STATEMENT`), on a session or a bare connection."""
    size, root, tip, roles, newest, newest_tx = session.execute(VERSION_STATEMENT).one()
    tx = (newest_tx or "0x")[2:14]
    if size is None:
        return f"0-{roles}-{newest or 0}-{tx}"
    return f"{size}-{root[2:18]}-{roles}-{newest}-{tx}-{(tip or '0x')[2:14]}"


def overview(session: Session) -> dict[str, Any]:
    """Counts for the health page and the portal's home."""
    counts = {
        kind.slug: session.scalar(
            select(func.count())
            .select_from(models.LogEntry)
            .where(models.LogEntry.kind == int(kind))
        )
        or 0
        for kind in Kind
    }
    size = session.scalar(select(func.count()).select_from(models.LogEntry)) or 0
    return {"log_size": size, "records": counts}
