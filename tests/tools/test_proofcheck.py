"""Tests for the standalone bundle checker ledger/tools/proofcheck.py."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from typer.testing import CliRunner

from ledger.cli.commands.verify import verify_file
from ledger.cli.main import app as cli
from ledger.config import PROJECT_ROOT
from ledger.core.aid_kinds import Delivery, DeliveryBatch
from ledger.core.eip712 import Domain
from ledger.core.errors import ProofError
from ledger.core.lines import new_id
from ledger.core.merkle import MerkleTree, leaf_hash
from ledger.core.record_types import RECORD_TYPES
from ledger.core.records import sha256
from ledger.store.proofs import consistency_section
from ledger.tools import proofcheck
from ledger.tools.proofcheck import (
    ProofCheckError,
    check_batch_binding,
    check_consistency,
    check_inclusion,
    verify_bundle,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rfc6962.json").read_text())
VERIFIER = json.loads((Path(__file__).parent.parent / "vectors" / "verifier.json").read_text())
ANCHOR = VERIFIER["anchor"]
DOMAIN = Domain(31337, "0x" + "Ab" * 20)
KEY = Account.create()
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]
ROOTS = {int(k): bytes.fromhex(v) for k, v in VECTORS["roots"].items()}
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
SOURCE = Path(proofcheck.__file__)


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def flip_hex(value: str, bit: int = 3) -> str:
    raw = bytearray(bytes.fromhex(value[2:]))
    raw[0] ^= 1 << bit
    return hx(bytes(raw))


def log_section(log: MerkleTree, index: int, size: int) -> dict[str, Any]:
    """A bundle's `log`: leaf `index` included in the log's first `size` leaves."""
    return {
        "size": size,
        "root": hx(log.root(size)),
        "inclusion": [hx(p) for p in log.inclusion_proof(index, size)],
    }


def make_bundle() -> tuple[dict[str, Any], MerkleTree]:
    """A log of 40 records; record 12 is a batch whose root commits to 1000 delivery lines."""
    lines = [f"line {i}: 10 kg rice to household {i}".encode() for i in range(1000)]
    batch = MerkleTree(leaf_hash(x) for x in lines)
    batch_root = batch.root()
    records = [f"record {i}".encode() for i in range(52)]
    record = DeliveryBatch(
        id=new_id(KEY.address),
        commitment_ids=(sha256(b"c1"), sha256(b"c2")),
        quantities=(600, 400),
        line_count=1000,
        batch_root=batch_root,
        evidence_hash=sha256(b"sheet"),
    )
    records[12] = record.sign(KEY.key, DOMAIN).canonical_bytes()
    log = MerkleTree(leaf_hash(r) for r in records)
    bundle = {
        "format": "bangfu-proof/1",
        "record": {"bytes": hx(records[12]), "leaf_hash": hx(leaf_hash(records[12])), "index": 12},
        "log": log_section(log, 12, 40),
        "batch": {
            "line_bytes": hx(lines[3]),
            "line_index": 3,
            "line_count": 1000,
            "batch_root": hx(batch_root),
            "inclusion": [hx(p) for p in batch.inclusion_proof(3)],
        },
        "consistency": consistency_section(log, 40, 52),
        "chain": {"chain_id": 31337, "contract": "0x" + "ab" * 20, "block": 123},
    }
    return bundle, log


def test_standalone_imports_only_stdlib() -> None:
    tree = ast.parse(SOURCE.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            modules.add((node.module or "").split(".")[0])
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules


def test_good_bundle() -> None:
    bundle, log = make_bundle()
    summary = verify_bundle(bundle)
    assert summary["ok"] is True
    # well formed, but nothing anchors it: not verified, and it says what it did not check
    assert summary["anchored"] is False and summary["root_checked"] is None
    assert any("log root" in line for line in summary["not_checked"])
    assert summary["index"] == 12 and summary["log_size"] == 40
    assert summary["batch"]["line_index"] == 3
    assert summary["record"]["kind_name"] == "DeliveryBatch"
    assert summary["consistency"]["new_size"] == 52
    anchored = verify_bundle(bundle, hx(log.root(40)))
    assert anchored["root_checked"] == "log.root" and anchored["anchored"] is True
    assert verify_bundle(bundle, hx(log.root(52)))["root_checked"] == "consistency.new_root"
    minimal = dict(bundle, batch=None, consistency=None)
    assert verify_bundle(minimal, log.root(40).hex())["root_checked"] == "log.root"


def test_consistency_from_an_older_root() -> None:
    bundle, log = make_bundle()
    bundle["consistency"] = consistency_section(log, 7, 40)
    assert verify_bundle(bundle)["consistency"]["old_size"] == 7
    # The older root is not the chain's current root: a root check against it must fail.
    with pytest.raises(ProofCheckError):
        verify_bundle(bundle, hx(log.root(7)))
    # trusted at size 7 (say, a witnessed checkpoint), it covers leaves 0..6 only
    with pytest.raises(ProofCheckError) as info:
        verify_bundle(bundle, hx(log.root(7)), 7)
    assert info.value.code == "root_mismatch"
    bundle["record"]["index"] = 5
    bundle["record"]["bytes"] = hx(b"record 5")
    bundle["record"]["leaf_hash"] = hx(leaf_hash(b"record 5"))
    bundle["log"]["inclusion"] = [hx(p) for p in log.inclusion_proof(5, 40)]
    bundle["batch"] = None
    with pytest.raises(ProofCheckError) as info:  # fake record bytes do not parse
        verify_bundle(bundle, hx(log.root(7)), 7)
    assert info.value.code == "bad_record"


def test_a_trusted_older_root_covers_the_leaves_inside_it() -> None:
    leaves = [leaf_hash(b"%d" % i) for i in range(20)]
    signed = Delivery(id=new_id(KEY.address), quantity=1).sign(KEY.key, DOMAIN)
    leaves[3] = signed.leaf_hash()
    log = MerkleTree(leaves)
    bundle = {
        "format": "bangfu-proof/1",
        "record": {"bytes": hx(signed.canonical_bytes()), "leaf_hash": hx(leaves[3]), "index": 3},
        "log": log_section(log, 3, 20),
        "batch": None,
        "consistency": consistency_section(log, 8, 20),
    }
    assert verify_bundle(bundle, hx(log.root(8)), 8)["root_checked"] == "consistency.old_root"
    assert verify_bundle(bundle, hx(log.root(20)))["root_checked"] == "log.root"
    with pytest.raises(ProofCheckError):
        verify_bundle(bundle, hx(log.root(8)), 9)


def mutations() -> list[tuple[str, dict[str, Any], str | None]]:
    good, log = make_bundle()
    out: list[tuple[str, dict[str, Any], str | None]] = []

    def case(desc: str, root: str | None = None) -> dict[str, Any]:
        b = copy.deepcopy(good)
        out.append((desc, b, root))
        return b

    case("wrong leaf")["record"]["bytes"] = hx(b"another record")
    case("wrong leaf hash")["record"]["leaf_hash"] = hx(SOME_HASH)
    case("index - 1")["record"]["index"] = 11
    case("index + 1")["record"]["index"] = 13
    case("size * 2")["log"]["size"] = 80
    case("size - 1")["log"]["size"] = 39
    case("wrong root")["log"]["root"] = hx(SOME_HASH)
    case("root from the chain differs", hx(SOME_HASH))
    case("old root given as chain root", hx(log.root(39)))
    n = len(good["log"]["inclusion"])
    for i in range(n):
        case(f"log.inclusion[{i}] flipped")["log"]["inclusion"][i] = flip_hex(
            good["log"]["inclusion"][i]
        )
    case("log.inclusion extra")["log"]["inclusion"].append(good["log"]["root"])
    case("log.inclusion missing")["log"]["inclusion"].pop()
    case("log.inclusion short element")["log"]["inclusion"][0] = "0x00"
    case("line bytes changed")["batch"]["line_bytes"] = hx(b"line 3: 99 kg rice")
    case("line index + 1")["batch"]["line_index"] = 4
    case("line index - 1")["batch"]["line_index"] = 2
    case("line count * 2")["batch"]["line_count"] = 2000
    for i in range(len(good["batch"]["inclusion"])):
        case(f"batch.inclusion[{i}] flipped")["batch"]["inclusion"][i] = flip_hex(
            good["batch"]["inclusion"][i]
        )
    case("batch.inclusion extra")["batch"]["inclusion"].append(good["batch"]["batch_root"])
    case("batch.inclusion missing")["batch"]["inclusion"].pop()
    case("line count - 1")["batch"]["line_count"] = 999
    # A valid batch proof whose root the record does not commit to.
    other = MerkleTree(leaf_hash(b"x%d" % i) for i in range(4))
    b = case("batch root not in the record")
    b["batch"].update(
        line_bytes=hx(b"x1"),
        line_index=1,
        line_count=4,
        batch_root=hx(other.root()),
        inclusion=[hx(p) for p in other.inclusion_proof(1)],
    )
    for i in range(len(good["consistency"]["proof"])):
        case(f"consistency.proof[{i}] flipped")["consistency"]["proof"][i] = flip_hex(
            good["consistency"]["proof"][i], 4
        )
    case("consistency extra")["consistency"]["proof"].append(good["consistency"]["new_root"])
    case("consistency missing")["consistency"]["proof"].pop()
    case("consistency wrong new root")["consistency"]["new_root"] = hx(SOME_HASH)
    case("consistency new size * 2")["consistency"]["new_size"] = 104
    b = case("consistency unrelated to the log")
    b["consistency"].update(old_size=41, old_root=hx(log.root(41)))
    case("bad format")["format"] = "bangfu-proof/2"
    case("negative index")["record"]["index"] = -1
    case("boolean size")["log"]["size"] = True
    case("not hex")["log"]["root"] = "0xzz"
    del case("no log")["log"]
    return out


MUTATIONS = mutations()


# Ids from the description alone: a bundle's roots are random, and pytest-xdist workers must
# collect the same ids.
@pytest.mark.parametrize(("desc", "bundle", "root"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_rejections(desc: str, bundle: dict[str, Any], root: str | None) -> None:
    with pytest.raises(ProofCheckError) as info:
        verify_bundle(bundle, root)
    assert str(info.value) and info.value.code in proofcheck.CODE_ZH


def test_batch_binding_compares_fields_not_bytes() -> None:
    good, _ = make_bundle()
    data = bytes.fromhex(good["record"]["bytes"][2:])
    root = bytes.fromhex(good["batch"]["batch_root"][2:])
    assert check_batch_binding(data, 1000, root)["line_count"] == 1000
    evidence = sha256(b"sheet")
    assert evidence in data  # present in the record, but as the evidenceHash
    with pytest.raises(ProofCheckError) as info:
        check_batch_binding(data, 1000, evidence)
    assert info.value.code == "batch_root_mismatch"
    with pytest.raises(ProofCheckError) as info:
        check_batch_binding(data, 999, root)
    assert info.value.code == "line_count_mismatch"
    delivery = Delivery(id=new_id(KEY.address), evidence_hash=root).sign(KEY.key, DOMAIN)
    with pytest.raises(ProofCheckError) as info:
        check_batch_binding(delivery.canonical_bytes(), 1000, root)
    assert info.value.code == "wrong_kind"
    # non-canonical encodings: trailing data, a wrong array offset
    for bad in (data[:-65] + bytes(32) + data[-65:], data[: 74 + 64] + b"\x01" + data[74 + 65 :]):
        with pytest.raises(ProofCheckError) as info:
            check_batch_binding(bad, 1000, root)
        assert info.value.code == "bad_record"


def test_chain_constants_are_the_contracts() -> None:
    for name, role in proofcheck.ROLE_IDS.items():
        assert keccak(text=name).hex() == role
    assert {
        "logSize()": keccak(text="logSize()")[:4].hex(),
        "logRoot()": keccak(text="logRoot()")[:4].hex(),
        "hasRole": keccak(text="hasRole(bytes32,address)")[:4].hex(),
    } == proofcheck.SELECTORS
    source = (PROJECT_ROOT / "contracts" / "AidLedger.sol").read_text()
    for name in proofcheck.ROLE_IDS:
        assert f'keccak256("{name}")' in source


# ------------------------------------------------------------ the shared rejection vectors


def vector_ids(v: dict[str, Any]) -> str:
    return str(v["name"])


@pytest.mark.parametrize("v", VERIFIER["vectors"], ids=vector_ids)
def test_verifier_vectors(v: dict[str, Any]) -> None:
    """Each vector gives its structure result offline and its result against the anchor."""
    if v["structure"] == "ok":
        summary = verify_bundle(v["bundle"])
        assert summary["anchored"] is False  # never OK offline
    else:
        with pytest.raises(ProofCheckError) as info:
            verify_bundle(v["bundle"])
        assert info.value.code == v["structure"]
    if v["anchored"] == "ok":
        assert verify_bundle(v["bundle"], ANCHOR["root"], ANCHOR["size"])["anchored"] is True
    else:
        with pytest.raises(ProofCheckError) as info:
            verify_bundle(v["bundle"], ANCHOR["root"], ANCHOR["size"])
        assert info.value.code == v["anchored"]


def test_vectors_are_of_the_current_record_encoding() -> None:
    current = {str(int(k)): cls.type_string() for k, cls in RECORD_TYPES.items()}
    assert VERIFIER["type_strings"] == current, (
        "tests/vectors/verifier.json holds records of another encoding: rerun "
        ".venv/bin/python scripts/make_verifier_vectors.py"
    )


def test_vectors_cover_what_the_issue_names() -> None:
    by_name = {v["name"]: v for v in VERIFIER["vectors"]}
    kinds = {
        "project_anchor",
        "commitment",
        "delivery",
        "receipt",
        "flag",
        "delivery_batch",
        "batch_line",
    }
    assert {f"genuine_{k}" for k in kinds} <= set(by_name)
    assert by_name["substring"]["structure"] == "batch_root_mismatch"
    assert by_name["wrong_kind"]["structure"] == "wrong_kind"
    assert by_name["wrong_line_count"]["structure"] == "line_count_mismatch"
    assert by_name["fabricated"]["structure"] == "ok"
    assert by_name["fabricated"]["anchored"] == "root_mismatch"
    # the substring case: the presented root is in the record bytes, at the wrong field
    sub = by_name["substring"]["bundle"]
    assert sub["batch"]["batch_root"][2:] in sub["record"]["bytes"]


@pytest.mark.parametrize("v", VERIFIER["vectors"], ids=vector_ids)
def test_bangfu_verify_reads_the_vectors(v: dict[str, Any], tmp_path: Path) -> None:
    """`bangfu verify`: the same results, plus the signature; OK only with an anchor."""
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(v["bundle"]))
    if v["structure"] != "ok":
        with pytest.raises(ProofError) as info:
            verify_file(path)
        assert info.value.code == v["structure"]
        assert info.value.message.split(" / ")[0] == proofcheck.CODE_ZH[v["structure"]]
        return
    summary = verify_file(path)
    assert summary["verdict"] == "not_verified" and summary["anchored"] is False
    assert any("日志根" in line for line in summary["not_checked"])
    if v["anchored"] == "ok":
        summary = verify_file(path, ANCHOR["root"], size=ANCHOR["size"])
        assert summary["verdict"] == "ok" and summary["not_checked"] == [
            "签名者角色 the signer's role on chain (pass --rpc)"
        ]
    else:
        with pytest.raises(ProofError) as info:
            verify_file(path, ANCHOR["root"], size=ANCHOR["size"])
        assert info.value.code == v["anchored"]


def test_bangfu_verify_exit_codes(tmp_path: Path) -> None:
    by_name = {v["name"]: v for v in VERIFIER["vectors"]}
    path = tmp_path / "bundle.json"
    runner = CliRunner()
    path.write_text(json.dumps(by_name["fabricated"]["bundle"]))
    res = runner.invoke(cli, ["verify", str(path)])
    assert res.exit_code == 2, res.output
    assert "未核验 NOT VERIFIED" in res.output and "通过 OK" not in res.output
    res = runner.invoke(cli, ["verify", str(path), "--structure-only"])
    assert res.exit_code == 0, res.output
    assert "仅结构 STRUCTURE ONLY" in res.output and "不能说明记录真实" in res.output
    res = runner.invoke(
        cli, ["verify", str(path), "--root", ANCHOR["root"], "--size", str(ANCHOR["size"])]
    )
    assert res.exit_code != 0 and "通过 OK" not in res.output
    path.write_text(json.dumps(by_name["genuine_receipt"]["bundle"]))
    res = runner.invoke(cli, ["verify", str(path), "--root", ANCHOR["root"], "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["verdict"] == "ok"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_browser_verifier_reads_the_same_vectors() -> None:
    """web/verifier.js against tests/vectors/verifier.json (tests/js/verifier.test.mjs)."""
    if not (PROJECT_ROOT / "node_modules" / "@noble" / "curves").is_dir():
        pytest.skip("npm ci has not installed @noble/curves")
    run = subprocess.run(
        ["node", "--no-warnings", "--test", "tests/js/"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and f"# pass {len(VERIFIER['vectors']) + 7}" in run.stdout


# The same RFC 6962 known answers and rejections as test_merkle, against the independent copy.


def h(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


def each_hash_flipped(proof: list[bytes], bit: int) -> list[list[bytes]]:
    """`proof` with one of its hashes changed in `bit` of its first byte, for each hash."""
    return [[*proof[:i], bytes([p[0] ^ bit]) + p[1:], *proof[i + 1 :]] for i, p in enumerate(proof)]


def assert_all_refused(check: Callable[..., object], cases: list[tuple[Any, ...]]) -> None:
    for args in cases:
        with pytest.raises(ProofCheckError):
            check(*args)


@pytest.mark.parametrize("v", VECTORS["inclusion"])
def test_inclusion_vectors(v: dict[str, Any]) -> None:
    index, size, proof = v["index"], v["size"], h(v["proof"])
    root, leaf = ROOTS[size], LEAVES[index]
    check_inclusion(leaf, index, size, proof, root)
    bad = [
        (leaf_hash(b"WrongLeaf"), index, size, proof, root),
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, root], root),
    ]
    if proof:
        bad.append((leaf, index, size, proof[:-1], root))
    bad += [(leaf, index, size, flipped, root) for flipped in each_hash_flipped(proof, 8)]
    assert_all_refused(check_inclusion, bad)


@pytest.mark.parametrize("v", VECTORS["consistency"])
def test_consistency_vectors(v: dict[str, Any]) -> None:
    old, new, proof = v["old_size"], v["new_size"], h(v["proof"])
    r1, r2 = ROOTS[old], ROOTS[new]
    check_consistency(old, new, r1, r2, proof)
    if not proof:
        return
    bad = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, proof[:-1]),
    ]
    bad += [(old, new, r1, r2, flipped) for flipped in each_hash_flipped(proof, 16)]
    assert_all_refused(check_consistency, bad)


def test_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, log = make_bundle()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert proofcheck.main([str(path), "--root", hx(log.root(40))]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["anchored"] is True
    assert "通过 OK" in out.err
    assert proofcheck.main([str(path), "--root", hx(SOME_HASH)]) == 1
    err = capsys.readouterr().err
    assert "未通过 FAILED [root_mismatch] 日志根与信任锚不符 / " in err
    # no anchor: what was checked and what was not, never OK, exit 2
    assert proofcheck.main([str(path)]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["anchored"] is False
    assert "未核验 NOT VERIFIED" in out.err and "通过 OK" not in out.err
    assert "未检查 not checked" in out.err and "✔ 批量行 batch line 3 of 1000" in out.err
    assert proofcheck.main([str(path), "--structure-only"]) == 0
    out = capsys.readouterr()
    assert "仅结构 STRUCTURE ONLY" in out.err and "通过 OK" not in out.err
    (tmp_path / "broken.json").write_text("{not json")
    assert proofcheck.main([str(tmp_path / "broken.json")]) == 1


def test_runs_as_a_copied_script(tmp_path: Path) -> None:
    """A member of the public copies the one file and runs it, with no project on the path."""
    script = tmp_path / "proofcheck.py"
    shutil.copy(SOURCE, script)

    def check(bundle: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
        """The copied script run in isolated mode (-I) on `bundle`, from its folder."""
        (tmp_path / "bundle.json").write_text(json.dumps(bundle))
        return subprocess.run(
            [sys.executable, "-I", str(script), "bundle.json", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    bundle, log = make_bundle()
    run = check(bundle, "--root", hx(log.root(52)))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["root_checked"] == "consistency.new_root"
    bundle["record"]["index"] = 13
    run = check(bundle)
    assert run.returncode == 1 and "FAILED" in run.stderr
    by_name = {v["name"]: v for v in VERIFIER["vectors"]}
    for name, status in (("fabricated", 2), ("substring", 1), ("genuine_batch_line", 2)):
        run = check(by_name[name]["bundle"])
        assert run.returncode == status, (name, run.stderr)
