"""Recommendations: every published supply project scored against a need (or every need
against a supply project) on category, region, capacity, key-county priority and waiting
time, each component saying why; and pushes, the owner's signed LibraryPush recording the
top recommendations as the counties or organizations they were shown to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.eip712 import Domain
from ledger.core.errors import ConflictError, MessageError
from ledger.core.fields import ProjectKind
from ledger.library import auth
from ledger.library.content import draft_of, quantities_by_kind
from ledger.library.messages import LIBRARY_PUSH
from ledger.library.models import LibraryProject, LibraryPush
from ledger.library.ownership import check_owner, get_project
from ledger.library.regions import province_of

__all__ = [
    "WEIGHTS",
    "Recommendation",
    "push",
    "push_message",
    "pushes",
    "recommend",
    "score_pair",
]

WEIGHTS = {"category": 40, "region": 25, "capacity": 20, "key_county": 10, "waiting": 5}


@dataclass
class Recommendation:
    project_id: str
    title: str
    score: int
    components: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_pair(need: LibraryProject, supply: LibraryProject, today: date) -> Recommendation:
    """Scores one need against one supply project; every component says why."""
    n, s = draft_of(need), draft_of(supply)
    parts: list[dict[str, Any]] = []

    def add(name: str, fraction: float, why: str) -> None:
        points = round(WEIGHTS[name] * max(0.0, min(1.0, fraction)))
        parts.append({"component": name, "points": points, "max": WEIGHTS[name], "why": why})

    fits = n["category"] in s["categories"]
    add(
        "category",
        1.0 if fits else 0.0,
        f"需求类别 {n['category']} {'在' if fits else '不在'}供给类别内 "
        f"(need category {'is' if fits else 'is not'} offered)",
    )
    county = int(n["county"])
    regions = {int(r) for r in s["regions"]}
    if county in regions:
        add("region", 1.0, f"服务范围含本县 {county} (serves this county)")
    elif province_of(county) in regions:
        add("region", 0.7, f"服务范围含本省 {province_of(county)} (serves this province)")
    else:
        add("region", 0.0, "服务范围不含本县或本省 (does not serve this region)")
    want, have = quantities_by_kind(n["resources"]), quantities_by_kind(s["capacity"])
    ratios = [min(1.0, have.get(k, 0) / q) for k, q in want.items()]
    cover = sum(ratios) / len(ratios) if ratios else 0.0
    add(
        "capacity",
        cover,
        "供给能力覆盖需求 "
        + ", ".join(f"{k} {have.get(k, 0)}/{q}" for k, q in sorted(want.items()))
        + f" (capacity covers {cover:.0%})",
    )
    add(
        "key_county",
        1.0 if need.key_county else 0.0,
        "国家乡村振兴重点帮扶县优先 (key county priority)"
        if need.key_county
        else "非重点帮扶县 (not a key county)",
    )
    waited = (today - need.published_at.date()).days if need.published_at else 0
    add("waiting", waited / 90, f"已等待 {waited} 天 (waiting {waited} days, full at 90)")
    total = sum(p["points"] for p in parts)
    return Recommendation("", "", total, parts)


def _open(session: Session, kind: ProjectKind) -> list[LibraryProject]:
    return list(
        session.scalars(
            select(LibraryProject).where(
                LibraryProject.kind == int(kind), LibraryProject.status == "published"
            )
        )
    )


def recommend(
    session: Session, project_id: str, *, limit: int = 10, today: date | None = None
) -> list[Recommendation]:
    """Supply projects for a need, or needs for a supply project, best first (ties by id)."""
    row = get_project(session, project_id)
    today = today or datetime.now(UTC).date()
    out: list[Recommendation] = []
    if row.kind == ProjectKind.NEED:
        for sp in _open(session, ProjectKind.SUPPLY):
            rec = score_pair(row, sp, today)
            rec.project_id, rec.title = sp.project_id, sp.title
            out.append(rec)
    else:
        for nd in _open(session, ProjectKind.NEED):
            rec = score_pair(nd, row, today)
            rec.project_id, rec.title = nd.project_id, nd.title
            out.append(rec)
    out.sort(key=lambda r: (-r.score, r.project_id))
    return out[: max(1, min(limit, 100))]


def push_message(
    session: Session, project_id: str, limit: int, nonce: str, expiry: int
) -> dict[str, Any]:
    row = get_project(session, project_id)
    return {
        "projectId": row.project_id,
        "title": row.title,
        "limit": limit,
        "nonce": nonce,
        "expiry": expiry,
    }


def push(
    session: Session, project_id: str, message: Any, signature: str | None, domain: Domain
) -> list[LibraryPush]:
    """Records the top recommendations as pushes, on the owner's signed LibraryPush."""
    row = get_project(session, project_id)
    verified = auth.verify(session, LIBRARY_PUSH, message, signature, domain)
    check_owner(session, row, verified.signer)
    if row.status not in ("published", "matched"):
        raise ConflictError("only a published project can be pushed", code="project_not_open")
    limit = int(verified.message["limit"])
    if not 1 <= limit <= 20:
        raise MessageError("limit must be 1..20", code="bad_message", field="limit")
    expected = push_message(
        session, project_id, limit, verified.message["nonce"], verified.message["expiry"]
    )
    auth.require_equal(verified, expected)
    pushed = _push(session, row, limit)
    auth.consume(session, verified, "push")
    return pushed


def _push(session: Session, row: LibraryProject, limit: int) -> list[LibraryPush]:
    pushed: list[LibraryPush] = []
    for rec in recommend(session, row.project_id, limit=limit):
        other = get_project(session, rec.project_id)
        target = (
            f"county:{other.county}"
            if other.kind == ProjectKind.NEED
            else (f"org:{other.org_code}")
        )
        existing = session.get(LibraryPush, (row.project_id, target))
        if existing is None:
            existing = LibraryPush(project_id=row.project_id, target=target, score=rec.score)
            session.add(existing)
        else:
            existing.score = max(existing.score, rec.score)
        pushed.append(existing)
    session.flush()
    return pushed


def pushes(session: Session, project_id: str) -> list[str]:
    row = get_project(session, project_id)
    return list(
        session.scalars(
            select(LibraryPush.target)
            .where(LibraryPush.project_id == row.project_id)
            .order_by(LibraryPush.target)
        )
    )
