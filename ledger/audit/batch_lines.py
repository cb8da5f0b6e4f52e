"""The audit's check of the stored batch lines (`batch_lines`, kept by the batches feature):
every on-chain batch's lines must hash to its signed root, and each line's decoded columns
must be its bytes' fields. The lines it reads are handed on to the anomaly checks.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.engine import Engine

from ledger.audit.codes import BATCH_LINE_MALFORMED, BATCH_LINES_ALTERED, INTEGRITY
from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, to_hex
from ledger.audit.rows import (
    Invalid,
    TableSpec,
    columns_or_skip,
    compare_columns,
    iter_typed_rows,
)
from ledger.core import aid_kinds
from ledger.core.errors import RecordError
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import MerkleTree, leaf_hash

__all__ = ["LINES", "LINE_COLS", "LINE_KEYS", "check_batch_lines"]

#: batch_lines: its decoded columns are re-derived from each line's bytes.
LINE_KEYS = (("batch_id", "hex32"), ("line_index", "int"))
LINE_COLS = (
    ("leaf_hash", "hex32"),
    ("commitment_id", "hex32"),
    ("beneficiary", "hex32"),
    ("quantity", "int"),
    ("item", "text"),
    ("unit", "text"),
    ("delivered_at", "int"),
    ("evidence_hash", "hex32"),
)
LINES = TableSpec(LINE_KEYS, (("line_bytes", "bytes"),), LINE_COLS)


def check_batch_lines(
    engine: Engine, replay: Replay, report: AuditReport
) -> dict[str, list[DeliveryLine]] | None:
    """Reads `batch_lines` if the batches feature keeps one: every on-chain batch's lines must
    hash to its signed root, and each line's decoded columns must be its bytes' fields."""
    cols = columns_or_skip(engine, report, "batch_lines", "batch_lines", LINES)
    if not cols or cols[0][0] != "line_bytes":
        return None  # without its keys and bytes no line can be checked
    names = [c for c, _ in cols]
    batches = {
        leaf.id_hex: leaf.record.record
        for leaf in replay.leaves
        if isinstance(leaf.record.record, aid_kinds.DeliveryBatch)
    }
    lines: dict[str, list[DeliveryLine]] = defaultdict(list)
    trees: dict[str, MerkleTree] = defaultdict(MerkleTree)
    keys = [k for k, _ in LINE_KEYS]
    rows = iter_typed_rows(
        engine, report, "batch_lines", LINE_KEYS, cols, order_by="batch_id, line_index"
    )
    n_lines = 0
    for (batch_id, line_index), vals in rows:
        n_lines += 1
        data = vals[0]
        if isinstance(data, Invalid):
            trees[batch_id].append(leaf_hash(b""))  # the root can no longer match
            continue
        trees[batch_id].append(leaf_hash(data))
        try:
            line = DeliveryLine.from_bytes(data)
        except RecordError:
            report.add(
                BATCH_LINE_MALFORMED,
                INTEGRITY,
                f"batch {batch_id}: stored line {line_index} does not parse",
                table="batch_lines",
                batch=batch_id,
                line_index=line_index,
            )
            continue
        lines[batch_id].append(line)
        if len(names) > 1:
            derived = {
                "leaf_hash": to_hex(leaf_hash(data)),
                "commitment_id": to_hex(line.commitment_id),
                "beneficiary": to_hex(line.beneficiary),
                "quantity": line.quantity,
                "item": line.item,
                "unit": line.unit,
                "delivered_at": line.delivered_at,
                "evidence_hash": to_hex(line.evidence_hash),
            }
            got = dict(zip(names[1:], vals[1:], strict=True))
            compare_columns(report, "batch_lines", keys, (batch_id, line_index), got, derived)
    checked = pending = 0
    for key, tree in trees.items():
        batch = batches.get(key)
        if batch is None:
            pending += 1  # an upload not (yet) on chain: nothing signed to compare with
            continue
        checked += 1
        if tree.size != batch.line_count or tree.root() != batch.batch_root:
            report.add(
                BATCH_LINES_ALTERED,
                INTEGRITY,
                f"batch {key}: the stored lines do not hash to the signed batch root "
                f"({tree.size} lines, signed {batch.line_count})",
                table="batch_lines",
                batch=key,
            )
    report.checks["batch_lines"] = (
        f"checked {checked} batches against their roots ({pending} not on chain), "
        f"and {n_lines} lines' columns against their bytes"
    )
    return dict(lines)
