"""Known-answer EIP-712 digests of the library messages (ledger/library/messages.py), a
hand-computed struct hash for two of them, signing/recovery, and message parsing refusals.
Other implementations (a browser workspace) must produce these digests."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from api.problems import status_of
from ledger.core.eip712 import Domain
from ledger.library import messages as m

D = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")


def Z(b: str) -> str:
    return "0x" + b * 32


VECTORS = {
    "LibraryProject": {
        "action": "publish",
        "projectId": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8" + "00" * 12,
        "projectKind": 1,
        "county": 522327,
        "orgCode": "",
        "title": "册亨县者楼村油茶产业帮扶",
        "category": 1,
        "budget": 50000000,
        "endDate": 20270331,
        "status": "published",
        "version": 1,
        "contentHash": Z("ab"),
        "nonce": Z("01"),
        "expiry": 1800000000,
    },
    "LibraryMatch": {
        "action": "propose",
        "matchId": Z("22"),
        "direction": "take",
        "needId": Z("33"),
        "needTitle": "册亨县者楼村油茶产业帮扶",
        "needVersion": 1,
        "needContentHash": Z("44"),
        "county": 522327,
        "supplyId": Z("00"),
        "supplyTitle": "",
        "orgCode": "91520000MA6DKTQX0C",
        "resources": [
            {"kind": "funds", "quantity": 20000000, "unit": "fen", "item": ""},
            {"kind": "goods", "quantity": 5000, "unit": "株", "item": "油茶苗"},
        ],
        "deadline": 20270331,
        "note": "可提供技术员",
        "nonce": Z("02"),
        "expiry": 1800000000,
    },
    "LibraryPush": {
        "projectId": Z("33"),
        "title": "册亨县者楼村油茶产业帮扶",
        "limit": 5,
        "nonce": Z("03"),
        "expiry": 1800000000,
    },
    "KeyCountyList": {
        "version": 2,
        "source": "国乡振发〔2021〕1号",
        "counties": [522326, 522327],
        "expiry": 1800000000,
    },
    "LibraryImport": {
        "bundleHash": Z("55"),
        "exporter": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "instance": "guizhou",
        "treeSize": 12,
        "root": Z("66"),
        "projects": 1,
        "nonce": Z("04"),
        "expiry": 1800000000,
    },
    "LibraryBundle": {
        "instance": "guizhou",
        "exporter": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "treeSize": 12,
        "root": Z("66"),
        "projects": 1,
        "contentHash": Z("77"),
    },
    "LibraryRead": {
        "projectId": Z("33"),
        "reader": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "expiry": 1800000000,
    },
}

DIGESTS = {
    "LibraryProject": "7c6b47bc8322cc40ca7900d0741ef67e3dffd5e1c7a6e5e09eb5fb0befa32f0c",
    "LibraryMatch": "fc3c94ae5364b299d0cf2aeff33a154c96a0b53a8fe31892712b1cb9d942c96e",
    "LibraryPush": "4fe27d94d87ccd998d9a6169406ec1d7bdb6f257c5ef8471af69c37a52432719",
    "KeyCountyList": "5a5daa3c0e2b823f27b2d7ec5b99d67d11f062aa3aee35176d56693ff58fca88",
    "LibraryImport": "cf2c86ae460904b0fd4a10afbd358c9b16c3cb37513ca080ac360bf37b325c6e",
    "LibraryBundle": "ef5ad86f61a7f815ae66af0eb91cbebb36da4dcb086a19b4903c5e6e22b18208",
    "LibraryRead": "a33e83ba1aefb35fa9e08835e10020c1023bdbf8a9629e29062ade3d3b198bef",
}


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_known_answer_digests(name):
    mtype = m.TYPES[name]
    assert m.digest(mtype, m.parse(mtype, VECTORS[name]), D).hex() == DIGESTS[name]


def _digest(struct_hash: bytes) -> str:
    return keccak(b"\x19\x01" + D.separator() + struct_hash).hex()


def test_digests_by_hand():
    """The same digests from the EIP-712 rules alone (strings hashed, arrays hashed)."""
    v = VECTORS["LibraryProject"]
    typehash = keccak(
        text="LibraryProject(string action,bytes32 projectId,uint8 projectKind,uint32 county,"
        "string orgCode,string title,uint8 category,uint128 budget,uint32 endDate,"
        "string status,uint32 version,bytes32 contentHash,bytes32 nonce,uint64 expiry)"
    )
    struct = keccak(
        typehash
        + keccak(text=v["action"])
        + bytes.fromhex(v["projectId"][2:])
        + encode(["uint8", "uint32"], [v["projectKind"], v["county"]])
        + keccak(text=v["orgCode"])
        + keccak(text=v["title"])
        + encode(["uint8", "uint128", "uint32"], [v["category"], v["budget"], v["endDate"]])
        + keccak(text=v["status"])
        + encode(["uint32"], [v["version"]])
        + bytes.fromhex(v["contentHash"][2:])
        + bytes.fromhex(v["nonce"][2:])
        + encode(["uint64"], [v["expiry"]])
    )
    assert _digest(struct) == DIGESTS["LibraryProject"]
    k = VECTORS["KeyCountyList"]
    typehash = keccak(
        text="KeyCountyList(uint32 version,string source,uint32[] counties,uint64 expiry)"
    )
    struct = keccak(
        typehash
        + encode(["uint32"], [k["version"]])
        + keccak(text=k["source"])
        + keccak(b"".join(encode(["uint32"], [c]) for c in k["counties"]))
        + encode(["uint64"], [k["expiry"]])
    )
    assert _digest(struct) == DIGESTS["KeyCountyList"]


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_sign_recover_and_wallet_signature_agree(name):
    key = "0x" + "59" * 32
    mtype = m.TYPES[name]
    msg = m.parse(mtype, VECTORS[name])
    sig = m.sign(mtype, msg, D, key)
    assert m.recover(mtype, msg, D, sig) == Account.from_key(key).address
    # a wallet signing the JSON typed data (eth_signTypedData_v4) makes the same signature
    wallet = Account.sign_typed_data(key, full_message=m.typed_data(mtype, msg, D)).signature
    assert "0x" + bytes(wallet).hex() == sig
    # another domain (chain or contract) gives another digest
    other = Domain(chain_id=1, verifying_contract=D.verifying_contract)
    assert m.recover(mtype, msg, other, sig) != Account.from_key(key).address


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"budget": -1}, "bad_message"),
        ({"budget": 1 << 128}, "bad_message"),
        ({"projectId": "0x12"}, "bad_message"),
        ({"title": 5}, "bad_message"),
        ({"extra": 1}, "bad_message"),
    ],
)
def test_malformed_messages_refused(change, code):
    with pytest.raises(m.MessageError) as info:
        m.parse(m.LIBRARY_PROJECT, {**VECTORS["LibraryProject"], **change})
    assert info.value.code == code


def test_signature_checks():
    msg = m.parse(m.LIBRARY_PUSH, VECTORS["LibraryPush"])
    for sig, code in [
        (None, "signature_required"),
        ("", "signature_required"),
        ("0x1234", "bad_signature"),
        ("zz", "bad_signature"),
    ]:
        with pytest.raises(m.SignatureError) as info:
            m.recover(m.LIBRARY_PUSH, msg, D, sig)
        assert info.value.code == code and status_of(info.value) == 401
    with pytest.raises(m.SignatureError) as info:
        m.check_expiry(100, now=100)
    assert info.value.code == "signature_expired"
    with pytest.raises(m.SignatureError) as info:
        m.check_expiry(100 + m.MAX_LIFETIME + 1, now=100)
    assert info.value.code == "expiry_too_far"
    m.check_expiry(101, now=100)  # accepted: one second left


def _schema_of(mtype: m.MessageType) -> object:
    import jsonschema_rs

    from api.schemas import message_model

    return jsonschema_rs.Draft202012Validator(message_model(mtype).model_json_schema())


def _parses(mtype: m.MessageType, msg: dict[str, object]) -> bool:
    try:
        m.parse(mtype, msg)
    except m.MessageError as exc:
        assert exc.code == "bad_message"
        return False
    return True


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_document_schema_and_parse_agree(name):
    """The OpenAPI document's message schema (derived from the same EIP-712 table) takes
    exactly what messages.parse takes at each boundary: the vector, text of MAX_TEXT and one
    more, big integers as decimal text, lists at their limit and one over, NUL, a missing or
    an unknown field."""
    mtype = m.TYPES[name]
    schema = _schema_of(mtype)
    base = VECTORS[name]
    cases: list[tuple[dict[str, object], bool]] = [
        (base, True),
        ({**base, "unknown": 1}, False),
        ({k: v for k, v in base.items() if k != mtype.field_names[0]}, False),
    ]
    for field, typ in mtype.fields:
        if typ == "string":
            cases += [
                ({**base, field: "汉" * m.MAX_TEXT}, True),
                ({**base, field: "汉" * (m.MAX_TEXT + 1)}, False),
                ({**base, field: "a\x00b"}, False),
                ({**base, field: ""}, True),
            ]
        elif typ in ("uint64", "uint128"):
            cases += [
                ({**base, field: str(base[field])}, True),
                ({**base, field: "-1"}, False),
                ({**base, field: 1.5}, False),
            ]
        elif typ == "bytes32":
            cases += [({**base, field: "0x12"}, False), ({**base, field: Z("AB")}, True)]
        elif typ == "Resource[]":
            one = base[field][0]  # type: ignore[index]
            cases += [
                ({**base, field: [one] * m.MAX_RESOURCES}, True),
                ({**base, field: [one] * (m.MAX_RESOURCES + 1)}, False),
                ({**base, field: [{**one, "extra": 1}]}, False),
            ]
        elif typ == "uint32[]":
            cases += [
                ({**base, field: list(range(m.MAX_ITEMS))}, True),
                ({**base, field: list(range(m.MAX_ITEMS + 1))}, False),
            ]
    for msg, ok in cases:
        assert schema.is_valid(msg) is ok, (name, msg if len(str(msg)) < 500 else "…")  # type: ignore[attr-defined]
        assert _parses(mtype, msg) is ok, (name, msg if len(str(msg)) < 500 else "…")
