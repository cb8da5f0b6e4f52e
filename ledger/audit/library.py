"""The audit's checks of the project library against the chain: the match rule, and the
library columns the portal and API show beside an anchored project.

- The match rule (the relayer's pre-check, re-checked here because the contract does not
  enforce it): every Commitment's `matchId` names a row of `library_matches` that is
  `accepted`, for the commitment's need, between the need's county (from its anchor on
  chain) and the committing organization (its credit code from its registration on chain).
- Each `library_project_versions` row whose anchor is on chain: anchor bytes, signer,
  version and content hash are the chain's, and the stored content hashes to that hash.
- Each `library_projects` row of a project anchored on chain: kind, county, category and
  owner are the latest anchor's; at the anchored version, the title and status shown are the
  signed content's (the anchor's own title once anchors carry one).

Plain SQL on table names, every value type-checked, like the database diff (`ledger.audit.rows`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from ledger.audit.codes import (
    INTEGRITY,
    MATCH_MISSING,
    MATCH_NOT_ACCEPTED,
    MATCH_PARTIES_MISMATCH,
)
from ledger.audit.replay import Leaf, Replay
from ledger.audit.report import AuditReport, to_hex
from ledger.audit.rows import (
    ZERO_HEX,
    Invalid,
    TableSpec,
    columns_or_skip,
    compare_columns,
    iter_typed_rows,
    present_columns,
    shown,
)
from ledger.core.aid_kinds import Commitment, ProjectAnchor
from ledger.core.fields import ProjectKind

MATCHES = TableSpec(
    (("match_id", "hex32"),),
    (("need_id", "hex32"), ("county", "int"), ("org_code", "text"), ("status", "text")),
    # the signed messages, where the library keeps them (issue 12): their ids and parties
    # must be the row's (their signatures need the library's LibraryMatch type, not read here)
    (("supply_id", "hex32"), ("proposal_message", "text?"), ("response_message", "text?")),
)
#: message field → the chain value it must carry (see `check_matches`)
_MESSAGE_FIELDS = (
    ("matchId", "match_id"),
    ("needId", "need_id"),
    ("county", "county"),
    ("orgCode", "org_code"),
)
VERSIONS = TableSpec(
    (("project_id", "hex32"), ("version", "int")),
    (
        ("status", "text"),
        ("content_json", "text"),
        ("content_hash", "hex32"),
        ("anchor_id", "hex32"),
        ("anchor_bytes", "bytes"),
        ("signer", "address"),
    ),
)
PROJECTS = TableSpec(
    (("project_id", "hex32"),),
    (
        ("kind", "int"),
        ("county", "int?"),
        ("category", "int"),
        ("owner", "address"),
        ("version", "int"),
        ("status", "text"),
        ("title", "text"),
    ),
)


def _org_codes(replay: Replay) -> dict[str, str]:
    """Signing address → credit code, from OrganizationRegistered events on chain."""
    out: dict[str, str] = {}
    for ch in replay.roles:
        if ch.org_code:
            out[ch.address] = ch.org_code
    return out


def check_matches(engine: Engine, replay: Replay, report: AuditReport) -> None:
    """Every Commitment on chain cites an accepted match between its parties."""
    cols = columns_or_skip(engine, report, "match_rule", "library_matches", MATCHES)
    if not cols:
        return
    names = [c for c, _ in cols]
    rows = dict(iter_typed_rows(engine, report, "library_matches", MATCHES.keys, cols))
    codes = _org_codes(replay)
    checked = 0
    for leaf in replay.leaves:
        r: Any = leaf.record.record
        if not isinstance(r, Commitment):
            continue
        checked += 1
        mid, need_id = to_hex(r.match_id), to_hex(r.need_id)
        where = {"record_id": leaf.id_hex, "match_id": mid, "index": leaf.index}
        got = rows.get((mid,))
        if got is None:
            report.add(
                MATCH_MISSING,
                INTEGRITY,
                f"commitment {leaf.id_hex} cites match {mid}, which the library does not "
                "hold: no accepted 点单/接单 stands behind this promise",
                **where,
            )
            continue
        m = dict(zip(names, got, strict=True))
        if m.get("status") != "accepted":
            report.add(
                MATCH_NOT_ACCEPTED,
                INTEGRITY,
                f"commitment {leaf.id_hex} cites match {mid}, which is "
                f"{shown(m.get('status'))!r}, not accepted",
                status=shown(m.get("status")),
                **where,
            )
        need = replay.projects.get(r.need_id)
        chain = {
            "need_id": need_id,
            "county": need.county if need is not None else None,
            "org_code": codes.get(leaf.record.signer),
        }
        differ = {
            k: {"database": shown(m[k]), "chain": v}
            for k, v in chain.items()
            if k in m and not isinstance(m[k], Invalid) and m[k] != v
        }
        supply_id = m.get("supply_id")
        if isinstance(supply_id, str) and supply_id != ZERO_HEX:
            # a 点单 of a supply project anchored here: it is a supply project, and the
            # committing organization's (one anchored on another ledger is not checked)
            supply = replay.projects.get(bytes.fromhex(supply_id[2:]))
            if supply is not None and (
                supply.kind != ProjectKind.SUPPLY or codes.get(supply.owner) != chain["org_code"]
            ):
                differ["supply_id"] = {
                    "database": supply_id,
                    "chain": "a supply project of the committing organization",
                }
        for column in ("proposal_message", "response_message"):
            raw = m.get(column)
            if not isinstance(raw, str):
                continue  # not kept (older library) or already reported as invalid
            try:
                message = json.loads(raw)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                differ[column] = {"database": raw[:200], "chain": "a signed LibraryMatch"}
                continue
            expect = {"match_id": mid, **chain}
            for field_name, key in _MESSAGE_FIELDS:
                value = message.get(field_name)
                if isinstance(value, str) and key != "org_code":
                    value = value.lower()
                if value != expect[key]:
                    differ[f"{column}.{field_name}"] = {
                        "database": shown(message.get(field_name)),
                        "chain": expect[key],
                    }
        if differ:
            report.add(
                MATCH_PARTIES_MISMATCH,
                INTEGRITY,
                f"commitment {leaf.id_hex} cites match {mid}, whose "
                f"{', '.join(differ)} are not the commitment's (need, the need's county, the "
                "signer's credit code, a supply project of the signer's)",
                columns=differ,
                **where,
            )
    report.checks["match_rule"] = f"checked {checked} commitments against library_matches"


def check_library(engine: Engine, replay: Replay, report: AuditReport) -> None:
    """Library rows of projects anchored on chain against their anchors."""
    insp = inspect(engine)
    anchors: dict[str, Leaf] = {}  # anchor record id → leaf
    latest: dict[str, tuple[int, Leaf]] = {}  # project id → its highest anchored version
    for leaf in replay.leaves:
        r: Any = leaf.record.record
        if isinstance(r, ProjectAnchor):
            anchors[leaf.id_hex] = leaf
            pid = to_hex(r.project_id)
            if pid not in latest or r.version > latest[pid][0]:
                latest[pid] = (r.version, leaf)
    signed: dict[tuple[str, int], dict[str, Any]] = {}  # verified content per version
    checked_versions = checked_projects = 0
    if insp.has_table("library_project_versions"):
        cols = present_columns(engine, report, "library_project_versions", VERSIONS)
        names = [c for c, _ in cols]
        rows = dict(
            iter_typed_rows(engine, report, "library_project_versions", VERSIONS.keys, cols)
        )
        keys = [k for k, _ in VERSIONS.keys]
        for key, vals in rows.items():
            v = dict(zip(names, vals, strict=True))
            anchor_id = v.get("anchor_id")
            found = anchors.get(anchor_id) if isinstance(anchor_id, str) else None
            if found is None:
                continue  # not (yet) on this chain: pending, or anchored on another ledger
            leaf = found
            checked_versions += 1
            a: Any = leaf.record.record
            content = v.get("content_json")
            content_digest: Any = content
            if isinstance(content, str):
                content_digest = "0x" + hashlib.sha256(content.encode("utf-8")).hexdigest()
            want = {
                "project_id": to_hex(a.project_id),
                "version": a.version,
                "content_hash": to_hex(a.content_hash),
                "anchor_bytes": leaf.data,
                "signer": leaf.record.signer,
                "content_json": to_hex(a.content_hash),
            }
            got_all = {"project_id": key[0], "version": key[1], **v, "content_json": content_digest}
            compare_columns(report, "library_project_versions", keys, key, got_all, want)
            if isinstance(content, str) and content_digest == to_hex(a.content_hash):
                try:
                    doc = json.loads(content)
                except ValueError:
                    doc = None
                if isinstance(doc, dict):
                    signed[(key[0], a.version)] = doc
    if insp.has_table("library_projects"):
        cols = present_columns(engine, report, "library_projects", PROJECTS)
        names = [c for c, _ in cols]
        rows = dict(iter_typed_rows(engine, report, "library_projects", PROJECTS.keys, cols))
        for (pid,), vals in rows.items():
            newest = latest.get(pid)
            if newest is None:
                continue  # a draft, or a project anchored on another ledger
            leaf = newest[1]
            checked_projects += 1
            a = leaf.record.record
            p = dict(zip(names, vals, strict=True))
            expect: dict[str, Any] = {
                "kind": a.project_kind,
                "county": a.county if a.project_kind == ProjectKind.NEED else p.get("county"),
                "category": a.category,
                "owner": leaf.record.signer,
            }
            version = p.get("version")
            if isinstance(version, int) and version < a.version:
                expect["version"] = a.version  # the library lost versions the chain has
            if version == a.version:
                doc = signed.get((pid, a.version))
                title = getattr(a, "title", "") or (doc or {}).get("title")
                if title is not None:
                    expect["title"] = title
                if doc is not None and "status" in doc:
                    expect["status"] = doc["status"]
            compare_columns(report, "library_projects", ["project_id"], (pid,), p, expect)
    report.checks["library"] = (
        f"checked {checked_versions} anchored versions and {checked_projects} projects"
    )
