"""Special funds (专项基金) as the public reads them: each fund's pledged → contributed →
committed → delivered → confirmed, in fen (with yuan and Beijing time beside), its
contributions and the commitments that draw on it, and an organization's funds.

Delivered and confirmed are pro rata: a commitment that draws `a` fen of a fund and has
delivered `d` (confirmed `c`) of its quantity `q` counts floor(a·d/q) (floor(a·min(c,q)/q))
fen as the fund's, whatever its resource kind, so the fund's share moves with the
commitment's progress (docs/programs.md). The sponsor's name is shown only when the Fund
record carries the sponsor's consent (`sponsorPublic`) and its off-chain details are
registered; an individual's name appears nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import codes, display
from ledger.core.errors import NotFoundError
from ledger.core.fields import SponsorKind
from ledger.store.fund_models import FundContributionRow, FundDetail, FundDrawRow, FundRow
from ledger.store.models import CommitmentRow
from ledger.store.queries.anchors import anchor_titles
from ledger.store.queries.lists import location
from ledger.store.queries.orgs import org_codes, org_names

__all__ = [
    "FUND_NOT_FOUND",
    "SPONSOR_KINDS",
    "FundTotals",
    "fund_json",
    "fund_list",
    "fund_page",
    "fund_totals",
    "funds_of",
    "pro_rata",
]

FUND_NOT_FOUND = codes.FUND_NOT_FOUND

#: Sponsor kinds in words (Chinese, English).
SPONSOR_KINDS: dict[int, tuple[str, str]] = {
    SponsorKind.COMPANY: ("企业", "company"),
    SponsorKind.INDIVIDUAL: ("个人", "individual"),
}

#: The five stages of a fund's money, in order, with their names.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("pledged", "认捐", "pledged"),
    ("contributed", "到账", "contributed"),
    ("committed", "已承诺", "committed"),
    ("delivered", "已交付", "delivered"),
    ("confirmed", "已签收", "confirmed"),
)


def pro_rata(amount: int, part: int, whole: int) -> int:
    """floor(amount · min(part, whole) / whole): a draw's share of a commitment's progress."""
    if whole <= 0 or amount <= 0 or part <= 0:
        return 0
    return amount * min(part, whole) // whole


@dataclass
class FundTotals:
    """A fund's money in fen, stage by stage."""

    pledged: int = 0
    contributed: int = 0
    committed: int = 0
    delivered: int = 0
    confirmed: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, zh, en in STAGES:
            fen = getattr(self, key)
            out[key] = {"fen": fen, "yuan": display.yuan(fen), "zh": zh, "en": en}
        return out

    def share(self, key: str) -> float | None:
        """The stage's share of the pledge (None without a pledge)."""
        return getattr(self, key) / self.pledged if self.pledged else None


@dataclass
class FundView:
    """One fund as the public sees it."""

    row: FundRow
    totals: FundTotals
    org_code: str | None
    org_name: str | None
    org_name_en: str | None
    #: the sponsor's name, only with consent and registered details
    sponsor_name: str | None
    purpose: str | None
    details_registered: bool
    contributions: list[FundContributionRow] = field(default_factory=list)
    draws: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fund_id(self) -> str:
        return self.row.record_id


def _commitments(session: Session, ids: Sequence[str]) -> dict[str, CommitmentRow]:
    out: dict[str, CommitmentRow] = {}
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        for row in session.scalars(select(CommitmentRow).where(CommitmentRow.record_id.in_(chunk))):
            out[row.record_id] = row
    return out


def _draw_totals(draws: Iterable[FundDrawRow], commitments: dict[str, CommitmentRow]) -> FundTotals:
    t = FundTotals()
    for d in draws:
        t.committed += int(d.fund_amount)
        c = commitments.get(d.commitment_id)
        if c is not None:
            t.delivered += pro_rata(int(d.fund_amount), int(c.delivered), int(c.quantity))
            t.confirmed += pro_rata(int(d.fund_amount), int(c.confirmed), int(c.quantity))
    return t


def fund_totals(session: Session, fund_id: str) -> FundTotals:
    """A fund's pledged, contributed, committed, delivered and confirmed fen."""
    row = session.get(FundRow, fund_id)
    if row is None:
        raise NotFoundError(f"没有此专项基金 / no fund {fund_id} is recorded", code=FUND_NOT_FOUND)
    return _totals(session, [row])[fund_id]


def _totals(session: Session, rows: Sequence[FundRow]) -> dict[str, FundTotals]:
    ids = [r.record_id for r in rows]
    draws: dict[str, list[FundDrawRow]] = {i: [] for i in ids}
    contributed: dict[str, int] = dict.fromkeys(ids, 0)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for d in session.scalars(select(FundDrawRow).where(FundDrawRow.fund_id.in_(chunk))):
            draws[d.fund_id].append(d)
        for c in session.scalars(
            select(FundContributionRow).where(FundContributionRow.fund_id.in_(chunk))
        ):
            contributed[c.fund_id] += int(c.amount)
    commitments = _commitments(session, [d.commitment_id for ds in draws.values() for d in ds])
    out = {}
    for r in rows:
        t = _draw_totals(draws[r.record_id], commitments)
        t.pledged, t.contributed = int(r.pledged), contributed[r.record_id]
        out[r.record_id] = t
    return out


def _views(session: Session, rows: Sequence[FundRow]) -> list[FundView]:
    codes = org_codes(session)
    names = org_names(session)
    totals = _totals(session, rows)
    ids = [r.record_id for r in rows]
    details: dict[str, FundDetail] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for d in session.scalars(select(FundDetail).where(FundDetail.fund_id.in_(chunk))):
            details[d.fund_id] = d
    out = []
    for r in rows:
        code = codes.get(r.org)
        zh, en = names.get(code, (None, None)) if code else (None, None)
        detail = details.get(r.record_id)
        out.append(
            FundView(
                row=r,
                totals=totals[r.record_id],
                org_code=code,
                org_name=zh,
                org_name_en=en,
                sponsor_name=detail.sponsor_name if detail and r.sponsor_public else None,
                purpose=detail.purpose if detail else None,
                details_registered=detail is not None,
            )
        )
    return out


def fund_list(session: Session, limit: int = 500) -> list[FundView]:
    """Every fund, newest first."""
    rows = session.scalars(select(FundRow).order_by(FundRow.leaf_index.desc()).limit(limit)).all()
    return _views(session, rows)


def funds_of(session: Session, addresses: Sequence[str]) -> list[FundView]:
    """The funds an organization (its signing addresses) opened, newest first."""
    if not addresses:
        return []
    rows = session.scalars(
        select(FundRow).where(FundRow.org.in_(list(addresses))).order_by(FundRow.leaf_index.desc())
    ).all()
    return _views(session, rows)


def fund_page(session: Session, fund_id: str) -> FundView:
    """One fund with its contributions and the commitments that draw on it."""
    row = session.get(FundRow, fund_id.lower())
    if row is None:
        raise NotFoundError(
            f"没有此专项基金 / no fund {fund_id} is recorded on this ledger; check the id",
            code=FUND_NOT_FOUND,
        )
    (view,) = _views(session, [row])
    view.contributions = list(
        session.scalars(
            select(FundContributionRow)
            .where(FundContributionRow.fund_id == row.record_id)
            .order_by(FundContributionRow.leaf_index)
        )
    )
    draws = list(
        session.scalars(
            select(FundDrawRow)
            .where(FundDrawRow.fund_id == row.record_id)
            .order_by(FundDrawRow.leaf_index)
        )
    )
    commitments = _commitments(session, [d.commitment_id for d in draws])
    titles = anchor_titles(session, [c.need_id for c in commitments.values()])
    for d in draws:
        c = commitments.get(d.commitment_id)
        amount = int(d.fund_amount)
        view.draws.append(
            {
                "record_id": d.record_id,
                "commitment_id": d.commitment_id,
                "fund_amount": amount,
                "fund_amount_yuan": display.yuan(amount),
                "need_id": c.need_id if c else None,
                "need_title": titles.get(c.need_id) if c else None,
                "county": c.county if c else None,
                "resource_kind": c.resource_kind if c else None,
                "quantity": c.quantity if c else None,
                "unit": c.unit if c else None,
                "delivered": pro_rata(amount, c.delivered, c.quantity) if c else 0,
                "confirmed": pro_rata(amount, c.confirmed, c.quantity) if c else 0,
                "block_time": d.block_time,
                "block_time_beijing": display.beijing_time(d.block_time),
            }
        )
    return view


def fund_json(view: FundView, *, full: bool = False) -> dict[str, Any]:
    """A fund as the public JSON answers it: no sponsor name without consent, and never the
    salt."""
    r = view.row
    zh, en = SPONSOR_KINDS.get(r.sponsor_kind, ("?", "?"))
    out: dict[str, Any] = {
        "fund_id": r.record_id,
        "name": r.name,
        "org": r.org,
        "org_code": view.org_code,
        "org_name": view.org_name,
        "sponsor_kind": r.sponsor_kind,
        "sponsor_kind_name": {"zh": zh, "en": en},
        "sponsor_public": bool(r.sponsor_public),
        "sponsor_name": view.sponsor_name,
        "sponsor_hash": r.sponsor_hash,
        "purpose": view.purpose,
        "purpose_hash": r.purpose_hash,
        "details_registered": view.details_registered,
        "totals": view.totals.as_dict(),
        "opened_at": r.block_time,
        "opened_at_beijing": display.beijing_time(r.block_time),
        "chain": location(r, r.org),
    }
    if full:
        out["contributions"] = [
            {
                "record_id": c.record_id,
                "amount": int(c.amount),
                "amount_yuan": display.yuan(int(c.amount)),
                "received_date": c.received_date,
                "received_date_text": _date_text(c.received_date),
                "evidence_hash": c.evidence_hash,
                "block_time_beijing": display.beijing_time(c.block_time),
            }
            for c in view.contributions
        ]
        out["draws"] = [
            {**d, "delivered_yuan": display.yuan(d["delivered"]),
             "confirmed_yuan": display.yuan(d["confirmed"])}
            for d in view.draws
        ]  # fmt: skip
    return out


def _date_text(code: int) -> str:
    s = f"{code:08d}"
    return f"{s[:4]}-{s[4:6]}-{s[6:]}"
