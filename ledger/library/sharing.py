"""Sharing between provinces: a signed bundle of published projects with their anchor
records, RFC 9162 inclusion proofs and the log root, verified in full before import.

The exporting instance signs the bundle as EIP-712 `LibraryBundle` under its own ledger's
domain (written in the bundle; every anchor record must carry the same chain and contract),
over SHA-256 of the bundle's canonical JSON without its `signature`. Which exporters are
trusted is configuration (`BANGFU_LIBRARY_TRUSTED_EXPORTERS`), never part of the request, and
an import is itself a write: the library admin signs a `LibraryImport` naming the bundle's
hash. An import adds versions; it never overwrites a local project or a version it already
holds. The root is the exporter's indexed log root at export time; anyone who can reach the
exporter's chain can compare it with `logRoot()` at that size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_account import Account
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.eip712 import Domain
from ledger.core.errors import ConflictError, LedgerError, LibraryError, PermissionError_
from ledger.core.fields import ProjectKind
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import sha256
from ledger.library import auth, messages
from ledger.library.content import apply_content, canonical_json, parse_content
from ledger.library.messages import LIBRARY_BUNDLE, LIBRARY_IMPORT
from ledger.library.models import LibraryProject, LibraryProjectVersion
from ledger.library.proofs import verify_version_proof, version_proof

FORMAT = "bangfu-library-bundle/2"


def _digest(bundle: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in bundle.items() if k != "signature"}
    return sha256(canonical_json(body))


def bundle_hash(bundle: Mapping[str, Any]) -> str:
    """SHA-256 of the whole bundle's canonical JSON (signature included): what an import names."""
    return "0x" + sha256(canonical_json(bundle)).hex()


def _count(bundle: Mapping[str, Any]) -> int:
    items = bundle.get("projects")
    return len(items) if isinstance(items, list) else 0


def _bundle_message(bundle: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "instance": bundle.get("instance"),
        "exporter": bundle.get("exporter"),
        "treeSize": bundle.get("tree_size"),
        "root": bundle.get("root"),
        "projects": _count(bundle),
        "contentHash": "0x" + _digest(bundle).hex(),
    }


def _bundle_domain(bundle: Mapping[str, Any]) -> Domain:
    d = bundle.get("domain")
    try:
        assert isinstance(d, Mapping)
        return Domain(
            chain_id=int(d["chainId"]),
            verifying_contract=str(d["verifyingContract"]),
            name=str(d["name"]),
            version=str(d["version"]),
        )
    except (AssertionError, KeyError, TypeError, ValueError):
        raise LibraryError("the bundle names no valid domain", code="bad_bundle") from None


def export_bundle(
    session: Session,
    key: bytes | str,
    domain: Domain,
    *,
    instance: str,
    project_ids: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Every anchored version of the chosen (default: all published local) projects, signed
    by `key` as a LibraryBundle under this ledger's `domain`."""
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
        "domain": domain.as_dict(),
        "instance": instance,
        "exporter": Account.from_key(key).address,
        "tree_size": size,
        "root": root,
        "projects": items,
    }
    bundle["signature"] = messages.sign(LIBRARY_BUNDLE, _bundle_message(bundle), domain, key)
    return bundle


def verify_bundle(bundle: Mapping[str, Any], trusted: Sequence[str]) -> list[dict[str, Any]]:
    """Checks format, the exporter's signature (a trusted one), every proof and content hash
    and that every anchor is from the bundle's domain; returns the projects."""
    if not isinstance(bundle, Mapping) or bundle.get("format") != FORMAT:
        raise LibraryError(f"not a {FORMAT} bundle", code="bad_bundle")
    domain = _bundle_domain(bundle)
    try:
        body = messages.parse(LIBRARY_BUNDLE, _bundle_message(bundle))
        signer = messages.recover(LIBRARY_BUNDLE, body, domain, str(bundle.get("signature", "")))
    except LedgerError:
        raise LibraryError(
            "the bundle is malformed or its signature is", code="bad_bundle_signature"
        ) from None
    if signer != body["exporter"]:
        raise LibraryError(
            f"the bundle is signed by {signer}, not by the exporter it names (or it was altered "
            "after signing)",
            code="bad_bundle_signature",
        )
    if signer.lower() not in {t.lower() for t in trusted}:
        raise PermissionError_(
            f"{signer} 不是受信任的导出方 / {signer} is not a trusted exporter; the operator adds "
            "it to BANGFU_LIBRARY_TRUSTED_EXPORTERS after checking it with the exporting province",
            code="untrusted_exporter",
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
            if signed.domain != domain:
                raise LibraryError(
                    "an anchor is from another chain or contract than the bundle",
                    code="bad_bundle_proof",
                )
            if "0x" + anchor.project_id.hex() != item.get("project_id") or anchor.version != n:
                raise LibraryError("versions are out of order", code="bad_bundle_proof")
    return list(projects)


def import_message(bundle: Mapping[str, Any], nonce: str, expiry: int) -> dict[str, Any]:
    """The LibraryImport message the admin signs to import `bundle`."""
    return {
        "bundleHash": bundle_hash(bundle),
        "exporter": bundle.get("exporter"),
        "instance": bundle.get("instance"),
        "treeSize": bundle.get("tree_size"),
        "root": bundle.get("root"),
        "projects": _count(bundle),
        "nonce": nonce,
        "expiry": expiry,
    }


def import_signed_bundle(
    session: Session,
    bundle: Mapping[str, Any],
    message: Any,
    signature: str | None,
    domain: Domain,
    *,
    admins: Sequence[str],
    trusted: Sequence[str],
) -> int:
    """An admin-signed import of a bundle from a configured trusted exporter."""
    verified = auth.verify(session, LIBRARY_IMPORT, message, signature, domain)
    auth.require_admin(session, verified.signer, admins)
    if not isinstance(bundle, Mapping):
        raise LibraryError(f"not a {FORMAT} bundle", code="bad_bundle")
    try:
        expected = messages.parse(
            LIBRARY_IMPORT,
            import_message(bundle, verified.message["nonce"], verified.message["expiry"]),
        )
    except LedgerError:
        raise LibraryError(f"not a {FORMAT} bundle", code="bad_bundle") from None
    auth.require_equal(verified, expected)
    count = import_bundle(session, bundle, trusted)
    auth.consume(session, verified, "bundle_import")
    return count


def import_bundle(session: Session, bundle: Mapping[str, Any], trusted: Sequence[str]) -> int:
    """Verifies then stores the bundle's projects as read-only imported projects. Adds the
    versions it does not hold yet; refuses a local project, a project imported from another
    instance, or a version that differs from the one already held."""
    items = verify_bundle(bundle, trusted)
    origin = f"import:{str(bundle.get('instance', ''))[:40]}"
    count = 0
    for item in items:
        pid = item["project_id"]
        row = session.get(LibraryProject, pid)
        if row is not None and row.origin != origin:
            raise ConflictError(
                f"project {pid} is already here ({row.origin}); an import never overwrites it",
                code="import_conflict",
            )
        held = {
            v.version: v
            for v in session.scalars(
                select(LibraryProjectVersion).where(LibraryProjectVersion.project_id == pid)
            )
        }
        for proof in item["versions"]:
            old = held.get(int(proof["version"]))
            if old is not None and bytes(old.anchor_bytes) != bytes.fromhex(proof["record"][2:]):
                raise ConflictError(
                    f"project {pid} version {proof['version']} differs from the one imported "
                    "before; an import never overwrites a version",
                    code="import_conflict",
                )
        if held and len(item["versions"]) <= max(held):
            continue  # nothing new
        latest = item["versions"][-1]
        doc = json.loads(latest["content_json"])
        kind = ProjectKind.NEED if doc.get("kind") == "need" else ProjectKind.SUPPLY
        body = {
            k: v
            for k, v in doc.items()
            if k not in ("format", "project_id", "kind", "status", "org_code")
        }
        content = parse_content(kind, body)
        if row is None:
            row = LibraryProject(project_id=pid, kind=int(kind), origin=origin, version=0)
            session.add(row)
        row.status = str(doc.get("status", "published"))
        row.owner = str(bundle.get("exporter"))
        row.county = int(doc["county"]) if kind == ProjectKind.NEED else None
        row.org_code = doc.get("org_code")
        row.key_county = False
        apply_content(row, content, row.status)
        row.draft_json = latest["content_json"]
        row.version = len(item["versions"])
        for proof in item["versions"]:
            if int(proof["version"]) in held:
                continue
            record = bytes.fromhex(proof["record"][2:])
            anchor = signed_from_bytes(record)
            session.add(
                LibraryProjectVersion(
                    project_id=pid,
                    version=proof["version"],
                    status=json.loads(proof["content_json"]).get("status", ""),
                    content_json=proof["content_json"],
                    content_hash=proof["content_hash"],
                    anchor_id="0x" + anchor.id.hex(),
                    anchor_bytes=record,
                    signer=anchor.signer,
                )
            )
        count += 1
    session.flush()
    return count
