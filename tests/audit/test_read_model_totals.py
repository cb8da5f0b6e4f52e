"""The read model at scale (issue 16): the totals the indexer maintains in the same
transaction as the leaves equal a fresh sum, stay so through a rollback and a re-index,
and the audit compares them (and the chain location each list row carries) with the chain:
a tampered aggregate is a finding."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from ledger.audit.codes import DB_ROW_ALTERED, DB_ROW_EXTRA, DB_ROW_MISSING
from ledger.indexer.reorg import rollback
from ledger.indexer.worker import Indexer
from ledger.store import aggregates, models
from ledger.store.db import Database
from ledger.store.queries import Filters
from ledger.store.queries import totals as totals_q
from ledger.store.sums import joined
from tests.audit.conftest import Ledger
from tests.audit.test_audit_db import audit, found, sql


def maintained(db: Database) -> dict[Any, tuple[int, int, int, int]]:
    with db.read() as s:
        return {
            (t.county, t.category, t.org, t.resource_kind, t.unit): (
                t.commitments,
                joined(t.committed_hi, t.committed_lo),
                joined(t.delivered_hi, t.delivered_lo),
                joined(t.confirmed_hi, t.confirmed_lo),
            )
            for t in s.scalars(select(models.CommitmentTotal))
        }


def fresh(db: Database) -> dict[Any, tuple[int, int, int, int]]:
    with db.read() as s:
        return aggregates.fresh(s)


def assert_grouped_equal_summed(db: Database) -> None:
    """Each public grouping read from the maintained totals equals the same query over the
    commitments (a time filter cannot use the maintained rows)."""
    with db.read() as s:
        for by in (None, "county", "category", "org"):
            assert totals_q.aggregate(s, by, Filters()) == totals_q.aggregate(
                s, by, Filters(since=0)
            ), by
        county = s.scalar(select(models.CommitmentRow.county).limit(1))
        assert totals_q.aggregate(s, "org", Filters(county=county)) == totals_q.aggregate(
            s, "org", Filters(county=county, since=0)
        )


def test_maintained_totals_equal_a_fresh_sum_and_answer_the_public_totals(
    ledger: Ledger, db: Database
) -> None:
    got = maintained(db)
    assert got, "the indexer wrote no totals"
    assert got == fresh(db)
    assert any(d for _, _, d, _ in got.values()), "no delivery moved a total"
    assert any(c for _, _, _, c in got.values()), "no receipt moved a total"
    assert_grouped_equal_summed(db)


def test_list_rows_carry_their_chain_location(db: Database) -> None:
    with db.read() as s:
        entries = {e.record_id: e for e in s.scalars(select(models.LogEntry))}
        for model in (
            models.ProjectAnchorRow,
            models.CommitmentRow,
            models.DeliveryRow,
            models.ReceiptRow,
            models.FlagRow,
        ):
            for row in s.scalars(select(model)):
                e = entries[row.record_id]
                for col in models.LOCATION_COLUMNS:
                    assert getattr(row, col) == getattr(e, col), (model, col)


def test_rollback_and_reindex_keep_the_totals_right(ledger: Ledger, db: Database) -> None:
    with db.read() as s:
        blocks = sorted(set(s.scalars(select(models.DeliveryRow.block_number))))
    fork = blocks[0] - 1  # before the first delivery: deliveries and receipts go
    with db.write() as s:
        cursor = s.get(models.IndexerCheckpoint, "main")
        assert cursor is not None
        block_hash = ledger.env.w3.eth.get_block(fork)["hash"].to_0x_hex()
        rollback(s, cursor, fork, block_hash)
    after = maintained(db)
    assert after == fresh(db)
    assert not any(d or c for _, _, d, c in after.values())
    assert_grouped_equal_summed(db)
    Indexer(db, ledger.env.ledger).run_until_synced()
    assert maintained(db) == fresh(db)
    assert_grouped_equal_summed(db)
    report = audit(ledger, db)
    assert [f for f in report.findings if "totals" in str(f.where.get("table"))] == []


@pytest.mark.produces(DB_ROW_ALTERED)
def test_a_tampered_aggregate_is_a_finding(ledger: Ledger, db: Database) -> None:
    with db.read() as s:
        row = s.scalars(
            select(models.CommitmentTotal).where(models.CommitmentTotal.delivered_lo > 0)
        ).first()
        assert row is not None
        key = (row.county, row.category, row.org, row.resource_kind, row.unit)
    # the public totals read the table: a hand edit there is what a reader would see
    assert sql(
        db,
        "UPDATE commitment_totals SET delivered_lo = delivered_lo + 1000 WHERE county = :c "
        "AND category = :g AND org = :o AND resource_kind = :k AND unit = :u",
        c=key[0], g=key[1], o=key[2], k=key[3], u=key[4],
    ) == 1  # fmt: skip
    report = audit(ledger, db)
    hits = [w for w in found(report, DB_ROW_ALTERED) if w["table"] == "commitment_totals"]
    assert len(hits) == 1
    assert set(hits[0]["columns"]) == {"delivered_lo"}
    col = hits[0]["columns"]["delivered_lo"]
    assert col["database"] == col["chain"] + 1000


@pytest.mark.produces(DB_ROW_MISSING)
@pytest.mark.produces(DB_ROW_EXTRA)
def test_a_dropped_or_forged_aggregate_row_is_a_finding(ledger: Ledger, db: Database) -> None:
    with db.read() as s:
        n = s.scalar(select(func.count()).select_from(models.CommitmentTotal))
    assert n and n >= 2
    with db.engine.begin() as conn:
        first = conn.execute(text("SELECT county, org FROM commitment_totals LIMIT 1")).one()
        conn.execute(text("DELETE FROM commitment_totals WHERE county = :c AND org = :o"),
                     {"c": first[0], "o": first[1]})  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO commitment_totals (county, category, org, resource_kind, unit, "
                "commitments, committed_hi, committed_lo, delivered_hi, delivered_lo, "
                "confirmed_hi, confirmed_lo) VALUES (999999, 1, :o, 1, '元', 1, 0, 5, 0, 0, 0, 0)"
            ),
            {"o": first[1]},
        )
    report = audit(ledger, db)
    assert any(w["table"] == "commitment_totals" for w in found(report, DB_ROW_MISSING))
    assert any(w["table"] == "commitment_totals" for w in found(report, DB_ROW_EXTRA))


@pytest.mark.produces(DB_ROW_ALTERED)
def test_a_moved_chain_location_on_a_list_row_is_a_finding(ledger: Ledger, db: Database) -> None:
    sql(db, "UPDATE deliveries SET tx_hash = :t WHERE id = (SELECT MIN(id) FROM deliveries)",
        t="0x" + "ee" * 32)  # fmt: skip
    report = audit(ledger, db)
    hits = [w for w in found(report, DB_ROW_ALTERED) if w["table"] == "deliveries"]
    assert [set(h["columns"]) for h in hits] == [{"tx_hash"}]


@pytest.mark.produces(DB_ROW_ALTERED)
def test_a_tampered_per_grouping_total_is_a_finding(ledger: Ledger, db: Database) -> None:
    assert (
        sql(
            db,
            "UPDATE group_totals SET committed_lo = committed_lo + 7 "
            "WHERE dimension = 'all' AND resource_kind = (SELECT MIN(resource_kind) FROM "
            "group_totals WHERE dimension = 'all')",
        )
        >= 1
    )
    report = audit(ledger, db)
    hits = [w for w in found(report, DB_ROW_ALTERED) if w["table"] == "group_totals"]
    assert hits and all(set(h["columns"]) == {"committed_lo"} for h in hits)
