"""Writes tests/vectors/verifier.json: proof bundles that every verifier must accept or refuse.

The stdlib verifier (ledger/tools/proofcheck.py), `bangfu verify` and the browser verifier
(web/verifier.js) read the same file (tests/tools/test_proofcheck.py, tests/js/verifier.test.mjs).
It starts a private anvil, deploys AidLedger, registers a county, an organization and an
auditor, submits real records of every kind — among them three crafted ones, each accepted by
the contract — and reads logSize()/logRoot() back from the chain; then it writes:

- accepted: a genuine bundle for each kind, a genuine batch line, one with a consistency
  proof to a newer size;
- refused, every one a real record on the chain:
  - ``substring``: a DeliveryBatch whose evidenceHash is another batch's root, presenting that
    batch's line (the old byte search accepted it);
  - ``wrong_kind``: a Delivery whose evidenceHash is a batch root, presenting a line of it;
  - ``wrong_line_count``: a DeliveryBatch signed with lineCount k+1 over a tree of k lines;
- ``fabricated``: a record signed by a fresh, unregistered key in a self-consistent tree that
  the chain never had: well formed, so it must not be OK offline, and refused by the anchor;
- bit flips, wrong index, wrong size, wrong line index of the genuine ones.

Each vector says what the structure check gives (``"ok"`` or a failure code) and what the
trust anchor — the chain root written beside them — gives. Rerun after any change to the record
encoding (the vectors hold record bytes):

    .venv/bin/python scripts/make_verifier_vectors.py
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger.batches.build import build_batch  # noqa: E402
from ledger.core import aid_kinds, records  # noqa: E402
from ledger.core.fields import (  # noqa: E402
    FlagReason,
    ProjectKind,
    ResourceKind,
    text32,
)
from ledger.core.lines import (  # noqa: E402
    DeliveryLine,
    new_id,
    scoped_id,
)
from ledger.core.merkle import (  # noqa: E402
    MerkleTree,
    leaf_hash,
)
from ledger.core.record_types import RECORD_TYPES  # noqa: E402
from ledger.core.records import sha256  # noqa: E402
from ledger.tools.proofcheck import ProofCheckError, verify_bundle  # noqa: E402
from tests.factories import COUNTY_A, start_env  # noqa: E402

OUT = ROOT / "tests" / "vectors" / "verifier.json"


def hx(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def flip(value: str, byte: int = 0, bit: int = 0) -> str:
    raw = bytearray.fromhex(value.removeprefix("0x"))
    raw[byte % len(raw)] ^= 1 << bit
    return hx(bytes(raw))


def lines_for(commitment: bytes, n: int, tag: str) -> list[DeliveryLine]:
    return [
        DeliveryLine(
            commitment_id=commitment,
            item="大米",
            quantity=2,
            unit="斤",
            delivered_at=1_767_225_600 + i,
            beneficiary=sha256(f"{tag} household {i}".encode()),
            evidence_hash=sha256(f"{tag} photo {i}".encode()),
        )
        for i in range(n)
    ]


def anchor(county: str) -> aid_kinds.ProjectAnchor:
    fields: dict[str, Any] = {
        "id": new_id(county),
        "project_id": new_id(county),
        "project_kind": ProjectKind.NEED,
        "county": COUNTY_A,
        "category": 1,
        "content_hash": sha256(b"need: rice for 40 households"),
        "version": 1,
    }
    names = {f.name for f in dataclasses.fields(aid_kinds.ProjectAnchor)}
    # the human-readable fields, where the record schema has them
    extra = {"title": "册亨县 40 户口粮", "budget": 2_000_000, "end_date": 20261231}
    fields.update({k: v for k, v in extra.items() if k in names})
    return aid_kinds.ProjectAnchor(**fields)


def main() -> int:
    # No options; --help says what it writes instead of writing it.
    argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="bangfu-vectors-") as tmp:
        env = start_env(Path(tmp))
        try:
            return write(env)
        finally:
            env.chain.down()


def write(env: Any) -> int:
    a, d = env.actors, env.domain
    county, org, auditor = a.county_a, a.org_a, a.auditor
    log: list[records.SignedRecord] = []

    def submit(signed: records.SignedRecord) -> records.SignedRecord:
        env.ledger.submit(signed, a.relayers[0])
        log.append(signed)
        return signed

    need = anchor(county.address)
    s_need = submit(need.sign(county.key, d))
    commit = aid_kinds.Commitment(
        id=new_id(org.address),
        need_id=need.project_id,
        match_id=new_id(org.address),
        resource_kind=ResourceKind.GOODS,
        quantity=1000,
        unit=text32("斤"),
        due_date=int(time.time()) + 365 * 86_400,
        terms_hash=sha256(b"terms"),
    )
    s_commit = submit(commit.sign(org.key, d))
    delivery = aid_kinds.Delivery(
        id=new_id(org.address),
        commitment_id=commit.id,
        quantity=30,
        delivered_at=1_767_225_600,
        evidence_hash=sha256(b"photo of rice delivered"),
        beneficiary_count=3,
        beneficiary_root=sha256(b"three households"),
    )
    s_delivery = submit(delivery.sign(org.key, d))
    s_receipt = submit(
        aid_kinds.Receipt(
            id=new_id(county.address),
            delivery_id=delivery.id,
            confirmed_quantity=30,
            note_hash=sha256(b"received"),
        ).sign(county.key, d)
    )
    s_flag = submit(
        aid_kinds.Flag(
            id=new_id(auditor.address),
            record_id=delivery.id,
            reason_code=FlagReason.EVIDENCE_MISMATCH,
            note_hash=sha256(b"blurry photo"),
        ).sign(auditor.key, d)
    )

    def batch_of(lines: list[DeliveryLine], **changes: Any) -> aid_kinds.DeliveryBatch:
        b = build_batch(lines, org.address, changes.pop("evidence_hash", bytes(32)))
        b = dataclasses.replace(b, **changes)
        return dataclasses.replace(b, id=scoped_id(org.address, sha256(b.abi_encoded())))

    lines1 = lines_for(commit.id, 6, "b1")
    tree1 = MerkleTree(x.leaf_hash() for x in lines1)
    b1 = batch_of(lines1, evidence_hash=sha256(b"batch 1 sheet"))
    s_b1 = submit(b1.sign(org.key, d))
    # substring: a batch of its own lines (as many), whose evidenceHash is batch 1's root
    lines2 = lines_for(commit.id, 6, "b2")
    b2 = batch_of(lines2, evidence_hash=b1.batch_root)
    s_b2 = submit(b2.sign(org.key, d))
    # wrong kind: a single delivery whose evidenceHash is batch 1's root
    d2 = dataclasses.replace(
        delivery, id=new_id(org.address), quantity=1, evidence_hash=b1.batch_root
    )
    s_d2 = submit(d2.sign(org.key, d))
    # wrong line count: signed lineCount 5 over a tree of 4 lines (the chain cannot tell)
    lines3 = lines_for(commit.id, 4, "b3")
    tree3 = MerkleTree(x.leaf_hash() for x in lines3)
    b3 = batch_of(lines3, line_count=5)
    s_b3 = submit(b3.sign(org.key, d))
    old_size = len(log)
    submit(dataclasses.replace(delivery, id=new_id(org.address), quantity=2).sign(org.key, d))

    size = env.ledger.log_size()
    block = env.w3.eth.block_number
    chain_root = env.ledger.log_root()
    tree = MerkleTree(s.leaf_hash() for s in log)
    assert size == len(log) and tree.root() == chain_root, "the local tree is not the chain's"
    chain = {"chain_id": d.chain_id, "contract": d.verifying_contract, "block": block}

    def bundle(signed: records.SignedRecord, n: int = size) -> dict[str, Any]:
        i = log.index(signed)
        return {
            "format": "bangfu-proof/1",
            "record": {
                "bytes": hx(signed.canonical_bytes()),
                "leaf_hash": hx(signed.leaf_hash()),
                "index": i,
            },
            "log": {
                "size": n,
                "root": hx(tree.root(n)),
                "inclusion": [hx(p) for p in tree.inclusion_proof(i, n)],
            },
            "batch": None,
            "consistency": None,
            "chain": {**chain, "block": block if n == size else None},
        }

    def line(
        signed: records.SignedRecord, lines: list[DeliveryLine], t: MerkleTree, k: int
    ) -> dict[str, Any]:
        out = bundle(signed)
        out["batch"] = {
            "line_bytes": hx(lines[k].line_bytes()),
            "line_index": k,
            "line_count": t.size,
            "batch_root": hx(t.root()),
            "inclusion": [hx(p) for p in t.inclusion_proof(k)],
        }
        return out

    vectors: list[dict[str, Any]] = []

    def add(name: str, description: str, b: dict[str, Any]) -> None:
        vectors.append({"name": name, "description": description, "bundle": b})

    for signed in (s_need, s_commit, s_delivery, s_receipt, s_flag, s_b1):
        add(f"genuine_{signed.kind.slug}", f"a genuine {signed.kind.slug} bundle", bundle(signed))
    genuine_line = line(s_b1, lines1, tree1, 3)
    add("genuine_batch_line", "line 3 of batch 1, under its DeliveryBatch", genuine_line)
    older = bundle(s_commit, old_size)
    older["consistency"] = {
        "old_size": old_size,
        "old_root": hx(tree.root(old_size)),
        "new_size": size,
        "new_root": hx(tree.root(size)),
        "proof": [hx(p) for p in tree.consistency_proof(old_size, size)],
    }
    add(
        "genuine_with_consistency",
        "a bundle at an older size, proven a prefix of the chain's",
        older,
    )
    add(
        "substring",
        "batch 2's evidenceHash is batch 1's root; batch 1's line is presented under batch 2",
        line(s_b2, lines1, tree1, 3),
    )
    add(
        "wrong_kind",
        "a Delivery whose evidenceHash is batch 1's root, presenting batch 1's line",
        line(s_d2, lines1, tree1, 2),
    )
    add(
        "wrong_line_count",
        "batch 3 signs lineCount 5 over a tree of 4 lines",
        line(s_b3, lines3, tree3, 1),
    )

    # fabricated: a fresh key, never registered, and a tree the chain never had
    fresh = Account.create()
    fake = dataclasses.replace(delivery, id=new_id(fresh.address), quantity=999)
    s_fake = fake.sign(fresh.key, d)
    fake_leaves = [leaf_hash(f"made-up record {i}".encode()) for i in range(size)]
    fake_leaves[2] = s_fake.leaf_hash()
    fake_tree = MerkleTree(fake_leaves)
    add(
        "fabricated",
        "a record signed by an unregistered key in a self-consistent fake tree of the chain's size",
        {
            "format": "bangfu-proof/1",
            "record": {
                "bytes": hx(s_fake.canonical_bytes()),
                "leaf_hash": hx(s_fake.leaf_hash()),
                "index": 2,
            },
            "log": {
                "size": size,
                "root": hx(fake_tree.root()),
                "inclusion": [hx(p) for p in fake_tree.inclusion_proof(2)],
            },
            "batch": None,
            "consistency": None,
            "chain": chain,
        },
    )

    # mutations of the genuine ones
    def mutate(
        name: str,
        description: str,
        base: dict[str, Any],
        *path: Any,
        value: Any = None,
        bit: tuple[int, int] | None = None,
    ) -> None:
        b = copy.deepcopy(base)
        node = b
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = flip(node[path[-1]], *bit) if bit else value
        add(name, description, b)

    base = bundle(s_delivery)
    n_inc = len(base["log"]["inclusion"])
    mutate("flip_record_bytes", "one bit of the record bytes", base, "record", "bytes", bit=(80, 2))
    mutate(
        "flip_record_signer", "one bit of the stated signer", base, "record", "bytes", bit=(60, 0)
    )
    mutate("flip_leaf_hash", "one bit of the leaf hash", base, "record", "leaf_hash", bit=(5, 7))
    mutate("flip_log_root", "one bit of the log root", base, "log", "root", bit=(31, 0))
    for k in range(n_inc):
        mutate(
            f"flip_inclusion_{k}",
            f"one bit of inclusion hash {k}",
            base,
            "log",
            "inclusion",
            k,
            bit=(k, 3),
        )
    mutate(
        "index_plus_one",
        "the wrong index",
        base,
        "record",
        "index",
        value=base["record"]["index"] + 1,
    )
    mutate(
        "index_minus_one",
        "the wrong index",
        base,
        "record",
        "index",
        value=base["record"]["index"] - 1,
    )
    mutate("size_plus_one", "the wrong log size", base, "log", "size", value=size + 1)
    mutate("size_minus_one", "the wrong log size", base, "log", "size", value=size - 1)
    mutate("index_outside", "an index outside the tree", base, "record", "index", value=size)
    mutate(
        "flip_line_bytes",
        "one bit of the line bytes",
        genuine_line,
        "batch",
        "line_bytes",
        bit=(40, 1),
    )
    mutate(
        "flip_batch_root",
        "one bit of the presented batch root",
        genuine_line,
        "batch",
        "batch_root",
        bit=(0, 0),
    )
    mutate(
        "flip_line_inclusion",
        "one bit of the line's inclusion proof",
        genuine_line,
        "batch",
        "inclusion",
        0,
        bit=(9, 4),
    )
    mutate(
        "line_index_plus_one", "the wrong line index", genuine_line, "batch", "line_index", value=4
    )
    mutate(
        "line_count_minus_one",
        "a line count the record does not sign",
        genuine_line,
        "batch",
        "line_count",
        value=5,
    )
    mutate(
        "flip_consistency",
        "one bit of the consistency proof",
        older,
        "consistency",
        "proof",
        0,
        bit=(1, 1),
    )

    anchor_root = hx(chain_root)
    for v in vectors:
        try:
            verify_bundle(v["bundle"])
            v["structure"] = "ok"
        except ProofCheckError as exc:
            v["structure"] = exc.code
            v["anchored"] = exc.code
            continue
        try:
            verify_bundle(v["bundle"], anchor_root, size)
            v["anchored"] = "ok"
        except ProofCheckError as exc:
            v["anchored"] = exc.code
    expect = {
        "substring": "batch_root_mismatch",
        "wrong_kind": "wrong_kind",
        "wrong_line_count": "line_count_mismatch",
    }
    for v in vectors:
        if v["name"] in expect:
            assert v["structure"] == expect[v["name"]], v
        elif v["name"] == "fabricated":
            assert v["structure"] == "ok" and v["anchored"] == "root_mismatch", v
        elif v["name"].startswith("genuine"):
            assert v["structure"] == "ok" and v["anchored"] == "ok", v
        else:  # a wrong size can be well formed (same path): only the anchor refuses it
            assert v["anchored"] != "ok", v
    doc = {
        "description": "Proof bundles every Bangfu Ledger verifier must accept or refuse: "
        "'structure' is the result without a trust anchor ('ok' = well formed, which is not "
        "'verified'), 'anchored' the result against the chain's root in 'anchor'. Made by "
        "scripts/make_verifier_vectors.py from a real anvil run.",
        "anchor": {**chain, "size": size, "root": anchor_root},
        # the record encoding the bytes were made with: a test refuses stale vectors
        "type_strings": {str(int(k)): cls.type_string() for k, cls in RECORD_TYPES.items()},
        "fabricated_signer": fresh.address,
        "vectors": vectors,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
