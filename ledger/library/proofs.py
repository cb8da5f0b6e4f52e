"""Proofs of past project versions: a version's canonical JSON with its ProjectAnchor and
an RFC 9162 inclusion proof against the indexed log, and checking such a proof offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.errors import ConflictError, LibraryError, NotFoundError
from ledger.core.merkle import MerkleTree, leaf_hash, verify_inclusion
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import SignedRecord, sha256
from ledger.library.models import LibraryProjectVersion
from ledger.library.ownership import get_project
from ledger.store.models import LogEntry, ProjectAnchorRow

__all__ = ["anchored_fields", "verify_version_proof", "version_proof"]


def anchored_fields(session: Session, anchor_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The human-readable fields of each anchor as the indexer read them from the chain
    (title, budget in fen, end date as YYYYMMDD or 0), by anchor id; an anchor not indexed
    yet is absent."""
    if not anchor_ids:
        return {}
    rows = session.scalars(
        select(ProjectAnchorRow).where(
            ProjectAnchorRow.record_id.in_([a.lower() for a in anchor_ids])
        )
    )
    return {
        r.record_id: {"title": r.title, "budget": int(r.budget), "end_date": int(r.end_date)}
        for r in rows
    }


def version_proof(session: Session, project_id: str, version: int) -> dict[str, Any]:
    """A past version's canonical JSON, its ProjectAnchor record bytes and an RFC 9162
    inclusion proof against the indexed log (raises if the anchor is not indexed yet)."""
    row = get_project(session, project_id)
    v = session.get(LibraryProjectVersion, (row.project_id, version))
    if v is None:
        raise NotFoundError(f"project {row.project_id} has no version {version}", code="no_version")
    entry = session.scalar(select(LogEntry).where(LogEntry.record_id == v.anchor_id))
    if entry is None:
        raise ConflictError(
            f"version {version} is not on chain yet; wait for the relayer and indexer",
            code="not_yet_on_chain",
        )
    leaves = [
        bytes.fromhex(h[2:])
        for h in session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.leaf_index))
    ]
    tree = MerkleTree(leaves)
    return {
        "project_id": row.project_id,
        "version": version,
        "content_json": v.content_json,
        "content_hash": v.content_hash,
        # as indexed from the chain: what the signed anchor says, beside the content
        "anchored": anchored_fields(session, [v.anchor_id]).get(v.anchor_id.lower()),
        "record": "0x" + entry.record_bytes.hex(),
        "leaf_index": entry.leaf_index,
        "tree_size": tree.size,
        "root": "0x" + tree.root().hex(),
        "inclusion_proof": ["0x" + p.hex() for p in tree.inclusion_proof(entry.leaf_index)],
    }


def verify_version_proof(proof: Mapping[str, Any]) -> SignedRecord:
    """Checks a version proof offline: content hash, anchor fields, signature, inclusion."""
    try:
        data = bytes.fromhex(str(proof["record"])[2:])
        signed = signed_from_bytes(data)
        signed.verify()
        anchor = signed.record
        content = str(proof["content_json"]).encode("utf-8")
        path = [bytes.fromhex(str(p)[2:]) for p in proof["inclusion_proof"]]
        root = bytes.fromhex(str(proof["root"])[2:])
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
    except (KeyError, ValueError, TypeError) as exc:
        raise LibraryError(f"malformed proof: {exc}", code="bad_proof") from None
    if not isinstance(anchor, ProjectAnchor):
        raise LibraryError("the proven record is not a ProjectAnchor", code="bad_proof")
    if sha256(content) != anchor.content_hash:
        raise LibraryError(
            "content does not hash to the anchored contentHash", code="content_mismatch"
        )
    doc = json.loads(content)
    if doc.get("project_id") != "0x" + anchor.project_id.hex() or anchor.version != int(
        proof.get("version", -1)
    ):
        raise LibraryError("content and anchor name different projects", code="content_mismatch")
    verify_inclusion(leaf_hash(data), index, size, path, root)
    return signed
