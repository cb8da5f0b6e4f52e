"""The relayer: the local copy of the contract's rules, the outbox and the sending worker."""
