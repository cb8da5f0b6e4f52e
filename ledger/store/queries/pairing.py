"""Read-model queries of the pairing program and east–west cooperation
(docs/programs.md): each pairing with its progress against its targets, the key
counties' pairings, the key counties nobody is paired with or whose pairings fall behind,
organizations' home provinces, the flows of aid from home province to receiving province,
and each organization's key-county share.

Everything here is a plain fact of the read model (codes, addresses, fen, YYYYMMDD dates);
names, yuan and Beijing time are the caller's (api, cli, export) to add. The key-county
list and the province names are passed in, so the store does not depend on the library.

**Progress** counts the commitments whose CommitmentSource cites the pairing: funds
committed and delivered (fen, resource kind 1), projects (distinct need projects), service
hours committed and delivered (resource kind 3). A target of 0 is not a target.

**Behind** (落后): an accepted pairing is behind when, for some target, the share met
(funds delivered / funds target, projects / projects target, hours delivered / hours
target) is more than `BEHIND_MARGIN` (10 percentage points) below the elapsed share of its
period ((today − start + 1) / (end − start + 1) days, 0 before the start, 1 after the end).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.fields import BEIJING, ResourceKind
from ledger.store.models import CommitmentRow, CommitmentTotal, RoleEvent
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow
from ledger.store.queries.orgs import org_codes, org_names
from ledger.store.sums import joined

__all__ = [
    "BEHIND_MARGIN",
    "EAST",
    "WEST",
    "KeyCountyPairings",
    "OrgAid",
    "PairingView",
    "Progress",
    "aid_by_org",
    "flows",
    "home_province",
    "home_provinces",
    "key_county_pairings",
    "oversight",
    "pairing",
    "pairings",
    "today_code",
]

#: How far (as a share, 0.10 = 10 percentage points) a target's met share may trail the
#: elapsed share of the period before the pairing counts as behind.
BEHIND_MARGIN = 0.10
#: 东部 and 西部 provinces in the National Bureau of Statistics' division (东中西部和东北地区
#: 划分方法): east–west cooperation (东西部协作) is aid from the first to the second.
EAST = frozenset({11, 12, 13, 31, 32, 33, 35, 37, 44, 46})
WEST = frozenset({15, 45, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65})
#: What a province-level name may end with, to find its short form (广西壮族自治区 → 广西).
_SUFFIX = re.compile(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)$")


def today_code(now: datetime | None = None) -> int:
    """Today's Beijing date as YYYYMMDD."""
    d = (now or datetime.now(BEIJING)).astimezone(BEIJING).date()
    return d.year * 10000 + d.month * 100 + d.day


def _date(code: int) -> date:
    return date(code // 10000, code // 100 % 100, code % 100)


@dataclass
class Progress:
    """What the commitments citing a pairing add up to."""

    commitments: int = 0
    funds_committed: int = 0
    funds_delivered: int = 0
    funds_confirmed: int = 0
    projects: int = 0
    hours_committed: int = 0
    hours_delivered: int = 0
    commitment_ids: list[str] = field(default_factory=list)


@dataclass
class PairingView:
    """One pairing as the chain holds it, with its acceptance and progress."""

    pairing_id: str
    org: str
    org_code: str | None
    org_name: str | None
    county: int
    start_date: int
    end_date: int
    categories: list[int]
    funds_target: int
    projects_target: int
    hours_target: int
    designated: bool
    terms_hash: str
    proposed_at: int
    accepted: bool
    accepted_at: int | None
    acceptance_id: str | None
    progress: Progress

    def elapsed_share(self, today: int) -> float:
        """The share of the period gone by on `today` (YYYYMMDD), 0..1."""
        if today < self.start_date:
            return 0.0
        if today > self.end_date:
            return 1.0
        days = (_date(self.end_date) - _date(self.start_date)).days + 1
        return ((_date(today) - _date(self.start_date)).days + 1) / days

    def met_shares(self) -> dict[str, float]:
        """Per target that is set (funds, projects, hours): the share met so far."""
        p = self.progress
        out: dict[str, float] = {}
        for name, got, target in (
            ("funds", p.funds_delivered, self.funds_target),
            ("projects", p.projects, self.projects_target),
            ("hours", p.hours_delivered, self.hours_target),
        ):
            if target > 0:
                out[name] = got / target
        return out

    def active(self, today: int) -> bool:
        return self.accepted and self.start_date <= today <= self.end_date

    def behind(self, today: int) -> list[str]:
        """The targets this pairing is behind on at `today` (see the module's docstring)."""
        if not self.accepted or today < self.start_date:
            return []
        elapsed = self.elapsed_share(today)
        return [t for t, met in self.met_shares().items() if met < elapsed - BEHIND_MARGIN]


def _categories(mask: int) -> list[int]:
    return [c for c in range(1, 11) if mask >> (c - 1) & 1]


def _progress(session: Session, pairing_ids: list[str]) -> dict[str, Progress]:
    out: dict[str, Progress] = {pid: Progress() for pid in pairing_ids}
    if not pairing_ids:
        return out
    needs: dict[str, set[str]] = defaultdict(set)
    for i in range(0, len(pairing_ids), 500):
        rows = session.execute(
            select(PairingCommitmentRow.pairing_id, CommitmentRow)
            .join(CommitmentRow, CommitmentRow.record_id == PairingCommitmentRow.commitment_id)
            .where(PairingCommitmentRow.pairing_id.in_(pairing_ids[i : i + 500]))
            .order_by(CommitmentRow.leaf_index)
        ).all()
        for pid, c in rows:
            p = out[pid]
            p.commitments += 1
            p.commitment_ids.append(c.record_id)
            needs[pid].add(c.need_id)
            delivered = min(int(c.delivered), int(c.quantity))
            if c.resource_kind == ResourceKind.FUNDS:
                p.funds_committed += int(c.quantity)
                p.funds_delivered += delivered
                p.funds_confirmed += min(int(c.confirmed), delivered)
            elif c.resource_kind == ResourceKind.SERVICE:
                p.hours_committed += int(c.quantity)
                p.hours_delivered += delivered
    for pid, ids in needs.items():
        out[pid].projects = len(ids)
    return out


def pairings(
    session: Session,
    *,
    county: int | None = None,
    counties: Iterable[int] | None = None,
    org_code: str | None = None,
    pairing_ids: Iterable[str] | None = None,
) -> list[PairingView]:
    """Pairings (oldest first), optionally of one county, some counties, one organization
    (credit code) or some ids, each with its acceptance and progress."""
    stmt = select(PairingRow).order_by(PairingRow.leaf_index)
    if county is not None:
        stmt = stmt.where(PairingRow.county == county)
    if counties is not None:
        stmt = stmt.where(PairingRow.county.in_(sorted(set(counties))))
    if pairing_ids is not None:
        stmt = stmt.where(PairingRow.record_id.in_(sorted(set(pairing_ids))))
    codes = org_codes(session)
    if org_code is not None:
        mine = [a for a, c in codes.items() if c == org_code]
        stmt = stmt.where(PairingRow.org.in_(mine))
    rows = list(session.scalars(stmt))
    ids = [r.record_id for r in rows]
    accepted: dict[str, PairingAcceptanceRow] = {}
    for i in range(0, len(ids), 500):
        for a in session.scalars(
            select(PairingAcceptanceRow).where(
                PairingAcceptanceRow.pairing_id.in_(ids[i : i + 500])
            )
        ):
            accepted.setdefault(a.pairing_id, a)
    progress = _progress(session, [i for i in ids if i in accepted])
    names = org_names(session)
    out = []
    for r in rows:
        code = codes.get(r.org)
        acc = accepted.get(r.record_id)
        out.append(
            PairingView(
                pairing_id=r.record_id,
                org=r.org,
                org_code=code,
                org_name=names.get(code, (None, None))[0] if code else None,
                county=int(r.county),
                start_date=int(r.start_date),
                end_date=int(r.end_date),
                categories=_categories(int(r.categories)),
                funds_target=int(r.funds_target),
                projects_target=int(r.projects_target),
                hours_target=int(r.hours_target),
                designated=bool(r.designated),
                terms_hash=r.terms_hash,
                proposed_at=int(r.block_time or 0),
                accepted=acc is not None,
                accepted_at=int(acc.block_time or 0) if acc else None,
                acceptance_id=acc.record_id if acc else None,
                progress=progress.get(r.record_id, Progress()),
            )
        )
    return out


def pairing(session: Session, pairing_id: str) -> PairingView | None:
    found = pairings(session, pairing_ids=[pairing_id])
    return found[0] if found else None


@dataclass
class KeyCountyPairings:
    """A key county and the pairings proposed for it, with what the oversight sees."""

    county: int
    pairings: list[PairingView]
    #: accepted pairings whose period includes today
    active: int
    #: (pairing id, targets) of the accepted pairings behind on some target
    behind: list[tuple[str, list[str]]]

    @property
    def unpaired(self) -> bool:
        return self.active == 0


def key_county_pairings(
    session: Session, key_counties: Iterable[int], today: int | None = None
) -> list[KeyCountyPairings]:
    """Every key county (in code order) with its pairings."""
    keys = sorted(set(key_counties))
    day = today if today is not None else today_code()
    by_county: dict[int, list[PairingView]] = defaultdict(list)
    for p in pairings(session, counties=keys):
        by_county[p.county].append(p)
    out = []
    for code in keys:
        ps = by_county.get(code, [])
        behind = [(p.pairing_id, b) for p in ps if (b := p.behind(day))]
        out.append(KeyCountyPairings(code, ps, sum(1 for p in ps if p.active(day)), behind))
    return out


def oversight(
    session: Session, key_counties: Iterable[int], today: int | None = None
) -> list[KeyCountyPairings]:
    """For the civil-affairs office: the key counties nobody is paired with today (no
    accepted pairing whose period includes today), or with a pairing behind its targets."""
    return [k for k in key_county_pairings(session, key_counties, today) if k.unpaired or k.behind]


# ------------------------------------------------------------------ east–west


def _short(name: str) -> str:
    return _SUFFIX.sub("", name)


def home_province(org_code: str, authority: str | None, provinces: Mapping[int, str]) -> int | None:
    """An organization's home province (2-digit code): the province its registering
    authority names, when the registration stores one (贵州省民政厅 → 52); otherwise the
    first two digits of characters 3–8 of its credit code, the registering authority's
    division code. None for a national registration (民政部, area code 100000) or a code
    that names no province."""
    text = (authority or "").strip()
    if text:
        for code, name in sorted(provinces.items()):
            if text.startswith(name) or text.startswith(_short(name)):
                return code
    area = org_code[2:8] if len(org_code) >= 8 else ""
    if area.isascii() and area.isdigit() and int(area[:2]) in provinces:
        return int(area[:2])
    return None


def home_provinces(session: Session, provinces: Mapping[int, str]) -> dict[str, int | None]:
    """Credit code → home province, from each code's latest OrganizationRegistered."""
    latest: dict[str, str | None] = {}
    for code, authority in session.execute(
        select(RoleEvent.org_code, RoleEvent.authority)
        .where(RoleEvent.org_code.is_not(None), RoleEvent.role == "ORG", RoleEvent.granted)
        .order_by(RoleEvent.block_number, RoleEvent.log_index)
    ):
        if code:
            latest[code] = authority
    return {code: home_province(code, a, provinces) for code, a in latest.items()}


@dataclass
class Flow:
    """Aid from organizations of one home province to counties of one province."""

    home: int | None
    receiving: int
    commitments: int = 0
    orgs: set[str] = field(default_factory=set)
    funds_committed: int = 0
    funds_delivered: int = 0
    funds_confirmed: int = 0
    hours_committed: int = 0

    @property
    def east_west(self) -> bool:
        return self.home in EAST and self.receiving in WEST


def _totals(session: Session) -> Iterable[tuple[int, str, int, int, int, int, int]]:
    """(county, org, resource kind, commitments, committed, delivered, confirmed) from the
    totals the indexer maintains (per county, category, org, kind and unit), so these views
    sum a few rows per organization and county rather than every commitment."""
    t = CommitmentTotal
    for row in session.execute(
        select(t.county, t.org, t.resource_kind, t.commitments, t.committed_hi, t.committed_lo,
               t.delivered_hi, t.delivered_lo, t.confirmed_hi, t.confirmed_lo)
    ):  # fmt: skip
        county, org, kind, n, chi, clo, dhi, dlo, fhi, flo = row
        amounts = joined(chi, clo), joined(dhi, dlo), joined(fhi, flo)
        yield int(county), org, int(kind), int(n), *amounts


def flows(session: Session, provinces: Mapping[int, str]) -> list[Flow]:
    """Every (home province, receiving province) pair that some commitment joins, with what
    it committed and delivered; sorted by home then receiving province (None, national, first)."""
    homes = home_provinces(session, provinces)
    codes = org_codes(session)
    cells: dict[tuple[int | None, int], Flow] = {}
    for county, org, kind, n, committed, delivered, confirmed in _totals(session):
        code = codes.get(org)
        home = homes.get(code) if code else None
        key = (home, county // 10000)
        flow = cells.get(key) or cells.setdefault(key, Flow(home, key[1]))
        flow.commitments += n
        flow.orgs.add(code or org)
        if kind == ResourceKind.FUNDS:
            flow.funds_committed += committed
            flow.funds_delivered += delivered
            flow.funds_confirmed += confirmed
        elif kind == ResourceKind.SERVICE:
            flow.hours_committed += committed
    return sorted(cells.values(), key=lambda f: (f.home or 0, f.receiving))


@dataclass
class OrgAid:
    """One organization's aid and the share of it that went to key counties."""

    org_code: str
    home: int | None
    commitments: int = 0
    key_commitments: int = 0
    funds_committed: int = 0
    key_funds_committed: int = 0
    pairings: int = 0
    designated_pairings: int = 0

    @property
    def key_share(self) -> float | None:
        """Key-county commitments / all commitments."""
        return self.key_commitments / self.commitments if self.commitments else None

    @property
    def key_share_funds(self) -> float | None:
        """Key-county funds committed / all funds committed (fen)."""
        return self.key_funds_committed / self.funds_committed if self.funds_committed else None


def aid_by_org(
    session: Session,
    key_counties: Iterable[int],
    provinces: Mapping[int, str],
    org_code: str | None = None,
) -> list[OrgAid]:
    """Each organization with commitments or pairings (by credit code), or only `org_code`,
    its home province, its key-county share and its (designated) pairings."""
    keys = set(key_counties)
    homes = home_provinces(session, provinces)
    codes = org_codes(session)
    out: dict[str, OrgAid] = {}

    def of(address: str) -> OrgAid | None:
        code = codes.get(address, address)
        if org_code is not None and code != org_code:
            return None
        return out.get(code) or out.setdefault(code, OrgAid(code, homes.get(code)))

    for county, org, kind, n, committed, _delivered, _confirmed in _totals(session):
        if (aid := of(org)) is None:
            continue
        aid.commitments += n
        key = county in keys
        aid.key_commitments += n if key else 0
        if kind == ResourceKind.FUNDS:
            aid.funds_committed += committed
            aid.key_funds_committed += committed if key else 0
    for p in session.scalars(select(PairingRow)):
        if (aid := of(p.org)) is None:
            continue
        aid.pairings += 1
        aid.designated_pairings += bool(p.designated)
    return sorted(out.values(), key=lambda a: a.org_code)
