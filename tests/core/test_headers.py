"""A spreadsheet's header cell names its column by any of its words, in either language."""

from __future__ import annotations

import pytest

from ledger.core.headers import header_key

ALIASES = {"数量": "quantity", "quantity": "quantity", "单位": "unit", "unit": "unit"}


@pytest.mark.parametrize(
    ("cell", "key"),
    [
        ("数量 quantity", "quantity"),
        ("数量/quantity", "quantity"),
        ("\ufeff数量", "quantity"),
        ("单位：unit", "unit"),
        ("Unit (单位)", "unit"),
        ("  QUANTITY  ", "quantity"),
        ("备注 note", None),
        ("", None),
    ],
)
def test_a_header_cell_names_its_column(cell: str, key: str | None) -> None:
    assert header_key(cell, ALIASES) == key
