"""The audit's check of the relayer's outbox, which `GET /records/status` answers from: a
record it calls confirmed must be on chain, where and as it says."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, to_hex
from ledger.audit.rows import (
    TableSpec,
    columns_or_skip,
    compare,
    compare_columns,
    is_int,
    iter_typed_rows,
)
from ledger.core.merkle import leaf_hash

__all__ = ["OUTBOX", "check_outbox"]

OUTBOX = TableSpec(
    (("record_id", "hex32"),),
    (
        ("status", "text"),
        ("kind", "int"),
        ("signer", "address"),
        ("record_bytes", "bytes"),
        ("tx_hash", "hex32?"),
        ("block_number", "int?"),
        ("block_hash", "hex32?"),
        ("leaf_index", "int?"),
    ),
)


def check_outbox(engine: Engine, replay: Replay, report: AuditReport, to_block: int) -> None:
    """`GET /records/status` answers from the outbox: a record it calls confirmed must be on
    chain, where and as it says (kind, signer, bytes, transaction, block, leaf index)."""
    cols = columns_or_skip(engine, report, "outbox", "outbox", OUTBOX)
    if not cols:
        return
    names = [c for c, _ in cols]
    by_id = {leaf.id_hex: leaf for leaf in replay.leaves}
    checked = 0
    for (rid,), vals in iter_typed_rows(engine, report, "outbox", OUTBOX.keys, cols):
        row = dict(zip(names, vals, strict=True))
        if row.get("status") != "confirmed":
            continue
        checked += 1
        leaf = by_id.get(rid)
        if leaf is None:
            block = row.get("block_number")
            if is_int(block) and block > to_block:
                continue  # confirmed after the audited head
            compare(
                report, "outbox", ["record_id"], (rid,), ["status"], ("confirmed",), ("absent",)
            )
            continue
        want = {
            "status": "confirmed",
            "kind": int(leaf.record.kind),
            "signer": leaf.record.signer,
            "record_bytes": to_hex(leaf_hash(leaf.data)),
            "tx_hash": leaf.tx_hash.lower(),
            "block_number": leaf.block_number,
            "block_hash": leaf.block_hash.lower(),
            "leaf_index": leaf.index,
        }
        if isinstance(row.get("record_bytes"), bytes):
            row["record_bytes"] = to_hex(leaf_hash(row["record_bytes"]))
        compare_columns(report, "outbox", ["record_id"], (rid,), row, want)
    report.checks["outbox"] = f"checked {checked} confirmed records against the chain"
