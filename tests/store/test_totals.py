"""The one totals aggregate (`ledger.store.queries.totals`): goods are totalled per unit,
never added across units; funds and services fold across their unit text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.core.fields import ResourceKind
from ledger.store.db import Database
from ledger.store.models import CommitmentRow, LogEntry
from ledger.store.queries.lists import Filters
from ledger.store.queries.totals import Triple, fold, goods_by, grand_totals, public, tally

COUNTY = 522327
H = "0x" + "ab" * 32


def _id(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    commitments = [  # (resource kind, quantity, unit, delivered)
        (ResourceKind.FUNDS, 100_000, "fen", 40_000),
        (ResourceKind.GOODS, 10, "kg", 4),  # 10 kg of rice
        (ResourceKind.GOODS, 5, "箱", 5),  # 5 boxes of books
        (ResourceKind.SERVICE, 8, "h", 0),
    ]
    with database.write() as s:
        for n, (rk, quantity, unit, delivered) in enumerate(commitments):
            rid = _id(n + 1)
            s.add(
                LogEntry(
                    leaf_index=n, record_id=rid, kind=2, signer="0x" + "11" * 20, leaf_hash=H,
                    record_bytes=b"", chain_id=31337, block_number=n + 1, block_hash=H,
                    block_time=1_750_000_000 + n, tx_hash=H, log_index=n,
                )
            )  # fmt: skip
            s.flush()
            s.add(
                CommitmentRow(
                    record_id=rid, need_id=H, match_id=H, org="0x" + "22" * 20, county=COUNTY,
                    category=1, resource_kind=int(rk), quantity=quantity, unit=unit,
                    due_date=1_760_000_000, terms_hash=H, delivered=delivered, confirmed=0,
                    block_time=1_750_000_000 + n,
                )
            )  # fmt: skip
    yield database
    database.dispose()


def test_goods_of_different_units_are_not_summed(db: Database) -> None:
    with db.read() as s:
        grand = grand_totals(s)
        assert grand.goods == {"kg": Triple(10, 4, 0, 1), "箱": Triple(5, 5, 0, 1)}
        assert grand.funds == Triple(100_000, 40_000, 0, 1)
        assert grand.services == Triple(8, 0, 0, 1)
        assert goods_by(s, "county") == {
            (COUNTY, "kg"): Triple(10, 4, 0, 1),
            (COUNTY, "箱"): Triple(5, 5, 0, 1),
        }
        with pytest.raises(Exception, match="per unit"):
            fold([], ResourceKind.GOODS)
        rows = public(s, "county", Filters())
        goods = {r["unit"]: r["committed"] for r in rows if r["resource_kind"] == 2}
        assert goods == {"kg": 10, "箱": 5}


def test_tally_groups_like_the_aggregate() -> None:
    """The report's in-memory grouping keeps goods of two units apart too."""
    rows = tally(
        [
            (None, ResourceKind.GOODS, "kg", Triple(10, 4, 0, 1)),
            (None, ResourceKind.GOODS, "箱", Triple(5, 5, 0, 1)),
            (None, ResourceKind.GOODS, "kg", Triple(2, 0, 0, 1)),
        ]
    )
    assert [(t.unit, t.amounts) for t in rows] == [
        ("kg", Triple(12, 4, 0, 2)),
        ("箱", Triple(5, 5, 0, 1)),
    ]


def test_totals_of_the_largest_quantities_the_contract_allows_are_exact(
    database_url: str,
) -> None:
    """Two commitments of 2^63 − 1 fen each (the contract's MAX_QUANTITY): SQLite's SUM would
    stop with "integer overflow" and every totals page answer 500; the sum is exact."""
    top = (1 << 63) - 1
    database = Database(database_url)
    database.migrate()
    try:
        with database.write() as s:
            for n in range(2):
                rid = _id(100 + n)
                s.add(
                    LogEntry(
                        leaf_index=n, record_id=rid, kind=2, signer="0x" + "11" * 20,
                        leaf_hash=H, record_bytes=b"", chain_id=31337, block_number=n + 1,
                        block_hash=H, block_time=1_750_000_000, tx_hash=H, log_index=n,
                    )
                )  # fmt: skip
                s.flush()
                s.add(
                    CommitmentRow(
                        record_id=rid, need_id=H, match_id=H, org="0x" + "22" * 20,
                        county=COUNTY, category=1, resource_kind=int(ResourceKind.FUNDS),
                        quantity=top, unit="fen", due_date=1_760_000_000, terms_hash=H,
                        delivered=top, confirmed=top - 1, block_time=1_750_000_000,
                    )
                )  # fmt: skip
        with database.read() as s:
            (row,) = public(s, "county", Filters())
            assert (row["committed"], row["delivered"]) == (2 * top, 2 * top)
            assert row["confirmed"] == 2 * top - 2
            assert grand_totals(s).funds == Triple(2 * top, 2 * top, 2 * top - 2, 2)
    finally:
        database.dispose()
