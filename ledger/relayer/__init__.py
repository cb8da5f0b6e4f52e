"""The relayer: the local copy of the contract's rules, the outbox and the sending worker.

`lookups` reads the read model plus our live outbox, `rules` checks a record against the
contract's rules, `outbox` accepts signed records (`Relayer`), `nonces`, `chain`,
`planning` and `reconcile` serve `worker.RelayWorker`, which gets them on chain.
"""
