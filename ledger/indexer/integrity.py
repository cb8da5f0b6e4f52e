"""The index checked against the chain: the contract's log state at a block (where the node
keeps one), and the root comparison that ends every indexed range: a log the node answered
short is read again, a difference stops the indexer loudly."""

from __future__ import annotations

from ledger.core.errors import IndexerIntegrityError
from ledger.core.hexes import hex0x
from ledger.core.merkle import MerkleTree
from ledger.evm.contract import LedgerContract
from ledger.store.models import IndexerCheckpoint

__all__ = ["MAX_SHORT_READS", "ShortRead", "log_state_if_kept", "verify_root"]

#: How many times the indexer reads a range again when the node answered it short (per
#: block) or it left a leaf gap, before that counts as a divergence.
MAX_SHORT_READS = 20


class ShortRead(Exception):
    """The index is behind the contract's log at a block it has just read: retry."""

    def __init__(self, block: int) -> None:
        super().__init__(block)
        self.block = block


def verify_root(
    cursor: IndexerCheckpoint,
    tree: MerkleTree,
    block: int,
    chain_state: tuple[int, bytes] | None,
    short_reads: dict[int, int],
) -> None:
    """Records `tree`'s size and root on `cursor` once they equal the contract's log at
    `block` (`chain_state`, None where the node keeps no state there); `short_reads`
    counts the ranges read again at each block."""
    size = tree.size
    root = tree.root()
    if chain_state is None:
        # The node keeps no state at this past block (the local anvil keeps no historical
        # states across a restart): the next range's check, at a block it keeps, covers
        # these leaves too, since a root commits to every leaf before it.
        cursor.log_size = size
        cursor.log_root = hex0x(root)
        return
    chain_size, chain_root = chain_state
    if chain_size > size and short_reads.get(block, 0) < MAX_SHORT_READS:
        # The node answered eth_getLogs before it had every log of a fresh block (seen
        # with anvil under load): roll this range back and read it again.
        short_reads[block] = short_reads.get(block, 0) + 1
        raise ShortRead(block)
    if chain_size != size or chain_root != root:
        raise IndexerIntegrityError(
            f"索引与链上日志不一致 / index diverged: at block {block} the contract's log "
            f"has {chain_size} leaves, root {hex0x(chain_root)}, but the index has {size}, "
            f"root {hex0x(root)}: stop and run `bangfu audit`",
            block=block,
            chain_size=chain_size,
            chain_root=hex0x(chain_root),
            index_size=size,
            index_root=hex0x(root),
        )
    cursor.log_size = size
    cursor.log_root = hex0x(root)


#: How nodes say they keep no state at a past block (anvil, geth, besu, erigon).
_NO_HISTORY = (
    "blockoutofrange",
    "missing trie node",
    "historical state",
    "header not found",
    "state not available",
    "pruned",
)


def log_state_if_kept(ledger: LedgerContract, block: int) -> tuple[int, bytes] | None:
    """`log_state(block)`, or None when the node answers that it keeps no state there."""
    try:
        return ledger.log_state(block)
    except Exception as exc:
        text = str(exc).lower()
        if any(marker in text for marker in _NO_HISTORY):
            return None
        raise
