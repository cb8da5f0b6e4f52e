"""Grievances (申诉) as the public, the county workspace and the reports read them: each
filing joined by hash to its registration on chain and the answer to it, counts per need
project (open, answered, upheld, and how many the county has not registered yet), response
times per county and per organization, and upheld counts per organization (an indicator).

Contact details are never read here: they live in a table of their own that no query of
this module touches (tests/programs/test_grievance_privacy.py checks every public answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.fields import GrievanceOutcome
from ledger.core.grievances import OUTCOME_NAMES
from ledger.store.grievance_models import (
    GrievanceAnswerRow,
    GrievanceAnswerText,
    GrievanceFiling,
    GrievanceRow,
)
from ledger.store.models import (
    CommitmentRow,
    DeliveryRow,
    ReceiptRow,
)
from ledger.store.queries.anchors import anchor_titles
from ledger.store.queries.orgs import chunks, org_codes

__all__ = [
    "Grievance",
    "ResponseRow",
    "as_of",
    "counts",
    "county_grievances",
    "grievance",
    "grievance_by_record",
    "project_counts",
    "project_grievances",
    "response_times",
    "upheld_by_org",
]

ZERO = "0x" + "00" * 32


@dataclass
class Grievance:
    """One grievance: the filing (if this database holds it), its registration and answer
    (if on chain), and where each is on chain. Never any contact detail."""

    grievance_hash: str
    project_id: str
    record_id: str
    filed_at: int
    county: int
    filing_no: str | None = None
    text: str | None = None
    project_title: str | None = None
    registration: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None
    #: the organization (credit code) the grievance's record belongs to, if any
    org_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """filed (未登记) → registered (已登记) → answered (已答复)."""
        if self.answer is not None:
            return "answered"
        return "registered" if self.registration is not None else "filed"

    def public(self) -> dict[str, Any]:
        """The JSON the public API answers with."""
        out: dict[str, Any] = {
            "filing_no": self.filing_no,
            "grievance_hash": self.grievance_hash,
            "project_id": self.project_id,
            "project_title": self.project_title,
            "record_id": self.record_id,
            "county": self.county,
            "filed_at": self.filed_at,
            "text": self.text,
            "status": self.status,
            "registration": self.registration,
            "answer": self.answer,
        }
        return out


def _location(row: Any) -> dict[str, Any]:
    return {
        "record_id": row.record_id,
        "block_time": row.block_time,
        "block_number": row.block_number,
        "tx_hash": row.tx_hash,
        "leaf_index": row.leaf_index,
        "signer": row.signer,
    }


def _record_orgs(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Record id → the organization (signing address) a commitment, delivery or receipt
    belongs to."""
    wanted = sorted({i for i in ids if i and i != ZERO})
    out: dict[str, str] = {}
    for chunk in chunks(wanted, 500):
        for model in (CommitmentRow, DeliveryRow, ReceiptRow):
            out.update(
                session.execute(
                    select(model.record_id, model.org).where(model.record_id.in_(chunk))
                )
                .tuples()
                .all()
            )
    return out


def _assemble(
    session: Session, filings: Sequence[GrievanceFiling], registrations: Sequence[GrievanceRow]
) -> list[Grievance]:
    """Filings and registrations joined by hash (a registration without a filing here, as in
    a read model rebuilt from the chain, still counts), each with its answer."""
    regs = {r.grievance_hash: r for r in registrations}
    hashes = [f.grievance_hash for f in filings if f.grievance_hash not in regs]
    for chunk in chunks(sorted(set(hashes)), 500):
        for r in session.scalars(
            select(GrievanceRow).where(GrievanceRow.grievance_hash.in_(chunk))
        ):
            regs.setdefault(r.grievance_hash, r)
    by_hash = {f.grievance_hash: f for f in filings}
    for h in regs:
        if h not in by_hash:
            found = session.scalar(
                select(GrievanceFiling).where(GrievanceFiling.grievance_hash == h)
            )
            if found is not None:
                by_hash[h] = found
    answers: dict[str, GrievanceAnswerRow] = {}
    reg_ids = sorted(r.record_id for r in regs.values())
    for chunk in chunks(reg_ids, 500):
        for a in session.scalars(
            select(GrievanceAnswerRow).where(GrievanceAnswerRow.grievance_id.in_(chunk))
        ):
            answers[a.grievance_id] = a
    texts: dict[str, str] = {}
    for chunk in chunks(sorted({a.answer_hash for a in answers.values()}), 500):
        texts.update(
            session.execute(
                select(GrievanceAnswerText.answer_hash, GrievanceAnswerText.text).where(
                    GrievanceAnswerText.answer_hash.in_(chunk)
                )
            )
            .tuples()
            .all()
        )
    pids = {f.project_id for f in by_hash.values()} | {r.project_id for r in regs.values()}
    titles = anchor_titles(session, pids)
    targets = [f.record_id for f in by_hash.values()] + [r.target_id for r in regs.values()]
    orgs = _record_orgs(session, targets)
    codes = org_codes(session)
    out: list[Grievance] = []
    for h in sorted(set(by_hash) | set(regs)):
        f, reg = by_hash.get(h), regs.get(h)
        src: GrievanceFiling | GrievanceRow = f if f is not None else regs[h]
        target = f.record_id if f is not None else regs[h].target_id
        g = Grievance(
            grievance_hash=h,
            project_id=src.project_id,
            record_id=target,
            filed_at=src.filed_at,
            county=src.county,
            filing_no=f.filing_no if f else None,
            text=f.text if f else None,
            project_title=titles.get(src.project_id),
        )
        org = orgs.get(target)
        g.org_code = codes.get(org, org) if org else None
        if reg is not None:
            g.registration = _location(reg)
            ans = answers.get(reg.record_id)
            if ans is not None:
                zh, en = OUTCOME_NAMES.get(ans.outcome, (str(ans.outcome), str(ans.outcome)))
                g.answer = {
                    **_location(ans),
                    "outcome": ans.outcome,
                    "outcome_zh": zh,
                    "outcome_en": en,
                    "answer_hash": ans.answer_hash,
                    "text": texts.get(ans.answer_hash),
                }
        out.append(g)
    out.sort(key=lambda g: (-g.filed_at, g.grievance_hash))
    return out


def grievance(session: Session, filing_no: str) -> Grievance | None:
    """One filing by its number, with its registration and answer."""
    f = session.get(GrievanceFiling, filing_no)
    if f is None:
        return None
    return _assemble(session, [f], [])[0]


def grievance_by_record(session: Session, record_id: str) -> Grievance | None:
    """A registered grievance by its Grievance record id (with its filing, if held here)."""
    r = session.get(GrievanceRow, record_id)
    if r is None:
        return None
    return _assemble(session, [], [r])[0]


def project_grievances(session: Session, project_id: str) -> list[Grievance]:
    """Every grievance about one need project, newest filing first."""
    filings = session.scalars(
        select(GrievanceFiling).where(GrievanceFiling.project_id == project_id)
    ).all()
    regs = session.scalars(select(GrievanceRow).where(GrievanceRow.project_id == project_id)).all()
    return _assemble(session, filings, regs)


def county_grievances(session: Session, county: int, limit: int = 500) -> list[Grievance]:
    """The grievances about one county's need projects, newest filing first."""
    filings = session.scalars(
        select(GrievanceFiling)
        .where(GrievanceFiling.county == county)
        .order_by(GrievanceFiling.filed_at.desc())
        .limit(limit)
    ).all()
    regs = session.scalars(
        select(GrievanceRow).where(GrievanceRow.county == county).limit(limit)
    ).all()
    return _assemble(session, filings, regs)[:limit]


def counts(items: Iterable[Grievance]) -> dict[str, int]:
    """filed, not_registered, open (filed, not answered), answered and each outcome."""
    out = {
        "filed": 0,
        "not_registered": 0,
        "open": 0,
        "answered": 0,
        "upheld": 0,
        "partly_upheld": 0,
        "not_upheld": 0,
    }
    names = {
        GrievanceOutcome.UPHELD: "upheld",
        GrievanceOutcome.PARTLY_UPHELD: "partly_upheld",
        GrievanceOutcome.NOT_UPHELD: "not_upheld",
    }
    for g in items:
        out["filed"] += 1
        if g.registration is None:
            out["not_registered"] += 1
        if g.answer is None:
            out["open"] += 1
        else:
            out["answered"] += 1
            name = names.get(g.answer["outcome"])
            if name:
                out[name] += 1
    return out


def project_counts(session: Session, project_id: str) -> dict[str, int]:
    """A need project's grievance counts (see `counts`)."""
    return counts(project_grievances(session, project_id))


def _all(session: Session, since: int = 0, until: int | None = None) -> list[Grievance]:
    stmt = select(GrievanceFiling).where(GrievanceFiling.filed_at >= since)
    reg = select(GrievanceRow).where(GrievanceRow.filed_at >= since)
    if until is not None:
        stmt = stmt.where(GrievanceFiling.filed_at < until)
        reg = reg.where(GrievanceRow.filed_at < until)
    return _assemble(session, session.scalars(stmt).all(), session.scalars(reg).all())


def _seconds(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"median_s": None, "max_s": None}
    return {"median_s": float(median(values)), "max_s": float(max(values))}


@dataclass
class ResponseRow:
    """Counts and response times of one county's or one organization's grievances."""

    key: Any
    counts: dict[str, int]
    #: filed → registered, in seconds (median and longest) over the registered ones
    to_register: dict[str, float | None]
    #: registered → answered, likewise over the answered ones
    to_answer: dict[str, float | None]
    #: the Grievance and GrievanceAnswer record ids behind the row
    records: set[str] = field(default_factory=set)


def _rows(groups: dict[Any, list[Grievance]]) -> list[ResponseRow]:
    out = []
    for key, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
        reg = [
            g.registration["block_time"] - g.filed_at
            for g in items
            if g.registration is not None and g.registration["block_time"] is not None
        ]
        ans = [
            g.answer["block_time"] - g.registration["block_time"]
            for g in items
            if g.answer is not None and g.registration is not None
        ]
        ids = {g.registration["record_id"] for g in items if g.registration} | {
            g.answer["record_id"] for g in items if g.answer
        }
        out.append(ResponseRow(key, counts(items), _seconds(reg), _seconds(ans), ids))
    return out


def as_of(items: Iterable[Grievance], cutoff: int) -> list[Grievance]:
    """The grievances as they stood at `cutoff`: filed before it, and a registration or an
    answer recorded at or after it not yet made."""
    out = []
    for g in items:
        if g.filed_at >= cutoff:
            continue
        if g.registration is not None and g.registration["block_time"] >= cutoff:
            g.registration = None
        if g.registration is None or (g.answer is not None and g.answer["block_time"] >= cutoff):
            g.answer = None
        out.append(g)
    return out


def response_times(
    session: Session, since: int = 0, until: int | None = None, province: int | None = None
) -> tuple[list[ResponseRow], list[ResponseRow]]:
    """(per county, per organization) counts and response times of the grievances filed
    in [since, until), as they stood at `until`, of one province's counties if given. A
    grievance counts for an organization when the record it is about is that
    organization's commitment, delivery or receipt."""
    items = _all(session, since, until)
    if until is not None:
        items = as_of(items, until)
    if province is not None:
        items = [g for g in items if g.county // 10000 == province]
    by_county: dict[Any, list[Grievance]] = {}
    by_org: dict[Any, list[Grievance]] = {}
    for g in items:
        by_county.setdefault(g.county, []).append(g)
        if g.org_code:
            by_org.setdefault(g.org_code, []).append(g)
    return _rows(by_county), _rows(by_org)


def upheld_by_org(session: Session, since: int = 0, until: int | None = None) -> dict[str, int]:
    """Credit code → how many grievances about its records the county answered "upheld"
    (成立, outcome 1; "partly upheld" is not counted) — the organization indicator
    "grievances upheld" — over the grievances filed in [since, until); organizations with
    none are absent. Recomputable from the chain: registrations, answers and the records
    they name are all on it."""
    out: dict[str, int] = {}
    items = _all(session, since, until)
    for g in as_of(items, until) if until is not None else items:
        if g.org_code and g.answer is not None and g.answer["outcome"] == GrievanceOutcome.UPHELD:
            out[g.org_code] = out.get(g.org_code, 0) + 1
    return out
