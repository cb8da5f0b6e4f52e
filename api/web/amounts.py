"""Totals as the portal shows them, one resource kind at a time — funds, services, then
goods per unit, since money, hours and goods never add up — and the home page's choice of
which one to chart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from ledger.core.fields import ResourceKind
from ledger.store.queries.totals import (
    GrandTotals,
    Total,
    Triple,
    fold,
    fold_goods,
    goods_by,
    totals_by,
)

#: One line of a total: resource kind, unit (goods only) and the three measures.
Line = tuple[int, str, Triple]


def per_kind(rows: Iterable[Total]) -> dict[Any, list[Line]]:
    """Per group, its totals one resource kind at a time (funds, services, then goods per
    unit): money, hours and goods are never added together."""
    rows = list(rows)
    out: dict[Any, list[Line]] = defaultdict(list)
    for rk in (ResourceKind.FUNDS, ResourceKind.SERVICE):
        for key, t in fold(rows, rk).items():
            out[key].append((int(rk), "", t))
    for (key, unit), t in sorted(fold_goods(rows).items(), key=lambda kv: kv[0][1]):
        out[key].append((int(ResourceKind.GOODS), unit, t))
    return dict(out)


def home_kind(kind: str, grand: GrandTotals) -> tuple[int, str | None, str]:
    """The home page's resource: funds, services, or goods of one unit (`goods:箱`; plain
    `goods` is the unit with the most commitments), since goods of different units do not
    add up. Returns the kind, the goods unit and the choice as the form shows it."""
    if kind == "service":
        return ResourceKind.SERVICE, None, kind
    if kind == "goods" or kind.startswith("goods:"):
        units = sorted(grand.goods, key=lambda u: (-grand.goods[u].commitments, u))
        unit = kind.removeprefix("goods").removeprefix(":")
        if unit not in grand.goods:
            unit = units[0] if units else ""
        return ResourceKind.GOODS, unit, f"goods:{unit}"
    return ResourceKind.FUNDS, None, "funds"


def one_measure(session: Session, by: str, rk: int, where: Sequence[Any]) -> dict[Any, Triple]:
    """Totals per group of funds, of services, or (with a unit condition) of one unit of
    goods."""
    if rk != ResourceKind.GOODS:
        return totals_by(session, by, rk, *where)
    return {k: t for (k, _unit), t in goods_by(session, by, *where).items()}
