"""Special funds from the SDK and the CLI (the same actions as the workspace): open a fund,
record money received, draw on it for a commitment, show it in yuan; the sponsor named only
with consent; against a real anvil and database (the CLI as a user runs it, on uvicorn)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.errors import ApiError
from ledger.core.fields import ResourceKind, SponsorKind
from ledger.core.hexes import hex0x
from tests.cli.test_cli import bangfu, key_file, one_error_line
from tests.factories import ChainEnv, LiveServer, Stack, matched, sdk

HEX32 = re.compile(r"0x[0-9a-f]{64}")


def test_sdk_opens_draws_and_reads(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a = env.actors
    client = sdk(http, a.org_a)
    opened = client.open_fund(
        name="产业振兴专项基金",
        sponsor_kind=SponsorKind.INDIVIDUAL,
        sponsor_name="王小明",
        pledged=200_000,
        purpose="支持茶园产业发展。",
    )
    fid = opened["fund_id"]
    need, match = matched(st, a.county_a, a.org_a)
    c = client.commitment(
        need, quantity=150_000, resource_kind=ResourceKind.FUNDS, unit="fen", match_id=match
    )
    accepted = client.draw_on_fund(c, fid, 150_000)
    assert [x.kind for x in accepted] == ["commitment", "commitment_source"]
    # a second draw past the pledge: both the commitment and its source are refused
    c2 = client.commitment(
        need, quantity=60_000, resource_kind=ResourceKind.FUNDS, unit="fen", match_id=match
    )
    try:
        client.draw_on_fund(c2, fid, 60_000)
        raise AssertionError("over-commitment accepted")
    except ApiError as exc:
        assert exc.code == "fund_over_committed"
    assert client.status([c2.id])[0].status == "unknown"
    client.submit([client.fund_contribution(fid, amount=50_000, received=20261101)])
    st.settle()
    shown = client.fund(fid)
    assert shown["totals"]["committed"]["yuan"] == "¥1,500.00"
    assert shown["totals"]["contributed"]["yuan"] == "¥500.00"
    assert shown["sponsor_name"] is None
    assert fid in {f["fund_id"] for f in client.funds()}
    # the contract agrees
    assert env.ledger.fund_totals(bytes.fromhex(fid[2:])) == (200_000, 150_000)


def test_cli_open_contribute_draw_show(
    env: ChainEnv, svc: LedgerService, st: Stack, live: LiveServer, tmp_path: Path
) -> None:
    a = env.actors
    key = key_file(tmp_path, a.org_a, "org.json")
    api = live.url
    r = bangfu(
        "fund", "open", "--name", "助学专项基金", "--sponsor-kind", "company",
        "--sponsor-name", "黔东南茶业有限公司", "--public", "--pledged", "3000.50",
        "--purpose", "资助学生。", "--key", str(key), api=api,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (fid,) = HEX32.findall(r.stdout)
    r = bangfu(
        "fund", "contribute", fid, "--amount", "1000", "--received", "2026-11-02",
        "--key", str(key), api=api,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    need, match = matched(st, a.county_a, a.org_a)
    c = sdk_client(live, a).commitment(
        need, quantity=100_000, resource_kind=ResourceKind.FUNDS, unit="fen", match_id=match
    )
    sdk_client(live, a).submit([c])
    r = bangfu("fund", "draw", hex0x(c.id), fid, "--amount", "1000", "--key", str(key), api=api)
    assert r.returncode == 0, r.stderr
    over = bangfu("fund", "draw", hex0x(c.id), fid, "--amount", "1", "--key", str(key), api=api)
    # one source per commitment: its id is derived from the commitment, so a second is refused
    assert "[record_id_used]" in one_error_line(over)
    bad = bangfu("fund", "contribute", fid, "--amount", "1.234", "--received", "2026-11-02",
                 "--key", str(key), api=api)  # fmt: skip
    assert "[bad_number]" in one_error_line(bad)
    st.settle()
    shown = bangfu("fund", "show", fid, api=api)
    assert shown.returncode == 0, shown.stderr
    for text in ("助学专项基金", "黔东南茶业有限公司", "¥3,000.50", "¥1,000.00", "北京时间"):
        assert text in shown.stdout, (text, shown.stdout)
    listed = bangfu("fund", "list", api=api)
    assert "助学专项基金" in listed.stdout


def sdk_client(live: LiveServer, a: object) -> object:
    from ledger.sdk.client import BangfuClient

    return BangfuClient(live.url, account=a.org_a)  # type: ignore[attr-defined]
