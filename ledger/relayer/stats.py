"""What a relay worker did since it started: the counters its logs and tests read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WorkerStats:
    """What a worker did since it started (for logs and tests)."""

    sent_txs: int = 0
    sent_records: int = 0
    confirmed: int = 0
    failed: int = 0
    requeued: int = 0
    replaced: int = 0
    conflicts: int = 0
    #: multicalls whose gas limit came from the gas model, and those that were estimated
    modelled: int = 0
    estimated: int = 0
    #: multicalls sent on the model that reverted (their records were queued again)
    model_reverts: int = 0
