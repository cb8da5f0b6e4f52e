"""RecordAppended's data, cut out directly on the hot path, against eth_abi: the same
answer for what the contract emits, and for every byte changed in it."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.events import decode_record_data

LEAF = st.binary(min_size=32, max_size=32)
RECORD = st.binary(max_size=700)


@settings(max_examples=300, deadline=None)
@given(LEAF, RECORD)
def test_emitted_data_decodes_as_eth_abi_does(leaf: bytes, record: bytes) -> None:
    assert decode_record_data(abi_encode(["bytes32", "bytes"], [leaf, record])) == (leaf, record)


@settings(max_examples=500, deadline=None)
@given(LEAF, RECORD, st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_changed_data_gets_eth_abis_answer(leaf: bytes, record: bytes, at: int, xor: int) -> None:
    data = bytearray(abi_encode(["bytes32", "bytes"], [leaf, record]))
    data[at % len(data)] ^= xor
    try:
        expected = tuple(bytes(v) for v in abi_decode(["bytes32", "bytes"], bytes(data)))
    except Exception:  # noqa: BLE001 - eth_abi refuses it: so must the direct path
        try:
            decode_record_data(bytes(data))
        except Exception:  # noqa: BLE001
            return
        raise AssertionError("accepted what eth_abi refuses") from None
    assert decode_record_data(bytes(data)) == expected
