"""The relayer's calldata, cut from record bytes word by word, against eth_abi's encoding of
the same calls (the code it replaced): every kind, random values, random signatures. That
the contract takes these calls is shown on anvil by tests/relayer (every multicall the
relayer sends is built here)."""

from __future__ import annotations

from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.eip712 import Domain
from ledger.core.record_types import TYPED_SUBMIT
from ledger.core.records import Record, SignedRecord
from ledger.evm.contract import (
    MULTICALL_SELECTOR,
    SUBMIT_RECORD_SELECTOR,
    multicall_calldata,
    submit_calldata_of,
)
from tests.strategies import ANY_RECORD

DOMAIN = Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _eth_abi_calldata(signed: SignedRecord) -> bytes:
    record = signed.record
    if signed.kind not in TYPED_SUBMIT:
        return SUBMIT_RECORD_SELECTOR + abi_encode(
            ["uint8", "bytes", "bytes"], [int(signed.kind), record.abi_encoded(), signed.signature]
        )
    tuple_type = type(record).tuple_type()
    selector = keccak(text=f"{TYPED_SUBMIT[signed.kind]}({tuple_type},bytes)")[:4]
    return selector + abi_encode([tuple_type, "bytes"], [record.values(), signed.signature])


@settings(max_examples=300, deadline=None)
@given(ANY_RECORD, st.binary(min_size=65, max_size=65))
def test_submit_calldata_is_eth_abis(record: Record, signature: bytes) -> None:
    signed = SignedRecord(record=record, domain=DOMAIN, signer=SIGNER, signature=signature)
    assert submit_calldata_of(signed.canonical_bytes()) == _eth_abi_calldata(signed)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=12))
def test_multicall_calldata_is_eth_abis(calls: list[bytes]) -> None:
    assert multicall_calldata(calls) == MULTICALL_SELECTOR + abi_encode(["bytes[]"], [calls])
