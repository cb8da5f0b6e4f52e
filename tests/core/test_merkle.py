"""Tests for ledger.merkle: RFC 6962 known answers, rejection of tampered proofs, properties."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import merkle
from ledger.core.errors import NotFoundError, ProofError
from ledger.core.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rfc6962.json").read_text())
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]
ROOTS = {int(k): bytes.fromhex(v) for k, v in VECTORS["roots"].items()}
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def h(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursion and all."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def flip(proof: list[bytes], i: int, bit: int = 3) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ (1 << bit)]) + out[i][1:]
    return out


# ---------------------------------------------------------------------------- known answers


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


@pytest.mark.parametrize("size", range(9))
def test_roots_known_answers(size: int) -> None:
    expected = ROOTS[size]
    assert merkle.root(LEAVES[:size]) == expected
    assert MerkleTree(LEAVES).root(size) == expected
    assert MerkleTree(LEAVES[:size]).root() == expected
    assert Frontier(LEAVES[:size]).root() == expected
    assert reference_root(LEAVES[:size]) == expected


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}of{v['size']}")
def test_inclusion_known_answers(vector: dict[str, Any]) -> None:
    index, size, proof = vector["index"], vector["size"], h(vector["proof"])
    assert merkle.inclusion_proof(LEAVES[:size], index) == proof
    assert MerkleTree(LEAVES).inclusion_proof(index, size) == proof
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
    assert merkle.root_from_inclusion(LEAVES[index], index, size, proof) == ROOTS[size]


@pytest.mark.parametrize(
    "vector", VECTORS["consistency"], ids=lambda v: f"{v['old_size']}to{v['new_size']}"
)
def test_consistency_known_answers(vector: dict[str, Any]) -> None:
    old, new, proof = vector["old_size"], vector["new_size"], h(vector["proof"])
    assert merkle.consistency_proof(LEAVES[:new], old) == proof
    assert MerkleTree(LEAVES).consistency_proof(old, new) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


# ------------------------------------------------------------------------ rejection vectors


def inclusion_mutations(index: int, size: int, proof: list[bytes], root: bytes) -> list[Any]:
    leaf = LEAVES[index]
    cases = [
        ("wrong leaf", leaf_hash(b"WrongLeaf"), index, size, proof, root),
        ("index - 1", leaf, index - 1, size, proof, root),
        ("index + 1", leaf, index + 1, size, proof, root),
        ("size * 2", leaf, index, size * 2, proof, root),
        ("wrong root", leaf, index, size, proof, SOME_HASH),
        ("empty root", leaf, index, size, proof, EMPTY_ROOT),
        ("extra element", leaf, index, size, [*proof, root], root),
        ("preceding element", leaf, index, size, [root, *proof], root),
        ("short garbage element", leaf, index, size, [*proof, b""], root),
    ]
    if size > 1:
        cases.append(("size / 2", leaf, index, size // 2, proof, root))
    if proof:
        cases.append(("missing element", leaf, index, size, proof[:-1], root))
    for i in range(len(proof)):
        cases.append((f"flipped bit in [{i}]", leaf, index, size, flip(proof, i), root))
    return cases


INCLUSION_CASES = [
    (f"{v['index']}of{v['size']}: {c[0]}", *c[1:])
    for v in VECTORS["inclusion"]
    for c in inclusion_mutations(v["index"], v["size"], h(v["proof"]), ROOTS[v["size"]])
]


@pytest.mark.parametrize(("desc", "leaf", "index", "size", "proof", "root"), INCLUSION_CASES)
def test_inclusion_rejections(desc, leaf, index, size, proof, root) -> None:
    with pytest.raises(ProofError) as info:
        verify_inclusion(leaf, index, size, proof, root)
    assert info.value.code == "invalid_proof"
    assert info.value.message


def consistency_mutations(old: int, new: int, proof: list[bytes]) -> list[Any]:
    r1, r2 = ROOTS[old], ROOTS[new]
    cases = [
        ("old - 1", old - 1, new, r1, r2, proof),
        ("old + 1", old + 1, new, r1, r2, proof),
        ("new * 2", old, new * 2, r1, r2, proof),
        ("new / 2", old, new // 2, r1, r2, proof),
        ("wrong old root", old, new, SOME_HASH, r2, proof),
        ("wrong new root", old, new, r1, SOME_HASH, proof),
        ("swapped roots", old, new, r2, r1, proof),
        ("empty proof", old, new, r1, r2, []),
        ("extra element", old, new, r1, r2, [*proof, r2]),
        ("preceding element", old, new, r1, r2, [proof[0], *proof]),
        ("missing element", old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        cases.append((f"flipped bit in [{i}]", old, new, r1, r2, flip(proof, i, 4)))
    return cases


CONSISTENCY_CASES = [
    (f"{v['old_size']}to{v['new_size']}: {c[0]}", *c[1:])
    for v in VECTORS["consistency"]
    if v["proof"]
    for c in consistency_mutations(v["old_size"], v["new_size"], h(v["proof"]))
]


@pytest.mark.parametrize(("desc", "old", "new", "r1", "r2", "proof"), CONSISTENCY_CASES)
def test_consistency_rejections(desc, old, new, r1, r2, proof) -> None:
    with pytest.raises(ProofError):
        verify_consistency(old, new, r1, r2, proof)


def test_consistency_edge_cases() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    with pytest.raises(ProofError) as info:
        verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert info.value.code == "inconsistent_checkpoint"
    with pytest.raises(ProofError):
        verify_consistency(3, 3, ROOTS[3], ROOTS[3], [EMPTY_ROOT])
    with pytest.raises(ProofError):
        verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [EMPTY_ROOT])
    with pytest.raises(ProofError):
        verify_consistency(5, 3, ROOTS[5], ROOTS[3], [])
    with pytest.raises(ProofError):
        verify_consistency(1, 2, b"short", ROOTS[2], [LEAVES[1]])


def test_inclusion_edge_cases() -> None:
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    for index, size in [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1)]:
        with pytest.raises(ProofError):
            verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)
    with pytest.raises(ProofError):
        verify_inclusion(b"", 0, 1, [], b"")


# ------------------------------------------------------------------------- tree behaviour


def test_tree_api() -> None:
    tree = MerkleTree()
    assert tree.size == 0 and tree.root() == EMPTY_ROOT
    assert [tree.append(x) for x in LEAVES[:3]] == [0, 1, 2]
    tree.extend(LEAVES[3:])
    assert tree.size == len(tree) == 8
    assert tree.leaf(5) == LEAVES[5]
    assert tree.consistency_proof(0) == [] and tree.consistency_proof(8) == []
    for bad in (lambda: tree.leaf(8), lambda: tree.root(9), lambda: tree.inclusion_proof(3, 3)):
        with pytest.raises(NotFoundError):
            bad()
    with pytest.raises(NotFoundError):
        tree.consistency_proof(5, 4)
    with pytest.raises(ValueError):
        tree.append(b"short")


def test_frontier_nodes() -> None:
    f = Frontier(LEAVES[:7])
    assert f.size == 7
    assert [level for level, _ in f.nodes] == [2, 1, 0]
    tree = MerkleTree(LEAVES)
    assert f.nodes[0][1] == tree.root(4)
    assert f.nodes[2][1] == LEAVES[6]


def test_large_tree_is_fast() -> None:
    hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(100_000)]
    tree = MerkleTree(hashes)
    frontier = Frontier(hashes)
    assert tree.root() == frontier.root()
    for size in (1, 2, 3, 65_537, 99_999, 100_000):
        root = tree.root(size)
        verify_inclusion(
            hashes[size - 1], size - 1, size, tree.inclusion_proof(size - 1, size), root
        )
        verify_consistency(size, 100_000, root, tree.root(), tree.consistency_proof(size))


# ------------------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=8), max_size=70, unique=True),
    data=st.data(),
)
def test_tree_matches_reference_and_proofs_verify(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    tree = MerkleTree()
    frontier = Frontier()
    for x in hashes:
        tree.append(x)
        frontier.append(x)
    assert tree.root() == reference_root(hashes) == frontier.root() == merkle.root(hashes)
    if not hashes:
        return
    n = len(hashes)
    for _ in range(5):
        size = data.draw(st.integers(1, n), label="size")
        old = data.draw(st.integers(0, size), label="old")
        index = data.draw(st.integers(0, size - 1), label="index")
        root = tree.root(size)
        assert root == reference_root(hashes[:size])
        proof = tree.inclusion_proof(index, size)
        verify_inclusion(hashes[index], index, size, proof, root)
        assert proof == merkle.inclusion_proof(hashes[:size], index)
        cproof = tree.consistency_proof(old, size)
        verify_consistency(old, size, tree.root(old), root, cproof)
        assert cproof == merkle.consistency_proof(hashes[:size], old)
        if index + 1 < size:
            with pytest.raises(ProofError):
                verify_inclusion(hashes[index], index + 1, size, proof, root)
