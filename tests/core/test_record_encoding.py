"""The records' own word-by-word encoders (`ledger.core.abi_words`, behind `abi_encoded`,
`struct_hash` and `from_abi`) against the libraries they replace on the hot path: eth_abi
for `abi.encode(struct)`, and eth-account's EIP-712 encoder for the digest an author signs.
Every record kind, random values in range: what the fast path accepts must be byte for byte
what the libraries compute."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.abi_words import data_words, decode_words, dynamic_words, static_words
from ledger.core.eip712 import Domain
from ledger.core.record_types import BY_SLUG
from ledger.core.records import Record
from tests.strategies import ANY_RECORD, record_of

DOMAIN = Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


@settings(max_examples=300, deadline=None)
@given(ANY_RECORD)
def test_abi_encoded_is_eth_abis_encoding(record: Record) -> None:
    assert record.abi_encoded() == abi_encode([record.tuple_type()], [record.values()])


@settings(max_examples=300, deadline=None)
@given(ANY_RECORD)
def test_digest_is_eth_accounts_eip712_hash(record: Record) -> None:
    expected = _hash_eip191_message(encode_typed_data(full_message=record.typed_data(DOMAIN)))
    assert record.digest(DOMAIN) == expected


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_every_kind_takes_the_word_by_word_path(data: st.DataObject) -> None:
    """The fast path is not silently skipped: every kind's encodeData and ABI bytes come from
    the records' own encoder for in-range values (None would mean eth_abi's path)."""
    for cls in BY_SLUG.values():
        record = data.draw(record_of(cls))
        assert data_words(record.SCHEMA, record.values()) is not None, cls.__name__
        fast = static_words(record.SCHEMA, record.values()) or dynamic_words(
            record.SCHEMA, record.values()
        )
        assert fast == abi_encode([record.tuple_type()], [record.values()]), cls.__name__


@settings(max_examples=300, deadline=None)
@given(ANY_RECORD)
def test_from_abi_reads_back_every_kind(record: Record) -> None:
    data = record.abi_encoded()
    assert type(record).from_abi(data) == record
    if any(t == "string" or t.endswith("[]") or t == "bool" for _, t in record.SCHEMA):
        fields = decode_words(record.SCHEMA, data)  # the word-by-word path, not eth_abi
        assert fields is not None and type(record)(**fields) == record


@settings(max_examples=300, deadline=None)
@given(ANY_RECORD, st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_from_abi_of_altered_bytes_is_eth_abis_answer(record: Record, at: int, xor: int) -> None:
    """One byte changed anywhere: the word-by-word decoder accepts only what encodes back to
    the same bytes, so the answer is eth_abi's (the same values, or an error)."""
    data = bytearray(record.abi_encoded())
    data[at % len(data)] ^= xor
    cls = type(record)
    fast = decode_words(cls.SCHEMA, bytes(data))
    try:
        (values,) = abi_decode([cls.tuple_type()], bytes(data))
    except Exception:  # noqa: BLE001 - eth_abi refuses it: so must the fast path
        assert fast is None
        return
    if fast is not None:
        assert tuple(fast.values()) == tuple(
            tuple(v) if isinstance(v, list | tuple) else v for v in values
        )
