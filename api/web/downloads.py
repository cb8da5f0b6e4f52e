"""The portal's summary CSVs (needs and supply listings, organizations, counties, a
project's timeline): field names and rows, headed bilingually by `csv_shapes.bilingual`.

As in the record shapes, what a person reads comes first — titles, names, statuses in words,
amounts in yuan as exact decimals (`90000.00`, no separators, so a spreadsheet reads a
number), times in Beijing time with the zone in the header — and the raw ids, codes and
hashes for machines come after.

Record downloads (commitments of a filter, an organization or a county) are not here:
they are `ledger.store.queries.csv_shapes`'s commitments shape, the export's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from api.web.amounts import Line
from api.web.data import ProjectSummary
from ledger.core import display
from ledger.core.lifecycle import stage_name
from ledger.export.csv_export import county_name
from ledger.store.queries.csv_cells import (
    PROJECT_KIND_NAMES,
    RECORD_KIND_NAMES,
    category_zh,
    measure,
    resource_name,
    yes_no,
)
from ledger.store.queries.csv_shapes import PROJECT_ABOUT, TRIPLE_COLUMNS
from ledger.store.queries.timeline import Step

PROJECT_FIELDS = (
    *PROJECT_ABOUT,
    "version",
    "published",
    "commitments",
    "funds_committed_yuan",
    "funds_delivered_yuan",
    "funds_confirmed_yuan",
    # for machines
    "project_id",
    "category",
)
ORG_FIELDS = (
    "name",
    "name_en",
    "org_code",
    "commitments",
    "fulfilment_rate",
    "on_time_rate",
    "confirmed_rate",
)
#: One row per county and resource kind (goods per unit): money, goods and hours never share
#: a sum.
COUNTY_FIELDS = (
    "county",
    "name",
    "key_county",
    "resource",
    "commitments",
    *TRIPLE_COLUMNS,
)
TIMELINE_FIELDS = (
    "stage",
    "block_time_beijing",
    "org_name",
    "resource",
    "amount_yuan",
    "quantity",
    "unit",
    # for machines
    "stage_code",
    "record_kind",
    "record_id",
    "leaf_index",
    "block_number",
    "tx_hash",
    "detail",
)
#: A timeline step's stage in words.
STAGE_NAMES = {
    "published": "发布 published",
    "matched": "对接 matched",
    "committed": "承诺 committed",
    "delivered": "交付 delivered",
    "confirmed": "签收 confirmed",
    "flagged": "审计标记 flagged",
}


def rate_cell(rate: float | None) -> str:
    """A rate for a CSV cell: four decimals, or empty when there is nothing to rate."""
    return "" if rate is None else f"{rate:.4f}"


def project_rows(items: Iterable[ProjectSummary], kind: str) -> Iterator[Sequence[Any]]:
    """Needs or supply projects (`kind` says which list, for callers that ask)."""
    del kind  # each summary carries its own project kind
    for p in items:
        yield [
            p.title,
            PROJECT_KIND_NAMES.get(p.project_kind, str(p.project_kind)),
            stage_name(p.status) if p.status else "",
            p.county or "",
            (county_name(p.county) or "") if p.county else "",
            category_zh(p.category),
            p.version,
            display.beijing_time(p.published),
            p.commitments,
            display.yuan_decimal(p.funds.committed),
            display.yuan_decimal(p.funds.delivered),
            display.yuan_decimal(p.funds.confirmed),
            p.project_id,
            p.category,
        ]


def org_rows(items: Iterable[dict[str, Any]]) -> Iterator[Sequence[Any]]:
    for i in items:
        yield [
            i["name"],
            i["name_en"],
            i["org"],
            i["commitments"],
            rate_cell(i["fulfilment_rate"]),
            rate_cell(i["on_time_rate"]),
            rate_cell(i["confirmed_rate"]),
        ]


def county_rows(
    rows: Iterable[tuple[int, str, bool, Sequence[Line]]],
) -> Iterator[Sequence[Any]]:
    """Each county's totals, one row per resource kind and unit (`api.web.amounts.per_kind`)."""
    for code, name, key, lines in rows:
        for rk, unit, t in lines:
            cells = [measure(rk, v, unit) for v in (t.committed, t.delivered, t.confirmed)]
            yield [
                code,
                name or county_name(code) or "",
                yes_no(key),
                resource_name(rk),
                t.commitments,
                *(c[0] for c in cells),
                *(c[1] for c in cells),
                cells[0][2],
            ]


def _step_amount(s: Step) -> tuple[str, str, str, str]:
    """(resource, yuan, quantity, unit) of a step that carries an amount, else blanks."""
    rk, qty = s.detail.get("resource_kind"), s.detail.get("quantity")
    if rk is None or qty is None:
        return "", "", "", ""
    amount, quantity, unit = measure(int(rk), int(qty), str(s.detail.get("unit") or ""))
    return resource_name(int(rk)), amount, quantity, unit


def timeline_rows(steps: Iterable[Step]) -> Iterator[Sequence[Any]]:
    for s in steps:
        resource, amount, quantity, unit = _step_amount(s)
        yield [
            STAGE_NAMES.get(s.stage, s.stage),
            display.beijing_time(s.block_time, seconds=True),
            s.detail.get("org_name") or "",
            resource,
            amount,
            quantity,
            unit,
            s.stage,
            RECORD_KIND_NAMES.get(s.kind, str(s.kind)),
            s.record_id,
            s.leaf_index,
            s.block_number,
            s.tx_hash,
            json.dumps(s.detail, ensure_ascii=False),
        ]
