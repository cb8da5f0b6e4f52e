"""Sharing between provinces: a signed bundle of published projects with their anchor
records, RFC 9162 inclusion proofs and the log root, verified in full before import.

The exporting instance signs the bundle with EIP-191 (personal_sign) over SHA-256 of the
bundle's canonical JSON without its `signature`; the importer names the exporter addresses
it trusts. The root is the exporter's indexed log root at export time; anyone who can reach
the exporter's chain can compare it with `logRoot()` at that size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import LedgerError
from ledger.library.models import LibraryProject, LibraryProjectVersion
from ledger.library.projects import (
    LibraryError,
    _apply,
    canonical_json,
    parse_content,
    verify_version_proof,
    version_proof,
)
from ledger.records import ProjectAnchor, ProjectKind, SignedRecord, sha256

FORMAT = "bangfu-library-bundle/1"


def _digest(bundle: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in bundle.items() if k != "signature"}
    return sha256(canonical_json(body))


def export_bundle(
    session: Session, key: bytes | str, *, instance: str, project_ids: Iterable[str] | None = None
) -> dict[str, Any]:
    """Every anchored version of the chosen (default: all published local) projects."""
    stmt = select(LibraryProject).where(
        LibraryProject.status != "draft", LibraryProject.origin == "local"
    )
    if project_ids is not None:
        stmt = stmt.where(LibraryProject.project_id.in_([p.lower() for p in project_ids]))
    items: list[dict[str, Any]] = []
    for row in session.scalars(stmt.order_by(LibraryProject.project_id)):
        proofs = [
            version_proof(session, row.project_id, v)
            for v in session.scalars(
                select(LibraryProjectVersion.version)
                .where(LibraryProjectVersion.project_id == row.project_id)
                .order_by(LibraryProjectVersion.version)
            )
        ]
        items.append({"project_id": row.project_id, "versions": proofs})
    roots: set[tuple[int, str]] = {
        (int(p["tree_size"]), str(p["root"])) for item in items for p in item["versions"]
    }
    if len(roots) > 1:
        raise LibraryError("the log grew during export; export again", code="export_raced")
    size, root = roots.pop() if roots else (0, "0x" + sha256(b"").hex())
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "instance": instance,
        "exporter": Account.from_key(key).address,
        "tree_size": size,
        "root": root,
        "projects": items,
    }
    signed = Account.sign_message(encode_defunct(primitive=_digest(bundle)), key)
    bundle["signature"] = "0x" + bytes(signed.signature).hex()
    return bundle


def verify_bundle(bundle: Mapping[str, Any], trusted: Iterable[str]) -> list[dict[str, Any]]:
    """Checks format, exporter signature, every proof and content hash; returns the projects."""
    if not isinstance(bundle, Mapping) or bundle.get("format") != FORMAT:
        raise LibraryError(f"not a {FORMAT} bundle", code="bad_bundle")
    try:
        signer = Account.recover_message(
            encode_defunct(primitive=_digest(bundle)), signature=str(bundle["signature"])
        )
    except Exception:  # noqa: BLE001 - malformed signatures raise several types
        raise LibraryError(
            "the bundle signature is malformed", code="bad_bundle_signature"
        ) from None
    if signer != bundle.get("exporter") or signer.lower() not in {t.lower() for t in trusted}:
        raise LibraryError(
            f"the bundle is signed by {signer}, which is not a trusted exporter (or the bundle "
            "was altered after signing); ask the exporting province for its address",
            code="bad_bundle_signature",
        )
    projects = bundle.get("projects")
    if not isinstance(projects, list):
        raise LibraryError("bundle has no project list", code="bad_bundle")
    for item in projects:
        versions = item.get("versions") if isinstance(item, Mapping) else None
        if not versions:
            raise LibraryError("a bundled project has no versions", code="bad_bundle")
        for n, proof in enumerate(versions, 1):
            if proof.get("root") != bundle.get("root") or proof.get("tree_size") != bundle.get(
                "tree_size"
            ):
                raise LibraryError("a proof is for another root", code="bad_bundle_proof")
            try:
                signed = verify_version_proof(proof)
            except LedgerError as exc:
                raise LibraryError(
                    f"project {item.get('project_id')} version {n}: {exc.message}",
                    code="bad_bundle_proof",
                ) from None
            anchor = signed.record
            assert isinstance(anchor, ProjectAnchor)
            if "0x" + anchor.project_id.hex() != item.get("project_id") or anchor.version != n:
                raise LibraryError("versions are out of order", code="bad_bundle_proof")
    return list(projects)


def import_bundle(session: Session, bundle: Mapping[str, Any], trusted: Iterable[str]) -> int:
    """Verifies then stores the bundle's projects as read-only imported projects."""
    items = verify_bundle(bundle, trusted)
    origin = f"import:{str(bundle.get('instance', ''))[:40]}"
    count = 0
    for item in items:
        latest = item["versions"][-1]
        doc = json.loads(latest["content_json"])
        kind = ProjectKind.NEED if doc.get("kind") == "need" else ProjectKind.SUPPLY
        body = {
            k: v
            for k, v in doc.items()
            if k not in ("format", "project_id", "kind", "status", "org_code")
        }
        content = parse_content(kind, body)
        pid = item["project_id"]
        row = session.get(LibraryProject, pid)
        if row is not None and row.origin == "local":
            raise LibraryError(f"project {pid} already exists here", code="import_conflict")
        if row is None:
            row = LibraryProject(project_id=pid, kind=int(kind), origin=origin, version=0)
            session.add(row)
        row.status = str(doc.get("status", "published"))
        row.owner = str(bundle.get("exporter"))
        row.county = int(doc["county"]) if kind == ProjectKind.NEED else None
        row.org_code = doc.get("org_code")
        row.key_county = False
        row.origin = origin
        row.draft_json = ""
        _apply(row, content, row.status)
        row.draft_json = latest["content_json"]
        row.version = len(item["versions"])
        for proof in item["versions"]:
            if session.get(LibraryProjectVersion, (pid, proof["version"])) is None:
                record = bytes.fromhex(proof["record"][2:])
                session.add(
                    LibraryProjectVersion(
                        project_id=pid,
                        version=proof["version"],
                        status=json.loads(proof["content_json"]).get("status", ""),
                        content_json=proof["content_json"],
                        content_hash=proof["content_hash"],
                        anchor_id="0x"
                        + ProjectAnchor.anchor_id(bytes.fromhex(pid[2:]), proof["version"]).hex(),
                        anchor_bytes=record,
                        signer=SignedRecord.from_bytes(record).signer,
                    )
                )
        count += 1
    session.flush()
    return count
