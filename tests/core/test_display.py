"""The one formatter: yuan with separators, 万元, units and Beijing time."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from ledger.core import display
from ledger.core.fields import BEIJING, ResourceKind


def test_yuan_has_separators_and_is_exact() -> None:
    assert display.yuan(47_000_000) == "¥470,000.00"
    assert display.yuan(1) == "¥0.01"
    assert display.yuan(-12_345_678) == "-¥123,456.78"
    assert display.yuan_decimal(47_000_000) == "470000.00"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_yuan_decimal_round_trips(fen: int) -> None:
    text = display.yuan_decimal(fen)
    yuan, cents = text.lstrip("-").split(".")
    assert (-1 if text.startswith("-") else 1) * (int(yuan) * 100 + int(cents)) == fen
    assert display.yuan(fen).replace(",", "").replace("¥", "") == text


def test_amounts_carry_their_units() -> None:
    assert display.amount(40_000, ResourceKind.SERVICE) == "40,000 小时"
    assert display.amount(5000, ResourceKind.GOODS, "株") == "5,000 株"
    assert display.amount(9_000_000, ResourceKind.FUNDS) == "¥90,000.00"
    assert display.amount(470_000_000, ResourceKind.FUNDS, large=True) == "470.00 万元"
    assert display.amount(9_000_000, ResourceKind.FUNDS, large=True) == "¥90,000.00"


def test_a_due_date_reads_back_as_entered() -> None:
    end_of_day = int(datetime(2027, 3, 31, 23, 59, 59, tzinfo=BEIJING).timestamp())
    assert display.beijing_date(end_of_day) == "2027-03-31"
    assert display.beijing_time(end_of_day) == "2027-03-31 23:59"
    assert display.beijing_date(0) == "—"
