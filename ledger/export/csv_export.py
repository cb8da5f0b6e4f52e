"""CSV files of every record kind, one row per indexed record (per batch share for
deliveries), each with its chain location and where to fetch its inclusion proof. The
columns are `ledger.store.queries.csv_shapes`'s and the rows `csv_rows`'; this module writes
them, naming counties from the GB/T 2260 table (with their province and prefecture), so that
`bangfu export csv`, `GET /api/v1/exports/<kind>.csv` and the portal's downloads are one
shape with one content.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from sqlalchemy.orm import Session

from ledger.library import regions
from ledger.store.queries.csv_rows import rows
from ledger.store.queries.csv_shapes import KINDS, columns
from ledger.store.queries.lists import Filters

__all__ = ["BOM", "KINDS", "columns", "county_name", "iter_csv", "iter_table", "write_csv"]

#: Leads a download so spreadsheet programs read the Chinese text as UTF-8.
BOM = "\ufeff"


def county_name(code: int) -> str | None:
    """A county's full name (贵州省黔西南布依族苗族自治州册亨县), or None if the table has
    no such code."""
    county = regions.counties().get(int(code))
    return county.full_name if county else None


def write_csv(session: Session, kind: str, out: TextIO, f: Filters | None = None) -> int:
    """Writes the CSV of `kind` (the records matching `f`) to `out`; returns the number of
    data rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(kind))
    n = 0
    for row in rows(session, kind, f, county_name=county_name):
        writer.writerow(row)
        n += 1
    return n


def iter_table(
    header: Sequence[str], body: Iterable[Sequence[Any]], *, bom: bool = False
) -> Iterator[str]:
    """A header and rows as CSV text chunks, for a streaming or one-piece HTTP response."""
    buf = io.StringIO()
    if bom:
        buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(body, 1):
        writer.writerow(row)
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def iter_csv(
    session: Session, kind: str, f: Filters | None = None, *, bom: bool = False
) -> Iterator[str]:
    """The CSV of `kind` as text chunks."""
    return iter_table(columns(kind), rows(session, kind, f, county_name=county_name), bom=bom)
