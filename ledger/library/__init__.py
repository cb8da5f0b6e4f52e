"""Needs and supply project libraries (需求项目库 / 供给项目库), matching and sharing.

Importing this package registers the relayer rule that a Commitment must cite an accepted
match (`ledger.library.matching.require_accepted_match`).
"""

from ledger.library import matching as matching
