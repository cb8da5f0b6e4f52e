"""The relayer: the local copy of the contract's rules, the outbox and the sending worker.

- accepting: `outbox` accepts signed records (`Relayer`, one group-commit writer), and
  `outbox_rows` is how one outbox row is written;
- the contract's rules, checked before a record is accepted: `rules` (the core kinds) with
  `rules_pairing`, `rules_fund`, `rules_followup` and `rules_grievance` (the programs),
  `rules_common` (what they ask alike) and `lookups` (the read model plus our live outbox);
- sending: `worker.RelayWorker` packs queued records into multicalls (`planning`), signs
  and broadcasts them (`signing`, `nonces`, `gas`, `chain`), confirms them at depth
  (`confirming`), replaces stuck ones (`replacing`) and re-checks the outbox against the
  chain (`reconcile`); `stats` counts what it did.
"""
