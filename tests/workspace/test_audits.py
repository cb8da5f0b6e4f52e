"""Audits from the auditor's workspace: an auditor's signed AuditRun runs the independent
audit over this deployment's node, database and evidence folder in the background; a clean
ledger passes (anomalies at most), a tampered database row fails the run with
`db_row_altered` linked to its record; a non-auditor is refused (403), a replay too (401);
a run whose node is down is a failed run with its code, never a 500; one run at a time.

This module runs on an anvil of its own, so the audit sees only these records."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import text

from ledger.app import LedgerService
from ledger.audit.codes import CODES, INTEGRITY
from ledger.library import messages
from ledger.workspace import audit_findings, audits
from ledger.workspace.models import AuditRunRow
from tests.factories import Chain, ChainEnv, Stack, body, matched, row_count
from tests.workspace.helpers import sign_typed

pytestmark = pytest.mark.own_chain

URL = "/api/v1/audits"


def signed_run(env: ChainEnv, account: LocalAccount, **over: Any) -> dict[str, Any]:
    message = {**audits.new_message(), **over}
    typed = messages.typed_data(audits.AUDIT_RUN, message, env.domain)
    return {"message": message, "signature": sign_typed(account, typed)}


def wait_done(http: TestClient, run_id: int, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(f"{URL}/{run_id}")
        assert answer.status_code == 200, answer.text
        run: dict[str, Any] = answer.json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, f"audit {run_id} still running: {run['progress']}"
        time.sleep(0.2)


def ledger_flow(svc_env: ChainEnv, st: Stack, http: TestClient) -> str:
    """A need and its accepted match, a commitment, its delivery in full and the receipt;
    answers the delivery's record id."""
    a = svc_env.actors
    need_id, match_id = matched(st, a.county_a, a.org_a)
    flow = Chain(svc_env.domain, a.county_a, a.org_a)
    commit = flow.commit(need_id, match_id, quantity=10)
    assert http.post("/api/v1/records", json=body(commit)).status_code in (200, 202)
    st.settle()
    delivery = flow.deliver(commit, 10)
    assert http.post("/api/v1/records", json=body(delivery)).status_code in (200, 202)
    st.settle()
    receipt = flow.confirm(delivery, 10)
    assert http.post("/api/v1/records", json=body(receipt)).status_code in (200, 202)
    st.settle()
    return "0x" + delivery.id.hex()


def test_a_clean_ledger_passes_and_a_tampered_row_fails_linked_to_its_record(
    svc_env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a = svc_env.actors
    delivery_id = ledger_flow(svc_env, st, http)
    assert http.get(f"{URL}/latest").json()["code"] == "audit_not_found"
    folder = svc.settings.evidence_path
    folder.mkdir(parents=True, exist_ok=True)  # the evidence folder, with no file yet

    request = signed_run(svc_env, a.auditor)
    started = http.post(URL, json=request)
    assert started.status_code == 202, started.text
    first = started.json()
    assert first["started"] is True
    assert started.headers["location"] == f"{URL}/{first['id']}"
    run = wait_done(http, first["id"])
    assert run["status"] == "done", run
    assert run["passed"] is True, run["findings"]
    assert run["error"] is None
    assert run["requested_by"] == a.auditor.address
    assert all(f["severity"] == "anomaly" for f in run["findings"]), run["findings"]
    assert run["counts"]["integrity"] == 0
    assert run["checks"]["database"].startswith("diffed"), run["checks"]
    assert run["checks"]["evidence"] == "checked 0 files"
    # the delivery's evidence file was never uploaded: an anomaly, linked to the delivery
    missing = [f for f in run["findings"] if f["code"] == "evidence_missing"]
    assert [f["record_id"] for f in missing] == [delivery_id]
    assert missing[0]["words"] == {
        "zh": "交付的证据文件缺失",
        "en": "no file for a delivery's evidence hash",
    }
    assert run["started_at"].endswith("Z") and run["finished_at"].endswith("Z")
    assert http.get(f"{URL}/latest").json()["id"] == first["id"]

    # the same signed request again is a replay, and starts nothing
    replay = http.post(URL, json=request)
    assert replay.status_code == 401
    assert replay.json()["code"] == "signature_replayed"
    assert row_count(svc.db, AuditRunRow) == 1

    # a delivery's quantity altered in the read model
    with svc.db.engine.begin() as conn:
        changed = conn.execute(
            text("UPDATE deliveries SET quantity = 9 WHERE record_id = :id"), {"id": delivery_id}
        )
        assert changed.rowcount == 1
    (folder / "photo.jpg").write_bytes(b"not named by its hash")
    second = http.post(URL, json=signed_run(svc_env, a.auditor))
    assert second.status_code == 202, second.text
    assert second.json()["id"] != first["id"]
    run = wait_done(http, second.json()["id"])
    assert run["status"] == "done"
    assert run["passed"] is False
    altered = [f for f in run["findings"] if f["code"] == "db_row_altered"]
    assert altered, run["findings"]
    assert altered[0]["severity"] == INTEGRITY
    assert altered[0]["record_id"] == delivery_id
    assert altered[0]["record_url"] == f"/verify?id={delivery_id}"
    assert altered[0]["where"]["columns"] == {"quantity": {"database": 9, "chain": 10}}
    assert altered[0]["words"]["zh"].startswith("数据库中的数据与链上不符")
    assert run["counts"]["integrity"] >= 1
    unnamed = [f for f in run["findings"] if f["code"] == "evidence_unnamed"]
    assert unnamed and unnamed[0]["where"]["file"] == "photo.jpg"  # not the server's path
    assert str(folder) not in str(run)
    latest = http.get(f"{URL}/latest").json()
    assert latest["id"] == second.json()["id"] and latest["passed"] is False
    # the portal's page of that record exists
    assert http.get(altered[0]["record_url"]).status_code == 200


def test_only_an_auditor_runs_an_audit(
    svc_env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    a = svc_env.actors
    for who in (a.org_a, a.county_a, a.stranger, a.admin):
        answer = http.post(URL, json=signed_run(svc_env, who))
        assert answer.status_code == 403, (who.address, answer.text)
        assert answer.json()["code"] == "not_auditor"
    unsigned = http.post(URL, json={"message": audits.new_message()})
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "signature_required"
    expired = http.post(URL, json=signed_run(svc_env, a.auditor, expiry=int(time.time()) - 1))
    assert expired.status_code == 401
    assert expired.json()["code"] == "signature_expired"
    bad_nonce = http.post(URL, json=signed_run(svc_env, a.auditor, nonce="1"))
    assert bad_nonce.status_code == 422
    assert bad_nonce.json()["code"] == "bad_message"
    # another address's signature over the message
    forged = signed_run(svc_env, a.org_a)
    forged["message"]["nonce"] = messages.new_nonce()
    tampered = http.post(URL, json=forged)
    assert tampered.status_code in (401, 403), tampered.text
    assert row_count(svc.db, AuditRunRow) == 0
    assert http.get(f"{URL}/latest").status_code == 404
    missing = http.get(f"{URL}/12345")
    assert missing.status_code == 404 and missing.json()["code"] == "audit_not_found"
    assert http.get(f"{URL}/not-a-number").json()["code"] == "audit_not_found"


def test_a_run_whose_node_is_down_is_a_failed_run(
    svc_env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    down = "http://127.0.0.1:9"
    http.app.state.audit_runner = audits.AuditRunner(  # type: ignore[attr-defined]
        svc.db,
        lambda: audits.Target(
            rpc_url=down,
            contract=svc_env.deployment.address,
            database_url=svc.db.url,
            evidence_dir=None,
        ),
    )
    started = http.post(URL, json=signed_run(svc_env, svc_env.actors.auditor))
    assert started.status_code == 202, started.text
    run = wait_done(http, started.json()["id"])
    assert run["status"] == "failed"
    assert run["passed"] is None
    assert run["error"]["code"] == "chain_unreachable"
    assert down not in run["error"]["message"]  # the node's URL may hold a secret
    assert run["findings"] == []


def test_one_run_at_a_time(svc_env: ChainEnv, svc: LedgerService, http: TestClient) -> None:
    release = threading.Event()
    real = audits.Target(
        rpc_url=str(svc_env.settings.rpc_url),
        contract=svc_env.deployment.address,
        database_url=svc.db.url,
        evidence_dir=None,
    )

    def held() -> audits.Target:
        assert release.wait(60)
        return real

    runner = audits.AuditRunner(svc.db, held)
    http.app.state.audit_runner = runner  # type: ignore[attr-defined]
    a = svc_env.actors
    first = http.post(URL, json=signed_run(svc_env, a.auditor)).json()
    assert first["started"] is True
    assert http.get(f"{URL}/latest").json()["status"] == "running"
    again = http.post(URL, json=signed_run(svc_env, a.auditor))
    assert again.status_code == 202
    assert again.json() == {**first, "started": False}
    assert row_count(svc.db, AuditRunRow) == 1
    release.set()
    assert wait_done(http, first["id"])["status"] == "done"
    third = http.post(URL, json=signed_run(svc_env, a.auditor)).json()
    assert third["started"] is True and third["id"] != first["id"]
    runner.wait(120)


def test_every_finding_code_has_words() -> None:
    assert set(audit_findings.CODE_WORDS_ZH) == set(CODES)
    assert audit_findings.code_words("db_row_altered")["en"] == CODES["db_row_altered"].meaning
    found = audit_findings.finding_view(
        {
            "code": "db_row_altered",
            "severity": "integrity",
            "message": "m",
            "where": {"table": "deliveries", "key": {"record_id": "0x" + "AB" * 32}},
        }
    )
    assert found["record_id"] == "0x" + "ab" * 32
    unnamed = audit_findings.finding_view({"code": "check_failed", "where": {"check": "x"}})
    assert unnamed["record_id"] is None
