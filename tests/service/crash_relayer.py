"""The `bangfu` command line with the relayer's crash hook, for the crash tests.

`python -m tests.service.crash_relayer relayer` runs the real CLI, except that the relayer
dies (exit 137, as after SIGKILL) at its first broadcast: right after its first 'sent'
rows are committed and before the transaction reaches the node, the worst moment for
durability. The hook lives here, injected by the test, so production code carries none.
"""

from __future__ import annotations

import os

from ledger.cli.main import main
from ledger.relayer.worker import RelayWorker


def die_before_broadcast(worker: RelayWorker, raw: bytes) -> None:
    """Stands in for `RelayWorker._broadcast`: nothing is sent, the process just ends."""
    os._exit(137)


if __name__ == "__main__":
    # A fresh relayer has no pending transaction to rebroadcast, so its first broadcast is
    # the one right after the first durable send.
    setattr(RelayWorker, "_broadcast", die_before_broadcast)  # noqa: B010 - a test hook
    main()
