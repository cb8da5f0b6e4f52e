"""The RFC 9162 (Certificate Transparency v2) Merkle tree over SHA-256: hashing, proofs, verifiers.

The same tree the contract keeps a frontier of, so roots computed here equal `logRoot()` on chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from ledger.core.errors import NotFoundError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    # Hashes of the wrong length could otherwise hash to a "valid" looking root by accident
    # of concatenation; the RFC's types are fixed 32-byte values.
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash")


class MerkleTree:
    """An append-only RFC 9162 tree that keeps every perfect subtree's hash.

    Level k holds the hashes of the complete subtrees of 2**k leaves, packed 32 bytes apiece
    into one bytearray (a list of bytes objects would cost about three times the memory). Any
    subtree hash the RFC's recursive definitions ask for is then at most O(log n) cache lookups
    and hashes, so roots and proofs at any past size are cheap. Not thread-safe.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash (not leaf data); return its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        levels = self._levels
        index = self._size
        h = bytes(leaf_hash)
        levels[0] += h
        # Each trailing one bit of the index closes a perfect subtree one level up.
        i = index
        level = 0
        while i & 1:
            row = levels[level]
            start = (i - 1) * HASH_SIZE
            h = _sha256(_NODE_PREFIX + row[start : start + HASH_SIZE] + h).digest()
            level += 1
            i >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
        self._size = index + 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes in order."""
        for h in leaf_hashes:
            self.append(h)

    def leaf(self, index: int) -> bytes:
        """The leaf hash at index."""
        self._check_index(index, self._size)
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all of them)."""
        size = self._resolve_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), the nearest sibling first."""
        size = self._resolve_size(size)
        self._check_index(index, size)
        path: list[bytes] = []
        start, end = 0, size
        # Walk down from the root; the RFC lists siblings bottom-up, so reverse at the end.
        while end - start > 1:
            k = _split(end - start)
            mid = start + k
            if index < mid:
                path.append(self._subtree(mid, end))
                end = mid
            else:
                path.append(self._subtree(start, mid))
                start = mid
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]); empty if old_size is 0 or new_size."""
        new_size = self._resolve_size(new_size)
        if old_size < 0 or old_size > new_size:
            raise NotFoundError(
                f"no consistency proof from size {old_size} to size {new_size}",
                old_size=old_size,
                new_size=new_size,
            )
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        start, end = 0, new_size
        m = old_size
        complete = True  # the RFC's b: is the old tree a whole subtree reached so far from the left
        while m != end - start:
            k = _split(end - start)
            mid = start + k
            if m <= k:
                proof.append(self._subtree(mid, end))
                end = mid
            else:
                proof.append(self._subtree(start, mid))
                start = mid
                m -= k
                complete = False
        if not complete:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof

    def _resolve_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if size < 0 or size > self._size:
            raise NotFoundError(
                f"the tree has {self._size} leaves; no tree of size {size}",
                size=size,
                tree_size=self._size,
            )
        return size

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if index < 0 or index >= size:
            raise NotFoundError(f"no leaf {index} in a tree of size {size}", index=index, size=size)

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) where start is aligned to the largest power of two <= end - start.

        That alignment always holds for the subtrees RFC 9162's definitions reach, so the
        range splits left to right into cached perfect subtrees, one per bit of its width.
        """
        width = end - start
        levels = self._levels
        chunks: list[bytes] = []
        offset = start
        level = width.bit_length() - 1
        while level >= 0:
            if width >> level & 1:
                i = offset >> level
                chunks.append(bytes(levels[level][i * HASH_SIZE : (i + 1) * HASH_SIZE]))
                offset += 1 << level
            level -= 1
        h = chunks.pop()
        while chunks:
            h = _sha256(_NODE_PREFIX + chunks.pop() + h).digest()
        return h


class Frontier:
    """The compact form of the tree the contract keeps: one perfect-subtree root per set bit.

    O(log n) memory; `append` is amortised one hash, `root` at most log2(n) hashes. Mirrors the
    contract's algorithm so Python can predict `logRoot()` without holding the whole log.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._nodes: list[bytes | None] = []
        self._size = 0
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._size

    @property
    def nodes(self) -> list[tuple[int, bytes]]:
        """(level, hash) of each perfect subtree, largest (leftmost) first."""
        out = [(level, h) for level, h in enumerate(self._nodes) if h is not None]
        out.reverse()
        return out

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index."""
        self.extend((leaf_hash,))
        return self._size - 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """`append` of each leaf hash in order, in one loop (a batch's lines are many)."""
        nodes = self._nodes
        index = self._size
        try:
            for leaf in leaf_hashes:
                if len(leaf) != HASH_SIZE:
                    raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
                h = bytes(leaf)
                level = 0
                while index >> level & 1:
                    h = _sha256(_NODE_PREFIX + nodes[level] + h).digest()  # type: ignore[operator]
                    nodes[level] = None
                    level += 1
                if level == len(nodes):
                    nodes.append(h)
                else:
                    nodes[level] = h
                index += 1
        finally:
            self._size = index

    def root(self) -> bytes:
        """The RFC 9162 root of everything appended so far."""
        acc: bytes | None = None
        for h in self._nodes:
            if h is not None:
                acc = h if acc is None else node_hash(h, acc)
        return EMPTY_ROOT if acc is None else acc


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (not leaf data)."""
    return Frontier(leaf_hashes).root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof for leaf `index` in the tree of all `leaf_hashes`."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from the first `old_size` leaves to all of them."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def _inclusion_error(how: str) -> ProofError:
    return ProofError(f"the inclusion proof is {how}")


def _walk(
    fn: int, sn: int, path: Sequence[bytes], error: Callable[[str], ProofError]
) -> Iterator[tuple[bytes, bool]]:
    """The walk up the tree that RFC 9162's inclusion (§2.1.3.2) and consistency (§2.1.4.2)
    checks share, from node `fn` of a tree whose last node is `sn`: each hash of `path`, and
    whether it is a left sibling (hashed in front of the running value) rather than a right
    one. Raises `error("too long")` or `error("too short")` when the path does not end at
    the root."""
    for p in path:
        if sn == 0:
            raise error("too long")
        left = bool(fn & 1 or fn == sn)
        yield p, left
        if left:
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise error("too short")


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` implies for `leaf_hash` at `index` in a tree of `size` leaves.

    RFC 9162 §2.1.3.2 steps 1-4 and the sn == 0 part of step 5; raises ProofError when the
    proof cannot belong to that position at all (wrong length, bad index, malformed hash).
    """
    _check_hash(leaf_hash, "the leaf hash")
    if size <= 0 or index < 0 or index >= size:
        raise ProofError(
            f"leaf index {index} is outside a tree of size {size}", index=index, size=size
        )
    # Siblings below the point where index and the last leaf diverge, then one per set bit
    # above it: checking the length up front turns a silent mismatch into a clear message.
    inner = (index ^ (size - 1)).bit_length()
    expected = inner + (index >> inner).bit_count()
    if len(proof) != expected:
        raise ProofError(
            f"an inclusion proof for leaf {index} in a tree of size {size} has {expected} "
            f"hashes, this one has {len(proof)}",
            index=index,
            size=size,
        )
    r = bytes(leaf_hash)
    for i, (p, left) in enumerate(_walk(index, size - 1, proof, _inclusion_error)):
        _check_hash(p, f"inclusion proof element {i}")
        r = node_hash(p, r) if left else node_hash(r, p)
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an RFC 9162 §2.1.3.2 inclusion proof; raise ProofError if it does not verify."""
    _check_hash(root, "the root")
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    if computed != root:
        raise ProofError(
            f"the inclusion proof for leaf {index} leads to root {computed.hex()}, "
            f"not the expected {bytes(root).hex()}",
            index=index,
            size=size,
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check an RFC 9162 §2.1.4.2 consistency proof; raise ProofError if it does not verify.

    A tree of size 0 is consistent with every tree (the proof must be empty), and a tree is
    consistent with one of the same size only if the roots are equal (the proof must be empty).
    """
    _check_hash(old_root, "the old root")
    _check_hash(new_root, "the new root")
    if old_size < 0 or new_size < old_size:
        raise ProofError(
            f"a log cannot shrink: no consistency from size {old_size} to size {new_size}",
            old_size=old_size,
            new_size=new_size,
        )
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError(
                f"the consistency proof from size {old_size} to {new_size} must be empty",
                old_size=old_size,
                new_size=new_size,
            )
        if old_size == new_size and old_root != new_root:
            raise ProofError(
                f"two different roots for the same size {old_size}: the log was rewritten",
                code="inconsistent_checkpoint",
                old_size=old_size,
                new_size=new_size,
            )
        return
    if not proof:
        raise ProofError(
            f"the consistency proof from size {old_size} to {new_size} is empty",
            old_size=old_size,
            new_size=new_size,
        )
    for i, p in enumerate(proof):
        _check_hash(p, f"consistency proof element {i}")
    path = list(proof)
    # An old tree that is a perfect subtree is itself the first node of the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))

    def error(how: str) -> ProofError:
        return ProofError(
            f"the consistency proof from size {old_size} to {new_size} is {how}",
            old_size=old_size,
            new_size=new_size,
        )

    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c, left in _walk(fn, sn, path[1:], error):
        if left:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    if fr != old_root:
        raise ProofError(
            f"the consistency proof does not lead to the old root at size {old_size}",
            old_size=old_size,
            new_size=new_size,
        )
    if sr != new_root:
        raise ProofError(
            f"the consistency proof does not lead to the new root at size {new_size}",
            old_size=old_size,
            new_size=new_size,
        )
