"""The relayer's gas model: the gas limit of a multicall from what its records cost, so
that a send round needs no `eth_estimateGas` (a full simulation of the multicall by the
node, ~1 s per 200 records under load).

Each kind's gas per record is measured, not guessed: whenever the relayer does ask the
node to estimate a multicall whose records are all of one kind, the estimate divided by
the number of records becomes that kind's figure (the largest seen: it includes the
multicall's own overhead, so it errs high). A kind not measured yet has no figure, and
its multicall is estimated. The limit a figure gives carries a margin on top (and the
worker adds its own `gas_margin`).

A multicall whose limit was too low runs out of gas and reverts as a whole; confirming
puts its records back in the queue (nothing is lost), and a record sent before is never
sent on the model again: its next multicall is estimated (and so measured) by the node.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping

#: Above what a measurement said, for records that cost more than the ones measured
#: (longer titles, a first write where the measured records found the slot warm).
MODEL_MARGIN = 1.2
#: The multicall's own overhead beyond its records (transaction base, dispatch).
MULTICALL_BASE = 60_000
#: What an estimate holds beyond its records: the transaction's intrinsic 21,000 and the
#: multicall's dispatch (taken off a measurement; `MULTICALL_BASE` puts it back).
OVERHEAD = 26_000


class GasModel:
    """Per-kind gas per record, as measured; thread-safe."""

    def __init__(self, seed: Mapping[int, int] | None = None) -> None:
        self._per_record: dict[int, int] = dict(seed or {})
        self._lock = threading.Lock()

    def per_record(self, kind: int) -> int | None:
        """The measured gas of one record of `kind` in a multicall, or None."""
        return self._per_record.get(int(kind))

    def limit(self, kinds: Iterable[int]) -> int | None:
        """The gas a multicall of records of these kinds needs (with the model's margin),
        or None if a kind among them has not been measured."""
        total = 0
        for kind in kinds:
            gas = self._per_record.get(int(kind))
            if gas is None:
                return None
            total += gas
        return MULTICALL_BASE + math.ceil(total * MODEL_MARGIN)

    def measured(self, kinds: Iterable[int], gas: int) -> None:
        """Learns from the node's estimate `gas` of a multicall of records of `kinds`:
        only a multicall of one kind says what that kind costs."""
        distinct = list(kinds)
        if not distinct or len(set(distinct)) != 1:
            return
        kind = int(distinct[0])
        per = math.ceil(max(gas - OVERHEAD, gas // 2) / len(distinct))
        with self._lock:
            if per > self._per_record.get(kind, 0):
                self._per_record[kind] = per

    def ran_out(self, kinds: Iterable[int]) -> None:
        """A multicall sent on the model ran out of gas: its kinds are measured again."""
        with self._lock:
            for kind in set(int(k) for k in kinds):
                self._per_record.pop(kind, None)

    def snapshot(self) -> dict[int, int]:
        with self._lock:
            return dict(self._per_record)
