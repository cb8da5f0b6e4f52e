"""A project's timeline from the read model: its anchored versions, the commitments that
answer it, their deliveries and receipts, and auditor flags on any of them, each a step
with its chain location."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import NotFoundError
from ledger.store.models import CommitmentRow, DeliveryRow, FlagRow, ProjectAnchorRow, ReceiptRow
from ledger.store.queries.orgs import locations, org_codes, org_names, parties


@dataclass
class Step:
    """One step of a project's timeline, in chain order."""

    stage: str  # published | matched | committed | delivered | confirmed | flagged
    record_id: str
    kind: int
    leaf_index: int
    block_time: int
    tx_hash: str
    block_number: int
    detail: dict[str, Any] = field(default_factory=dict)
    #: the signing address, and who it is by its registration on chain (role and name)
    signer: str = ""
    signer_role: str = ""
    signer_name: str | None = None


@dataclass
class Timeline:
    project_id: str
    anchors: list[ProjectAnchorRow]  # by version
    steps: list[Step]
    commitments: list[CommitmentRow]


def timeline(session: Session, project_id: str) -> Timeline:
    """A project's timeline: published → matched → committed → deliveries → receipts, and
    any auditor flags on those records, in chain order."""
    pid = project_id.lower()
    anchors = list(
        session.scalars(
            select(ProjectAnchorRow)
            .where(ProjectAnchorRow.project_id == pid)
            .order_by(ProjectAnchorRow.version)
        )
    )
    if not anchors:
        raise NotFoundError(
            f"no project {project_id} is anchored on this ledger; check the id",
            code="project_not_found",
        )
    commitments = list(session.scalars(select(CommitmentRow).where(CommitmentRow.need_id == pid)))
    cids = [c.record_id for c in commitments]
    deliveries = (
        list(session.scalars(select(DeliveryRow).where(DeliveryRow.commitment_id.in_(cids))))
        if cids
        else []
    )
    receipts = (
        list(session.scalars(select(ReceiptRow).where(ReceiptRow.commitment_id.in_(cids))))
        if cids
        else []
    )
    ids = (
        [a.record_id for a in anchors]
        + cids
        + [d.record_id for d in deliveries]
        + [r.record_id for r in receipts]
    )
    flags = list(session.scalars(select(FlagRow).where(FlagRow.target_id.in_(ids))))
    loc = locations(session, ids + [f.record_id for f in flags])
    codes = org_codes(session)
    names = org_names(session)
    who = parties(session)

    def named(address: str) -> tuple[str, str | None]:
        """A signer's role and name: an organization by its latest registered name."""
        party = who.get(address.lower())
        if party is None:
            return "", None
        if party.org_code and party.org_code in names:
            return party.role, names[party.org_code][0]
        return party.role, party.name

    def step(stage: str, record_id: str, **detail: Any) -> Step:
        e = loc[record_id]
        return Step(
            stage,
            record_id,
            e.kind,
            e.leaf_index,
            e.block_time,
            e.tx_hash,
            e.block_number,
            detail,
            e.signer,
            *named(e.signer),
        )

    steps = [
        step(
            "published",
            a.record_id,
            version=a.version,
            content_hash=a.content_hash,
            title=a.title,
            budget=int(a.budget),
            end_date=int(a.end_date),
        )
        for a in anchors
    ]
    seen_matches: set[str] = set()
    for c in commitments:
        if c.match_id not in seen_matches and int(c.match_id, 16) != 0:
            seen_matches.add(c.match_id)
            steps.append(step("matched", c.record_id, match_id=c.match_id))
        steps.append(
            step(
                "committed",
                c.record_id,
                org=codes.get(c.org, c.org),
                org_name=names.get(codes.get(c.org, ""), (None, None))[0],
                resource_kind=c.resource_kind,
                quantity=c.quantity,
                unit=c.unit,
                due_date=c.due_date,
            )
        )
    by_id = {c.record_id: c for c in commitments}

    def goods_step(stage: str, record_id: str, commitment_id: str, /, **detail: Any) -> Step:
        """A delivery's or a receipt's step, in its commitment's resource kind and unit."""
        c = by_id[commitment_id]
        return step(stage, record_id, resource_kind=c.resource_kind, unit=c.unit, **detail)

    steps.extend(
        goods_step(
            "delivered",
            d.record_id,
            d.commitment_id,
            commitment_id=d.commitment_id,
            quantity=d.quantity,
            batch=d.batch,
            line_count=d.line_count,
            beneficiary_count=d.beneficiary_count,
        )
        for d in deliveries
    )
    steps.extend(
        goods_step(
            "confirmed",
            r.record_id,
            r.commitment_id,
            delivery_id=r.delivery_id,
            quantity=r.confirmed_quantity,
        )
        for r in receipts
    )
    # what each flag is about, in words: the flagged record's stage, amount and author
    targets: dict[str, dict[str, Any]] = {}
    for a in anchors:
        targets[a.record_id] = {"target_stage": "published", "target_version": a.version}
    for c in commitments:
        targets[c.record_id] = {"target_stage": "committed", "target_quantity": c.quantity}
    for d in deliveries:
        targets[d.record_id] = {"target_stage": "delivered", "target_quantity": d.quantity}
    for r in receipts:
        targets[r.record_id] = {
            "target_stage": "confirmed",
            "target_quantity": r.confirmed_quantity,
        }
    units = {c.record_id: (c.resource_kind, c.unit) for c in commitments}
    for d in deliveries:
        targets[d.record_id]["commitment_id"] = d.commitment_id
    for r in receipts:
        targets[r.record_id]["commitment_id"] = r.commitment_id
    for c in commitments:
        targets[c.record_id]["commitment_id"] = c.record_id
    for f in flags:
        about = dict(targets.get(f.target_id, {}))
        rk, unit = units.get(about.pop("commitment_id", ""), (0, ""))
        target = loc.get(f.target_id)
        by = named(target.signer)[1] if target else None
        steps.append(
            step(
                "flagged",
                f.record_id,
                target_id=f.target_id,
                reason=f.reason_code,
                target_resource_kind=rk,
                target_unit=unit,
                target_by=by,
                **about,
            )
        )
    order = {"published": 0, "matched": 1, "committed": 2, "delivered": 3, "confirmed": 4}
    steps.sort(key=lambda s: (s.leaf_index, order.get(s.stage, 5)))
    return Timeline(pid, anchors, steps, commitments)
