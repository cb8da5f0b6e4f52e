"""Proofs over the API: inclusion, consistency and bundles that the offline checker accepts,
and rejects after any single bit flip; `bangfu verify` against the chain's own root."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from ledger.cli import app as cli
from ledger.merkle import verify_consistency
from ledger.proofcheck import ProofCheckError, verify_bundle
from ledger.service import LedgerService
from tests.audit.conftest import Ledger


@pytest.fixture(scope="module")
def client(ledger: Ledger):  # type: ignore[no-untyped-def]
    svc = LedgerService(ledger.env.settings.model_copy(update={"database_url": ledger.db_url}))
    with TestClient(create_app(svc)) as c:
        yield c
    svc.close()


def _flip(value: str, bit: int) -> str:
    raw = bytearray.fromhex(value.removeprefix("0x"))
    raw[bit // 8 % len(raw)] ^= 1 << (bit % 8)
    return "0x" + raw.hex()


def test_bundle_verifies_and_every_bit_flip_is_rejected(client: TestClient, ledger: Ledger) -> None:
    rid = "0x" + ledger.records[3].id.hex()
    resp = client.get(f"/api/v1/proofs/bundle/{rid}", params={"consistency_from": 2})
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    root = ledger.env.ledger.log_root()
    summary = verify_bundle(bundle, "0x" + root.hex())
    assert summary["index"] == 3 and summary["log_size"] == len(ledger.records)
    assert summary["root_checked"] == "log.root"
    targets = [("record", "bytes"), ("record", "leaf_hash"), ("log", "root")]
    targets += [("log", "inclusion", i) for i in range(len(bundle["log"]["inclusion"]))]
    targets += [("consistency", "proof", i) for i in range(len(bundle["consistency"]["proof"]))]
    for path in targets:
        for bit in (0, 77, 255):
            bad = copy.deepcopy(bundle)
            node = bad
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = _flip(node[path[-1]], bit)
            with pytest.raises(ProofCheckError):
                verify_bundle(bad)
    wrong = copy.deepcopy(bundle)
    wrong["record"]["index"] = 2
    with pytest.raises(ProofCheckError):
        verify_bundle(wrong)


def test_inclusion_at_a_past_size_and_consistency(client: TestClient, ledger: Ledger) -> None:
    rid = "0x" + ledger.records[1].id.hex()
    past = client.get(f"/api/v1/proofs/record/{rid}", params={"size": 3}).json()
    assert past["size"] == 3 and past["index"] == 1
    cons = client.get("/api/v1/proofs/consistency", params={"old": 3}).json()
    assert cons["old_root"] == past["root"]
    verify_consistency(
        3,
        cons["new_size"],
        bytes.fromhex(cons["old_root"][2:]),
        bytes.fromhex(cons["new_root"][2:]),
        [bytes.fromhex(h[2:]) for h in cons["proof"]],
    )
    assert cons["new_root"] == "0x" + ledger.env.ledger.log_root().hex()


def test_bad_requests_are_problems_not_errors(client: TestClient, ledger: Ledger) -> None:
    r = client.get("/api/v1/proofs/record/0x1234")
    assert r.status_code == 422 and r.json()["code"] == "bad_length"
    r = client.get("/api/v1/proofs/record/" + "0x" + "11" * 32)
    assert r.status_code == 404 and r.json()["code"] == "record_not_found"
    r = client.get("/api/v1/proofs/consistency", params={"old": 5, "new": 4})
    assert r.status_code == 422 and r.json()["code"] == "bad_size"
    r = client.get("/api/v1/proofs/consistency", params={"old": 1, "new": 10_000})
    assert r.status_code == 422 and r.json()["code"] == "bad_size"


def test_bangfu_verify_reads_the_root_from_the_chain(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    rid = "0x" + ledger.records[4].id.hex()
    path = tmp_path / "proof.json"
    bundle = client.get(f"/api/v1/proofs/bundle/{rid}").json()
    path.write_text(json.dumps(bundle))
    runner = CliRunner()
    res = runner.invoke(
        cli, ["verify", str(path), "--rpc", ledger.rpc, "--contract", ledger.contract, "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["root_checked"] == "log.root"
    assert summary["record"]["signer"] == ledger.env.actors.county_a.address
    assert summary["record"]["kind"] == "receipt"
    # a bundle at a past size names the block where the log had that size, so the chain's
    # root read there matches it
    other = client.get(f"/api/v1/proofs/bundle/{rid}", params={"size": 6}).json()
    path.write_text(json.dumps(other))
    res = runner.invoke(
        cli, ["verify", str(path), "--rpc", ledger.rpc, "--contract", ledger.contract, "--json"]
    )
    assert res.exit_code == 0, res.output
    assert f"block {hex(other['chain']['block'])} (log size 6)" in res.output
    path.write_text(
        json.dumps({**bundle, "log": {**bundle["log"], "root": _flip(bundle["log"]["root"], 3)}})
    )
    res = runner.invoke(cli, ["verify", str(path)])
    assert res.exit_code != 0


def test_bundle_block_is_where_the_log_had_that_size(client: TestClient, ledger: Ledger) -> None:
    """chain.block of a bundle at any past size: logSize()/logRoot() there are the bundle's."""
    rid = "0x" + ledger.records[0].id.hex()
    for size in range(1, len(ledger.records) + 1):
        bundle = client.get(f"/api/v1/proofs/bundle/{rid}", params={"size": size}).json()
        block = bundle["chain"]["block"]
        assert isinstance(block, int), bundle["chain"]
        assert ledger.env.ledger.log_size(block) == size
        assert "0x" + ledger.env.ledger.log_root(block).hex() == bundle["log"]["root"]
