"""The same follow-up actions from the SDK and from `bangfu follow-up` (the installed command
in a subprocess, signing with a keystore file) against the app served by uvicorn, a real
anvil and a real database: the admin sets the rate, the county opens a round, reads the
sample and records results; errors are one line with their code."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ledger.app import LedgerService
from ledger.core.hexes import hex0x
from ledger.sdk.batch_client import sign_batch
from ledger.sdk.client import BangfuClient
from tests.cli.test_cli import PASSWORD, key_file, one_error_line
from tests.factories import COUNTY_A, ORG_NAME_A, BatchEnv, LiveServer, make_lines, run_bangfu

HEX32 = re.compile(r"0x[0-9a-f]{64}")


def _bangfu(benv: BatchEnv, *args: str, api: str) -> object:
    s = benv.env.settings
    env = {
        **os.environ,
        "BANGFU_KEY_PASSWORD": PASSWORD,
        "COLUMNS": "250",
        "BANGFU_API_URL": api,
        "BANGFU_RPC_URL": str(s.rpc_url),
        "BANGFU_VAR": str(s.var),
        "BANGFU_LOCALCHAIN_FILE": str(s.localchain_file),
    }
    return run_bangfu(args, env=env, timeout=180)


def test_follow_up_from_the_cli_and_the_sdk(
    benv: BatchEnv, svc: LedgerService, live: LiveServer, tmp_path: Path
) -> None:
    a = benv.env.actors
    api = live.url
    county_key = key_file(tmp_path, a.county_a, "county.json")

    # the civil-affairs office sets the rate with the admin key (dev account #0)
    done = _bangfu(benv, "follow-up", "set-rate", "2000", api=api)
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "2000 基点 bps (20%)" in done.stdout  # type: ignore[attr-defined]
    assert benv.env.ledger.follow_up_rate() == 2000
    shown = _bangfu(benv, "follow-up", "rate", api=api)
    assert "(20%)" in shown.stdout  # type: ignore[attr-defined]
    bad = _bangfu(benv, "follow-up", "set-rate", "10001", api=api)
    assert "[invalid_rate]" in one_error_line(bad)  # type: ignore[arg-type]

    cid = benv.commitment(60)
    lines = make_lines(cid, 20, quantity=3)
    signed = sign_batch(lines, a.org_a.key, benv.env.domain)
    benv.client.upload(signed, [line.line_bytes() for line in lines])
    batch_id = hex0x(signed.id)
    benv.relay_until_confirmed(batch_id)
    benv.index()

    listed = _bangfu(benv, "follow-up", "batches", "--county", str(COUNTY_A), api=api)
    out = listed.stdout  # type: ignore[attr-defined]
    assert batch_id in out and ORG_NAME_A in out and "抽 sample 4" in out, out

    opened = _bangfu(
        benv, "follow-up", "open", batch_id, "--county", str(COUNTY_A), "--key",
        str(county_key), api=api,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr  # type: ignore[attr-defined]
    (round_id,) = HEX32.findall(opened.stdout)  # type: ignore[attr-defined]
    benv.relay_until_confirmed(round_id)
    benv.index()
    early = _bangfu(benv, "follow-up", "show", round_id, api=api)
    assert "种子区块尚未产生" in early.stdout  # type: ignore[attr-defined]
    benv.env.w3.provider.make_request("anvil_mine", ["0x6"])  # type: ignore[arg-type]

    # the SDK reads the same sample, and records a result on one line
    sdk = BangfuClient(api, account=a.county_a)
    found = sdk.follow_up_round(round_id)
    sample = [s["line_index"] for s in found["sample"]]
    assert len(sample) == 4 and found["rate_text"] == "20%"
    _, accepted = sdk.record_follow_up(round_id, sample[0], "part", quantity=1, note="只收到一袋")
    assert accepted.status == "queued"
    try:
        sdk.record_follow_up(round_id, sample[1], "none", note="电话 13812345678")
    except Exception as exc:  # noqa: BLE001 - the SDK's refusal, before anything is signed
        assert getattr(exc, "code", "") == "personal_data_in_text", exc
    else:
        raise AssertionError("a note with a phone number was signed")

    # the CLI records another sampled line, and refuses one outside the sample by name
    shown = _bangfu(benv, "follow-up", "show", round_id, api=api)
    assert f"#{sample[1]}" in shown.stdout and "3 斤" in shown.stdout  # type: ignore[attr-defined]
    rec = _bangfu(
        benv, "follow-up", "record", round_id, str(sample[1]), "none", "--key",
        str(county_key), api=api,
    )  # fmt: skip
    assert rec.returncode == 0, rec.stderr  # type: ignore[attr-defined]
    outside = next(i for i in range(20) if i not in sample)
    refused = _bangfu(
        benv, "follow-up", "record", round_id, str(outside), "full", "--key",
        str(county_key), api=api,
    )  # fmt: skip
    assert "[line_not_in_sample]" in one_error_line(refused)  # type: ignore[arg-type]

    for rid in [*HEX32.findall(rec.stdout), accepted.record_id]:  # type: ignore[attr-defined]
        benv.relay_until_confirmed(rid)
    benv.index()
    rounds = _bangfu(benv, "follow-up", "rounds", "--county", str(COUNTY_A), api=api)
    line = next(x for x in rounds.stdout.splitlines() if round_id in x)  # type: ignore[attr-defined]
    assert "已回访 done 2" in line and "未收到 not received 1" in line
