"""The periods of the periodic report in words and steps: a period's Chinese name, the
period of the same length just before it (for the comparison), and its calendar months
(for the monthly trend).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from ledger.core.fields import BEIJING
from ledger.export.snapshot import Period


def period_name(period: Period) -> str:
    """The period in Chinese: 2030年第三季度, 2030年上半年, 2030年7月, 2030年度."""
    label = period.label
    m = re.fullmatch(r"(\d{4})(?:-(Q[1-4]|H[12]|\d{2}))?", label)
    if not m:
        return f"{period.start_date} 至 {period.last_date}" if label != "all" else "截至目前"
    year, part = m.group(1), m.group(2) or ""
    if not part:
        return f"{year}年度"
    if part.startswith("Q"):
        return f"{year}年第{'一二三四'[int(part[1]) - 1]}季度"
    if part.startswith("H"):
        return f"{year}年{'上下'[int(part[1]) - 1]}半年"
    return f"{year}年{int(part)}月"


def previous_period(period: Period) -> Period | None:
    """The period of the same length just before: the last quarter for a quarter, the last
    month for a month; None for `all`."""
    if period.start <= 0:
        return None
    first = datetime.fromtimestamp(period.start, BEIJING).date()
    stop = datetime.fromtimestamp(period.end, BEIJING).date()
    m = re.fullmatch(r"(\d{4})(?:-(Q[1-4]|H[12]|\d{2}))?", period.label)
    if first.day == 1 and stop.day == 1:
        months = (stop.year - first.year) * 12 + stop.month - first.month
        index = first.year * 12 + first.month - 1 - months
        start = date(index // 12, index % 12 + 1, 1)
        if m and m.group(2):
            part = m.group(2)
            if part.startswith("Q"):
                label = f"{start.year}-Q{(start.month - 1) // 3 + 1}"
            elif part.startswith("H"):
                label = f"{start.year}-H{(start.month - 1) // 6 + 1}"
            else:
                label = f"{start.year}-{start.month:02d}"
        elif m:
            label = str(start.year)
        else:
            label = f"{start.isoformat()}..{(first - timedelta(days=1)).isoformat()}"
    else:
        start = first - (stop - first)
        label = f"{start.isoformat()}..{(first - timedelta(days=1)).isoformat()}"
    begin = int(datetime(start.year, start.month, start.day, tzinfo=BEIJING).timestamp())
    return Period(label, begin, period.start)


def month_periods(period: Period) -> list[tuple[str, Period]]:
    """Calendar months of the period, or the 12 months to the cut-off for long periods."""
    end = datetime.fromtimestamp(period.end, BEIJING)
    year, month = end.year, end.month
    if end.day == 1 and end.hour == 0 and end.minute == 0 and end.second == 0:
        month -= 1
    months: list[tuple[str, Period]] = []
    for _ in range(12):
        if month < 1:
            year, month = year - 1, 12
        start = int(datetime(year, month, 1, tzinfo=BEIJING).timestamp())
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        stop = int(datetime(ny, nm, 1, tzinfo=BEIJING).timestamp())
        label = f"{year}-{month:02d}"
        months.append((label, Period(label, start, min(stop, period.end))))
        if start <= period.start:
            break
        month -= 1
    return list(reversed(months))
