"""The replay: the log's records and the role events applied in chain order, checking every
rule the contract enforces (roles, counties, owners, versions, quantities) and building the
Merkle tree the chain's roots are compared with. The other checks read its state."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from ledger.audit.codes import INTEGRITY
from ledger.audit.events import Boundary, RoleChange
from ledger.audit.programs import PROGRAM_KINDS, ProgramReplay
from ledger.audit.report import AuditReport, to_hex
from ledger.audit.signatures import Event, Parsed
from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, Flag, ProjectAnchor, Receipt
from ledger.core.fields import ProjectKind
from ledger.core.merkle import MerkleTree
from ledger.core.records import SignedRecord

__all__ = ["ZERO32", "Leaf", "Replay", "iter_leaf_subjects"]

ZERO32 = bytes(32)


@dataclass
class Leaf:
    """A RecordAppended event, parsed."""

    index: int
    record: SignedRecord
    data: bytes
    leaf_hash: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    block_time: int = 0

    @property
    def id_hex(self) -> str:
        return to_hex(self.record.id)


@dataclass
class ProjectState:
    """A project as its anchors so far say: owner, county, kind, version and category."""

    owner: str
    county: int
    kind: int
    version: int
    category: int


@dataclass
class CommitState:
    """A commitment's organization, county and quantities so far."""

    org: str
    county: int
    quantity: int
    delivered: int = 0
    confirmed: int = 0
    resource_kind: int = 0


@dataclass
class DeliveryState:
    """A delivery's commitment and quantity, and whether it was receipted."""

    commitment_id: bytes  # zero for a batch over several commitments
    quantity: int
    receipted: bool = False
    line_count: int = 0  # a batch's; 0 for a single delivery


class Replay:
    """Applies the log and role events in chain order, checking the contract's rules."""

    def __init__(self, report: AuditReport, chain_id: int, contract: str) -> None:
        self.report = report
        self.chain_id = chain_id
        self.contract = to_checksum_address(contract)
        self.tree = MerkleTree()
        self.leaves: list[Leaf] = []
        self.roles: list[RoleChange] = []
        self.has: dict[tuple[str, str], bool] = {}
        self.county_of: dict[str, int] = {}
        self.ids: dict[bytes, int] = {}
        self.projects: dict[bytes, ProjectState] = {}
        self.commitments: dict[bytes, CommitState] = {}
        self.deliveries: dict[bytes, DeliveryState] = {}
        self.boundaries: list[tuple[int, int]] = []  # (block, log size after it)
        self.programs = ProgramReplay(self)

    def role(self, change: RoleChange) -> None:
        self.roles.append(change)
        self.has[(change.address, change.role)] = change.granted
        if change.county is not None:
            self.county_of[change.address] = change.county

    def registrations(self) -> list[dict[str, object]]:
        """Who is who, from the chain alone: each key's latest registration event (its name,
        county or credit code, organization type and authority) and whether it still holds
        the role."""
        latest: dict[tuple[str, str], RoleChange] = {}
        for change in self.roles:
            if change.name is not None:
                latest[(change.address, change.role)] = change
        return [
            {
                "address": c.address,
                "role": c.role,
                "name": c.name,
                "county": c.county,
                "org_code": c.org_code,
                "org_type": c.org_type,
                "authority": c.authority,
                "active": self.has.get((c.address, c.role), False),
            }
            for c in latest.values()
        ]

    def apply(self, events: list[Event], parsed: list[Parsed]) -> None:
        """Applies events in chain order; `parsed` answers the chunk's records in order."""
        report = self.report
        results = iter(parsed)
        for event in events:
            if isinstance(event, RoleChange):
                self.role(event)
                continue
            if isinstance(event, Boundary):
                self.boundaries.append((event.block, self.tree.size))
                continue
            signed, code, message = next(results)
            index, data, pos = event.index, event.data, event.pos
            computed = hashlib.sha256(b"\x00" + data).digest()
            if signed is None:
                report.add(
                    "malformed_record",
                    INTEGRITY,
                    f"leaf {index}: {message}",
                    index=index,
                    block=pos[0],
                )
                self.tree.append(computed)
                continue
            if computed != event.event_leaf_hash:
                report.add(
                    "leaf_hash_mismatch",
                    INTEGRITY,
                    f"leaf {index}: the event's leaf hash is not the hash of its bytes",
                    index=index,
                )
            if event.event_id != signed.id:
                report.add(
                    "event_id_mismatch",
                    INTEGRITY,
                    f"leaf {index}: the event's recordId is not the record's id",
                    index=index,
                )
            if code is not None:
                report.add(
                    "bad_signature",
                    INTEGRITY,
                    f"leaf {index}: {message} ({code})",
                    index=index,
                    record_id=to_hex(signed.id),
                )
            self.append(Leaf(index, signed, data, computed, *pos))

    def _fail(self, leaf: Leaf, code: str, message: str) -> None:
        self.report.add(
            code,
            INTEGRITY,
            f"leaf {leaf.index}: {message}",
            index=leaf.index,
            record_id=leaf.id_hex,
            block=leaf.block_number,
        )

    def _need_role(self, leaf: Leaf, role: str) -> bool:
        signer = leaf.record.signer
        if not self.has.get((signer, role), False):
            self._fail(
                leaf,
                "signer_lacks_role",
                f"{signer} did not hold the {role} role at block {leaf.block_number}",
            )
            return False
        return True

    def append(self, leaf: Leaf) -> None:
        signed = leaf.record
        if leaf.index != self.tree.size:
            self._fail(leaf, "log_index_gap", f"expected index {self.tree.size}")
        if signed.domain.chain_id != self.chain_id or signed.domain.verifying_contract != (
            self.contract
        ):
            self._fail(leaf, "wrong_domain", "the record names another chain or contract")
        first = self.ids.get(signed.id)
        if first is not None:
            self._fail(leaf, "record_id_reused", f"the id was first used at leaf {first}")
        else:
            self.ids[signed.id] = leaf.index
        self.tree.append(leaf.leaf_hash)
        self.leaves.append(leaf)
        self._rules(leaf)

    def _rules(self, leaf: Leaf) -> None:
        signed = leaf.record
        r: Any = signed.record
        signer = signed.signer
        if isinstance(r, ProjectAnchor):
            role = "COUNTY" if r.project_kind == ProjectKind.NEED else "ORG"
            self._need_role(leaf, role)
            if role == "COUNTY" and self.county_of.get(signer) != r.county:
                self._fail(leaf, "wrong_county", f"{signer} is not the office of {r.county}")
            p = self.projects.get(r.project_id)
            if p is None:
                self.projects[r.project_id] = ProjectState(
                    signer, r.county, r.project_kind, r.version, r.category
                )
            else:
                if p.owner != signer or r.version != p.version + 1:
                    self._fail(leaf, "project_rule_broken", "wrong owner or version")
                p.version, p.category = r.version, r.category
        elif isinstance(r, Commitment):
            self._need_role(leaf, "ORG")
            need = self.projects.get(r.need_id)
            if need is None or need.kind != ProjectKind.NEED:
                self._fail(leaf, "unknown_need", f"need {to_hex(r.need_id)} is not anchored")
            self.commitments[r.id] = CommitState(
                signer, need.county if need else 0, r.quantity, resource_kind=r.resource_kind
            )
        elif isinstance(r, Delivery):
            self._need_role(leaf, "ORG")
            self._deliver(leaf, r.commitment_id, r.quantity)
            self.deliveries[r.id] = DeliveryState(r.commitment_id, r.quantity)
        elif isinstance(r, DeliveryBatch):
            self._need_role(leaf, "ORG")
            for cid, qty in zip(r.commitment_ids, r.quantities, strict=False):
                self._deliver(leaf, cid, qty)
            single = r.commitment_ids[0] if len(r.commitment_ids) == 1 else ZERO32
            self.deliveries[r.id] = DeliveryState(
                single, sum(r.quantities), line_count=r.line_count
            )
        elif isinstance(r, Receipt):
            self._need_role(leaf, "COUNTY")
            d = self.deliveries.get(r.delivery_id)
            if d is None or d.receipted or d.commitment_id == ZERO32:
                self._fail(leaf, "receipt_rule_broken", "unknown, batch or already receipted")
                return
            if r.confirmed_quantity > d.quantity:
                self._fail(leaf, "over_confirmation", "confirms more than was delivered")
            d.receipted = True
            c = self.commitments.get(d.commitment_id)
            if c is not None:
                if self.county_of.get(signer) != c.county:
                    self._fail(leaf, "wrong_county", f"{signer} is not the office of {c.county}")
                c.confirmed += r.confirmed_quantity
        elif isinstance(r, Flag):
            self._need_role(leaf, "AUDITOR")
            if r.record_id not in self.ids:
                self._fail(leaf, "unknown_record", "the flagged record is not in the log")
        elif signed.kind in PROGRAM_KINDS:
            self.programs.apply(leaf)

    def _deliver(self, leaf: Leaf, cid: bytes, qty: int) -> None:
        c = self.commitments.get(cid)
        if c is None:
            self._fail(leaf, "unknown_commitment", f"commitment {to_hex(cid)} is not recorded")
            return
        if c.org != leaf.record.signer:
            self._fail(leaf, "not_commitment_owner", "delivered by another organization")
        c.delivered += qty
        if c.delivered > c.quantity:
            self._fail(leaf, "over_delivery", f"commitment {to_hex(cid)} is over-delivered")


def iter_leaf_subjects(leaf: Leaf, replay: Replay) -> Iterable[bytes]:
    """The commitment or project ids a record is about (for "answered flag" matching)."""
    r: Any = leaf.record.record
    if isinstance(r, ProjectAnchor):
        yield r.project_id
    elif isinstance(r, Commitment):
        yield r.id
        yield r.need_id
    elif isinstance(r, Delivery):
        yield r.commitment_id
    elif isinstance(r, DeliveryBatch):
        yield from r.commitment_ids
    elif isinstance(r, Receipt):
        d = replay.deliveries.get(r.delivery_id)
        if d is not None and d.commitment_id != ZERO32:
            yield d.commitment_id
