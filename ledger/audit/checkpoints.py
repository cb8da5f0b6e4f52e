"""The audit's check of the operator's stored checkpoints: each is a root of the replayed log,
its C2SP note states its row, and none was deleted (ids are handed out in order and never
reused; every witness's cosigned size and every cosignature's checkpoint is a stored row)."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.audit.codes import (
    CHECKPOINT_BEYOND_LOG,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_MISSING,
    CHECKPOINT_NOTE_MISMATCH,
    INTEGRITY,
)
from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, to_hex
from ledger.audit.rows import TableSpec, columns_or_skip, is_int, iter_typed_rows, shown

__all__ = ["CHECKPOINT_COLS", "check_checkpoints"]

CHECKPOINT_COLS = (
    ("origin", "text"),
    ("size", "int"),
    ("root", "hex32"),
    ("block_number", "int"),
    ("note", "text"),
)


def _note_body(note: str) -> tuple[str, int, str] | None:
    """(origin, size, 0x root) stated by a C2SP checkpoint note, or None if it has none."""
    body = note.split("\n\n", 1)[0].split("\n")
    if len(body) < 3 or not body[1].isdigit():
        return None
    try:
        root = base64.b64decode(body[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(root) != 32:
        return None
    return body[0], int(body[1]), to_hex(root)


def check_checkpoints(engine: Engine, replay: Replay, report: AuditReport) -> None:
    """Operator checkpoints stored in the database: each is a root of the replayed log, its
    note states its row, and none was deleted (ids are handed out in order and never
    reused; every witness's cosigned size is a stored checkpoint)."""
    spec = TableSpec((("id", "int"),), CHECKPOINT_COLS)
    cols = columns_or_skip(engine, report, "checkpoints", "checkpoints", spec)
    if not cols:
        return
    names = [c for c, _ in cols]
    rows = dict(iter_typed_rows(engine, report, "checkpoints", spec.keys, cols, order_by="id"))
    tree = replay.tree
    col = {c: names.index(c) for c in names}
    sizes: set[int] = set()
    for (cid,), vals in rows.items():
        size = vals[col["size"]] if "size" in col else None
        root = vals[col["root"]] if "root" in col else None
        if is_int(size):
            sizes.add(size)
        if not is_int(size) or not isinstance(root, str) or size < 0:
            continue
        if size > tree.size:
            report.add(
                CHECKPOINT_BEYOND_LOG,
                INTEGRITY,
                f"a signed checkpoint has {size} leaves; the chain has only "
                f"{tree.size}: the chain was rewritten or rolled back",
                size=size,
                id=cid,
            )
        elif to_hex(tree.root(size)) != root:
            report.add(
                CHECKPOINT_MISMATCH,
                INTEGRITY,
                f"the signed checkpoint at size {size} has root {root}, the "
                f"chain's log {to_hex(tree.root(size))}: history was rewritten",
                size=size,
                block=shown(vals[col["block_number"]]) if "block_number" in col else None,
                id=cid,
            )
        note = vals[col["note"]] if "note" in col else None
        if isinstance(note, str):
            stated = _note_body(note)
            origin = vals[col["origin"]] if "origin" in col else None
            if stated != (origin, size, root):
                report.add(
                    CHECKPOINT_NOTE_MISMATCH,
                    INTEGRITY,
                    f"checkpoint {cid}: its note states "
                    f"{'nothing readable' if stated is None else stated}, the row says "
                    f"({shown(origin)}, {size}, {root}); the API serves the note",
                    id=cid,
                    note_states=list(stated) if stated else None,
                    row=[shown(origin), size, root],
                )
    _missing_checkpoints(engine, report, sorted(k[0] for k in rows), sizes)
    report.checks["checkpoints"] = f"checked {len(rows)}"


def _missing_checkpoints(
    engine: Engine, report: AuditReport, ids: list[int], sizes: set[int]
) -> None:
    insp = inspect(engine)
    gone: list[int] = []
    if ids:
        present = set(ids)
        gone = [i for i in range(1, ids[-1]) if i not in present]
    if engine.dialect.name == "postgresql":
        # the id sequence remembers ids handed out after the last row left
        with engine.connect() as conn:
            try:
                last, called = conn.execute(
                    text("SELECT last_value, is_called FROM checkpoints_id_seq")
                ).one()
            except Exception:  # noqa: BLE001 - another sequence name: only this check is lost
                last, called = 0, False
        top = ids[-1] if ids else 0
        if called and is_int(last) and last > top:
            gone += list(range(top + 1, last + 1))
    if gone:
        report.add(
            CHECKPOINT_MISSING,
            INTEGRITY,
            f"{len(gone)} signed checkpoint(s) were deleted from the database (ids "
            f"{', '.join(map(str, gone[:20]))}{'…' if len(gone) > 20 else ''})",
            ids=gone[:200],
        )
    if insp.has_table("witness_progress"):
        progress = dict(
            iter_typed_rows(
                engine, report, "witness_progress", (("witness", "text"),), (("size", "int"),)
            )
        )
        for (witness,), (size,) in progress.items():
            if is_int(size) and size > 0 and size not in sizes:
                report.add(
                    CHECKPOINT_MISSING,
                    INTEGRITY,
                    f"witness {witness} cosigned the checkpoint at size {size}, which is no "
                    "longer in the database",
                    witness=witness,
                    size=size,
                )
    if insp.has_table("checkpoint_cosignatures"):
        cosigned = dict(
            iter_typed_rows(
                engine,
                report,
                "checkpoint_cosignatures",
                (("checkpoint_id", "int"), ("witness", "text")),
                (),
            )
        )
        orphans = sorted({cid for cid, _ in cosigned if cid not in set(ids)})
        if orphans:
            report.add(
                CHECKPOINT_MISSING,
                INTEGRITY,
                f"cosignatures remain for checkpoint(s) {orphans[:20]} that are gone",
                ids=orphans[:200],
            )
