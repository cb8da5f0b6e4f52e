"""How a number, an amount or a time reads to a person: the one formatter behind the portal,
the workspaces, the CSV/XLSX downloads, the report and the IATI file.

Amounts are stored in fen (integers) and times in unix seconds (UTC); what a reader sees is
yuan with thousands separators (万元 for large sums) and Beijing time, labelled as such.
Due dates were entered as Beijing dates and stored as the end of that day, so they read back
exactly as entered.
"""

from __future__ import annotations

from datetime import datetime

from ledger.core.fields import BEIJING, ResourceKind

__all__ = [
    "TZ_LABEL",
    "TZ_LABEL_EN",
    "amount",
    "beijing_date",
    "beijing_time",
    "count",
    "unit_of",
    "wan",
    "yuan",
    "yuan_decimal",
]

#: What a time column or caption says about its zone.
TZ_LABEL = "北京时间"
TZ_LABEL_EN = "Beijing time (UTC+8)"
#: From this many fen (10,000 yuan × 100) a sum reads better in 万元.
WAN_FROM = 100_000_000
SERVICE_UNIT = "小时"
NONE = "—"


def yuan_decimal(fen: int) -> str:
    """Fen as an exact decimal yuan string, no separators (`470000.00`): for CSV cells and
    machine-read files, where a spreadsheet parses the number."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def yuan(fen: int) -> str:
    """Fen as yuan for a reader, exact and with thousands separators: `¥470,000.00`."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def wan(fen: int, digits: int = 2) -> str:
    """Fen as 万元 (`47.00 万元`), for large sums in tables and narratives."""
    return f"{int(fen) / 1_000_000:,.{digits}f} 万元"


def count(n: int | None) -> str:
    """A count with thousands separators, or — for none."""
    return NONE if n is None else f"{int(n):,}"


def unit_of(resource_kind: int, unit: str = "") -> str:
    """The unit a quantity of this kind is counted in: 元 for funds, 小时 for services, the
    goods' own unit otherwise."""
    if resource_kind == ResourceKind.FUNDS:
        return "元"
    if resource_kind == ResourceKind.SERVICE:
        return SERVICE_UNIT
    return unit


def amount(value: int, resource_kind: int, unit: str = "", large: bool = False) -> str:
    """A quantity as a reader sees it: funds (fen) in ¥ yuan — 万元 when `large` and the sum is
    big — services in hours, goods with their unit."""
    if resource_kind == ResourceKind.FUNDS:
        return wan(value) if large and abs(value) >= WAN_FROM else yuan(value)
    return f"{int(value):,} {unit_of(resource_kind, unit)}".strip()


def beijing_time(ts: int | None, seconds: bool = False) -> str:
    """Unix seconds as Beijing time, `YYYY-MM-DD HH:MM`, or — for none. Callers label the
    column or caption with TZ_LABEL."""
    if not ts:
        return NONE
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(int(ts), BEIJING).strftime(fmt)


def beijing_date(ts: int | None) -> str:
    """Unix seconds as the Beijing calendar date, `YYYY-MM-DD`, or — for none. A due date
    entered as a Beijing date reads back as that date."""
    if not ts:
        return NONE
    return datetime.fromtimestamp(int(ts), BEIJING).date().isoformat()
