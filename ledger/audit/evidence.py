"""The audit's evidence check: files named by their SHA-256 (`<64 hex>` or `0x<64 hex>`, any
suffix) must hash to their names, and every evidence hash a delivery signs should have one."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from ledger.audit.codes import ANOMALY, INTEGRITY
from ledger.audit.replay import ZERO32, Replay
from ledger.audit.report import AuditReport, Progress
from ledger.core.aid_kinds import Delivery, DeliveryBatch
from ledger.core.errors import LedgerError

__all__ = ["check_evidence", "file_sha256"]


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_evidence(replay: Replay, folder: Path, report: AuditReport, progress: Progress) -> None:
    """Every file in `folder` against the evidence hashes the replayed deliveries sign."""
    referenced: dict[str, list[str]] = defaultdict(list)
    for leaf in replay.leaves:
        r: Any = leaf.record.record
        if isinstance(r, Delivery | DeliveryBatch) and r.evidence_hash != ZERO32:
            referenced[r.evidence_hash.hex()].append(leaf.id_hex)
    if not folder.is_dir():
        raise LedgerError(f"{folder} is not a folder of evidence files", code="bad_evidence")
    found: set[str] = set()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for i, path in enumerate(files):
        stem = path.name.split(".", 1)[0].lower().removeprefix("0x")
        if len(stem) != 64 or any(c not in "0123456789abcdef" for c in stem):
            report.add(
                "evidence_unnamed",
                ANOMALY,
                f"{path.name} is not named by its SHA-256; it was not checked",
                file=str(path),
            )
            continue
        digest = file_sha256(path)
        found.add(stem)
        if digest != stem:
            report.add(
                "evidence_altered",
                INTEGRITY,
                f"{path.name}: its SHA-256 is {digest}, not the hash it is filed "
                "under (and that the records commit to)",
                file=str(path),
                records=referenced.get(stem, []),
            )
        elif stem not in referenced:
            report.add(
                "evidence_unreferenced",
                ANOMALY,
                f"{path.name} is not referenced by any delivery",
                file=str(path),
            )
        progress("evidence", i + 1, len(files))
    for h, rids in referenced.items():
        if h not in found:
            report.add(
                "evidence_missing",
                ANOMALY,
                f"no evidence file for hash 0x{h} ({len(rids)} record(s))",
                evidence_hash="0x" + h,
                records=rids[:10],
            )
    report.checks["evidence"] = f"checked {len(files)} files"
