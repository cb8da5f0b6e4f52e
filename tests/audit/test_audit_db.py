"""The audit against a read model the real Indexer filled, tampered with in each way a
finding code names, on SQLite and on PostgreSQL: every served column, values of the wrong
type, batch lines, checkpoints, the match rule and the library's rows."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from ledger.audit.codes import (
    BATCH_LINE_MALFORMED,
    BATCH_LINES_ALTERED,
    CHECK_FAILED,
    CHECKPOINT_BEYOND_LOG,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_MISSING,
    CHECKPOINT_NOTE_MISMATCH,
    DB_COLUMN_MISSING,
    DB_ROW_ALTERED,
    DB_TABLE_MISSING,
    DB_VALUE_INVALID,
    DUPLICATE_BENEFICIARY,
    EVIDENCE_UNNAMED,
    EVIDENCE_UNREFERENCED,
    MATCH_MISSING,
    MATCH_NOT_ACCEPTED,
    MATCH_PARTIES_MISMATCH,
)
from ledger.audit.expected_rows import TABLES
from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.audit.report import AuditReport
from ledger.config import PROJECT_ROOT
from ledger.core.records import sha256
from ledger.store.db import Database
from tests.audit.conftest import NEED_BUDGET, NEED_END_DATE, NEED_TITLE, Ledger, add_lines
from tests.audit.conftest import read_model as fill_read_model
from tests.conftest import COUNTY_A, COUNTY_B, ORG_CODE_A, ORG_CODE_B

BANGFU = PROJECT_ROOT / ".venv" / "bin" / "bangfu"


def audit(ledger: Ledger, db: Database, **kw: Any) -> AuditReport:
    base: dict[str, Any] = {
        "rpc_url": ledger.rpc,
        "contract": ledger.contract,
        "database_url": db.url,
        "workers": 1,
    }
    base.update(kw)
    report = run_audit(AuditOptions(**base))
    json.dumps(report.to_json())  # the report is always writable
    return report


def sql(db: Database, statement: str, **params: Any) -> int:
    with db.engine.begin() as conn:
        return int(conn.execute(text(statement), params).rowcount)


def found(report: AuditReport, code: str) -> list[dict[str, Any]]:
    hits = [f.where for f in report.findings if f.code == code]
    assert hits, f"no {code} finding in {report.counts()}"
    return hits


def test_the_clean_read_model_passes(ledger: Ledger, db: Database) -> None:
    report = audit(ledger, db)
    assert report.findings == []
    assert report.checks["match_rule"].startswith("checked 2 commitments")
    assert report.checks["checkpoints"] == "checked 3"
    assert report.checks["outbox"] == "checked 2 confirmed records against the chain"


def _other(value: Any, typ: str) -> Any:
    """A valid value of the column's type that is not `value`."""
    base = typ.rstrip("?")
    if value is None:
        return {"int": 7, "text": "X"}[base]
    if base == "bool":
        return not bool(value)
    if base == "int":
        return int(value) + 1
    if base == "hex32":
        return "0x" + sha256(str(value).encode()).hex()
    if base == "address":
        return "0x" + ("ab" * 20) if value.lower() != "0x" + "ab" * 20 else "0x" + "cd" * 20
    if base == "text":
        return value + "篡改"
    if base == "bytes":
        return b"\x00" + bytes(value)
    raise AssertionError(typ)


@pytest.mark.produces(DB_ROW_ALTERED)
def test_every_served_column_is_compared(ledger: Ledger, db: Database) -> None:
    """One row of each read-model table gets a different, well-typed value in every column
    the API and portal serve; the audit names each column with both values."""
    changed: dict[str, set[str]] = {}
    with db.engine.begin() as conn:
        for table, spec in TABLES.items():
            have = {c["name"] for c in inspect(conn).get_columns(table)}
            cols = [(c, t) for c, t in spec.all_cols if c in have and c != "record_id"]
            keys = [k for k, _ in spec.keys]
            row = conn.execute(
                text(f"SELECT {', '.join(keys + [c for c, _ in cols])} FROM {table} LIMIT 1")
            ).one()
            new = {c: _other(v, t) for (c, t), v in zip(cols, row[len(keys) :], strict=True)}
            sets = ", ".join(f"{c} = :{c}" for c in new)
            where = " AND ".join(f"{k} = :k_{k}" for k in keys)
            params = {**new, **{f"k_{k}": v for k, v in zip(keys, row, strict=False)}}
            assert conn.execute(text(f"UPDATE {table} SET {sets} WHERE {where}"), params).rowcount
            changed[table] = set(new)
    report = audit(ledger, db)
    named: dict[str, set[str]] = {}
    for where in found(report, DB_ROW_ALTERED):
        named.setdefault(where["table"], set()).update(where["columns"])
        for col in where["columns"].values():
            assert col["database"] != col["chain"]
    assert named == changed
    assert set(report.codes()) <= {DB_ROW_ALTERED, "db_row_extra", "db_row_missing"}


@pytest.mark.produces(DB_ROW_ALTERED)
@pytest.mark.parametrize(
    ("column", "chain", "forged"),
    [
        ("title", NEED_TITLE, "册亨县夏季取暖物资"),
        ("budget", NEED_BUDGET, NEED_BUDGET * 10),
        ("end_date", NEED_END_DATE, 20281231),
    ],
)
def test_each_anchor_human_field_is_compared_with_the_chain(
    ledger: Ledger, db: Database, column: str, chain: Any, forged: Any
) -> None:
    """The indexer stored the anchor's title, budget and end date as signed; a read model
    that shows another one is a finding naming that column with both values."""
    with db.read() as s:
        stored = s.execute(
            text(f"SELECT record_id, {column} FROM project_anchors WHERE {column} = :v"),
            {"v": chain},
        ).all()
    assert len(stored) == 1  # the need, indexed with the value it was signed with
    record_id = stored[0][0]
    sql(db, f"UPDATE project_anchors SET {column} = :v WHERE record_id = :r", v=forged, r=record_id)
    report = audit(ledger, db)
    hits = found(report, DB_ROW_ALTERED)
    assert hits == [
        {
            "table": "project_anchors",
            "key": hits[0]["key"],
            "columns": {column: {"database": forged, "chain": chain}},
        }
    ]
    assert record_id in json.dumps(hits[0]["key"])
    assert report.codes() == {DB_ROW_ALTERED}


@pytest.mark.produces(DB_VALUE_INVALID)
def test_values_of_the_wrong_type_are_findings(ledger: Ledger, db: Database) -> None:
    commitment = "0x" + ledger.records[1].id.hex()
    sql(db, "UPDATE commitments SET terms_hash = '0xnot-hex' WHERE record_id = :r", r=commitment)
    if db.is_sqlite:  # SQLite keeps a text in an integer or blob column as it is
        sql(db, "UPDATE deliveries SET quantity = 'lots' WHERE id = 1")
        sql(db, "UPDATE log_entries SET record_bytes = 'text' WHERE leaf_index = 2")
        sql(db, "UPDATE indexer_checkpoints SET last_block = 'soon'")
        sql(db, "UPDATE checkpoints SET size = 'two' WHERE id = 1")
        sql(db, "UPDATE library_matches SET county = 'x'")
    report = audit(ledger, db)
    bad = {(w["table"], w["column"]): w for w in found(report, DB_VALUE_INVALID)}
    assert bad[("commitments", "terms_hash")]["found"] == "0xnot-hex"
    assert bad[("commitments", "terms_hash")]["expected_type"] == "hex32"
    if db.is_sqlite:
        assert bad[("deliveries", "quantity")]["found"] == "lots"
        assert ("log_entries", "record_bytes") in bad
        assert ("indexer_checkpoints", "last_block") in bad
        assert ("checkpoints", "size") in bad
        assert ("library_matches", "county") in bad
    assert CHECK_FAILED not in report.codes()
    assert report.exit_code() == 1


def test_the_cli_writes_a_report_for_a_mistyped_database(
    ledger: Ledger, db: Database, tmp_path: Path
) -> None:
    sql(db, "UPDATE flags SET note_hash = 'nothing like a hash'")
    out = tmp_path / "report.json"
    run = subprocess.run(
        [
            *(str(BANGFU), "audit", "--rpc", ledger.rpc, "--contract", ledger.contract),
            *("--database", db.url, "--json", str(out), "--workers", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = json.loads(out.read_text())
    assert report["verdict"] == "fail"
    assert report["counts"] == {DB_VALUE_INVALID: 1}


def test_a_bad_database_url_is_one_line(ledger: Ledger) -> None:
    r = subprocess.run(
        [
            *(str(BANGFU), "audit", "--rpc", ledger.rpc, "--contract", ledger.contract),
            *("--database", "nosuchdb://x"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "[bad_database_url]" in r.stderr


@pytest.mark.produces(DB_TABLE_MISSING, DB_COLUMN_MISSING)
def test_missing_tables_and_columns(ledger: Ledger, db: Database) -> None:
    sql(db, "DROP TABLE flags")
    sql(db, "ALTER TABLE receipts DROP COLUMN note_hash")
    report = audit(ledger, db)
    assert found(report, DB_TABLE_MISSING) == [{"table": "flags"}]
    assert found(report, DB_COLUMN_MISSING) == [{"table": "receipts", "column": "note_hash"}]
    assert report.codes() == {DB_TABLE_MISSING, DB_COLUMN_MISSING}


@pytest.mark.produces(BATCH_LINES_ALTERED, BATCH_LINE_MALFORMED)
def test_batch_lines(ledger: Ledger, db: Database) -> None:
    batch = next(iter(ledger.offchain.lines))
    sql(db, "UPDATE batch_lines SET quantity = 200 WHERE batch_id = :b AND line_index = 0", b=batch)
    report = audit(ledger, db)
    (where,) = found(report, DB_ROW_ALTERED)
    assert where == {
        "table": "batch_lines",
        "key": {"batch_id": batch, "line_index": 0},
        "columns": {"quantity": {"database": 200, "chain": 2}},
    }
    sql(db, "DELETE FROM batch_lines WHERE batch_id = :b AND line_index = 1", b=batch)
    assert found(audit(ledger, db), BATCH_LINES_ALTERED)[0]["batch"] == batch
    bad = "X'02'" if db.is_sqlite else "'\\x02'::bytea"
    sql(db, f"UPDATE batch_lines SET line_bytes = {bad} WHERE batch_id = :b", b=batch)
    report = audit(ledger, db)
    assert found(report, BATCH_LINE_MALFORMED)[0]["line_index"] == 0
    assert BATCH_LINES_ALTERED in report.codes()


@pytest.mark.produces(DUPLICATE_BENEFICIARY)
def test_duplicate_beneficiary(ledger: Ledger, db: Database) -> None:
    add_lines(db, ledger.offchain.other_lines)
    report = audit(ledger, db)
    assert report.codes() == {DUPLICATE_BENEFICIARY}
    (where,) = found(report, DUPLICATE_BENEFICIARY)
    assert where["pseudonym"] == "0x" + sha256(b"pseudonym 1").hex()
    assert len(where["orgs"]) == 2


@pytest.mark.produces(CHECKPOINT_MISSING)
def test_deleted_checkpoints_are_found(ledger: Ledger, db: Database) -> None:
    sql(db, "DELETE FROM checkpoints WHERE id = 2")
    report = audit(ledger, db)
    assert CHECKPOINT_MISSING in report.codes()
    assert any(w.get("ids") == [2] for w in found(report, CHECKPOINT_MISSING))
    assert any(w.get("witness") == "w1" for w in found(report, CHECKPOINT_MISSING))


@pytest.mark.produces(CHECKPOINT_MISSING)
def test_all_checkpoints_deleted(ledger: Ledger, db: Database) -> None:
    sql(db, "DELETE FROM checkpoints")
    report = audit(ledger, db)
    assert report.codes() == {CHECKPOINT_MISSING}
    if not db.is_sqlite:  # the id sequence remembers the three ids handed out
        assert any(w.get("ids") == [1, 2, 3] for w in found(report, CHECKPOINT_MISSING))


def test_the_newest_checkpoint_deleted(ledger: Ledger, db: Database) -> None:
    """PostgreSQL's sequence shows the newest row gone; SQLite reuses the id, and with no
    witness having cosigned that checkpoint nothing in the database shows it (a limit,
    stated in docs/audit.md)."""
    sql(db, "DELETE FROM checkpoints WHERE id = 3")
    report = audit(ledger, db)
    if db.is_sqlite:
        assert report.findings == []
    else:
        assert [w["ids"] for w in found(report, CHECKPOINT_MISSING)] == [[3]]


@pytest.mark.produces(CHECKPOINT_BEYOND_LOG, CHECKPOINT_MISMATCH, CHECKPOINT_NOTE_MISMATCH)
def test_altered_checkpoints(ledger: Ledger, db: Database) -> None:
    sql(db, "UPDATE checkpoints SET note = 'not a note' WHERE id = 1")
    report = audit(ledger, db)
    assert report.codes() == {CHECKPOINT_NOTE_MISMATCH}
    assert found(report, CHECKPOINT_NOTE_MISMATCH)[0]["id"] == 1
    sql(db, "UPDATE checkpoints SET root = :r WHERE id = 2", r="0x" + "ee" * 32)
    report = audit(ledger, db)
    assert found(report, CHECKPOINT_MISMATCH)[0]["size"] == 5
    assert {w["id"] for w in found(report, CHECKPOINT_NOTE_MISMATCH)} == {1, 2}
    sql(db, "UPDATE checkpoints SET size = 1000 WHERE id = 3")
    assert found(audit(ledger, db), CHECKPOINT_BEYOND_LOG)[0]["size"] == 1000


@pytest.mark.produces(MATCH_MISSING, MATCH_NOT_ACCEPTED, MATCH_PARTIES_MISMATCH)
def test_the_match_rule_is_rechecked(ledger: Ledger, db: Database) -> None:
    a, b = ("0x" + m["match_id"].hex() for m in ledger.offchain.matches)
    sql(db, "UPDATE library_matches SET status = 'proposed' WHERE match_id = :m", m=a)
    report = audit(ledger, db)
    assert report.codes() == {MATCH_NOT_ACCEPTED}
    assert found(report, MATCH_NOT_ACCEPTED)[0]["status"] == "proposed"
    sql(
        db,
        "UPDATE library_matches SET status = 'accepted', org_code = :o WHERE match_id = :m",
        o=ORG_CODE_B,
        m=a,
    )
    sql(db, "UPDATE library_matches SET county = :c WHERE match_id = :m", c=COUNTY_B, m=b)
    report = audit(ledger, db)
    assert report.codes() == {MATCH_PARTIES_MISMATCH}
    columns = {w["match_id"]: w["columns"] for w in found(report, MATCH_PARTIES_MISMATCH)}
    assert columns[a] == {"org_code": {"database": ORG_CODE_B, "chain": "91520000MA6DKTQX0C"}}
    assert set(columns[b]) == {"county"}
    sql(db, "DELETE FROM library_matches WHERE match_id = :m", m=b)
    assert found(audit(ledger, db), MATCH_MISSING)[0]["match_id"] == b


def test_a_match_naming_a_need_as_its_supply_project(ledger: Ledger, db: Database) -> None:
    a = "0x" + ledger.offchain.matches[0]["match_id"].hex()
    need = "0x" + ledger.records[0].record.project_id.hex()  # type: ignore[attr-defined]
    sql(db, "UPDATE library_matches SET supply_id = :s WHERE match_id = :m", s=need, m=a)
    report = audit(ledger, db)
    assert report.codes() == {MATCH_PARTIES_MISMATCH}
    (where,) = found(report, MATCH_PARTIES_MISMATCH)
    assert list(where["columns"]) == ["supply_id"]


def test_the_signed_match_messages_name_the_same_parties(ledger: Ledger, db: Database) -> None:
    """Where the library keeps each side's signed LibraryMatch message, its ids, county and
    credit code are the match's (and so the commitment's)."""
    have = {c["name"] for c in inspect(db.engine).get_columns("library_matches")}
    for column in ("proposal_message", "response_message"):
        if column not in have:  # the library of issue 12 keeps them; older ones do not
            sql(db, f"ALTER TABLE library_matches ADD COLUMN {column} TEXT")
    for m in ledger.offchain.matches:
        message = {
            "matchId": "0x" + m["match_id"].hex(),
            "needId": "0x" + m["need_id"].hex(),
            "county": COUNTY_A,
            "orgCode": m["org_code"],
            "needTitle": "册亨县冬季取暖物资",
        }
        for column, action in (("proposal_message", "propose"), ("response_message", "accept")):
            sql(
                db,
                f"UPDATE library_matches SET {column} = :j WHERE match_id = :m",
                j=json.dumps({**message, "action": action}, ensure_ascii=False),
                m=message["matchId"],
            )
    assert audit(ledger, db).findings == []
    a, b = ("0x" + m["match_id"].hex() for m in ledger.offchain.matches)
    forged = {"matchId": a, "needId": "0x" + ledger.offchain.matches[0]["need_id"].hex()}
    forged |= {"county": COUNTY_A, "orgCode": ORG_CODE_B}
    sql(
        db,
        "UPDATE library_matches SET response_message = :j WHERE match_id = :m",
        j=json.dumps(forged),
        m=a,
    )
    sql(db, "UPDATE library_matches SET proposal_message = 'not json' WHERE match_id = :m", m=b)
    report = audit(ledger, db)
    columns = {w["match_id"]: w["columns"] for w in found(report, MATCH_PARTIES_MISMATCH)}
    assert columns[a] == {"response_message.orgCode": {"database": ORG_CODE_B, "chain": ORG_CODE_A}}
    assert list(columns[b]) == ["proposal_message"]


def test_the_outbox_answers_what_the_chain_says(ledger: Ledger, db: Database) -> None:
    """`GET /records/status` serves the outbox: a confirmed record is where it says."""
    commitment, delivery = ("0x" + r.id.hex() for r in ledger.records[1:3])
    sql(
        db,
        "UPDATE outbox SET leaf_index = 6, tx_hash = :t WHERE record_id = :r",
        t="0x" + "ab" * 32,
        r=delivery,
    )
    sql(
        db,
        "UPDATE outbox SET record_id = :n WHERE record_id = :r",
        n="0x" + "cd" * 32,
        r=commitment,
    )
    report = audit(ledger, db)
    rows = {w["key"]["record_id"]: w["columns"] for w in found(report, DB_ROW_ALTERED)}
    assert set(rows[delivery]) == {"tx_hash", "leaf_index"}
    assert rows[delivery]["leaf_index"] == {"database": 6, "chain": 2}
    assert rows["0x" + "cd" * 32] == {"status": {"database": "confirmed", "chain": "absent"}}
    assert report.checks["outbox"] == "checked 2 confirmed records against the chain"


def test_library_rows_shown_beside_the_anchor(ledger: Ledger, db: Database) -> None:
    """The portal's headline and the versions' content are the signed ones."""
    pid = "0x" + ledger.records[0].record.project_id.hex()  # type: ignore[attr-defined]
    fake = "【已取消】请联系13800138000转账"
    sql(db, "UPDATE library_projects SET title = :t WHERE project_id = :p", t=fake, p=pid)
    (where,) = found(audit(ledger, db), DB_ROW_ALTERED)
    assert where["table"] == "library_projects"
    assert where["columns"]["title"]["database"] == fake
    assert where["columns"]["title"]["chain"] == "册亨县冬季取暖物资"
    sql(
        db,
        "UPDATE library_project_versions SET content_json = :c WHERE project_id = :p",
        c='{"title":"' + fake + '"}',
        p=pid,
    )
    tables = {w["table"]: w for w in found(audit(ledger, db), DB_ROW_ALTERED)}
    assert list(tables["library_project_versions"]["columns"]) == ["content_json"]


@pytest.mark.produces(CHECK_FAILED)
def test_a_check_that_cannot_finish_is_a_finding(ledger: Ledger, tmp_path: Path) -> None:
    """A batch_lines that errors when read (a view over a malformed JSON call, on SQLite):
    the database check is reported failed, by name; the other checks still run."""
    d = fill_read_model(f"sqlite:///{tmp_path / 'broken.sqlite3'}", ledger)
    try:
        sql(d, "DROP TABLE batch_lines")
        sql(
            d,
            "CREATE VIEW batch_lines AS SELECT 'x' AS batch_id, 0 AS line_index, "
            "json('not json') AS line_bytes",
        )
        report = audit(ledger, d)
    finally:
        d.dispose()
    (where,) = found(report, CHECK_FAILED)
    assert where == {"check": "database", "error": "OperationalError"}
    assert report.checks["database"] == "failed (OperationalError)"
    assert report.checks["match_rule"].startswith("checked")
    assert report.checks["checkpoints"] == "checked 3"


@pytest.mark.produces(EVIDENCE_UNREFERENCED, EVIDENCE_UNNAMED)
def test_evidence_files_nobody_refers_to(ledger: Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    shutil.copytree(ledger.evidence, folder)
    stray = b"a photo of something else"
    (folder / f"{sha256(stray).hex()}.jpg").write_bytes(stray)
    (folder / "notes.txt").write_text("not named by a hash")
    report = run_audit(
        AuditOptions(rpc_url=ledger.rpc, contract=ledger.contract, evidence_dir=folder, workers=1)
    )
    assert report.codes() == {EVIDENCE_UNREFERENCED, EVIDENCE_UNNAMED}
    assert found(report, EVIDENCE_UNNAMED)[0]["file"].endswith("notes.txt")
    assert report.exit_code() == 0
