"""The audit's row reader on its own (`ledger.audit.rows.split_rows`): a row is taken as the
chain says only when it is equal value for value AND type for type; any other row goes
through the type checks and the comparison, so a value that only compares equal (5.0 for 5)
is still a finding, and an honest other spelling (upper-case hex) is still no finding."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from ledger.audit.codes import DB_VALUE_INVALID
from ledger.audit.report import AuditReport
from ledger.audit.rows import Row, split_rows

HASH = "0x" + "ab" * 32
KEYS = (("k", "int"),)
COLS = (("n", "int"), ("h", "hex32"), ("b", "bytes"))


def _split(
    tmp_path: Path, rows: list[tuple[object, ...]], expected: dict[Row, Row]
) -> tuple[set[Row], dict[Row, Row], AuditReport]:
    engine = create_engine(f"sqlite:///{tmp_path / 'rows.sqlite3'}")
    with engine.begin() as conn:
        # no declared types: SQLite keeps every value as given (no affinity conversion)
        conn.execute(text("CREATE TABLE t (k, n, h, b)"))
        conn.execute(
            text("INSERT INTO t VALUES (:k, :n, :h, :b)"),
            [dict(zip(("k", "n", "h", "b"), r, strict=True)) for r in rows],
        )
    report = AuditReport()
    try:
        return (*split_rows(engine, report, "t", KEYS, COLS, expected), report)
    finally:
        engine.dispose()


def test_rows_exactly_as_expected_are_taken_without_reading_them_again(tmp_path: Path) -> None:
    expected = {(1,): (5, HASH, b"\x01"), (2,): (6, HASH, b"\x02")}
    same, others, report = _split(
        tmp_path, [(1, 5, HASH, b"\x01"), (2, 6, HASH, b"\x02")], expected
    )
    assert same == {(1,), (2,)}
    assert others == {}
    assert report.findings == []


def test_a_value_that_only_compares_equal_is_read_and_refused(tmp_path: Path) -> None:
    """5.0 == 5 in Python: the fast path must not accept it, the type check must name it."""
    expected = {(1,): (5, HASH, b"\x01")}
    same, others, report = _split(tmp_path, [(1, 5.0, HASH, b"\x01")], expected)
    assert same == set()
    assert list(others) == [(1,)]
    assert [(f.code, f.where["column"]) for f in report.findings] == [(DB_VALUE_INVALID, "n")]


def test_a_key_that_only_compares_equal_is_not_taken(tmp_path: Path) -> None:
    expected = {(1,): (5, HASH, b"\x01")}
    same, others, report = _split(tmp_path, [(1.0, 5, HASH, b"\x01")], expected)
    assert same == set()
    assert others == {}  # a key that does not fit leaves its row out: the chain's is missing
    assert [(f.code, f.where["column"]) for f in report.findings] == [(DB_VALUE_INVALID, "k")]


def test_an_honest_other_spelling_is_read_normalized(tmp_path: Path) -> None:
    """Upper-case hex is a valid hex32: read the slow way, it equals the chain's value."""
    expected = {(1,): (5, HASH, b"\x01")}
    same, others, report = _split(
        tmp_path, [(1, 5, HASH.upper().replace("0X", "0x"), b"\x01")], expected
    )
    assert same == set()
    assert others == {(1,): (5, HASH, b"\x01")}
    assert report.findings == []


def test_a_differing_row_is_handed_back_for_the_comparison(tmp_path: Path) -> None:
    expected = {(1,): (5, HASH, b"\x01")}
    same, others, report = _split(
        tmp_path, [(1, 7, HASH, b"\x01"), (9, 5, HASH, b"\x01")], expected
    )
    assert same == set()
    assert others == {(1,): (7, HASH, b"\x01"), (9,): (5, HASH, b"\x01")}
    assert report.findings == []  # the caller's compare names the column; the extra row too
