"""Proofs over the API: inclusion, consistency and bundles that the offline checker accepts,
and rejects after any single bit flip; `bangfu verify` and proofcheck.py against the chain's
own root, a signed checkpoint under the witness quorum, or no anchor (never OK); a fabricated
bundle refused by the chain; the published log key and `bangfu checkpoint check`."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from ledger.app import LedgerService
from ledger.cli.commands.checkpoint import check_url
from ledger.cli.commands.verify import verify_file
from ledger.cli.main import app as cli
from ledger.config import PROJECT_ROOT
from ledger.core.aid_kinds import Delivery
from ledger.core.errors import ProofError
from ledger.core.lines import new_id
from ledger.core.merkle import MerkleTree, leaf_hash, verify_consistency
from ledger.core.records import sha256
from ledger.tlog.checkpointer import Checkpointer, origin_for
from ledger.tlog.note import ALG_COSIGNATURE_V1, Checkpoint, SignerKey, VerifierKey, sign_note
from ledger.tools import proofcheck
from ledger.tools.proofcheck import ProofCheckError, check_against_chain, verify_bundle
from tests.audit.conftest import Ledger


@pytest.fixture(scope="module")
def client(ledger: Ledger) -> Iterator[TestClient]:
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
    targets: list[tuple[Any, ...]] = [("record", "bytes"), ("record", "leaf_hash"), ("log", "root")]
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
    assert summary["verdict"] == "ok" and summary["root_checked"] == "log.root"
    assert summary["record"]["signer"] == ledger.env.actors.county_a.address
    assert summary["record"]["kind"] == "receipt"
    assert summary["chain_read"]["roles"] == ["COUNTY"] and summary["not_checked"] == []
    # the contract comes from the record itself: --contract only pins it
    res = runner.invoke(cli, ["verify", str(path), "--rpc", ledger.rpc])
    assert res.exit_code == 0 and "通过 OK" in res.output, res.output
    res = runner.invoke(
        cli, ["verify", str(path), "--rpc", ledger.rpc, "--contract", "0x" + "12" * 20]
    )
    assert isinstance(res.exception, ProofError) and res.exception.code == "wrong_contract"
    # a bundle at a past size names the block where the log had that size, so the chain's
    # root read there matches it
    other = client.get(f"/api/v1/proofs/bundle/{rid}", params={"size": 6}).json()
    path.write_text(json.dumps(other))
    res = runner.invoke(cli, ["verify", str(path), "--rpc", ledger.rpc, "--json"])
    assert res.exit_code == 0, res.output
    read = json.loads(res.output)["chain_read"]
    assert read["tag"] == hex(other["chain"]["block"]) and read["size"] == 6
    # without --rpc, --root or --checkpoint: never OK, exit 2, says what it did not check
    path.write_text(json.dumps(bundle))
    res = runner.invoke(cli, ["verify", str(path)])
    assert res.exit_code == 2, res.output
    assert "未核验 NOT VERIFIED" in res.output and "通过 OK" not in res.output
    assert "未检查 not checked" in res.output
    path.write_text(
        json.dumps({**bundle, "log": {**bundle["log"], "root": _flip(bundle["log"]["root"], 3)}})
    )
    res = runner.invoke(cli, ["verify", str(path)])
    assert res.exit_code == 1


def _fabricated(ledger: Ledger) -> dict[str, Any]:
    """A record signed by a fresh, unregistered key, in a self-consistent tree of the chain's
    size, naming the real contract and block: all its proofs hold."""
    fresh = Account.create()
    signed = Delivery(
        id=new_id(fresh.address),
        commitment_id=ledger.records[1].id,
        quantity=999,
        delivered_at=1_767_225_600,
        evidence_hash=sha256(b"made up"),
    ).sign(fresh.key, ledger.env.domain)
    size = ledger.env.ledger.log_size()
    leaves = [leaf_hash(b"fake %d" % i) for i in range(size)]
    leaves[1] = signed.leaf_hash()
    tree = MerkleTree(leaves)
    return {
        "format": "bangfu-proof/1",
        "record": {
            "bytes": "0x" + signed.canonical_bytes().hex(),
            "leaf_hash": "0x" + signed.leaf_hash().hex(),
            "index": 1,
        },
        "log": {
            "size": size,
            "root": "0x" + tree.root().hex(),
            "inclusion": ["0x" + h.hex() for h in tree.inclusion_proof(1)],
        },
        "batch": None,
        "consistency": None,
        "chain": {
            "chain_id": ledger.env.domain.chain_id,
            "contract": ledger.contract,
            "block": ledger.env.w3.eth.block_number,
        },
    }


def test_a_fabricated_bundle_is_never_ok_and_refused_by_the_chain(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _fabricated(ledger)
    path = tmp_path / "fake.json"
    path.write_text(json.dumps(bundle))
    # offline it is well formed and correctly signed: so it must say "not verified"
    assert verify_bundle(bundle)["anchored"] is False
    assert proofcheck.main([str(path)]) == 2
    assert "通过 OK" not in capsys.readouterr().err
    runner = CliRunner()
    res = runner.invoke(cli, ["verify", str(path)])
    assert res.exit_code == 2 and "未核验 NOT VERIFIED" in res.output, res.output
    # against the chain: the chain never had this tree
    with pytest.raises(ProofCheckError) as info:
        check_against_chain(ledger.rpc, bundle)
    assert info.value.code == "root_mismatch"
    assert proofcheck.main([str(path), "--rpc", ledger.rpc]) == 1
    assert "[root_mismatch] 日志根与信任锚不符" in capsys.readouterr().err
    res = runner.invoke(cli, ["verify", str(path), "--rpc", ledger.rpc])
    assert isinstance(res.exception, ProofError) and res.exception.code == "root_mismatch"
    # a node of another chain cannot vouch for it either
    other = json.loads(json.dumps(bundle))
    raw = bytearray.fromhex(other["record"]["bytes"][2:])
    raw[33] ^= 1  # chain id 31337 -> 31336
    other["record"]["bytes"] = "0x" + raw.hex()
    other["record"]["leaf_hash"] = "0x" + leaf_hash(bytes(raw)).hex()
    leaves = [leaf_hash(b"fake %d" % i) for i in range(bundle["log"]["size"])]
    leaves[1] = leaf_hash(bytes(raw))
    tree = MerkleTree(leaves)
    other["log"]["root"] = "0x" + tree.root().hex()
    other["log"]["inclusion"] = ["0x" + h.hex() for h in tree.inclusion_proof(1)]
    with pytest.raises(ProofCheckError) as info:
        check_against_chain(ledger.rpc, other)
    assert info.value.code == "wrong_chain"


def test_the_stdlib_checker_anchors_on_the_chain(client: TestClient, ledger: Ledger) -> None:
    for record, roles in ((ledger.records[0], ["COUNTY"]), (ledger.records[5], ["AUDITOR"])):
        bundle = client.get(f"/api/v1/proofs/bundle/0x{record.id.hex()}").json()
        summary = check_against_chain(ledger.rpc, bundle)
        assert summary["anchored"] is True and summary["chain_read"]["roles"] == roles
        assert summary["root_checked"] == "log.root"
    # an older bundle with a consistency proof up to the chain's current size
    bundle = client.get(
        f"/api/v1/proofs/bundle/0x{ledger.records[0].id.hex()}", params={"size": 2}
    ).json()
    bundle["chain"]["block"] = None
    with pytest.raises(ProofCheckError) as info:  # latest has more leaves, no proof to them
        check_against_chain(ledger.rpc, bundle)
    assert info.value.code == "root_mismatch"
    cons = client.get("/api/v1/proofs/consistency", params={"old": 2}).json()
    bundle["consistency"] = cons
    assert check_against_chain(ledger.rpc, bundle)["root_checked"] == "consistency.new_root"


def _checkpoint_files(ledger: Ledger, tmp_path: Path) -> tuple[str, list[str], Path, Path]:
    """The chain's current log as a checkpoint signed by a log key, cosigned by one of two
    witnesses (and the same checkpoint without a cosignature)."""
    origin = origin_for(ledger.env.domain.chain_id, ledger.contract)
    log_key = SignerKey.generate(origin)
    wkeys = [SignerKey.generate(f"witness-{i}", ALG_COSIGNATURE_V1) for i in range(2)]
    size = ledger.env.ledger.log_size()
    body = Checkpoint(origin, size, ledger.env.ledger.log_root()).body()
    one, none = tmp_path / "checkpoint-1.txt", tmp_path / "checkpoint-0.txt"
    one.write_text(sign_note(body, [log_key, wkeys[0]]))
    none.write_text(sign_note(body, [log_key]))
    return log_key.verifier().encode(), [w.verifier().encode() for w in wkeys], one, none


def test_bangfu_verify_against_a_checkpoint_and_the_witness_quorum(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    bundle = client.get(f"/api/v1/proofs/bundle/0x{ledger.records[2].id.hex()}").json()
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(bundle))
    vkey, witness_keys, one, none = _checkpoint_files(ledger, tmp_path)
    base = ledger.env.settings
    quorum1 = base.model_copy(update={"witness_keys": witness_keys, "witness_quorum": 1})
    summary = verify_file(path, checkpoint=str(one), log_key=vkey, settings=quorum1)
    assert summary["verdict"] == "ok" and summary["checkpoint"]["witnesses"] == ["witness-0"]
    # the default quorum (0) still needs the log key's signature
    summary = verify_file(path, checkpoint=str(none), log_key=vkey, settings=base)
    assert summary["verdict"] == "ok" and summary["anchors"] == ["checkpoint"]
    with pytest.raises(ProofError) as info:
        verify_file(path, checkpoint=str(none), log_key=vkey, settings=quorum1)
    assert info.value.code == "quorum_not_met"
    # signed by some other key of the same name: not the log key
    other = SignerKey.generate(origin_for(ledger.env.domain.chain_id, ledger.contract))
    with pytest.raises(ProofError) as info:
        verify_file(path, checkpoint=str(one), log_key=other.verifier().encode(), settings=base)
    assert info.value.code == "checkpoint_unsigned"
    with pytest.raises(ProofError) as info:
        verify_file(path, checkpoint=str(one), settings=base)
    assert info.value.code == "no_log_key"
    # a checkpoint of another size (and no consistency proof to it) does not cover the bundle
    older = client.get(
        f"/api/v1/proofs/bundle/0x{ledger.records[2].id.hex()}", params={"size": 4}
    ).json()
    path.write_text(json.dumps(older))
    with pytest.raises(ProofError) as info:
        verify_file(path, checkpoint=str(one), log_key=vkey, settings=base)
    assert info.value.code == "root_mismatch"
    # the CLI, with the key configured in the environment's settings
    path.write_text(json.dumps(bundle))
    res = CliRunner().invoke(
        cli, ["verify", str(path), "--checkpoint", str(none), "--log-key", vkey]
    )
    assert res.exit_code == 0 and "通过 OK" in res.output, res.output


def test_the_log_key_is_published(client: TestClient, ledger: Ledger, tmp_path: Path) -> None:
    key_file = ledger.env.settings.var_dir / "checkpoint-key"
    key_file.unlink(missing_ok=True)
    r = client.get("/api/v1/log/key")
    assert r.status_code == 404 and r.json()["code"] == "no_log_key"
    assert 'id="no-log-key"' in client.get("/verify").text
    svc = LedgerService(ledger.env.settings.model_copy(update={"database_url": ledger.db_url}))
    try:
        row = Checkpointer(svc, durable=None).sign()  # leaves are fresh: sign them now
        assert row is not None
    finally:
        svc.close()
    r = client.get("/api/v1/log/key")
    assert r.status_code == 200, r.text
    key = r.json()
    vkey = VerifierKey.parse(key["vkey"])
    assert vkey == SignerKey.parse(key_file.read_text()).verifier()
    assert key["origin"] == vkey.name == origin_for(ledger.env.domain.chain_id, ledger.contract)
    assert "/api/v1/log/key" in client.get("/openapi.json").json()["paths"]
    page = client.get("/verify").text
    assert key["vkey"] in page and "None" not in page.split('id="rpc"')[1].split(">")[0]
    # `bangfu checkpoint check` with no --log-key: the published key, pinned on first use
    state = tmp_path / "seen.json"
    settings = ledger.env.settings
    res = check_url("http://testserver", state, settings=settings, http=client)
    assert res.size == row.size and "pinned now" in res.key_source
    assert json.loads(state.read_text())["log_keys"] == {vkey.name: key["vkey"]}
    res = check_url("http://testserver", state, settings=settings, http=client)
    assert "pinned in" in res.key_source
    # the configured quorum is required
    strict = settings.model_copy(
        update={
            "witness_keys": [SignerKey.generate("w", ALG_COSIGNATURE_V1).verifier().encode()],
            "witness_quorum": 1,
        }
    )
    with pytest.raises(ProofError) as info:
        check_url("http://testserver", state, settings=strict, http=client)
    assert info.value.code == "quorum_not_met"
    # another key for the same log is refused, configured or pinned
    other = SignerKey.generate(vkey.name).verifier().encode()
    with pytest.raises(ProofError) as info:
        check_url("http://testserver", state, other, settings=settings, http=client)
    assert info.value.code == "checkpoint_unsigned"
    key_file.write_text(SignerKey.generate(vkey.name).encode() + "\n")
    with pytest.raises(ProofError) as info:
        check_url("http://testserver", state, settings=settings, http=client)
    assert info.value.code == "log_key_changed"


def test_bundle_block_is_where_the_log_had_that_size(client: TestClient, ledger: Ledger) -> None:
    """chain.block of a bundle at any past size: logSize()/logRoot() there are the bundle's."""
    rid = "0x" + ledger.records[0].id.hex()
    for size in range(1, len(ledger.records) + 1):
        bundle = client.get(f"/api/v1/proofs/bundle/{rid}", params={"size": size}).json()
        block = bundle["chain"]["block"]
        assert isinstance(block, int), bundle["chain"]
        assert ledger.env.ledger.log_size(block) == size
        assert "0x" + ledger.env.ledger.log_root(block).hex() == bundle["log"]["root"]


NODE_CHAIN_CHECK = """
import { verifyBundle, checkAgainstChain, verdict } from "./web/verifier.js";
const { rpc, bundles } = JSON.parse(await new Response(process.stdin).text());
const out = [];
for (const b of bundles) {
  const result = verifyBundle(b);
  let chain;
  try {
    chain = { name: "chain", ok: true, detail: await checkAgainstChain(rpc, result, b) };
  } catch (e) {
    chain = { name: "chain", ok: false, code: e.code, detail: e.message };
  }
  out.push({ structure: result.ok, offline: verdict(result, null).status,
             anchored: verdict(result, chain).status, code: chain.code || null,
             detail: chain.detail });
}
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_browser_verifier_anchors_on_the_chain(client: TestClient, ledger: Ledger) -> None:
    """web/verifier.js's chain check against the real anvil: a genuine bundle is verified only
    with it; the fabricated one is well formed, never OK, and refused by the chain."""
    if not (PROJECT_ROOT / "node_modules" / "@noble" / "curves").is_dir():
        pytest.skip("npm ci has not installed @noble/curves")
    genuine = client.get(f"/api/v1/proofs/bundle/0x{ledger.records[1].id.hex()}").json()
    older = client.get(
        f"/api/v1/proofs/bundle/0x{ledger.records[1].id.hex()}", params={"size": 3}
    ).json()
    run = subprocess.run(
        ["node", "--no-warnings", "--input-type=module", "-e", NODE_CHAIN_CHECK],
        input=json.dumps({"rpc": ledger.rpc, "bundles": [genuine, older, _fabricated(ledger)]}),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    ok, past, fake = json.loads(run.stdout)
    assert ok["structure"] and ok["offline"] == "unanchored" and ok["anchored"] == "ok", ok
    assert "ORG" in ok["detail"] and "logRoot()" in ok["detail"]
    assert past["anchored"] == "ok", past  # read at the bundle's own block
    assert fake["structure"] and fake["offline"] == "unanchored"
    assert fake["anchored"] == "fail" and fake["code"] == "root_mismatch", fake
