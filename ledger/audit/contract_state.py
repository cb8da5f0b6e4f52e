"""The contract's own state against the replay: logRoot()/logSize() at the audited head and
at every eth_getLogs range end before it, and commitmentTotals() of every commitment (many
per eth_call through the contract's multicall)."""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from ledger.audit.codes import INTEGRITY
from ledger.audit.replay import Replay
from ledger.audit.report import AuditReport, Progress, to_hex
from ledger.audit.rpc import Rpc
from ledger.core.errors import ChainError

__all__ = ["check_roots", "check_totals"]

_SEL_LOG_ROOT = keccak(text="logRoot()")[:4]
_SEL_LOG_SIZE = keccak(text="logSize()")[:4]
_SEL_TOTALS = keccak(text="commitmentTotals(bytes32)")[:4]
_SEL_MULTICALL = keccak(text="multicall(bytes[])")[:4]


def check_roots(
    rpc: Rpc,
    contract: str,
    replay: Replay,
    report: AuditReport,
    to_block: int,
    *,
    historical: bool,
) -> None:
    """The log's root and size at `to_block`, and (when `historical`) its root at each range
    end the replay passed (`Replay.boundaries`)."""
    tree = replay.tree
    size = int.from_bytes(rpc.eth_call(contract, _SEL_LOG_SIZE, to_block), "big")
    root = rpc.eth_call(contract, _SEL_LOG_ROOT, to_block)
    report.stats["log_size"] = size
    report.stats["log_root"] = to_hex(root)
    if size != tree.size or root != tree.root():
        report.add(
            "root_mismatch",
            INTEGRITY,
            f"at block {to_block} logRoot() is {to_hex(root)} over {size} leaves, but "
            f"the replayed events give {to_hex(tree.root())} over {tree.size}",
            block=to_block,
        )
    checked = 0
    if historical:
        # One eth_call pair per getLogs range: a node without history answers an error,
        # which only means these extra checks are skipped.
        seen = set()
        calls: list[tuple[str, list[Any]]] = []
        points: list[tuple[int, int]] = []
        for block, n in replay.boundaries:
            if block == to_block or n in seen:
                continue
            seen.add(n)
            points.append((block, n))
        for i in range(0, len(points), 200):
            part = points[i : i + 200]
            calls = [
                ("eth_call", [{"to": contract, "data": to_hex(_SEL_LOG_ROOT)}, hex(b)])
                for b, _ in part
            ]
            try:
                roots = rpc.batch(calls)
            except ChainError:
                report.checks["historical_roots"] = "skipped (the node keeps no history)"
                break
            for (block, n), r in zip(part, roots, strict=True):
                if bytes.fromhex(r[2:]) != tree.root(n):
                    report.add(
                        "historical_root_mismatch",
                        INTEGRITY,
                        f"at block {block} logRoot() differs from the replayed log of {n} leaves",
                        block=block,
                        size=n,
                    )
                checked += 1
    report.checks.setdefault("historical_roots", f"checked at {checked} blocks")
    report.checks["log_root"] = "checked"


def check_totals(
    rpc: Rpc,
    contract: str,
    replay: Replay,
    report: AuditReport,
    to_block: int,
    progress: Progress,
) -> None:
    """commitmentTotals() on chain vs. the replay, many per eth_call through multicall."""
    ids = list(replay.commitments)
    step = 400
    for i in range(0, len(ids), step):
        part = ids[i : i + step]
        inner = [_SEL_TOTALS + cid for cid in part]
        data = _SEL_MULTICALL + abi_encode(["bytes[]"], [inner])
        (results,) = abi_decode(["bytes[]"], rpc.eth_call(contract, data, to_block))
        for cid, raw in zip(part, results, strict=True):
            committed, delivered, confirmed = abi_decode(["uint128"] * 3, raw)
            c = replay.commitments[cid]
            if (committed, delivered, confirmed) != (c.quantity, c.delivered, c.confirmed):
                report.add(
                    "totals_mismatch",
                    INTEGRITY,
                    f"commitment {to_hex(cid)}: the contract says committed/delivered/"
                    f"confirmed {committed}/{delivered}/{confirmed}, the replay "
                    f"{c.quantity}/{c.delivered}/{c.confirmed}",
                    commitment=to_hex(cid),
                )
        progress("totals", min(len(ids), i + step), len(ids))
    report.checks["commitment_totals"] = f"checked {len(ids)} commitments"
