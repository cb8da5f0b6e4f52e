"""The one way a program record (pairing, fund, follow-up, grievance) becomes its read-model
row: each field of the record's EIP-712 schema that the row's table has a column of the same
name for, in the column's form (bytes32 as 0x-hex, integers as int, bool as bool, text as
is), plus what the record itself does not carry (its id, its signer, its chain location and
what the indexer derives), which the caller names."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import class_mapper

from ledger.core.hexes import hex0x
from ledger.core.records import Record

__all__ = ["record_row"]

Row = TypeVar("Row")


def _column_value(value: Any, solidity_type: str) -> Any:
    if solidity_type == "bool":
        return bool(value)
    if solidity_type.startswith(("uint", "int")):
        return int(value)
    if solidity_type.startswith("bytes"):
        return hex0x(value)
    return value


def record_row(model: type[Row], record: Record, **given: Any) -> Row:
    """A new row of `model` for `record`: its schema fields that `model` has columns for
    (not its `id`), then `given`, which wins over a field of the same name (a Grievance's
    `record_id` field is the record it is about, not the row's key)."""
    columns = set(class_mapper(model).columns.keys())
    values = {
        name: _column_value(getattr(record, name), solidity_type)
        for name, solidity_type in record.SCHEMA
        if name != "id" and name in columns and name not in given
    }
    return model(**values, **given)
