"""Record encodings: fixed EIP-712 digests, signatures, canonical bytes and leaf hashes
(tests/vectors/records.json, made by scripts/make_vectors.py), cross-checked with
eth-account's independent EIP-712 code and with the contract itself; parsing and its
refusals; Hypothesis round trips.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from ledger.core import merkle
from ledger.core.aid_kinds import Commitment, DeliveryBatch, Flag
from ledger.core.eip712 import SECP256K1_HALF_N, Domain, recover_signer
from ledger.core.errors import RecordError
from ledger.core.lines import DeliveryLine
from ledger.core.record_types import RECORD_TYPES, record_type, signed_from_bytes, signed_from_json
from ledger.core.records import Kind, Record, SignedRecord
from tests.factories import start_env
from tests.strategies import record_of

ROOT = Path(__file__).resolve().parents[2]
VECTORS_PATH = ROOT / "tests" / "vectors" / "records.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
SIGNERS: dict[str, dict[str, str]] = VECTORS["signers"]
#: The organization's key (it signs commitments, deliveries and batches), for the tests
#: below that need one key of their own.
KEY = SIGNERS["org"]["private_key"]
ADDRESS = SIGNERS["org"]["address"]
DOMAIN = Domain(VECTORS["domain"]["chainId"], VECTORS["domain"]["verifyingContract"])
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
BY_KIND = {v["kind"]: v for v in VECTORS["records"]}


def unhex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def load_make_vectors() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_vectors", ROOT / "scripts" / "make_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vector_key(vector: dict[str, Any]) -> str:
    """The private key that signed a vector (the key of the role that signs its kind)."""
    return SIGNERS[vector["signer_role"]]["private_key"]


def vector_record(vector: dict[str, Any]) -> Record:
    return record_type(vector["kind"]).from_json(vector["typed_data"]["message"])


def eth_account_digest(typed_data: dict[str, Any]) -> bytes:
    """The EIP-712 digest as eth-account computes it (an independent implementation)."""
    signable = encode_typed_data(full_message=typed_data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def flag_json(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "0x" + "11" * 32,
        "recordId": "0x" + "22" * 32,
        "reasonCode": 3,
        "noteHash": "0x" + "33" * 32,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


# ---------------------------------------------------------------------------- fixed vectors


def test_vector_file_is_current() -> None:
    """scripts/make_vectors.py regenerates exactly the committed file."""
    assert load_make_vectors().render() == VECTORS_PATH.read_text(encoding="utf-8")


def test_vectors_cover_every_kind() -> None:
    assert sorted(v["kind_number"] for v in VECTORS["records"]) == sorted(int(k) for k in Kind)
    for signer in SIGNERS.values():
        assert Account.from_key(signer["private_key"]).address == signer["address"]
    assert len({s["address"] for s in SIGNERS.values()}) == 3  # one role per address
    for v in VECTORS["records"]:
        assert v["signer"] == SIGNERS[v["signer_role"]]["address"]
        assert unhex(v["typed_data"]["message"]["id"])[:20] == unhex(v["signer"])  # scoped
    assert "0x" + DOMAIN.separator().hex() == VECTORS["domain_separator"]


@pytest.mark.parametrize("kind", [k.slug for k in Kind])
def test_record_vector(kind: str) -> None:
    v = BY_KIND[kind]
    record = vector_record(v)
    assert record.typed_data(DOMAIN) == v["typed_data"]
    assert record.type_string() == v["type_string"]
    assert "0x" + keccak(text=v["type_string"]).hex() == v["typehash"]
    assert "0x" + record.abi_encoded().hex() == v["abi_encoded"]
    assert "0x" + record.struct_hash().hex() == v["struct_hash"]
    assert "0x" + record.digest(DOMAIN).hex() == v["digest"]
    signed = record.sign(vector_key(v), DOMAIN)
    assert signed.signer == v["signer"]
    assert "0x" + signed.signature.hex() == v["signature"]
    canonical = unhex(v["canonical_bytes"])
    assert signed.canonical_bytes() == canonical
    assert "0x" + signed.leaf_hash().hex() == v["leaf_hash"]
    assert merkle.leaf_hash(canonical) == unhex(v["leaf_hash"])
    # The canonical bytes are self-describing: they alone give back record, domain, signer.
    parsed = signed_from_bytes(canonical)
    assert parsed == signed
    assert parsed.verify() == v["signer"]
    assert canonical[0] == 1 and canonical[1] == v["kind_number"]
    assert int.from_bytes(canonical[2:34], "big") == 31337


@pytest.mark.parametrize("kind", [k.slug for k in Kind])
def test_record_vector_against_eth_account(kind: str) -> None:
    """eth-account's own EIP-712 encoder and signer give the same digest and signature."""
    v = BY_KIND[kind]
    assert "0x" + eth_account_digest(v["typed_data"]).hex() == v["digest"]
    signable = encode_typed_data(full_message=v["typed_data"])
    via_message = Account.sign_message(signable, private_key=vector_key(v))
    assert "0x" + bytes(via_message.signature).hex() == v["signature"]
    assert "0x" + bytes(via_message.message_hash).hex() == v["digest"]
    via_typed = Account.sign_typed_data(vector_key(v), full_message=v["typed_data"])
    assert "0x" + bytes(via_typed.signature).hex() == v["signature"]
    assert Account.recover_message(signable, signature=unhex(v["signature"])) == v["signer"]


def test_delivery_line_vectors() -> None:
    lines = VECTORS["delivery_lines"]
    assert lines
    leaves = []
    for v in lines:
        f = v["line"]
        line = DeliveryLine(
            commitment_id=unhex(f["commitmentId"]),
            item=f["item"],
            quantity=f["quantity"],
            unit=f["unit"],
            delivered_at=f["deliveredAt"],
            beneficiary=unhex(f["beneficiary"]),
            evidence_hash=unhex(f["evidenceHash"]),
        )
        assert "0x" + line.line_bytes().hex() == v["line_bytes"]
        assert "0x" + line.leaf_hash().hex() == v["leaf_hash"]
        assert DeliveryLine.from_bytes(unhex(v["line_bytes"])) == line
        leaves.append(line.leaf_hash())
    assert "0x" + merkle.root(leaves).hex() == VECTORS["batch_root"]
    batch = vector_record(BY_KIND["delivery_batch"])
    assert isinstance(batch, DeliveryBatch)
    assert batch.batch_root == unhex(VECTORS["batch_root"])
    assert batch.line_count == len(lines)


def test_contract_reproduces_the_vectors(tmp_path: Path) -> None:
    """On a fresh anvil the first AidLedger lands at the vectors' verifying contract; with
    keys #1, #3 and #5 registered as county, organization and auditor, the contract emits
    exactly the vectors' bytes and leaves."""
    env = start_env(tmp_path)
    try:
        assert env.deployment.address == DOMAIN.verifying_contract
        assert env.deployment.chain_id == DOMAIN.chain_id
        ledger, admin = env.ledger, env.actors.admin
        separator = bytes(ledger.contract.functions.domainSeparator().call())
        assert "0x" + separator.hex() == VECTORS["domain_separator"]
        # start_env registered anvil keys #1, #3 and #5 as county 522327, org A and auditor
        assert ledger.county_of(SIGNERS["county"]["address"]) == 522327
        assert ledger.has_role("ORG", SIGNERS["org"]["address"])
        assert ledger.has_role("AUDITOR", SIGNERS["auditor"]["address"])
        ledger.set_follow_up_rate(admin, 1_000)
        leaves: list[bytes] = []
        for v in VECTORS["records"]:
            record = vector_record(v)
            if isinstance(record, DeliveryBatch):
                # the batch also delivers against a second commitment: make it exist
                first = vector_record(BY_KIND["commitment"])
                assert isinstance(first, Commitment)
                other = next(c for c in record.commitment_ids if c != first.id)
                second = dataclasses.replace(first, id=other)
                org_key = SIGNERS["org"]["private_key"]
                ledger.submit(second.sign(org_key, DOMAIN), admin)
                leaves.append(second.sign(org_key, DOMAIN).leaf_hash())
            signed = SignedRecord(record, DOMAIN, v["signer"], unhex(v["signature"]))
            receipt = ledger.submit(signed, admin)
            (event,) = ledger.contract.events.RecordAppended().process_receipt(
                receipt, errors=DISCARD
            )
            assert "0x" + bytes(event["args"]["record"]).hex() == v["canonical_bytes"]
            assert "0x" + bytes(event["args"]["leafHash"]).hex() == v["leaf_hash"]
            leaves.append(unhex(v["leaf_hash"]))
        assert ledger.log_root() == merkle.root(leaves)
    finally:
        env.chain.down()


# ---------------------------------------------------------------------------- parsing


def test_from_bytes_rejects_bad_bytes() -> None:
    canonical = unhex(BY_KIND["flag"]["canonical_bytes"])
    cases = {
        "short": canonical[:100],
        "empty": b"",
        "version": b"\x02" + canonical[1:],
        "trailing": canonical + b"\x00",
        "missing byte": canonical[:-1],
        # the high (padding) byte of the uint16 reasonCode word, which must be zero
        "non-canonical padding": canonical[: 74 + 64] + b"\x01" + canonical[74 + 64 + 1 :],
    }
    for name, data in cases.items():
        with pytest.raises(RecordError) as info:
            signed_from_bytes(data)
        assert info.value.code == "bad_record_bytes", name
    with pytest.raises(RecordError) as info:
        signed_from_bytes(canonical[:1] + b"\x10" + canonical[2:])
    assert info.value.code == "unknown_kind"


def test_from_bytes_keeps_a_bad_signature_for_verify() -> None:
    """Parsing does not vouch for the signature; verify() does."""
    v = BY_KIND["receipt"]
    canonical = bytearray(unhex(v["canonical_bytes"]))
    canonical[-2] ^= 1  # a bit of s
    parsed = signed_from_bytes(bytes(canonical))
    with pytest.raises(RecordError) as info:
        parsed.verify()
    assert info.value.code == "bad_signature"


@pytest.mark.parametrize("kind", [k.slug for k in Kind])
def test_json_round_trips(kind: str) -> None:
    record = vector_record(BY_KIND[kind])
    assert type(record).from_json(json.loads(json.dumps(record.to_json()))) == record
    signed = record.sign(KEY, DOMAIN)
    as_json = json.loads(json.dumps(signed.to_json()))
    assert as_json["kind"] == kind
    assert signed_from_json(as_json, DOMAIN) == signed
    without_signer = {k: v for k, v in as_json.items() if k != "signer"}
    assert signed_from_json(without_signer, DOMAIN) == signed


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (flag_json(extra=1), "unknown_field"),
        (flag_json(reason_code=1, reasonCode=...), "unknown_field"),  # snake_case is not ours
        (flag_json(noteHash=...), "missing_field"),
        (flag_json(id="0x" + "zz" * 32), "bad_hex"),
        (flag_json(id="0x" + "1" * 63), "bad_hex"),
        (flag_json(id="0x" + "11" * 31), "bad_length"),
        (flag_json(id="0x" + "11" * 33), "bad_length"),
        (flag_json(id=17), "bad_type"),
        (flag_json(id=None), "bad_type"),
        (flag_json(reasonCode="three"), "bad_type"),
        (flag_json(reasonCode=1.5), "bad_type"),
        (flag_json(reasonCode=True), "bad_type"),
        (flag_json(reasonCode=None), "bad_type"),
        (flag_json(reasonCode=-1), "out_of_range"),
        (flag_json(reasonCode=65536), "out_of_range"),
        (flag_json(reasonCode="65536"), "out_of_range"),
    ],
)
def test_record_from_json_refusals(data: dict[str, Any], code: str) -> None:
    with pytest.raises(RecordError) as info:
        Flag.from_json(data)
    assert info.value.code == code


def test_record_from_json_refusals_for_arrays_and_objects() -> None:
    batch = vector_record(BY_KIND["delivery_batch"]).to_json()
    for bad, code in [
        ({**batch, "commitmentIds": "0x" + "11" * 32}, "bad_type"),
        ({**batch, "commitmentIds": ["0x" + "11" * 32] * 257}, "bad_type"),
        ({**batch, "commitmentIds": ["nothex"]}, "bad_hex"),
        ({**batch, "quantities": [1, -2]}, "out_of_range"),
        ({**batch, "quantities": [1, 1 << 128]}, "out_of_range"),
        ({**batch, "quantities": [1, "x"]}, "bad_type"),
    ]:
        with pytest.raises(RecordError) as info:
            DeliveryBatch.from_json(bad)
        assert info.value.code == code, bad
    with pytest.raises(RecordError) as info:
        Flag.from_json(["not", "an", "object"])  # type: ignore[arg-type]
    assert info.value.code == "bad_type"


def test_record_from_json_refuses_non_ascii_digits() -> None:
    for text in ("²", "١٢"):
        with pytest.raises(RecordError) as info:
            Flag.from_json(flag_json(reasonCode=text))
        assert info.value.code == "bad_type"


def test_signed_from_json_refusals() -> None:
    signed = vector_record(BY_KIND["flag"]).sign(KEY, DOMAIN).to_json()
    other = Account.create().address
    high = unhex(signed["signature"])
    high = (
        high[:32]
        + (SECP256K1_N - int.from_bytes(high[32:64], "big")).to_bytes(32, "big")
        + (bytes([55 - high[64]]))
    )
    for bad, code in [
        ({**signed, "extra": 1}, "unknown_field"),
        ({**signed, "kind": "donation"}, "unknown_kind"),
        ({**signed, "kind": 99}, "unknown_kind"),
        ({k: v for k, v in signed.items() if k != "kind"}, "unknown_kind"),
        ({k: v for k, v in signed.items() if k != "signature"}, "bad_signature"),
        ({**signed, "signature": "0xnothex"}, "bad_signature"),
        ({**signed, "signature": signed["signature"][:-2]}, "bad_signature"),
        ({**signed, "signature": "0x" + high.hex()}, "bad_signature"),
        ({**signed, "signer": other}, "bad_signature"),
        ({**signed, "record": {**signed["record"], "extra": 1}}, "unknown_field"),
        ("not an object", "bad_type"),
    ]:
        with pytest.raises(RecordError) as info:
            signed_from_json(bad, DOMAIN)  # type: ignore[arg-type]
        assert info.value.code == code, bad
    # The signature binds the domain: another contract's domain recovers another signer.
    elsewhere = Domain(31337, "0x" + "ab" * 20)
    assert signed_from_json({**signed, "signer": None}, elsewhere).signer != ADDRESS
    with pytest.raises(RecordError):
        signed_from_json(signed, elsewhere)


# ---------------------------------------------------------------------------- signatures


def test_recover_signer_refuses_high_s_and_bad_v() -> None:
    v = BY_KIND["commitment"]
    digest, sig = unhex(v["digest"]), unhex(v["signature"])
    assert recover_signer(digest, sig) == ADDRESS
    s = int.from_bytes(sig[32:64], "big")
    assert s <= SECP256K1_HALF_N
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    # The high-s twin is a valid ECDSA signature by the same key, which is why it is refused:
    assert Account._recover_hash(digest, signature=twin) == ADDRESS
    bad = {
        "high s": twin,
        "v 0": sig[:64] + b"\x00",
        "v 1": sig[:64] + b"\x01",
        "v 29": sig[:64] + bytes([29]),
        "v 255": sig[:64] + b"\xff",
        "r 0": bytes(32) + sig[32:],
        "s 0": sig[:32] + bytes(32) + sig[64:],
        "s n": sig[:32] + SECP256K1_N.to_bytes(32, "big") + sig[64:],
        "64 bytes": sig[:64],
        "66 bytes": sig + b"\x00",
        "empty": b"",
    }
    for name, signature in bad.items():
        with pytest.raises(RecordError) as info:
            recover_signer(digest, signature)
        assert info.value.code == "bad_signature", name
    # The other parity is a well-formed signature of somebody else.
    assert recover_signer(digest, sig[:64] + bytes([55 - sig[64]])) != ADDRESS


def test_verify_refuses_a_wrong_stated_signer() -> None:
    signed = vector_record(BY_KIND["delivery"]).sign(KEY, DOMAIN)
    lying = dataclasses.replace(signed, signer=Account.create().address)
    with pytest.raises(RecordError) as info:
        lying.verify()
    assert info.value.code == "bad_signature"
    assert lying.canonical_bytes() != signed.canonical_bytes()


def test_signatures_are_low_s_and_deterministic() -> None:
    record = vector_record(BY_KIND["delivery_batch"])
    first = record.sign(KEY, DOMAIN).signature
    assert record.sign(KEY, DOMAIN).signature == first
    assert int.from_bytes(first[32:64], "big") <= SECP256K1_HALF_N
    assert first[64] in (27, 28)


# ---------------------------------------------------------------------------- properties

B32 = st.binary(min_size=32, max_size=32)
KEYS = [bytes.fromhex(f"{i:064x}") for i in (1, 2, 0xDEADBEEF, SECP256K1_N - 1)]


RECORDS = st.sampled_from(sorted(RECORD_TYPES.values(), key=lambda c: c.KIND)).flatmap(record_of)
DOMAINS = st.builds(
    Domain,
    chain_id=st.integers(1, (1 << 64) - 1),
    verifying_contract=st.binary(min_size=20, max_size=20).map(to_checksum_address),
)


@settings(max_examples=150, deadline=None)
@given(record=RECORDS, domain=DOMAINS, key=st.sampled_from(KEYS))
def test_round_trips_for_random_records(record: Record, domain: Domain, key: bytes) -> None:
    cls = type(record)
    assert cls.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert cls.from_abi(record.abi_encoded()) == record
    typed = record.typed_data(domain)
    assert eth_account_digest(typed) == record.digest(domain)
    signed = record.sign(key, domain)
    assert signed.verify() == Account.from_key(key).address
    assert signed_from_bytes(signed.canonical_bytes()) == signed
    assert signed_from_json(json.loads(json.dumps(signed.to_json())), domain) == signed
    assert signed.leaf_hash() == merkle.leaf_hash(signed.canonical_bytes())


UTF8_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    line=st.builds(
        DeliveryLine,
        commitment_id=B32,
        item=UTF8_TEXT,
        quantity=st.integers(0, (1 << 128) - 1),
        unit=UTF8_TEXT,
        delivered_at=st.integers(0, (1 << 64) - 1),
        beneficiary=B32,
        evidence_hash=B32,
    )
)
def test_delivery_line_round_trip(line: DeliveryLine) -> None:
    data = line.line_bytes()
    assert DeliveryLine.from_bytes(data) == line
    assert line.leaf_hash() == merkle.leaf_hash(data)
    for cut in (0, 1, 124):
        with pytest.raises(RecordError):
            DeliveryLine.from_bytes(data[:cut])
    with pytest.raises(RecordError):
        DeliveryLine.from_bytes(data + b"\x00")


def test_delivery_line_refuses_bad_utf8() -> None:
    line = DeliveryLine(bytes(32), "x", 1, "kg", 0, bytes(32), bytes(32))
    data = bytearray(line.line_bytes())
    data[123] = 0xFF  # the item's one byte
    with pytest.raises(RecordError) as info:
        DeliveryLine.from_bytes(bytes(data))
    assert info.value.code == "bad_line_bytes"
