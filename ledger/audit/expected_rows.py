"""The read model as the replayed chain says it must be: each table the audit diffs, with its
key and value columns and their types (`TABLES`), and every row the indexer must have written
for the chain up to a block (`expected_rows`), the maintained totals summed afresh.

Deliberately independent of `ledger.store.models` and the indexer: the expected rows are
rebuilt here from the replay, so a bug or a hand edit in either shows up as a named row
(`ledger.audit.database` compares them with the database).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledger.audit.replay import Replay
from ledger.audit.report import to_hex
from ledger.audit.rows import ZERO_HEX, Row, TableSpec
from ledger.core import aid_kinds
from ledger.core.fields import from_text32

__all__ = ["OPTIONAL_TABLES", "TABLES", "expected_rows"]

#: The chain location each list row carries (schema 0010_read_model), compared with where
#: the chain says its record is; a commitment's block time was always one of its columns.
#: Nullable, as the columns were added to existing tables: a NULL where the chain says a
#: location is a differing value (db_row_altered), like any other.
LOCATION = (
    ("leaf_index", "int?"),
    ("chain_id", "int?"),
    ("block_number", "int?"),
    ("block_hash", "hex32?"),
    ("block_time", "int?"),
    ("tx_hash", "hex32?"),
    ("log_index", "int?"),
)
COMMITMENT_LOCATION = tuple(c for c in LOCATION if c[0] != "block_time")
#: The maintained totals (schema 0010_read_model): each amount in halves, hi * 2^32 + lo.
SPLIT = 1 << 32
TOTAL_AMOUNTS = ("committed", "delivered", "confirmed")
LIST_TABLES = ("project_anchors", "commitments", "deliveries", "receipts", "flags")

TABLES: dict[str, TableSpec] = {
    "log_entries": TableSpec(
        (("leaf_index", "int"),),
        (
            ("record_id", "hex32"),
            ("kind", "int"),
            ("signer", "address"),
            ("leaf_hash", "hex32"),
            ("record_bytes", "bytes"),
            ("chain_id", "int"),
            ("block_number", "int"),
            ("block_hash", "hex32"),
            ("block_time", "int"),
            ("tx_hash", "hex32"),
            ("log_index", "int"),
        ),
    ),
    "project_anchors": TableSpec(
        (("record_id", "hex32"),),
        (
            ("project_id", "hex32"),
            ("project_kind", "int"),
            ("county", "int"),
            ("category", "int"),
            ("content_hash", "hex32"),
            ("version", "int"),
            ("author", "address"),
            # the anchor's human-readable fields (migration 0007_anchor_fields)
            ("title", "text"),
            ("budget", "int"),
            ("end_date", "int"),
        ),
        LOCATION,
    ),
    "commitments": TableSpec(
        (("record_id", "hex32"),),
        (
            ("need_id", "hex32"),
            ("match_id", "hex32"),
            ("org", "address"),
            ("county", "int"),
            ("category", "int"),
            ("resource_kind", "int"),
            ("quantity", "int"),
            ("unit", "text"),
            ("due_date", "int"),
            ("terms_hash", "hex32"),
            ("delivered", "int"),
            ("confirmed", "int"),
            ("block_time", "int"),
        ),
        COMMITMENT_LOCATION,
    ),
    "deliveries": TableSpec(
        (("record_id", "hex32"), ("commitment_id", "hex32")),
        (
            ("org", "address"),
            ("county", "int"),
            ("category", "int"),
            ("quantity", "int"),
            ("delivered_at", "int"),
            ("evidence_hash", "hex32"),
            ("beneficiary_count", "int"),
            ("beneficiary_root", "hex32"),
            ("batch", "bool"),
            ("line_count", "int"),
            ("receipted", "bool"),
        ),
        LOCATION,
    ),
    "receipts": TableSpec(
        (("record_id", "hex32"),),
        (
            ("delivery_id", "hex32"),
            ("commitment_id", "hex32"),
            ("county", "int"),
            ("category", "int"),
            ("org", "address"),
            ("signer", "address"),
            ("confirmed_quantity", "int"),
            ("note_hash", "hex32"),
        ),
        LOCATION,
    ),
    "flags": TableSpec(
        (("record_id", "hex32"),),
        (
            ("target_id", "hex32"),
            ("auditor", "address"),
            ("reason_code", "int"),
            ("note_hash", "hex32"),
        ),
        LOCATION,
    ),
    "role_events": TableSpec(
        (("tx_hash", "hex32"), ("log_index", "int")),
        (
            ("address", "address"),
            ("role", "text"),
            ("granted", "bool"),
            ("county", "int?"),
            ("org_code", "text?"),
            ("chain_id", "int"),
            ("block_number", "int"),
            ("block_hash", "hex32"),
        ),
        # The names a registration event carries (schema 0008_registration_names).
        (("name", "text?"), ("org_type", "int?"), ("authority", "text?")),
    ),
    # The totals the indexer maintains, against a fresh sum of the commitments the chain
    # implies; checked when the database has the table (schema 0010_read_model).
    "commitment_totals": TableSpec(
        (
            ("county", "int"),
            ("category", "int"),
            ("org", "address"),
            ("resource_kind", "int"),
            ("unit", "text"),
        ),
        (
            ("commitments", "int"),
            *((f"{a}_{h}", "int") for a in TOTAL_AMOUNTS for h in ("hi", "lo")),
        ),
    ),
    # the same summed per one grouping (county, category, org, or all with member "")
    "group_totals": TableSpec(
        (("dimension", "text"), ("member", "text"), ("resource_kind", "int"), ("unit", "text")),
        (
            ("commitments", "int"),
            *((f"{a}_{h}", "int") for a in TOTAL_AMOUNTS for h in ("hi", "lo")),
        ),
    ),
}
#: Tables an older schema lacks without that being a finding.
OPTIONAL_TABLES = frozenset({"commitment_totals", "group_totals"})


def expected_rows(replay: Replay, cutoff: int) -> dict[str, dict[Row, Row]]:
    """Every row the indexer must have written for the chain up to block `cutoff`, each a
    tuple over `TABLES[t].all_cols`."""
    out: dict[str, dict[Row, Row]] = {t: {} for t in TABLES}
    anchors: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # pid → (ver, cty, cat)
    commits: dict[str, list[Any]] = {}
    shares: dict[str, list[Row]] = defaultdict(list)  # delivery record id → keys
    for leaf in replay.leaves:
        if leaf.block_number > cutoff:
            break
        s = leaf.record
        r: Any = s.record
        rid = leaf.id_hex
        leaf_hex = to_hex(leaf.leaf_hash)  # the replay's SHA-256(0x00 ‖ the event's bytes)
        out["log_entries"][(leaf.index,)] = (
            rid,
            int(s.kind),
            s.signer,
            leaf_hex,
            leaf_hex,  # record_bytes, compared by their hash
            replay.chain_id,
            leaf.block_number,
            leaf.block_hash.lower(),
            leaf.block_time,
            leaf.tx_hash.lower(),
            leaf.log_index,
        )
        if isinstance(r, aid_kinds.ProjectAnchor):
            out["project_anchors"][(rid,)] = (
                to_hex(r.project_id),
                r.project_kind,
                r.county,
                r.category,
                to_hex(r.content_hash),
                r.version,
                s.signer,
                r.title,
                r.budget,
                r.end_date,
            )
            anchors[to_hex(r.project_id)].append((r.version, r.county, r.category))
        elif isinstance(r, aid_kinds.Commitment):
            versions = anchors.get(to_hex(r.need_id))
            county, category = (max(versions)[1:]) if versions else (0, 0)
            commits[rid] = [s.signer, county, category, 0, 0]
            out["commitments"][(rid,)] = (
                to_hex(r.need_id),
                to_hex(r.match_id),
                s.signer,
                county,
                category,
                r.resource_kind,
                r.quantity,
                from_text32(r.unit),
                r.due_date,
                to_hex(r.terms_hash),
                0,
                0,
                leaf.block_time,
            )
        elif isinstance(r, aid_kinds.Delivery | aid_kinds.DeliveryBatch):
            if isinstance(r, aid_kinds.Delivery):
                parts = [(r.commitment_id, r.quantity)]
                at, count, root, batch, lines = (
                    r.delivered_at,
                    r.beneficiary_count,
                    r.beneficiary_root,
                    0,
                    1,
                )
            else:
                parts = list(zip(r.commitment_ids, r.quantities, strict=False))
                at, count, root, batch, lines = (
                    leaf.block_time,
                    r.line_count,
                    r.batch_root,
                    1,
                    r.line_count,
                )
            for cid_b, qty in parts:
                cid = to_hex(cid_b)
                c = commits.get(cid)
                if c is not None:
                    c[3] += qty
                key = (rid, cid)
                out["deliveries"][key] = (
                    s.signer,
                    c[1] if c else 0,
                    c[2] if c else 0,
                    qty,
                    at,
                    to_hex(r.evidence_hash),
                    count,
                    to_hex(root),
                    batch,
                    lines,
                    0,
                )
                shares[rid].append(key)
        elif isinstance(r, aid_kinds.Receipt):
            did = to_hex(r.delivery_id)
            keys = shares.get(did, [])
            cid = keys[0][1] if keys else ZERO_HEX
            if keys:
                row = out["deliveries"][keys[0]]
                out["deliveries"][keys[0]] = (*row[:-1], 1)
            c = commits.get(cid)
            if c is not None:
                c[4] += r.confirmed_quantity
            out["receipts"][(rid,)] = (
                did,
                cid,
                c[1] if c else 0,
                c[2] if c else 0,
                c[0] if c else "",
                s.signer,
                r.confirmed_quantity,
                to_hex(r.note_hash),
            )
        elif isinstance(r, aid_kinds.Flag):
            out["flags"][(rid,)] = (
                to_hex(r.record_id),
                s.signer,
                r.reason_code,
                to_hex(r.note_hash),
            )
    for rid, c in commits.items():
        row = out["commitments"][(rid,)]
        out["commitments"][(rid,)] = (*row[:10], c[3], c[4], row[12])
    _locations(out)
    out["commitment_totals"], out["group_totals"] = _totals(out["commitments"])
    for ch in replay.roles:
        if ch.block_number > cutoff:
            continue
        out["role_events"][(ch.tx_hash.lower(), ch.log_index)] = (
            ch.address,
            ch.role,
            int(ch.granted),
            ch.county,
            ch.org_code,
            replay.chain_id,
            ch.block_number,
            ch.block_hash.lower(),
            ch.name,
            ch.org_type,
            ch.authority,
        )
    return out


def _locations(out: dict[str, dict[Row, Row]]) -> None:
    """Each list row's expected tuple extended by its record's chain location, taken from
    the log entry the chain implies for it."""
    where: dict[str, Row] = {}
    for (index,), e in out["log_entries"].items():
        # record_id, kind, signer, leaf_hash, bytes, chain_id, number, hash, time, tx, log
        where[e[0]] = (index, e[5], e[6], e[7], e[8], e[9], e[10])
    for table in LIST_TABLES:
        for key, row in out[table].items():
            loc = where[key[0]]
            if table == "commitments":
                loc = loc[:4] + loc[5:]  # its block time is already a column
            out[table][key] = (*row, *loc)


def _totals(commitments: dict[Row, Row]) -> tuple[dict[Row, Row], dict[Row, Row]]:
    """The totals per county, category, organization, resource kind and unit, summed afresh
    from the commitments the chain implies (with their running delivered and confirmed
    amounts), in the maintained table's halves."""
    sums: dict[Row, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    groups: dict[Row, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in commitments.values():
        # need, match, org, county, category, kind, quantity, unit, due, terms, delivered,
        # confirmed, ...
        org, county, category, rk, unit = row[2], row[3], row[4], row[5], row[7]
        for t in (
            sums[(county, category, org, rk, unit)],
            groups[("county", str(county), rk, unit)],
            groups[("category", str(category), rk, unit)],
            groups[("org", org, rk, unit)],
            groups[("all", "", rk, unit)],
        ):
            t[0] += 1
            t[1] += row[6]
            t[2] += row[10]
            t[3] += row[11]

    def in_halves(table: dict[Row, list[int]]) -> dict[Row, Row]:
        out: dict[Row, Row] = {}
        for key, (n, committed, delivered, confirmed) in table.items():
            halves: list[int] = []
            for value in (committed, delivered, confirmed):
                halves.extend(divmod(value, SPLIT))
            out[key] = (n, *halves)
        return out

    return in_halves(sums), in_halves(groups)
