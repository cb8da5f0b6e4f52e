"""The portal's summary CSVs (needs and supply listings, organizations, counties, a
project's timeline): field names and rows, headed bilingually by `csv_shapes.bilingual`.

Record downloads (commitments of a filter, an organization or a county) are not here:
they are `ledger.store.queries.csv_shapes`'s commitments shape, the export's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from api.web import data
from ledger.core.fields import CATEGORIES
from ledger.store.queries.timeline import Step
from ledger.store.queries.totals import Triple

PROJECT_FIELDS = (
    "project_id",
    "kind",
    "county",
    "county_name",
    "category",
    "category_zh",
    "version",
    "published_utc",
    "commitments",
    "funds_committed_fen",
    "funds_delivered_fen",
    "funds_confirmed_fen",
)
ORG_FIELDS = (
    "org_code",
    "name",
    "name_en",
    "commitments",
    "fulfilment_rate",
    "on_time_rate",
    "confirmed_rate",
)
COUNTY_FIELDS = (
    "county",
    "name",
    "key_county",
    "commitments",
    "funds_committed_fen",
    "funds_delivered_fen",
    "funds_confirmed_fen",
)
TIMELINE_FIELDS = (
    "stage",
    "record_id",
    "kind",
    "leaf_index",
    "block_number",
    "block_time_utc",
    "tx_hash",
    "detail",
)


def _category_zh(code: int) -> str:
    return CATEGORIES[code - 1] if 1 <= code <= len(CATEGORIES) else ""


def project_rows(items: Iterable[data.ProjectSummary], kind: str) -> Iterator[Sequence[Any]]:
    for p in items:
        yield [
            p.project_id,
            kind,
            p.county,
            data.county_name(p.county) or "",
            p.category,
            _category_zh(p.category),
            p.version,
            data.dt(p.published),
            p.commitments,
            p.funds.committed,
            p.funds.delivered,
            p.funds.confirmed,
        ]


def org_rows(items: Iterable[dict[str, Any]]) -> Iterator[Sequence[Any]]:
    for i in items:
        yield [
            i["org"],
            i["name"],
            i["name_en"],
            i["commitments"],
            data.rate_cell(i["fulfilment_rate"]),
            data.rate_cell(i["on_time_rate"]),
            data.rate_cell(i["confirmed_rate"]),
        ]


def county_rows(
    rows: Iterable[tuple[int, str, bool, int, Triple]],
) -> Iterator[Sequence[Any]]:
    for code, name, key, n, t in rows:
        yield [code, name, int(key), n, t.committed, t.delivered, t.confirmed]


def timeline_rows(steps: Iterable[Step]) -> Iterator[Sequence[Any]]:
    for s in steps:
        yield [
            s.stage,
            s.record_id,
            data.kind_name(s.kind),
            s.leaf_index,
            s.block_number,
            data.dt(s.block_time),
            s.tx_hash,
            json.dumps(s.detail, ensure_ascii=False),
        ]
