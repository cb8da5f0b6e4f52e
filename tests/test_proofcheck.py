"""Tests for the standalone bundle checker ledger/proofcheck.py."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger import proofcheck
from ledger.merkle import MerkleTree, leaf_hash
from ledger.proofcheck import ProofCheckError, check_consistency, check_inclusion, verify_bundle

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962.json").read_text())
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


def make_bundle() -> tuple[dict[str, Any], MerkleTree]:
    """A log of 40 records; record 12 is a batch whose root commits to 1000 delivery lines."""
    lines = [f"line {i}: 10 kg rice to household {i}".encode() for i in range(1000)]
    batch = MerkleTree(leaf_hash(x) for x in lines)
    batch_root = batch.root()
    records = [f"record {i}".encode() for i in range(52)]
    records[12] = b"\x01batch" + batch_root + b"signature"
    log = MerkleTree(leaf_hash(r) for r in records)
    bundle = {
        "format": "bangfu-proof/1",
        "record": {"bytes": hx(records[12]), "leaf_hash": hx(leaf_hash(records[12])), "index": 12},
        "log": {
            "size": 40,
            "root": hx(log.root(40)),
            "inclusion": [hx(p) for p in log.inclusion_proof(12, 40)],
        },
        "batch": {
            "line_bytes": hx(lines[3]),
            "line_index": 3,
            "line_count": 1000,
            "batch_root": hx(batch_root),
            "inclusion": [hx(p) for p in batch.inclusion_proof(3)],
        },
        "consistency": {
            "old_size": 40,
            "old_root": hx(log.root(40)),
            "new_size": 52,
            "new_root": hx(log.root(52)),
            "proof": [hx(p) for p in log.consistency_proof(40, 52)],
        },
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
    assert summary["index"] == 12 and summary["log_size"] == 40
    assert summary["batch"]["line_index"] == 3
    assert summary["consistency"]["new_size"] == 52
    assert summary["root_checked"] is None
    assert verify_bundle(bundle, hx(log.root(40)))["root_checked"] == "log.root"
    assert verify_bundle(bundle, hx(log.root(52)))["root_checked"] == "consistency.new_root"
    minimal = dict(bundle, batch=None, consistency=None)
    assert verify_bundle(minimal, log.root(40).hex())["root_checked"] == "log.root"


def test_consistency_from_an_older_root() -> None:
    bundle, log = make_bundle()
    bundle["consistency"] = {
        "old_size": 7,
        "old_root": hx(log.root(7)),
        "new_size": 40,
        "new_root": hx(log.root(40)),
        "proof": [hx(p) for p in log.consistency_proof(7, 40)],
    }
    assert verify_bundle(bundle)["consistency"]["old_size"] == 7
    # The older root is not the chain's current root: a root check against it must fail.
    with pytest.raises(ProofCheckError):
        verify_bundle(bundle, hx(log.root(7)))


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


@pytest.mark.parametrize(
    ("desc", "bundle", "root"), mutations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_rejections(desc: str, bundle: dict[str, Any], root: str | None) -> None:
    with pytest.raises(ProofCheckError) as info:
        verify_bundle(bundle, root)
    assert str(info.value)


# The same RFC 6962 known answers and rejections as test_merkle, against the independent copy.


def h(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


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
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((leaf, index, size, flipped, root))
    for args in bad:
        with pytest.raises(ProofCheckError):
            check_inclusion(*args)


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
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((old, new, r1, r2, flipped))
    for args in bad:
        with pytest.raises(ProofCheckError):
            check_consistency(*args)


def test_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, log = make_bundle()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert proofcheck.main([str(path), "--root", hx(log.root(40))]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["ok"] is True
    assert "OK" in out.err
    assert proofcheck.main([str(path), "--root", hx(SOME_HASH)]) == 1
    assert "FAILED" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert proofcheck.main([str(tmp_path / "broken.json")]) == 1


def test_runs_as_a_copied_script(tmp_path: Path) -> None:
    """A member of the public copies the one file and runs it, with no project on the path."""
    script = tmp_path / "proofcheck.py"
    shutil.copy(SOURCE, script)
    bundle, log = make_bundle()
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    run = subprocess.run(
        [sys.executable, "-I", str(script), "bundle.json", "--root", hx(log.root(52))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["root_checked"] == "consistency.new_root"
    bundle["record"]["index"] = 13
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    run = subprocess.run(
        [sys.executable, "-I", str(script), "bundle.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "FAILED" in run.stderr
