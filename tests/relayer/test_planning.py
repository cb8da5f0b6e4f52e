"""The relayer's planning: which refusals wait for a record still in flight."""

from __future__ import annotations

from ledger.relayer.planning import MISSING_REFERENCE
from tests.factories import ChainEnv


def test_every_refusal_for_a_missing_record_may_wait_for_it(env: ChainEnv) -> None:
    """A record that cites another still in flight in one of our transactions (a commitment
    source citing a pairing, an answer citing a grievance registration) is deferred, not
    failed for good: every "Unknown…(bytes32)" error of the deployed contract is one the
    relayer waits on. (A commitment source citing a pairing still in flight failed for good
    under load in the demo's end-to-end test, when UnknownPairing was not in the set.)"""
    names = {
        e["name"]
        for e in env.ledger.abi
        if e.get("type") == "error"
        and e["name"].startswith("Unknown")
        and [i["type"] for i in e["inputs"]] == ["bytes32"]
    }
    assert "UnknownPairing" in names and "UnknownKind" not in names
    assert names == MISSING_REFERENCE
