"""The follow-up sample (回访抽样): which lines of a delivery batch a county visits.

Nobody can steer it: the seed is the hash of a block that did not exist when the county
opened the round (FollowUpRound.seedBlock lies after the block that records it), and the
rate is the one the province set on chain. Anyone with the chain recomputes the same
sample from three public facts: blockhash(seedBlock), the batch id and the batch's line
count. Pure, no I/O: the relayer, the read model, the workspace and the audit all call
this one function.
"""

from __future__ import annotations

import hashlib
import heapq

__all__ = ["MAX_RATE_BPS", "line_key", "sample_indices", "sample_size"]

#: 100 % in basis points.
MAX_RATE_BPS = 10_000


def sample_size(line_count: int, rate_bps: int) -> int:
    """k = max(1, ceil(lineCount × rateBps / 10000)), never more than the lines there are
    (0 for an empty batch)."""
    if line_count <= 0:
        return 0
    if not 0 <= rate_bps <= MAX_RATE_BPS:
        raise ValueError(f"rate must be 0..{MAX_RATE_BPS} basis points, not {rate_bps}")
    return min(line_count, max(1, -(-line_count * rate_bps // MAX_RATE_BPS)))


def line_key(seed_hash: bytes, batch_id: bytes, index: int) -> bytes:
    """SHA-256(blockhash(seedBlock) ‖ batchId ‖ uint32-big-endian index): the line's draw."""
    return hashlib.sha256(seed_hash + batch_id + index.to_bytes(4, "big")).digest()


def sample_indices(seed_hash: bytes, batch_id: bytes, line_count: int, rate_bps: int) -> list[int]:
    """The sampled line indices, ascending: the k indices with the smallest `line_key`
    (ties, which SHA-256 makes practically impossible, go to the lower index)."""
    if len(seed_hash) != 32 or len(batch_id) != 32:
        raise ValueError("the seed block hash and the batch id are 32 bytes each")
    k = sample_size(line_count, rate_bps)
    prefix = seed_hash + batch_id
    sha = hashlib.sha256
    # Each key is the digest followed by the index (big-endian), so comparing keys as bytes
    # orders them by digest, then by index: one flat list, no tuples.
    keys = [
        sha(prefix + i.to_bytes(4, "big")).digest() + i.to_bytes(4, "big")
        for i in range(line_count)
    ]
    if k * 8 < line_count:
        chosen = heapq.nsmallest(k, keys)
    else:
        keys.sort()
        chosen = keys[:k]
    return sorted(int.from_bytes(key[32:], "big") for key in chosen)
