"""Reading the operator's database the audit's way: plain SQL on table names, every stored
value checked against its column's type, and stored rows compared with the rows the chain
implies.

A value that does not fit its column (a text in an integer column, a bad hex string, a blob
that is not bytes) is a `db_value_invalid` finding and an `Invalid` in the row, never an
exception; a differing column is a `db_row_altered` finding naming the column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.audit.codes import DB_COLUMN_MISSING, DB_ROW_ALTERED, DB_VALUE_INVALID, INTEGRITY
from ledger.audit.report import AuditReport

__all__ = [
    "ZERO_HEX",
    "Invalid",
    "Row",
    "TableSpec",
    "check_value",
    "columns_or_skip",
    "compare",
    "compare_columns",
    "is_int",
    "iter_typed_rows",
    "present_columns",
    "report_invalid",
    "row_fail",
    "shown",
    "split_rows",
    "validator",
]

ZERO_HEX = "0x" + "00" * 32
#: Rows fetched from the database at a time while a table is read.
_FETCH_ROWS = 5_000

Row = tuple[Any, ...]

# ------------------------------------------------------------------ column types

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class Invalid:
    """A stored value that does not fit its column (reported once, never compared)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Invalid({self.value!r})"


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v: Any) -> Any:
    return v if type(v) is int else Invalid(v)


def _bool(v: Any) -> Any:
    if type(v) is bool:
        return int(v)
    return v if type(v) is int and v in (0, 1) else Invalid(v)


_hex32_match = _HEX32.fullmatch
_address_match = _ADDRESS.fullmatch


def _hex32(v: Any) -> Any:
    return v.lower() if type(v) is str and _hex32_match(v) else Invalid(v)


def _address(v: Any) -> Any:
    return v if type(v) is str and _address_match(v) else Invalid(v)


def _text(v: Any) -> Any:
    return v if type(v) is str else Invalid(v)


def _bytes(v: Any) -> Any:
    if type(v) is bytes:
        return v
    return bytes(v) if isinstance(v, memoryview | bytearray) else Invalid(v)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "bool": _bool,
    "hex32": _hex32,
    "address": _address,
    "text": _text,
    "bytes": _bytes,
}


def _int_or_none(v: Any) -> Any:
    return v if v is None or type(v) is int else Invalid(v)


def _hex32_or_none(v: Any) -> Any:
    if v is None:
        return None
    return v.lower() if type(v) is str and _hex32_match(v) else Invalid(v)


def _text_or_none(v: Any) -> Any:
    return v if v is None or type(v) is str else Invalid(v)


#: The nullable checks read-model rows have most (the chain location on every list row),
#: without a wrapper's extra call per value.
_NULLABLE: dict[str, Callable[[Any], Any]] = {
    "int": _int_or_none,
    "hex32": _hex32_or_none,
    "text": _text_or_none,
}


def validator(typ: str) -> Callable[[Any], Any]:
    """The check of one column type: the value normalized for comparison, or `Invalid`.

    Types: int, hex32 (0x + 64 hex, compared lowercase), address (0x + 40 hex, compared as
    stored: the read model keeps checksummed addresses), text, bytes, bool (0/1 or a
    boolean); a trailing "?" allows NULL."""
    base = typ.rstrip("?")
    check = _CHECKS[base]
    if not typ.endswith("?"):
        return check
    if base in _NULLABLE:
        return _NULLABLE[base]

    def nullable(v: Any) -> Any:
        return None if v is None else check(v)

    return nullable


def check_value(value: Any, typ: str) -> Any:
    """`value` normalized for comparison, or `Invalid(value)` when it does not fit `typ`."""
    return validator(typ)(value)


def shown(value: Any) -> Any:
    """A JSON-safe picture of a stored value for a finding."""
    if isinstance(value, Invalid):
        value = value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


@dataclass(frozen=True)
class TableSpec:
    """A read-model table: its key columns, the columns every reader serves, and columns
    compared when the table has them (added by later schema versions)."""

    keys: tuple[tuple[str, str], ...]
    cols: tuple[tuple[str, str], ...]
    optional: tuple[tuple[str, str], ...] = ()

    @property
    def all_cols(self) -> tuple[tuple[str, str], ...]:
        return self.cols + self.optional


# ------------------------------------------------------------------ reading, typed


def _table_columns(engine: Engine, table: str) -> set[str]:
    """The names of the columns `table` has."""
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _key_text(keys: Sequence[str], key: Row) -> str:
    return ", ".join(f"{k}={shown(v)}" for k, v in zip(keys, key, strict=True))


def _key_json(keys: Sequence[str], key: Row) -> dict[str, Any]:
    return {k: shown(v) for k, v in zip(keys, key, strict=True)}


def row_fail(
    code: str,
    report: AuditReport,
    table: str,
    keys: Sequence[str],
    key: Row,
    message: str,
    **where: Any,
) -> None:
    """An integrity finding about one row: the message follows the table and key, and
    `where` names them first."""
    report.add(
        code,
        INTEGRITY,
        f"{table} {_key_text(keys, key)}: {message}",
        table=table,
        key=_key_json(keys, key),
        **where,
    )


def report_invalid(
    report: AuditReport,
    table: str,
    keys: Sequence[str],
    key: Row,
    column: str,
    typ: str,
    value: Any,
) -> None:
    """A `db_value_invalid` finding: `value` of `column` does not fit its type `typ`."""
    row_fail(
        DB_VALUE_INVALID,
        report,
        table,
        keys,
        key,
        f"{column} holds {shown(value)!r}, not a valid {typ.rstrip('?')}",
        column=column,
        expected_type=typ.rstrip("?"),
        found=shown(value),
    )


def _typed_row_reader(
    report: AuditReport,
    table: str,
    keys: Sequence[tuple[str, str]],
    cols: Sequence[tuple[str, str]],
) -> Callable[[Row], tuple[Row, Row] | None]:
    """Checks one raw row's values against their types: (key, values) with `Invalid` where a
    value does not fit (reported), or None when the key itself does not fit (reported)."""
    names = [k for k, _ in keys] + [c for c, _ in cols]
    types = [t for _, t in keys] + [t for _, t in cols]
    checks = [validator(t) for t in types]
    nk = len(keys)
    key_names = names[:nk]

    def read(raw: Row) -> tuple[Row, Row] | None:
        values = [check(v) for check, v in zip(checks, raw, strict=False)]
        if Invalid not in map(type, values):  # nearly every row
            return tuple(values[:nk]), tuple(values[nk:])
        key = tuple(values[:nk])
        bad_key = next((i for i, v in enumerate(key) if isinstance(v, Invalid)), None)
        if bad_key is not None:
            report_invalid(
                report,
                table,
                key_names,
                tuple(shown(v) for v in key),
                names[bad_key],
                types[bad_key],
                raw[bad_key],
            )
            return None
        for i in range(nk, len(values)):
            if isinstance(values[i], Invalid):
                report_invalid(report, table, key_names, key, names[i], types[i], raw[i])
        return key, tuple(values[nk:])

    return read


def _raw_rows(
    engine: Engine,
    table: str,
    keys: Sequence[tuple[str, str]],
    cols: Sequence[tuple[str, str]],
    order_by: str | None,
) -> Iterator[Row]:
    names = [k for k, _ in keys] + [c for c, _ in cols]
    sql = f"SELECT {', '.join(names)} FROM {table}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    with engine.connect() as conn:
        # streamed in partitions (a server-side cursor on PostgreSQL, fetchmany on SQLite)
        result = conn.execution_options(stream_results=True).execute(text(sql))
        for part in result.partitions(_FETCH_ROWS):
            for raw in part:
                yield tuple(raw)


def iter_typed_rows(
    engine: Engine,
    report: AuditReport,
    table: str,
    keys: Sequence[tuple[str, str]],
    cols: Sequence[tuple[str, str]],
    *,
    order_by: str | None = None,
) -> Iterator[tuple[Row, Row]]:
    """`SELECT keys, cols FROM table`, streamed, each value checked against its type. A row
    whose key does not fit is reported and left out (the row the chain implies is then
    missing); a column value that does not fit is reported and kept as `Invalid`."""
    read = _typed_row_reader(report, table, keys, cols)
    for raw in _raw_rows(engine, table, keys, cols, order_by):
        typed = read(raw)
        if typed is not None:
            yield typed


def split_rows(
    engine: Engine,
    report: AuditReport,
    table: str,
    keys: Sequence[tuple[str, str]],
    cols: Sequence[tuple[str, str]],
    expected: Mapping[Row, Row],
    prepare: Callable[[Row], Row] | None = None,
) -> tuple[set[Row], dict[Row, Row]]:
    """The table's rows against `expected` (key → values over `cols`): the keys of rows that
    are exactly as expected, value for value and type for type (so no value needs its type
    checked), and every other row read as `iter_typed_rows` does. Nearly every row of an
    honest database is the first kind, which costs one look-up and two tuple comparisons.
    `prepare` turns a row into the compared form (e.g. bytes into their hash), after the
    type checks on the slow path."""
    read = _typed_row_reader(report, table, keys, cols)
    nk = len(keys)
    same: set[Row] = set()
    others: dict[Row, Row] = {}
    get = expected.get
    for raw in _raw_rows(engine, table, keys, cols, None):
        row = prepare(raw) if prepare is not None else raw
        key, vals = tuple(row[:nk]), tuple(row[nk:])
        want = get(key)
        if (
            want is not None
            and vals == want
            and tuple(map(type, vals)) == tuple(map(type, want))
            and all(type(k) is int or type(k) is str for k in key)
            and key not in same
        ):
            same.add(key)
            continue
        typed = read(raw)
        if typed is not None:
            if prepare is not None:
                typed = typed[0], prepare(typed[0] + typed[1])[nk:]
            others[typed[0]] = typed[1]
    return same, others


def present_columns(
    engine: Engine, report: AuditReport, table: str, spec: TableSpec
) -> tuple[tuple[str, str], ...]:
    """The spec's columns the table has; a missing required column is a finding."""
    have = _table_columns(engine, table)
    for name, _ in spec.keys + spec.cols:
        if name not in have:
            report.add(
                DB_COLUMN_MISSING,
                INTEGRITY,
                f"the database's {table} has no column {name}",
                table=table,
                column=name,
            )
    if any(name not in have for name, _ in spec.keys):
        return ()
    return tuple((n, t) for n, t in spec.all_cols if n in have)


def columns_or_skip(
    engine: Engine, report: AuditReport, check: str, table: str, spec: TableSpec
) -> tuple[tuple[str, str], ...]:
    """`present_columns` of a table an optional feature keeps: when the database has no such
    table, `check` is marked skipped and there are no columns to read."""
    if not inspect(engine).has_table(table):
        report.checks[check] = f"skipped (no {table} table)"
        return ()
    return present_columns(engine, report, table, spec)


def compare(
    report: AuditReport,
    table: str,
    keys: Sequence[str],
    key: Row,
    cols: Sequence[str],
    got: Row,
    want: Row,
) -> None:
    """A `db_row_altered` finding naming each column whose stored value is not the chain's
    (values already reported as invalid are not compared again)."""
    if got == want:
        return
    changed = {
        c: {"database": shown(g), "chain": shown(w)}
        for c, g, w in zip(cols, got, want, strict=True)
        if not isinstance(g, Invalid) and g != w
    }
    if changed:
        row_fail(
            DB_ROW_ALTERED,
            report,
            table,
            keys,
            key,
            f"{', '.join(changed)} differ from the chain",
            columns=changed,
        )


def compare_columns(
    report: AuditReport,
    table: str,
    keys: Sequence[str],
    key: Row,
    got: Mapping[str, Any],
    want: Mapping[str, Any],
) -> None:
    """`compare` over the columns of `want` that `got` has, in `want`'s order."""
    cols = [c for c in want if c in got]
    compare(
        report, table, keys, key, cols, tuple(got[c] for c in cols), tuple(want[c] for c in cols)
    )
