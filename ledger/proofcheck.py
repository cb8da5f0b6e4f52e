#!/usr/bin/env python3
"""Check a Bangfu Ledger proof bundle offline, with nothing but the Python standard library.

Usage: ``python proofcheck.py bundle.json [--root 0x<logRoot() read from the chain>]``

This file is meant to be copied out of the project and run by anyone. It deliberately imports
nothing from the ``ledger`` package and re-implements the RFC 9162 (RFC 6962 hashing) inclusion
and consistency verification instead of reusing ``ledger.merkle``: a checker that shares code
with the thing it checks would share its bugs, and a reader can audit these ~300 lines alone.

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
  with root ``batch_root``, and those 32 bytes must occur inside ``record.bytes`` (the batch
  record commits to its root, and the record's own signature covers it).
- ``consistency`` (optional) proves that one of its two trees is the log above: either
  (``new_size``, ``new_root``) equal (``log.size``, ``log.root``) — an older, e.g. witnessed,
  root is a prefix of the log — or (``old_size``, ``old_root``) do, and the log is a prefix
  of a newer root, such as one read from the chain after the bundle was made.
- ``chain`` is informative: where to read ``logRoot()`` to compare.

``--root`` must equal ``log.root``, or the ``new_root`` of a consistency proof that starts at
the log. Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

FORMAT = "bangfu-proof/1"
HASH_SIZE = 32


class ProofCheckError(Exception):
    """The bundle is malformed or one of its proofs does not verify."""


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
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise ProofCheckError unless `proof` puts the leaf under `root`."""
    if index < 0 or index >= size:
        raise ProofCheckError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofCheckError("the inclusion proof has too many hashes")
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
        raise ProofCheckError("the inclusion proof has too few hashes")
    if r != root:
        raise ProofCheckError(
            f"the inclusion proof for leaf {index} of {size} leads to 0x{r.hex()}, "
            f"not to the root 0x{root.hex()}"
        )


def check_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise ProofCheckError unless the old tree is a prefix of the new."""
    if old_size < 0 or new_size < old_size:
        raise ProofCheckError(f"a log cannot shrink from {old_size} to {new_size} leaves")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofCheckError(f"the proof from size {old_size} to {new_size} must be empty")
        if old_size == new_size and old_root != new_root:
            raise ProofCheckError(f"two different roots for the same size {old_size}")
        return
    if not proof:
        raise ProofCheckError("the consistency proof is empty")
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
            raise ProofCheckError("the consistency proof has too many hashes")
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
        raise ProofCheckError("the consistency proof has too few hashes")
    if fr != old_root:
        raise ProofCheckError(f"the consistency proof does not match the root at size {old_size}")
    if sr != new_root:
        raise ProofCheckError(f"the consistency proof does not match the root at size {new_size}")


def verify_bundle(bundle: dict[str, Any], root_hex: str | None = None) -> dict[str, Any]:
    """Verify every proof in a bundle; return a summary, or raise ProofCheckError."""
    bundle = _obj(bundle, "the bundle")
    if bundle.get("format") != FORMAT:
        raise ProofCheckError(f"unknown bundle format {bundle.get('format')!r}; want {FORMAT!r}")

    record = _obj(bundle.get("record"), "record")
    data = _hex(record.get("bytes"), "record.bytes")
    claimed_leaf = _hex(record.get("leaf_hash"), "record.leaf_hash", HASH_SIZE)
    index = _int(record.get("index"), "record.index")
    leaf = _leaf(data)
    if leaf != claimed_leaf:
        raise ProofCheckError(
            f"record.leaf_hash is 0x{claimed_leaf.hex()} but SHA-256(0x00 || record.bytes) "
            f"is 0x{leaf.hex()}"
        )

    log = _obj(bundle.get("log"), "log")
    size = _int(log.get("size"), "log.size")
    log_root = _hex(log.get("root"), "log.root", HASH_SIZE)
    check_inclusion(leaf, index, size, _hashes(log.get("inclusion"), "log.inclusion"), log_root)
    summary: dict[str, Any] = {
        "ok": True,
        "format": FORMAT,
        "leaf_hash": "0x" + leaf.hex(),
        "index": index,
        "log_size": size,
        "log_root": "0x" + log_root.hex(),
        "batch": None,
        "consistency": None,
        "root_checked": None,
        "chain": bundle.get("chain"),
    }

    batch = bundle.get("batch")
    if batch is not None:
        batch = _obj(batch, "batch")
        line = _hex(batch.get("line_bytes"), "batch.line_bytes")
        line_index = _int(batch.get("line_index"), "batch.line_index")
        line_count = _int(batch.get("line_count"), "batch.line_count")
        batch_root = _hex(batch.get("batch_root"), "batch.batch_root", HASH_SIZE)
        line_leaf = _leaf(line)
        check_inclusion(
            line_leaf,
            line_index,
            line_count,
            _hashes(batch.get("inclusion"), "batch.inclusion"),
            batch_root,
        )
        if batch_root not in data:
            raise ProofCheckError("batch.batch_root does not occur inside record.bytes")
        summary["batch"] = {
            "line_leaf_hash": "0x" + line_leaf.hex(),
            "line_index": line_index,
            "line_count": line_count,
            "batch_root": "0x" + batch_root.hex(),
        }

    newer_root: bytes | None = None
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
                "neither end of the consistency proof is the log (log.size, log.root)"
            )
        check_consistency(
            old_size, new_size, old_root, new_root, _hashes(cons.get("proof"), "consistency.proof")
        )
        if starts_at_log:
            newer_root = new_root
        summary["consistency"] = {
            "old_size": old_size,
            "old_root": "0x" + old_root.hex(),
            "new_size": new_size,
            "new_root": "0x" + new_root.hex(),
        }

    if root_hex is not None:
        expected = _hex(root_hex, "the root to check against", HASH_SIZE)
        if expected == log_root:
            summary["root_checked"] = "log.root"
        elif newer_root is not None and expected == newer_root:
            summary["root_checked"] = "consistency.new_root"
        else:
            raise ProofCheckError(
                f"the given root 0x{expected.hex()} is neither log.root nor a newer root "
                "proven consistent with it"
            )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="proofcheck.py", description="Verify a Bangfu Ledger proof bundle offline."
    )
    parser.add_argument("bundle", help="path to the bundle JSON file ('-' for standard input)")
    parser.add_argument("--root", help="a log root read from the chain (logRoot()), 0x-hex")
    args = parser.parse_args(argv)
    try:
        if args.bundle == "-":
            bundle = json.load(sys.stdin)
        else:
            with open(args.bundle, encoding="utf-8") as f:
                bundle = json.load(f)
        summary = verify_bundle(bundle, args.root)
    except (OSError, ValueError) as exc:
        print(f"FAILED: cannot read the bundle: {exc}", file=sys.stderr)
        return 1
    except ProofCheckError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    # stdout stays pure JSON for scripts; the human verdict goes to stderr.
    verdict = "the record is in the log" + (" and the root matches" if args.root else "")
    print(f"OK: {verdict}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
