"""The same grievance actions as the portal form and the county workspace, through the SDK
(in process) and `bangfu grievance` (the installed command against uvicorn, signing with a
keystore file), on a real anvil and a real database."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.errors import ApiError, LedgerError
from tests import factories
from tests.cli.test_cli import bangfu, key_file
from tests.factories import COUNTY_A, Chain, ChainEnv, Stack, body, sdk

TEXT = "交付的米有霉变，请县里核查。"


def _need(http: TestClient, st: Stack, env: ChainEnv) -> str:
    n = Chain(env.domain, env.actors.county_a, env.actors.org_a).need()
    assert http.post("/api/v1/records", json=body(n)).status_code == 202
    st.settle()
    return "0x" + n.record.project_id.hex()  # type: ignore[attr-defined]


def test_sdk_files_registers_and_answers(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    pid = _need(http, st, env)
    public = sdk(http)
    filed = public.file_grievance(pid, TEXT, contact="村民小组长")
    county = sdk(http, env.actors.county_a)
    with pytest.raises(LedgerError) as early:
        county.answer_grievance(filed["filing_no"], 1, "已处理。")
    assert early.value.code == "unknown_grievance"
    with pytest.raises(ApiError) as org:
        sdk(http, env.actors.org_a).register_grievance(filed["filing_no"])
    assert org.value.code == "missing_role"
    reg = county.register_grievance(filed["filing_no"])
    assert reg["kind"] == "grievance" and reg["status"] == "queued"
    st.settle()
    ans = county.answer_grievance(filed["filing_no"], 2, "部分属实，已更换。")
    assert ans["kind"] == "grievance_answer"
    st.settle()
    g = public.grievance(filed["filing_no"])
    assert g["status"] == "answered" and g["answer"]["outcome"] == 2
    assert g["answer"]["text"] == "部分属实，已更换。"
    listed = public.grievances(county=COUNTY_A)
    assert listed["counts"]["answered"] >= 1
    assert "村民小组长" not in str(listed) and "村民小组长" not in str(g)


def test_cli_files_registers_and_answers(
    env: ChainEnv,
    svc: LedgerService,
    st: Stack,
    http: TestClient,
    live: factories.LiveServer,
    pump: factories.Pump,
    tmp_path: Path,
) -> None:
    pid = _need(http, st, env)
    pump.start()
    api = live.url
    filed = bangfu("grievance", "file", pid, TEXT, "--contact", "微信群", api=api)
    assert filed.returncode == 0, filed.stderr
    no = re.search(r"SS-[0-9A-Z]{4}-[0-9A-Z]{4}", filed.stdout)
    assert no is not None and "grievanceHash: 0x" in filed.stdout
    filing = no.group(0)
    county_key = key_file(tmp_path, env.actors.county_a, "county.json")
    reg = bangfu("grievance", "register", filing, "--key", str(county_key), api=api)
    assert reg.returncode == 0, reg.stderr
    deadline = time.monotonic() + 60
    while "registered" not in (shown := bangfu("grievance", "show", filing, api=api)).stdout:
        assert time.monotonic() < deadline, shown.stdout + shown.stderr
        time.sleep(0.5)
    bad = bangfu(
        "grievance", "answer", filing, "--outcome", "1", "--text", "请拨 13800138000",
        "--key", str(county_key), api=api,
    )  # fmt: skip
    assert bad.returncode != 0 and "[personal_data_in_text]" in bad.stderr
    ok = bangfu(
        "grievance", "answer", filing, "--outcome", "1", "--text", "属实，已补发。",
        "--key", str(county_key), api=api,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    while "已答复" not in (shown := bangfu("grievance", "show", filing, api=api)).stdout:
        assert time.monotonic() < deadline, shown.stdout + shown.stderr
        time.sleep(0.5)
    assert "成立 upheld" in shown.stdout and "北京时间" in shown.stdout
    listed = bangfu("grievance", "list", "--county", str(COUNTY_A), api=api)
    assert listed.returncode == 0 and filing in listed.stdout
    assert "微信群" not in shown.stdout + listed.stdout
