"""Hypothesis strategies shared by the tests: records of every kind with random values in
range for their Solidity types."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ledger.core.record_types import BY_SLUG
from ledger.core.records import Record


def value_of(typ: str) -> st.SearchStrategy[Any]:
    if typ.endswith("[]"):
        return st.lists(value_of(typ[:-2]), max_size=5).map(tuple)
    if typ == "bytes32":
        return st.binary(min_size=32, max_size=32)
    if typ == "string":
        return st.text(max_size=80)  # Chinese, emoji, NUL: UTF-8 of any length
    if typ == "bool":
        return st.booleans()
    assert typ.startswith("uint"), typ
    return st.integers(min_value=0, max_value=(1 << int(typ[4:])) - 1)


def record_of(cls: type[Record]) -> st.SearchStrategy[Record]:
    fields = {name: value_of(typ) for name, typ in cls.SCHEMA}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


ANY_RECORD = st.one_of([record_of(cls) for cls in BY_SLUG.values()])
