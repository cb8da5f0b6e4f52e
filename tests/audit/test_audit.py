"""The audit: a clean ledger has no finding; each kind of tampering is found and named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.config import PROJECT_ROOT
from ledger.store.db import Database
from tests.audit.conftest import Ledger
from tests.factories import AUDITOR_NAME


def opts(ledger: Ledger, **kw: object) -> AuditOptions:
    base: dict[str, object] = dict(
        rpc_url=ledger.rpc,
        contract=ledger.contract,
        database_url=ledger.db_url,
        evidence_dir=ledger.evidence,
        workers=2,
    )
    base.update(kw)
    return AuditOptions(**base)  # type: ignore[arg-type]


def test_clean_ledger_has_no_finding(ledger: Ledger) -> None:
    report = run_audit(opts(ledger, sources=PROJECT_ROOT / "contracts"))
    assert report.findings == []
    assert report.exit_code(strict=True) == 0
    assert report.stats["records"] == len(ledger.records)
    assert report.stats["by_kind"]["delivery"] == 3
    assert report.stats["by_kind"]["delivery_batch"] == 2
    assert set(report.checks) >= {
        "bytecode",
        "signatures",
        "log_root",
        "commitment_totals",
        "database",
        "evidence",
    }
    assert report.checks["match_rule"] == "checked 2 commitments against library_matches"
    assert report.checks["library"] == "checked 1 anchored versions and 1 projects"
    assert report.checks["checkpoints"] == "checked 0"
    assert report.checks["batch_lines"].startswith("checked 1 batches")
    # who is who, named from the registration events alone
    named = {(r["role"], r["name"]) for r in report.stats["registrations"]}
    assert {("COUNTY", "册亨县"), ("ORG", "贵州乡村发展基金会"), ("AUDITOR", AUDITOR_NAME)} <= named


def _tamper(db: Database, sql: str) -> None:
    with db.engine.begin() as conn:
        assert conn.execute(text(sql)).rowcount == 1


def _finding(report, code: str):  # type: ignore[no-untyped-def]
    found = [f for f in report.findings if f.code == code]
    assert found, f"no {code} finding in {report.counts()}"
    return found[0]


@pytest.mark.produces("db_row_altered")
def test_altered_row_is_named(ledger: Ledger, db: Database) -> None:
    delivery = ledger.records[2]
    _tamper(
        db,
        f"UPDATE deliveries SET quantity = 3000 WHERE record_id = '0x{delivery.id.hex()}'",
    )
    report = run_audit(opts(ledger, database_url=db.url))
    f = _finding(report, "db_row_altered")
    assert f.where["table"] == "deliveries"
    assert f.where["key"]["record_id"] == "0x" + delivery.id.hex()
    assert f.where["columns"] == {"quantity": {"database": 3000, "chain": 30}}
    assert report.exit_code() == 1


@pytest.mark.produces("db_row_altered")
def test_altered_registration_name_is_named(ledger: Ledger, db: Database) -> None:
    """A name in the read model that is not the one the chain's registration event carries
    (an organization renamed in the database) is an altered row."""
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT tx_hash, log_index, name FROM role_events WHERE name IS NOT NULL "
                 "AND org_code IS NOT NULL ORDER BY block_number, log_index LIMIT 1")
        ).one()  # fmt: skip
    _tamper(
        db,
        f"UPDATE role_events SET name = '冒名公益会' WHERE tx_hash = '{row.tx_hash}' "
        f"AND log_index = {row.log_index}",
    )
    f = _finding(run_audit(opts(ledger, database_url=db.url)), "db_row_altered")
    assert f.where["table"] == "role_events"
    assert f.where["columns"] == {"name": {"database": "冒名公益会", "chain": row.name}}


@pytest.mark.produces("db_row_altered")
def test_altered_record_bytes_are_named(ledger: Ledger, db: Database) -> None:
    # SQLite's || makes text of blobs, hence the cast of the whole expression
    longer = (
        "CAST(X'00' || record_bytes AS BLOB)" if db.is_sqlite else "'\\x00'::bytea || record_bytes"
    )
    _tamper(db, f"UPDATE log_entries SET record_bytes = {longer} WHERE leaf_index = 1")
    f = _finding(run_audit(opts(ledger, database_url=db.url)), "db_row_altered")
    assert f.where == {
        "table": "log_entries",
        "key": {"leaf_index": 1},
        "columns": f.where["columns"],
    }
    assert list(f.where["columns"]) == ["record_bytes"]


@pytest.mark.produces("db_row_missing")
def test_deleted_row_is_named(ledger: Ledger, db: Database) -> None:
    receipt = ledger.records[4]
    _tamper(db, f"DELETE FROM receipts WHERE record_id = '0x{receipt.id.hex()}'")
    f = _finding(run_audit(opts(ledger, database_url=db.url)), "db_row_missing")
    assert f.where == {"table": "receipts", "key": {"record_id": "0x" + receipt.id.hex()}}


@pytest.mark.produces("db_row_extra")
def test_inserted_row_is_named(ledger: Ledger, db: Database) -> None:
    # A flag row keyed by a delivery's id: flags.record_id must name a log entry (a foreign
    # key the database enforces), so the forged flag borrows one that is not a flag.
    fake = "0x" + ledger.records[6].id.hex()
    _tamper(
        db,
        f"""INSERT INTO flags (record_id, target_id, auditor, reason_code, note_hash)
                     SELECT '{fake}', target_id, auditor, reason_code, note_hash FROM flags""",
    )
    report = run_audit(opts(ledger, database_url=db.url))
    f = _finding(report, "db_row_extra")
    assert f.where == {"table": "flags", "key": {"record_id": fake}}
    assert report.codes() == {"db_row_extra"}


@pytest.mark.produces("evidence_altered")
def test_altered_evidence_is_named(ledger: Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    shutil.copytree(ledger.evidence, folder)
    victim = sorted(folder.iterdir())[0]
    victim.write_bytes(victim.read_bytes() + b" (edited)")
    report = run_audit(opts(ledger, evidence_dir=folder, database_url=None))
    f = _finding(report, "evidence_altered")
    assert f.where["file"] == str(victim)
    assert len(f.where["records"]) == 1
    assert report.exit_code() == 1


@pytest.mark.produces("evidence_missing")
def test_missing_evidence_is_an_anomaly(ledger: Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    shutil.copytree(ledger.evidence, folder)
    sorted(folder.iterdir())[0].unlink()
    report = run_audit(opts(ledger, evidence_dir=folder, database_url=None))
    assert report.codes() == {"evidence_missing"}
    assert report.exit_code() == 0
    assert report.exit_code(strict=True) == 2


@pytest.mark.produces("bytecode_mismatch")
def test_modified_contract_source_is_found(ledger: Ledger, tmp_path: Path) -> None:
    """A contract built from changed sources is deployed; the audit against the original
    sources names the bytecode mismatch."""
    from ledger.config import Settings
    from ledger.evm.deploy import deploy

    home = tmp_path / "home"
    shutil.copytree(PROJECT_ROOT / "contracts", home / "contracts")
    shutil.copytree(PROJECT_ROOT / "scripts", home / "scripts")
    (home / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    src = home / "contracts" / "AidLedger.sol"
    code = src.read_text()
    weakened = code.replace(
        "if (wouldBe > commitment.quantity) revert OverDelivery("
        "commitmentId, commitment.quantity, wouldBe);",
        "",
    )
    assert weakened != code
    src.write_text(weakened)
    env = ledger.env
    evil = deploy(env.w3, env.actors.admin, settings=Settings(home=home))
    report = run_audit(
        AuditOptions(
            rpc_url=ledger.rpc, contract=evil.address, sources=PROJECT_ROOT / "contracts", workers=1
        )
    )
    f = _finding(report, "bytecode_mismatch")
    assert f.severity == "integrity"
    assert report.exit_code() == 1
    # and the honest deployment still passes the same check
    ok = run_audit(
        AuditOptions(
            rpc_url=ledger.rpc,
            contract=ledger.contract,
            sources=PROJECT_ROOT / "contracts",
            workers=1,
        )
    )
    assert "bytecode_mismatch" not in ok.codes()


@pytest.mark.produces("delivery_unreceipted")
@pytest.mark.parametrize("days", [0])
def test_anomalies_listed_beside_integrity(ledger: Ledger, days: int) -> None:
    """With a zero-day receipt window the unreceipted deliveries become anomalies, which do
    not fail the integrity verdict."""
    report = run_audit(opts(ledger, receipt_days=days, database_url=None, evidence_dir=None))
    assert report.codes() == {"delivery_unreceipted"}
    assert len(report.anomalies) == 4  # two deliveries and two batches
    assert report.to_json()["verdict"] == "pass"
