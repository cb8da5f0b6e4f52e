#!/usr/bin/env python3
"""Check a Bangfu Ledger proof bundle offline, with nothing but the Python standard library.

Usage: ``python proofcheck.py bundle.json [--root 0x<logRoot() read from the chain>]``

This file is meant to be copied out of the project and run by anyone. It deliberately imports
nothing from the ``ledger`` package and re-implements the RFC 9162 (RFC 6962 hashing) inclusion
and consistency verification instead of reusing ``ledger.core.merkle``: a checker that shares code
with the thing it checks would share its bugs, and a reader can audit these ~300 lines alone.
It is one file over 500 lines for the same reason: a verifier handed to the public must be a
single file they can read, copy and run, so it is not split into modules.

Bundle format (JSON; every hash and byte string is hex, ``0x`` prefix optional)::

    {
      "format": "bangfu-proof/1",
      "record": {"bytes": "0x..", "leaf_hash": "0x..", "index": 12},
      "log": {"size": 40, "root": "0x..", "inclusion": ["0x..", ...]},
      "batch": null | {"line_bytes": "0x..", "line_index": 3, "line_count": 1000,
                       "batch_root": "0x..", "inclusion": ["0x..", ...]},
      "consistency": null | {"old_size": 40, "old_root": "0x..",
                             "new_size": 52, "new_root": "0x..", "proof": ["0x..", ...]},
      "chain": {"chain_id": 31337, "contract": "0x..", "block": 123}
    }

- ``record.bytes`` are the canonical record bytes; ``record.leaf_hash`` must equal
  SHA-256(0x00 || bytes), and ``log.inclusion`` must prove that leaf at ``record.index`` in
  the tree of ``log.size`` leaves whose root is ``log.root``.
- ``batch`` (optional) proves one delivery line inside a batch: the line leaf
  SHA-256(0x00 || line_bytes) is at ``line_index`` in the batch tree of ``line_count`` leaves
  with root ``batch_root``; the record must be a DeliveryBatch (kind 6) whose signed
  ``batchRoot`` field *is* ``batch_root`` and whose ``lineCount`` field *is* ``line_count``.
  The record is parsed, field by field; its bytes are never searched.
- ``consistency`` (optional) proves that one of its two trees is the log above: either
  (``new_size``, ``new_root``) equal (``log.size``, ``log.root``) — an older, e.g. witnessed,
  root is a prefix of the log — or (``old_size``, ``old_root``) do, and the log is a prefix
  of a newer root, such as one read from the chain after the bundle was made.
- ``chain`` is informative: where to read ``logRoot()`` to compare.

A bundle proves nothing by itself: anyone can make a self-consistent tree around a record
signed by a key of their own. So the checker says OK only against a **trust anchor**:

- ``--rpc URL``: it reads ``eth_chainId``, ``logSize()`` and ``logRoot()`` of the contract the
  record names, at the bundle's block (else the latest), and checks the signer holds the role
  its kind needs (``hasRole``) — the contract only appends records whose signature and role it
  checked, so a root read from the chain vouches for every leaf under it;
- ``--root 0x..``: a ``logRoot()`` you read from the chain yourself (``--size N`` with it when
  it is the root of another size than the bundle's, e.g. of a checkpoint you trust).

``--root`` must equal ``log.root``, or the ``new_root`` of a consistency proof that starts at
the log (or, with ``--size``, the far end of a consistency proof whose other end is the log).
Without an anchor it lists what it checked and what it could not, and exits 2; with
``--structure-only`` it exits 0 after saying that only the structure was checked.
Exit status: 0 verified (or structure only, when asked), 1 rejected, 2 no trust anchor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

FORMAT = "bangfu-proof/1"
HASH_SIZE = 32


class ProofCheckError(Exception):
    """The bundle is malformed or one of its proofs does not verify; `code` names the check
    (the same codes as web/verifier.js, so tests/vectors/verifier.json serves both)."""

    def __init__(self, message: str, code: str = "bad_bundle") -> None:
        super().__init__(message)
        self.code = code


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _leaf(data: bytes) -> bytes:
    return _sha256(b"\x00" + data)


def _node(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right)


def _hex(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ProofCheckError(f"{what} must be a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ProofCheckError(f"{what} is not valid hex") from None
    if size is not None and len(raw) != size:
        raise ProofCheckError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofCheckError(f"{what} must be a non-negative integer")
    return value


def _hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise ProofCheckError(f"{what} must be a list of hex hashes")
    return [_hex(v, f"{what}[{i}]", HASH_SIZE) for i, v in enumerate(value)]


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProofCheckError(f"{what} must be a JSON object")
    return value


def check_inclusion(
    leaf_hash: bytes,
    index: int,
    size: int,
    proof: Sequence[bytes],
    root: bytes,
    code: str = "bad_inclusion",
) -> None:
    """RFC 9162 §2.1.3.2: raise ProofCheckError unless `proof` puts the leaf under `root`."""
    if index < 0 or index >= size:
        raise ProofCheckError(f"leaf index {index} is outside a tree of size {size}", code)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofCheckError("the inclusion proof has too many hashes", code)
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofCheckError("the inclusion proof has too few hashes", code)
    if r != root:
        raise ProofCheckError(
            f"the inclusion proof for leaf {index} of {size} leads to 0x{r.hex()}, "
            f"not to the root 0x{root.hex()}",
            code,
        )


def check_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise ProofCheckError unless the old tree is a prefix of the new."""
    if old_size < 0 or new_size < old_size:
        raise ProofCheckError(
            f"a log cannot shrink from {old_size} to {new_size} leaves", "bad_consistency"
        )
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofCheckError(
                f"the proof from size {old_size} to {new_size} must be empty", "bad_consistency"
            )
        if old_size == new_size and old_root != new_root:
            raise ProofCheckError(
                f"two different roots for the same size {old_size}", "bad_consistency"
            )
        return
    if not proof:
        raise ProofCheckError("the consistency proof is empty", "bad_consistency")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofCheckError("the consistency proof has too many hashes", "bad_consistency")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofCheckError("the consistency proof has too few hashes", "bad_consistency")
    if fr != old_root:
        raise ProofCheckError(
            f"the consistency proof does not match the root at size {old_size}", "bad_consistency"
        )
    if sr != new_root:
        raise ProofCheckError(
            f"the consistency proof does not match the root at size {new_size}", "bad_consistency"
        )


# ------------------------------------------------------------------------- record parsing
# Canonical record bytes: version u8 ‖ kind u8 ‖ chainId u256 ‖ contract (20) ‖ signer (20) ‖
# abi.encode(struct) ‖ r ‖ s ‖ v. Only what binding needs is parsed here: the header of every
# record, and the fields of a DeliveryBatch.

RECORD_VERSION = 1
KIND_NAMES = {
    1: "ProjectAnchor",
    2: "Commitment",
    3: "Delivery",
    4: "Receipt",
    5: "Flag",
    6: "DeliveryBatch",
    7: "Pairing",
    8: "PairingAcceptance",
    9: "Fund",
    10: "FundContribution",
    11: "CommitmentSource",
    12: "FollowUpRound",
    13: "FollowUp",
    14: "Grievance",
    15: "GrievanceAnswer",
}
KIND_DELIVERY_BATCH = 6
_HEADER = 74
_SIG = 65
MAX_BATCH_COMMITMENTS = 256


def parse_record_header(data: bytes) -> dict[str, Any]:
    """The version, kind, chain id, contract and signer of canonical record bytes."""
    if len(data) < _HEADER + 32 + _SIG:
        raise ProofCheckError("record.bytes are too short to be a record", "bad_record")
    if data[0] != RECORD_VERSION:
        raise ProofCheckError(f"unknown record format version {data[0]}", "bad_record")
    if data[1] not in KIND_NAMES:
        raise ProofCheckError(f"unknown record kind {data[1]}", "bad_record")
    return {
        "kind": data[1],
        "kind_name": KIND_NAMES[data[1]],
        "chain_id": int.from_bytes(data[2:34], "big"),
        "contract": "0x" + data[34:54].hex(),
        "signer": "0x" + data[54:74].hex(),
    }


def _word_int(body: bytes, pos: int, bits: int, what: str) -> int:
    if pos < 0 or pos + 32 > len(body):
        raise ProofCheckError(f"the DeliveryBatch field {what} is truncated", "bad_record")
    value = int.from_bytes(body[pos : pos + 32], "big")
    if value >> bits:
        raise ProofCheckError(f"the DeliveryBatch field {what} overflows uint{bits}", "bad_record")
    return value


def parse_delivery_batch(data: bytes) -> dict[str, Any]:
    """The fields of a DeliveryBatch record, decoded strictly from its canonical ABI encoding:
    (id, commitmentIds[], quantities[], lineCount, batchRoot, evidenceHash)."""
    header = parse_record_header(data)
    if header["kind"] != KIND_DELIVERY_BATCH:
        raise ProofCheckError(
            f"the record is a {header['kind_name']} (kind {header['kind']}), not a "
            "DeliveryBatch: a batch line can only be proven under a DeliveryBatch",
            "wrong_kind",
        )
    body = data[_HEADER:-_SIG]
    # abi.encode of a struct with dynamic members: the offset of the tuple (0x20), then its
    # head of six words, then the two arrays, in order, with nothing after them.
    if _word_int(body, 0, 256, "tuple offset") != 32:
        raise ProofCheckError("the DeliveryBatch fields do not decode", "bad_record")
    t = body[32:]
    cid_at = _word_int(t, 32, 256, "commitmentIds offset")
    qty_at = _word_int(t, 64, 256, "quantities offset")
    n = _word_int(t, cid_at, 256, "commitmentIds length") if cid_at == 6 * 32 else -1
    if n < 0 or n > MAX_BATCH_COMMITMENTS or qty_at != cid_at + 32 + 32 * n:
        raise ProofCheckError("the DeliveryBatch arrays are not canonically encoded", "bad_record")
    m = _word_int(t, qty_at, 256, "quantities length")
    if m != n or len(t) != qty_at + 32 + 32 * m:
        raise ProofCheckError("the DeliveryBatch arrays are not canonically encoded", "bad_record")
    return {
        **header,
        "id": "0x" + t[0:32].hex(),
        "commitment_ids": [
            "0x" + t[cid_at + 32 + 32 * i : cid_at + 64 + 32 * i].hex() for i in range(n)
        ],
        "quantities": [_word_int(t, qty_at + 32 + 32 * i, 128, "quantities") for i in range(m)],
        "line_count": _word_int(t, 96, 32, "lineCount"),
        "batch_root": t[128:160],
        "evidence_hash": t[160:192],
    }


def check_batch_binding(data: bytes, line_count: int, batch_root: bytes) -> dict[str, Any]:
    """Raise ProofCheckError unless `data` is a DeliveryBatch whose signed `batchRoot` field
    equals `batch_root` and whose `lineCount` field equals `line_count` — the size of the tree
    the line proof is in. Fields are compared where the record puts them: a hash equal to the
    root elsewhere in the record (say, its evidenceHash) proves nothing about the lines."""
    batch = parse_delivery_batch(data)
    if batch["line_count"] != line_count:
        raise ProofCheckError(
            f"the record's lineCount is {batch['line_count']}, but the line is proven in a tree "
            f"of {line_count} lines",
            "line_count_mismatch",
        )
    if batch["batch_root"] != batch_root:
        raise ProofCheckError(
            f"the record's batchRoot is 0x{batch['batch_root'].hex()}, not the line tree's root "
            f"0x{batch_root.hex()}",
            "batch_root_mismatch",
        )
    return batch


# ------------------------------------------------------------------------------ the bundle


def _anchor_to(
    trusted_size: int,
    trusted_root: bytes,
    index: int,
    size: int,
    log_root: bytes,
    cons: dict[str, Any] | None,
) -> str:
    """How a trusted (size, root) covers the record's leaf, or raise "root_mismatch": it is the
    log itself; or the newer end of a consistency proof from the log; or the older end of one
    up to the log, when the leaf lies inside that older tree."""
    if (trusted_size, trusted_root) == (size, log_root):
        return "log.root"
    if cons is not None:
        if (cons["old_size"], cons["old_root"]) == (size, log_root) and (
            cons["new_size"],
            cons["new_root"],
        ) == (trusted_size, trusted_root):
            return "consistency.new_root"
        if (
            (cons["new_size"], cons["new_root"]) == (size, log_root)
            and (cons["old_size"], cons["old_root"]) == (trusted_size, trusted_root)
            and index < trusted_size
        ):
            return "consistency.old_root"
    raise ProofCheckError(
        f"the trusted root 0x{trusted_root.hex()} (size {trusted_size}) is neither log.root "
        f"(size {size}) nor a root proven consistent with it that covers leaf {index}; fetch "
        "a fresh bundle, or one with a consistency proof to that size",
        "root_mismatch",
    )


def verify_bundle(
    bundle: dict[str, Any], root_hex: str | None = None, trusted_size: int | None = None
) -> dict[str, Any]:
    """Verify every proof in a bundle; return a summary, or raise ProofCheckError.

    `root_hex` (with `trusted_size` when it is the root of another size than the bundle's
    log) is a trust anchor: a root read from the chain or from a verified checkpoint. Without
    one the summary has ``"anchored": False``: every structure holds, but nothing says this
    tree is the ledger's — a forger can build a self-consistent one."""
    bundle = _obj(bundle, "the bundle")
    if bundle.get("format") != FORMAT:
        raise ProofCheckError(
            f"unknown bundle format {bundle.get('format')!r}; want {FORMAT!r}", "bad_format"
        )

    record = _obj(bundle.get("record"), "record")
    data = _hex(record.get("bytes"), "record.bytes")
    claimed_leaf = _hex(record.get("leaf_hash"), "record.leaf_hash", HASH_SIZE)
    index = _int(record.get("index"), "record.index")
    leaf = _leaf(data)
    if leaf != claimed_leaf:
        raise ProofCheckError(
            f"record.leaf_hash is 0x{claimed_leaf.hex()} but SHA-256(0x00 || record.bytes) "
            f"is 0x{leaf.hex()}",
            "bad_leaf_hash",
        )
    header = parse_record_header(data)

    log = _obj(bundle.get("log"), "log")
    size = _int(log.get("size"), "log.size")
    log_root = _hex(log.get("root"), "log.root", HASH_SIZE)
    check_inclusion(leaf, index, size, _hashes(log.get("inclusion"), "log.inclusion"), log_root)
    checked = [
        "叶子哈希 leaf hash = SHA-256(0x00 ‖ record.bytes)",
        f"记录 record: {header['kind_name']} signed for chain {header['chain_id']}, "
        f"contract {header['contract']}, by {header['signer']}",
        f"包含证明 inclusion: leaf {index} of {size} under root 0x{log_root.hex()}",
    ]
    summary: dict[str, Any] = {
        "ok": True,
        "anchored": False,
        "format": FORMAT,
        "leaf_hash": "0x" + leaf.hex(),
        "index": index,
        "log_size": size,
        "log_root": "0x" + log_root.hex(),
        "record": header,
        "batch": None,
        "consistency": None,
        "root_checked": None,
        "chain": bundle.get("chain"),
        "checked": checked,
        "not_checked": [],
    }

    batch = bundle.get("batch")
    if batch is not None:
        batch = _obj(batch, "batch")
        line = _hex(batch.get("line_bytes"), "batch.line_bytes")
        line_index = _int(batch.get("line_index"), "batch.line_index")
        line_count = _int(batch.get("line_count"), "batch.line_count")
        batch_root = _hex(batch.get("batch_root"), "batch.batch_root", HASH_SIZE)
        fields = check_batch_binding(data, line_count, batch_root)
        line_leaf = _leaf(line)
        check_inclusion(
            line_leaf,
            line_index,
            line_count,
            _hashes(batch.get("inclusion"), "batch.inclusion"),
            batch_root,
            "bad_line_proof",
        )
        checked.append(
            f"批量行 batch line {line_index} of {line_count}, under the batchRoot and lineCount "
            f"fields of DeliveryBatch {fields['id']}"
        )
        summary["batch"] = {
            "line_leaf_hash": "0x" + line_leaf.hex(),
            "line_index": line_index,
            "line_count": line_count,
            "batch_root": "0x" + batch_root.hex(),
            "batch_id": fields["id"],
        }

    cons_parsed: dict[str, Any] | None = None
    cons = bundle.get("consistency")
    if cons is not None:
        cons = _obj(cons, "consistency")
        old_size = _int(cons.get("old_size"), "consistency.old_size")
        new_size = _int(cons.get("new_size"), "consistency.new_size")
        old_root = _hex(cons.get("old_root"), "consistency.old_root", HASH_SIZE)
        new_root = _hex(cons.get("new_root"), "consistency.new_root", HASH_SIZE)
        starts_at_log = (old_size, old_root) == (size, log_root)
        ends_at_log = (new_size, new_root) == (size, log_root)
        if not (starts_at_log or ends_at_log):
            # A proof between two unrelated trees would say nothing about this record.
            raise ProofCheckError(
                "neither end of the consistency proof is the log (log.size, log.root)",
                "bad_consistency",
            )
        check_consistency(
            old_size, new_size, old_root, new_root, _hashes(cons.get("proof"), "consistency.proof")
        )
        cons_parsed = {
            "old_size": old_size,
            "old_root": old_root,
            "new_size": new_size,
            "new_root": new_root,
        }
        checked.append(f"一致性 consistency: the tree of {old_size} is a prefix of {new_size}")
        summary["consistency"] = {
            "old_size": old_size,
            "old_root": "0x" + old_root.hex(),
            "new_size": new_size,
            "new_root": "0x" + new_root.hex(),
        }

    if root_hex is not None:
        expected = _hex(root_hex, "the root to check against", HASH_SIZE)
        if trusted_size is None:
            # a bare root: the log's own, or the newer end of a proof that starts at the log
            trusted_size = size
            if expected != log_root and cons_parsed and cons_parsed["old_size"] == size:
                trusted_size = cons_parsed["new_size"]
        summary["root_checked"] = _anchor_to(
            trusted_size, expected, index, size, log_root, cons_parsed
        )
        summary["anchored"] = True
        checked.append(
            f"信任锚 trust anchor: the trusted root of size {trusted_size} covers the leaf "
            f"({summary['root_checked']})"
        )
    else:
        summary["not_checked"].append(
            "日志根 the log root: not compared with the chain or a trusted checkpoint, so this "
            "may be a self-consistent tree that someone made up"
        )
    summary["not_checked"].append(
        "作者签名 the author's EIP-712 signature: this stdlib checker has no secp256k1 "
        "(`bangfu verify` and the portal check it; the contract checked it before appending)"
    )
    return summary


# ------------------------------------------------------------------------- the chain (RPC)

ROLE_IDS = {
    # keccak256 of the role names in contracts/AidLedger.sol
    "COUNTY": "0a33376bde7eda3b0003513cc66d9b47480179316c513a94bb5da60fb7cac81e",
    "ORG": "9df68d7d986a5a821ecbc4febddeec1d61aeb89881371ec2b7643191d0014864",
    "AUDITOR": "d8994f6d76f930dc5ea8c60e38e6334a87bb8539cc3082ac6828681c33316e3d",
}
#: The roles one of which a signer of each kind must hold (a project: county or organization).
KIND_ROLES = {
    1: ("COUNTY", "ORG"),
    2: ("ORG",),
    3: ("ORG",),
    4: ("COUNTY",),
    5: ("AUDITOR",),
    6: ("ORG",),
    7: ("ORG",),
    8: ("COUNTY",),
    9: ("ORG",),
    10: ("ORG",),
    11: ("ORG",),
    12: ("COUNTY",),
    13: ("COUNTY",),
    14: ("COUNTY",),
    15: ("COUNTY",),
}
SELECTORS = {"logSize()": "453d3fe1", "logRoot()": "f06f069e", "hasRole": "91d14854"}


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    if not url.startswith(("http://", "https://")):
        raise ProofCheckError(f"the node URL {url!r} is not http(s)", "chain_unreachable")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise ProofCheckError(
            f"cannot read {method} from {url}: {exc}", "chain_unreachable"
        ) from None
    if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise ProofCheckError(f"{method} failed at {url}: {error}", "chain_unreachable")
    return answer["result"]


def _call_word(url: str, contract: str, data: str, tag: str) -> int:
    result = _rpc(url, "eth_call", [{"to": contract, "data": "0x" + data}, tag])
    if not isinstance(result, str) or len(result) != 66:
        raise ProofCheckError(
            f"the contract {contract} gave no 32-byte answer at {tag}", "chain_unreachable"
        )
    return int(result, 16)


def chain_anchor(url: str, header: dict[str, Any], size: int, block: int | None) -> dict[str, Any]:
    """Reads the record's own contract over JSON-RPC: the chain id, then logSize() and
    logRoot() at the bundle's block if the log had the bundle's size there, else at latest;
    and whether the signer holds a role its kind needs, at that same block."""
    chain_id = int(_rpc(url, "eth_chainId", []), 16)
    if chain_id != header["chain_id"]:
        raise ProofCheckError(
            f"the node is chain {chain_id}, the record was signed for chain {header['chain_id']}",
            "wrong_chain",
        )
    contract = header["contract"]
    tags = ([hex(block)] if block is not None else []) + ["latest"]
    for tag in tags:
        try:
            n = _call_word(url, contract, SELECTORS["logSize()"], tag)
            root = _call_word(url, contract, SELECTORS["logRoot()"], tag)
        except ProofCheckError:
            if tag == "latest":
                raise
            continue  # a node that no longer keeps that block's state
        if n == size or tag == "latest":
            break
    roles = [
        name
        for name in KIND_ROLES[header["kind"]]
        if _call_word(
            url,
            contract,
            SELECTORS["hasRole"] + ROLE_IDS[name] + header["signer"][2:].rjust(64, "0"),
            tag,
        )
    ]
    return {
        "chain_id": chain_id,
        "contract": contract,
        "tag": tag,
        "size": n,
        "root": "0x" + root.to_bytes(32, "big").hex(),
        "roles": roles,
    }


def check_against_chain(url: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """verify_bundle anchored on the chain itself (see chain_anchor); raises ProofCheckError
    "root_mismatch" for a tree the chain never had, "signer_not_authorized" for a signer
    without the role."""
    summary = verify_bundle(bundle)
    chain = bundle.get("chain")
    block = chain.get("block") if isinstance(chain, dict) else None
    got = chain_anchor(
        url, summary["record"], summary["log_size"], block if isinstance(block, int) else None
    )
    summary = verify_bundle(bundle, got["root"], got["size"])
    if not got["roles"]:
        raise ProofCheckError(
            f"the signer {summary['record']['signer']} holds none of the roles "
            f"{', '.join(KIND_ROLES[summary['record']['kind']])} on chain at {got['tag']}",
            "signer_not_authorized",
        )
    summary["chain_read"] = got
    summary["checked"].append(
        f"链上根 logRoot() = {got['root']} at {got['tag']} (log size {got['size']}), chain "
        f"{got['chain_id']}, contract {got['contract']}"
    )
    summary["checked"].append(
        f"签名者角色 the signer holds {'/'.join(got['roles'])} on chain at {got['tag']}"
    )
    return summary


# ------------------------------------------------------------------------------ command line

#: Chinese names of the failure codes, shown before the English message.
CODE_ZH = {
    "bad_bundle": "证明包格式错误",
    "bad_format": "不是 bangfu-proof/1 证明包",
    "bad_leaf_hash": "叶子哈希与记录不符",
    "bad_record": "记录字节无法解析",
    "bad_inclusion": "包含证明不成立",
    "wrong_kind": "记录类型不符（批量行只能属于批量交付记录）",
    "line_count_mismatch": "行数与记录的 lineCount 不符",
    "batch_root_mismatch": "批量根与记录的 batchRoot 不符",
    "bad_line_proof": "批量行证明不成立",
    "bad_consistency": "一致性证明不成立",
    "root_mismatch": "日志根与信任锚不符",
    "wrong_chain": "节点不是记录所属的链",
    "chain_unreachable": "无法读取链上数据",
    "signer_not_authorized": "签名者在链上没有相应角色",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status (0, 1 rejected, 2 unanchored)."""
    parser = argparse.ArgumentParser(
        prog="proofcheck.py", description="Verify a Bangfu Ledger proof bundle offline."
    )
    parser.add_argument("bundle", help="path to the bundle JSON file ('-' for standard input)")
    parser.add_argument("--rpc", help="a JSON-RPC node of the record's chain: read logRoot() there")
    parser.add_argument("--root", help="a log root read from the chain (logRoot()), 0x-hex")
    parser.add_argument("--size", type=int, help="the log size of --root, if not the bundle's")
    parser.add_argument(
        "--structure-only",
        action="store_true",
        help="check the proofs' structure without a trust anchor (does not show the record is "
        "genuine)",
    )
    args = parser.parse_args(argv)
    try:
        if args.bundle == "-":
            bundle = json.load(sys.stdin)
        else:
            with open(args.bundle, encoding="utf-8") as f:
                bundle = json.load(f)
    except (OSError, ValueError) as exc:
        print(
            f"未通过 FAILED [bad_bundle] 无法读取证明包 / cannot read the bundle: {exc}",
            file=sys.stderr,
        )
        return 1
    try:
        if args.rpc:
            summary = check_against_chain(args.rpc, bundle)
        else:
            summary = verify_bundle(bundle, args.root, args.size)
    except ProofCheckError as exc:
        zh = CODE_ZH.get(exc.code, "验证失败")
        print(f"未通过 FAILED [{exc.code}] {zh} / {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    # stdout stays pure JSON for scripts; the human verdict goes to stderr.
    for line in summary["checked"]:
        print(f"  ✔ {line}", file=sys.stderr)
    for line in summary["not_checked"]:
        print(f"  – 未检查 not checked: {line}", file=sys.stderr)
    if summary["anchored"]:
        source = f"--rpc {args.rpc}" if args.rpc else "--root"
        print(
            f"通过 OK：记录在链上的日志中（{source}）/ "
            f"the record is in the ledger's log ({source})",
            file=sys.stderr,
        )
        return 0
    if args.structure_only:
        print(
            "仅结构 STRUCTURE ONLY：证明结构成立，但未对照信任锚，不能说明记录真实 / the proofs "
            "are well formed, but nothing was compared with a trust anchor: this does not show "
            "the record is genuine",
            file=sys.stderr,
        )
        return 0
    print(
        "未核验 NOT VERIFIED：证明结构成立，但没有信任锚；请加 --rpc <节点> 或 --root 0x… / the "
        "proofs are well formed but there is no trust anchor: pass --rpc <node> or --root 0x… "
        "(or --structure-only to check the structure alone)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
