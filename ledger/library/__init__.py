"""Needs and supply project libraries (需求项目库 / 供给项目库), matching and sharing.

The relayer rule that a Commitment must cite an accepted match
(`ledger.library.matching.require_accepted_match`) is wired in by the composition root,
`ledger.app.LedgerService`; importing this package has no side effects.
"""
