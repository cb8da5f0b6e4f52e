"""The relayer's planning: which refusals wait for a record still in flight."""

from __future__ import annotations

from ledger.relayer.planning import MISSING_REFERENCE
from tests.factories import ChainEnv


def test_a_source_citing_a_pairing_or_fund_in_flight_waits_for_it(env: ChainEnv) -> None:
    """A commitment source citing a pairing or fund still in flight in one of our
    transactions is deferred, not failed for good. (It failed for good under load in the
    demo's end-to-end test when UnknownPairing was not in the set.)"""
    names = {
        e["name"]
        for e in env.ledger.abi
        if e.get("type") == "error"
        and e["name"].startswith("Unknown")
        and [i["type"] for i in e["inputs"]] == ["bytes32"]
    }
    assert names >= MISSING_REFERENCE
    assert {"UnknownPairing", "UnknownFund", "UnknownNeed"} <= MISSING_REFERENCE
