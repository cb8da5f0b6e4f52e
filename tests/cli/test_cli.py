"""`bangfu keygen/submit/status/query/totals` as a user runs them: the installed command in a
subprocess against the app served by uvicorn, a real anvil and a real database."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from eth_account import Account

from ledger.app import LedgerService
from ledger.evm.deploy import dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.library.regions import make_org_code
from ledger.sdk.keys import encrypt_key, write_key_file
from tests import factories

PASSWORD = "cli-test-password"
ZERO = "0x" + "00" * 32


def bangfu(
    *args: str, api: str | None = None, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BANGFU_KEY_PASSWORD": password, "COLUMNS": "250"}
    if api is not None:
        env["BANGFU_API_URL"] = api
    return factories.run_bangfu(args, env=env, timeout=180)


def key_file(tmp: Path, account: object, name: str) -> Path:
    path = tmp / name
    write_key_file(path, encrypt_key(bytes(account.key), PASSWORD, iterations=2**10))  # type: ignore[attr-defined]
    return path


def submit(
    kind: str, key: Path, fields: dict[str, object], *extra: str, api: str
) -> subprocess.CompletedProcess[str]:
    """`bangfu submit KIND --key KEY -f name=value … EXTRA` against `api`."""
    args = ["submit", kind, "--key", str(key)]
    for name, value in fields.items():
        args += ["-f", f"{name}={value}"]
    return bangfu(*args, *extra, api=api)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_keygen(tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    result = bangfu("keygen", "--out", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["version"] == 3
    assert doc["address"].lower() in result.stdout.lower()
    again = one_error_line(bangfu("keygen", "--out", str(out)))
    assert "[key_file_exists]" in again
    weak = one_error_line(bangfu("keygen", "--out", str(tmp_path / "b.json"), password="short"))
    assert "[weak_password]" in weak


def test_keygen_writes_a_dev_account_for_the_workspaces(tmp_path: Path) -> None:
    """`--dev-account 0` writes the dev chain's admin as a keystore the browser can import:
    the same address anvil derives from localchain.toml's public mnemonic, with a warning."""
    out = tmp_path / "admin.json"
    result = bangfu("keygen", "--dev-account", "0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    admin = dev_accounts(load_localchain())[0]
    assert Account.decrypt(json.loads(out.read_text()), PASSWORD)
    assert json.loads(out.read_text())["address"].lower() == admin.address[2:].lower()
    assert "public" in result.stderr and "公开" in result.stderr
    far = one_error_line(bangfu("keygen", "--dev-account", "1000", "--out", str(tmp_path / "x")))
    assert "[bad_arguments]" in far


def test_custodial_add_key_refuses_a_key_file_that_names_another_address(
    tmp_path: Path,
) -> None:
    """`bangfu custodial add-key` stores the key a file holds, and refuses (bad_key_file,
    nothing stored) a file whose stated address is not that key's, as every command that
    reads a key file does."""
    from eth_account import Account

    good_account, other = Account.create(), Account.create()
    good = key_file(tmp_path, good_account, "good.json")
    forged = tmp_path / "forged.json"
    doc = json.loads(good.read_text())
    forged.write_text(json.dumps({**doc, "address": other.address[2:].lower()}))
    var = tmp_path / "var"
    env = {"BANGFU_VAR": str(var), "BANGFU_KEYSTORE_PASSWORD": "keystore-pw"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        line = one_error_line(bangfu("custodial", "add-key", "--key", str(forged)))
        assert "[bad_key_file]" in line and "forged.json" in line
        assert not (var / "keystore").exists()
        stored = bangfu("custodial", "add-key", "--key", str(good))
    assert stored.returncode == 0, stored.stderr
    assert good_account.address in stored.stdout
    keys = [p.name for p in (var / "keystore").glob("*.json") if p.name != "tokens.json"]
    assert keys == [good_account.address[2:].lower() + ".json"]


def test_errors_are_one_line_with_a_code(env: factories.ChainEnv, tmp_path: Path) -> None:
    good = key_file(tmp_path, env.actors.org_a, "org.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ this is not a key")
    args = [
        "submit",
        "receipt",
        "-f",
        "deliveryId=0x" + "11" * 32,
        "-f",
        "confirmedQuantity=1",
        "-f",
        f"noteHash={ZERO}",
    ]
    down = f"http://127.0.0.1:{factories.free_port()}"
    assert "[bad_key_file]" in one_error_line(bangfu(*args, "--key", str(bad), api=down))
    assert "[key_file_not_found]" in one_error_line(
        bangfu(*args, "--key", str(tmp_path / "missing.json"), api=down)
    )
    assert "[wrong_password]" in one_error_line(
        bangfu(*args, "--key", str(good), api=down, password="not the password")
    )
    line = one_error_line(bangfu(*args, "--key", str(good), api=down))
    assert "[api_unreachable]" in line and down in line
    line = one_error_line(bangfu("status", "0x" + "22" * 32, "--api", down))
    assert "[api_unreachable]" in line and down in line
    assert "[bad_field]" in one_error_line(
        bangfu("submit", "receipt", "-f", "oops", "--key", str(good), api=down)
    )
    assert "[unknown_kind]" in one_error_line(
        bangfu("submit", "gift", "-f", "a=1", "--key", str(good), api=down)
    )


def test_submit_status_query_totals(
    env: factories.ChainEnv,
    svc: LedgerService,
    st: factories.Stack,
    pump: factories.Pump,
    live: factories.LiveServer,
    tmp_path: Path,
) -> None:
    need_id, match_id = factories.matched(st, env.actors.county_a, env.actors.org_a)
    pump.start()
    org_key = key_file(tmp_path, env.actors.org_a, "org.json")
    county_key = key_file(tmp_path, env.actors.county_a, "county.json")

    # A 4xx problem from the server: its code and detail, one line.
    def deliver(commitment_id: str, quantity: int) -> str:
        fields = {
            "commitmentId": commitment_id,
            "quantity": quantity,
            "evidenceHash": ZERO,
            "beneficiaryCount": 0,
            "beneficiaryRoot": ZERO,
        }
        return one_error_line(submit("delivery", org_key, fields, api=live.url))

    line = deliver("0x" + "33" * 32, 5)
    assert "[unknown_commitment]" in line and "0x" + "33" * 32 in line
    receipt = {"deliveryId": "0x" + "33" * 32, "confirmedQuantity": 1, "noteHash": ZERO}
    line = one_error_line(submit("receipt", org_key, receipt, api=live.url))
    assert "[missing_role]" in line

    (tmp_path / "terms.txt").write_text("交付条款 terms")
    (tmp_path / "commit.json").write_text(
        json.dumps(
            {
                "kind": "commitment",
                "record": {
                    "needId": need_id,
                    "matchId": match_id,
                    "resourceKind": "funds",
                    "quantity": 1_000_000,
                    "unit": "分",
                    "dueDate": "2030-06-30",
                    "termsHash": "@terms.txt",
                },
            },
            ensure_ascii=False,
        )
    )
    result = bangfu(
        "submit",
        "--json",
        str(tmp_path / "commit.json"),
        "--key",
        str(org_key),
        "--wait",
        "--timeout",
        "120",
        api=live.url,
    )
    assert result.returncode == 0, result.stderr
    assert "confirmed" in result.stdout
    commits = json.loads(
        bangfu(
            "query",
            "commitments",
            "--org",
            factories.ORG_CODE_A,
            "--json",
            "--limit",
            "500",
            api=live.url,
        ).stdout
    )
    mine = [i for i in commits["items"] if i["need_id"] == need_id]
    assert len(mine) == 1 and mine[0]["quantity"] == 1_000_000
    cid = mine[0]["record_id"]
    assert cid in result.stdout

    # Two deliveries from one JSON-lines file, signed and submitted together.
    lines = [
        {
            "kind": "delivery",
            "record": {
                "commitmentId": cid,
                "quantity": q,
                "evidenceHash": "0x" + "ee" * 32,
                "beneficiaryCount": 1,
                "beneficiaryRoot": "0x" + "00" * 32,
            },
        }
        for q in (300_000, 200_000)
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    result = bangfu(
        "submit", "--json", str(tmp_path / "d.jsonl"), "--key", str(org_key), api=live.url
    )
    assert result.returncode == 0, result.stderr
    ids = [w for w in result.stdout.split() if w.startswith("0x") and len(w) == 66]
    assert len(ids) == 2
    status = bangfu("status", *ids, "--wait", "--timeout", "120", api=live.url)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("confirmed") == 2

    # Over-delivery is refused by the server, with its code.
    line = deliver(cid, 600_000)
    assert "[over_delivery]" in line

    receipt = {"deliveryId": ids[0], "confirmedQuantity": 300_000, "noteHash": ZERO}
    result = submit("receipt", county_key, receipt, "--wait", api=live.url)
    assert result.returncode == 0, result.stderr

    totals = json.loads(
        bangfu("totals", "org", "--org", factories.ORG_CODE_A, "--json", api=live.url).stdout
    )
    funds = [t for t in totals if t["resource_kind"] == 1 and t["unit"] == "分"]
    assert funds and funds[0]["committed"] >= 1_000_000 and funds[0]["confirmed"] >= 300_000
    table = bangfu("totals", "category", api=live.url)
    assert table.returncode == 0 and "民生保障" in table.stdout
    table = bangfu("query", "deliveries", "--category", "民生保障", api=live.url)
    assert table.returncode == 0 and "deliveries" in table.stdout


@pytest.mark.parametrize("what", ["gifts"])
def test_query_refuses_unknown_lists(what: str) -> None:
    line = one_error_line(bangfu("query", what, api="http://127.0.0.1:9"))
    assert "[bad_list]" in line


def test_register_by_name(env: factories.ChainEnv) -> None:
    """`bangfu register county|org|auditor` put the names on chain: a county's name defaults
    to its GB/T 2260 name, an organization's type to the one its credit code names."""
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    cli_env.update(
        {"BANGFU_RPC_URL": str(env.settings.rpc_url), "BANGFU_VAR": str(env.settings.var_dir)}
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = factories.run_bangfu(["register", *args], env=cli_env, timeout=180)
        assert result.returncode == 0, result.stderr
        return result

    events = env.ledger.contract.events
    county, org, auditor = Account.create(), Account.create(), Account.create()
    head = env.w3.eth.block_number
    assert "册亨县" in run("county", county.address, str(factories.COUNTY_A)).stdout
    code = make_org_code("53", 520000, "MJY450899")
    out = run("org", org.address, code, "--name", "贵州助学基金会", "--authority", "贵州省民政厅")
    assert "基金会" in out.stdout
    run("auditor", auditor.address, "--name", "第三审计组")
    logs = {
        name: [
            e["args"]
            for e in getattr(events, name)().get_logs(from_block=head + 1)
            if e["args"]["account"] in (county.address, org.address, auditor.address)
        ]
        for name in ("CountyRegistered", "OrganizationRegistered", "AuditorRegistered")
    }
    assert [a["name"] for a in logs["CountyRegistered"]] == ["册亨县"]
    (o,) = logs["OrganizationRegistered"]
    assert (o["name"], o["orgType"], o["authority"]) == ("贵州助学基金会", 3, "贵州省民政厅")
    assert [a["name"] for a in logs["AuditorRegistered"]] == ["第三审计组"]
