"""The read-model query API: what the public API, the portal, CSV exports and reports read.

Everything here reads the SQL read model only and returns no personal data (there is none
on chain: beneficiaries are keyed pseudonyms behind Merkle roots). By concept:
`lists` (filters, cursor pages, one record), `totals` (the one totals aggregate), `orgs`
(address → credit code, names, scorecards), `timeline` (a project's steps in chain order),
`csv_shapes` (the CSV columns of each record kind), `csv_rows` (its rows) and `csv_cells`
(a cell's value in words).
"""

from ledger.store.queries.lists import (
    LISTS,
    MAX_PAGE,
    Filters,
    Page,
    apply_filters,
    category_label,
    decode_cursor,
    encode_cursor,
    get_record,
    list_records,
    location,
    overview,
    records_in_tx,
)
from ledger.store.queries.orgs import org_codes
from ledger.store.queries.totals import Triple, aggregate

__all__ = [
    "LISTS",
    "MAX_PAGE",
    "Filters",
    "Page",
    "Triple",
    "aggregate",
    "apply_filters",
    "category_label",
    "decode_cursor",
    "encode_cursor",
    "get_record",
    "list_records",
    "location",
    "org_codes",
    "overview",
    "records_in_tx",
]
