"""Where each project stands, for a page of projects at once: the owner's anchored status
moved on by what the chain shows (`ledger.core.lifecycle.stage`), so that the API, the
portal, the workspaces and the reports print the same 已发布 → 已对接 → 执行中 → 已完成.

What moves a project, gathered in one SQL statement per page of ids:

- a need: *matched* when an accepted 点单/接单 match names it (or a commitment cites it, as
  the relayer lets a commitment in only on an accepted match); *in progress* with every
  indexed commitment citing it (`need_id`); *completed* when each of those commitments is
  delivered in full and confirmed in full by the county's receipts;
- a supply project: *matched* when an accepted match names it; *in progress* when a
  commitment cites a match that names it. A supply offer is not "completed" by the orders
  it served: its owner closes or completes it.

The library's tables (`library_projects`, `library_matches`) are created by the store's
own migrations (0002_library); they are read here as light table clauses, so that the
store needs no import of `ledger.library` (import-linter: the store imports no service).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import and_, case, column, func, literal, select, table, union_all
from sqlalchemy.orm import Session

from ledger.core.lifecycle import STAGES, Progress, stage
from ledger.store.models import CommitmentRow, ProjectAnchorRow

__all__ = [
    "CHUNK",
    "MATCHES",
    "PROJECTS",
    "anchored_candidates",
    "effective_statuses",
    "filter_rows",
    "progress",
    "statuses",
]

#: Ids per statement (SQLite's bound-parameter limit is far above; a page is ≤ 500).
CHUNK = 500
#: The library's project rows: the owner's anchored status of each project.
PROJECTS = table("library_projects", column("project_id"), column("kind"), column("status"))
#: The library's 点单/接单 matches, proposed, accepted or declined.
MATCHES = table(
    "library_matches",
    column("match_id"),
    column("need_id"),
    column("supply_id"),
    column("status"),
)
ZERO32 = "0x" + "00" * 32
_NEED, _SUPPLY, _MATCH = "need", "supply", "match"


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    unique = sorted({i.lower() for i in ids})
    for i in range(0, len(unique), CHUNK):
        yield unique[i : i + CHUNK]


def _fact(pid: Any, src: str, done: Any = None) -> Any:
    """The columns each part of `_facts` selects: project id, source, the count and how many
    are fulfilled (0 where the source has no such count)."""
    return select(
        pid.label("pid"),
        literal(src).label("src"),
        func.count().label("n"),
        (literal(0) if done is None else done).label("done"),
    )


def _facts(ids: list[str]) -> Any:
    """One statement: (project id, source, commitments or matches, fulfilled) rows."""
    c = CommitmentRow
    full = case((and_(c.delivered >= c.quantity, c.confirmed >= c.quantity), 1), else_=0)
    need = _fact(c.need_id, _NEED, func.sum(full)).where(c.need_id.in_(ids)).group_by(c.need_id)
    supply = (
        _fact(MATCHES.c.supply_id, _SUPPLY)
        .select_from(c)
        .join(MATCHES, MATCHES.c.match_id == c.match_id)
        .where(MATCHES.c.supply_id.in_(ids))
        .group_by(MATCHES.c.supply_id)
    )
    accepted = MATCHES.c.status == "accepted"
    by_need = (
        _fact(MATCHES.c.need_id, _MATCH)
        .where(accepted, MATCHES.c.need_id.in_(ids))
        .group_by(MATCHES.c.need_id)
    )
    by_supply = (
        _fact(MATCHES.c.supply_id, _MATCH)
        .where(accepted, MATCHES.c.supply_id.in_(ids), MATCHES.c.supply_id != ZERO32)
        .group_by(MATCHES.c.supply_id)
    )
    return union_all(need, supply, by_need, by_supply)


def progress(session: Session, project_ids: Iterable[str]) -> dict[str, Progress]:
    """What the chain shows about each project (needs and supply projects alike): whether a
    match names it, how many commitments answer it and, for a need, how many of those are
    delivered and confirmed in full. Every id asked for is in the answer (an empty
    `Progress()` when nothing moved it). One statement per 500 ids."""
    matched: set[str] = set()
    counts: dict[str, list[int]] = {}
    asked: list[str] = []
    for ids in _chunks(project_ids):
        asked += ids
        for pid, src, n, done in session.execute(_facts(ids)).tuples():
            if src == _MATCH:
                matched.add(pid)
                continue
            entry = counts.setdefault(pid, [0, 0])
            entry[0] += int(n or 0)
            entry[1] += int(done or 0)
    out: dict[str, Progress] = {}
    for pid in asked:
        n, done = counts.get(pid, (0, 0))
        out[pid] = Progress(matched=pid in matched or n > 0, commitments=n, fulfilled=done)
    return out


def effective_statuses(session: Session, anchored: Mapping[str, str]) -> dict[str, str]:
    """{project id: the owner's anchored status} → {project id: the status a reader sees},
    by `ledger.core.lifecycle.stage`. For callers that already hold the project rows (the
    library's search, a portal listing): one statement per page, no query per project.
    Keys come back lowercased."""
    wanted = {pid.lower(): status for pid, status in anchored.items()}
    facts = progress(session, wanted)
    return {pid: stage(status, facts[pid]) for pid, status in wanted.items()}


def statuses(session: Session, project_ids: Iterable[str]) -> dict[str, str]:
    """{project id: the status a reader sees} for projects known only by id (a public list
    of anchors, a report's needs): the anchored status from the library's row, or
    "published" for a project anchored on chain that this library does not hold (one
    shared from another province). Ids neither in the library nor anchored are left out.
    Two statements per page of ids."""
    anchored: dict[str, str] = {}
    for ids in _chunks(project_ids):
        held = dict(
            session.execute(
                select(PROJECTS.c.project_id, PROJECTS.c.status).where(
                    PROJECTS.c.project_id.in_(ids)
                )
            )
            .tuples()
            .all()
        )
        shared = session.scalars(
            select(ProjectAnchorRow.project_id)
            .where(ProjectAnchorRow.project_id.in_([i for i in ids if i not in held]))
            .distinct()
        )
        anchored.update(held)
        anchored.update({pid: "published" for pid in shared})
    return effective_statuses(session, anchored)


def anchored_candidates(status: str) -> tuple[str, ...]:
    """The anchored statuses that can read as `status` once the chain's records move them:
    a filter on the effective status narrows the rows in SQL by these, then keeps those
    whose `stage` equals it. A project never reads as less than its anchored status, so only
    the anchored statuses up to `status` (from published) qualify; draft and closed stand
    for themselves."""
    if status not in STAGES or status in ("draft", "published"):
        return (status,)
    return tuple(s for s in STAGES[1 : STAGES.index(status) + 1])


def filter_rows(
    session: Session, rows: Iterable[Any], status: str, *, key: str = "project_id"
) -> list[Any]:
    """The rows (objects with `project_id` and `status`) whose effective status is `status`."""
    items = list(rows)
    got = effective_statuses(session, {getattr(r, key): r.status for r in items})
    return [r for r in items if got[getattr(r, key).lower()] == status]
