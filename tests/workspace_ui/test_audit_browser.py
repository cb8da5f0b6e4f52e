"""The auditor's workspace in a real headless chromium against a real anvil and database: the
auditor imports a keystore, signs in, runs an audit by keyboard (the signing dialog shows the
AuditRun first), follows it to "通过 passed" with its checks, times in Beijing time and the
checkpoint panel; a tampered database row then fails the next audit, and its finding, named
in Chinese first, links to the record's portal page. No request carries the key or the
password; nothing scrolls sideways at 390 px. Screenshots go to test-artifacts/workspace/.

This module runs on an anvil of its own, so the audit sees only these records."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from ledger.app import LedgerService
from tests.factories import Chain, ChainEnv, Stack, body, matched

from .browserkit import Stage, expect, needs_chromium, run_audit, shoot_here

pytestmark = [needs_chromium, pytest.mark.own_chain]


def test_the_auditor_runs_an_audit(
    stage: Stage,
    svc: LedgerService,
    svc_env: ChainEnv,
    st: Stack,
) -> None:
    a = stage.actors
    with stage.role("auditor", a.auditor) as auditor:
        pg = auditor.page
        auditor.import_key()
        auditor.signed_in()  # the import leaves the key unlocked

        auditor.goto("/workspace/audit")
        expect(pg.locator("#audit-latest")).to_contain_text("尚未运行审计")
        auditor.unlock()
        expect(pg.locator("#key-role")).to_contain_text("auditor")
        run_audit(auditor)
        expect(pg.locator("#audit-verdict")).to_have_text("通过 passed")
        expect(pg.locator("#audit-message")).to_contain_text("通过 passed")
        expect(pg.locator("#audit-latest dd[data-field='started']")).to_contain_text(
            "北京时间 Beijing time"
        )
        expect(pg.locator("#audit-latest dd[data-field='integrity']")).to_have_text("0")
        expect(pg.locator("#audit-checks")).to_contain_text("database")
        expect(pg.locator("#checkpoints")).to_contain_text("no checkpoint yet")
        shoot_here(auditor, "auditor-audit-passed", "the audit page")

        # a record on chain, then its row altered in the read model: the next audit fails
        need_id, match_id = matched(st, a.county_a, a.org_a)
        flow = Chain(svc_env.domain, a.county_a, a.org_a)
        commit = flow.commit(need_id, match_id, quantity=10)
        with httpx.Client(base_url=stage.base, timeout=30) as client:
            assert client.post("/api/v1/records", json=body(commit)).status_code in (200, 202)
        st.settle()
        record_id = "0x" + commit.id.hex()
        with svc.db.engine.begin() as conn:
            changed = conn.execute(
                text("UPDATE commitments SET quantity = 11 WHERE record_id = :id"),
                {"id": record_id},
            )
            assert changed.rowcount == 1
        auditor.goto("/workspace/audit")
        expect(pg.locator("#audit-verdict")).to_have_text("通过 passed")  # the latest, so far
        auditor.unlock()
        run_audit(auditor)
        expect(pg.locator("#audit-verdict")).to_have_text("未通过 failed")
        finding = pg.locator("#audit-findings li[data-code='db_row_altered']").first
        expect(finding).to_contain_text("数据库中的数据与链上不符")
        expect(finding).to_contain_text("a served column differs from the chain")
        link = finding.locator("a")
        expect(link).to_have_attribute("href", f"/verify?id={record_id}")
        shoot_here(auditor, "auditor-audit-failed", "the findings")
        link.focus()
        pg.keyboard.press("Enter")
        expect(pg).to_have_url(f"{stage.base}/verify?id={record_id}")
        auditor.assert_nothing_leaked()
