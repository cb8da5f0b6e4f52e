"""The indexer: chain events into the SQL read model, and rebuilding it from the chain alone.

`worker.Indexer` follows the chain (`chain` reads logs and blocks) and checks its index
against the contract's root (`integrity`); `apply.LogApplier` writes one range of logs, each
kind's rows as `rows`, `roles`, `pairing`, `fund`, `followup` and `grievance` say; `reorg`
handles forks and rewritten history; `rebuild` makes the read model again from the chain.
"""
