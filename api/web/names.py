"""What a reader sees in place of ids and codes on the portal: counties by name with their
prefecture and province (and the key counties among them), a supply project's regions in
words, organizations by their registered name, projects by title — and the menus of them
that the filters offer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.library import key_counties as key_county_list
from ledger.library import regions
from ledger.library.models import LibraryProject
from ledger.store.models import CommitmentRow, ProjectAnchorRow
from ledger.store.queries.orgs import chunks, org_codes, org_names


def county_name(code: int) -> str | None:
    """The county's full Chinese name from the GB/T 2260 table, or None if unknown."""
    county = regions.counties().get(int(code))
    return county.full_name if county else None


def county_short(code: int) -> str:
    """The county's own name (册亨县) for chart labels, or its code."""
    county = regions.counties().get(int(code))
    return county.name if county else str(code)


def key_counties(session: Session) -> set[int]:
    """Nationally designated key counties (重点帮扶县) as loaded into the library."""
    return {k.code for k in key_county_list.key_counties(session)}


@dataclass(frozen=True)
class Place:
    """A county as a reader names it: 册亨县, in 黔西南布依族苗族自治州, 贵州省."""

    code: int
    name: str
    city: str = ""
    province: str = ""

    @property
    def known(self) -> bool:
        return bool(self.province)


def place(code: int) -> Place:
    """The county's names from the GB/T 2260 table (its code as the name if unknown)."""
    county = regions.counties().get(int(code))
    if county is None:
        return Place(int(code), str(code))
    city = "" if county.city in ("市辖区", "县", "省直辖县级行政区划") else county.city
    return Place(county.code, county.name, city, county.province)


def region_name(code: int) -> str:
    """A supply project's region: a province (52 → 贵州省) or a county (with its province)."""
    if code < 100:
        return regions.provinces().get(code, str(code))
    p = place(code)
    return f"{p.province}{p.city}{p.name}" if p.known else p.name


def county_options(session: Session) -> list[Place]:
    """The counties that have projects or commitments on this ledger, for filter menus."""
    codes = set(session.scalars(select(ProjectAnchorRow.county).distinct()))
    codes |= set(session.scalars(select(CommitmentRow.county).distinct()))
    return sorted((place(c) for c in codes if c), key=lambda p: (p.province, p.city, p.code))


def org_options(session: Session) -> list[tuple[str, str]]:
    """(credit code, registered name) of every organization registered by name, by name."""
    names = org_names(session)
    codes = set(org_codes(session).values())
    return sorted(((c, names.get(c, (c, None))[0]) for c in codes), key=lambda cn: cn[1])


def project_titles(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Project id → title: the library's, else the one its latest anchor carries on chain."""
    wanted = sorted(set(ids))
    out: dict[str, str] = {}
    for chunk in chunks(wanted, 500):
        for pid, _version, title in session.execute(
            select(ProjectAnchorRow.project_id, ProjectAnchorRow.version, ProjectAnchorRow.title)
            .where(ProjectAnchorRow.project_id.in_(chunk))
            .order_by(ProjectAnchorRow.version)
        ):
            if title:
                out[pid] = title
        for pid, title in session.execute(
            select(LibraryProject.project_id, LibraryProject.title).where(
                LibraryProject.project_id.in_(chunk)
            )
        ):
            if title:
                out[pid] = title
    return out
