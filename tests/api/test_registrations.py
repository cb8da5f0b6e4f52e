"""Registration by name through the API, signed as a browser signs: the server prepares the
unsigned transaction, the test signs it with the admin's key (`Account.sign_transaction`, as
ethers' `wallet.signTransaction` does), posts the raw transaction and sees the role indexed
with its name. Refusals: a non-admin's signature, another function, another contract, a
tampered transaction, bad fields; each with its code, and nothing sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.indexer.rebuild import digest, rebuild
from ledger.indexer.worker import Indexer
from ledger.library.regions import make_org_code
from ledger.store.models import Organization, RoleEvent
from ledger.store.queries.orgs import org_names
from tests.factories import (
    AUDITOR_NAME,
    COUNTY_A,
    COUNTY_NAME_A,
    ORG_AUTHORITY,
    ORG_CODE_A,
    ORG_CODE_B,
    ORG_NAME_A,
    ORG_NAME_B,
    ORG_TYPE_A,
    ChainEnv,
)

URL = "/api/v1/registrations"


def _prepare(http: TestClient, admin: str, **fields: Any) -> Any:
    return http.post(f"{URL}/prepare", json={"admin": admin, **fields})


def _sign(tx: dict[str, Any], key: LocalAccount) -> str:
    """Signs as the browser does; ethers reads the limit from `gasLimit`, eth-account from
    `gas` (and refuses the other name), so the test keeps `gas`."""
    fields = {k: v for k, v in tx.items() if k != "gasLimit"}
    return "0x" + bytes(key.sign_transaction(fields).raw_transaction).hex()


def _index(svc: LedgerService) -> None:
    Indexer(svc.db, svc.ledger()).run_until_synced()


def _listed(http: TestClient, address: str, role: str) -> dict[str, Any] | None:
    r = http.get(URL)
    assert r.status_code == 200, r.text
    return next((e for e in r.json() if e["address"] == address and e["role"] == role), None)


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text


def test_register_by_browser_signed_tx(env: ChainEnv, svc: LedgerService, http: TestClient) -> None:
    a = env.actors
    admin = a.admin
    ledger = svc.ledger()
    # the session's registrations are listed with their names
    listed = _listed(http, a.org_a.address, "ORG")
    assert listed is not None
    assert (listed["name"], listed["org_code"], listed["active"]) == (ORG_NAME_A, ORG_CODE_A, True)
    county = _listed(http, a.county_a.address, "COUNTY")
    assert county is not None and county["county_name"] == "册亨县"

    # an organization: prepare, sign in "the browser", send, see it indexed by name
    org: LocalAccount = Account.create()
    code = make_org_code("51", 522300, "MJY450811")
    r = _prepare(
        http,
        admin.address,
        action="register_org",
        account=org.address,
        org_code=code,
        name="黔西南州乡村振兴促进会",
        authority="黔西南州民政局",
    )
    assert r.status_code == 200, r.text
    tx, summary = r.json()["tx"], r.json()["summary"]
    assert tx["to"] == ledger.deployment.address and tx["type"] == 2
    assert tx["chainId"] == env.w3.eth.chain_id
    assert all(isinstance(tx[k], int) for k in ("nonce", "gas", "maxFeePerGas"))
    assert tx["gasLimit"] == tx["gas"] > 21_000
    assert summary["名称"] == "黔西南州乡村振兴促进会" and summary["信用代码"] == code
    assert summary["组织类型"].startswith("社会团体")  # 51…: the type the code names
    r = http.post(URL, json={"raw_tx": _sign(tx, admin)})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["block_number"] > 0
    assert ledger.has_role("ORG", org.address)
    _index(svc)
    entry = _listed(http, org.address, "ORG")
    assert entry is not None
    assert (entry["name"], entry["org_type"], entry["org_type_name"], entry["authority"]) == (
        "黔西南州乡村振兴促进会",
        1,
        "社会团体",
        "黔西南州民政局",
    )
    # the portal's org page and list name it from the chain (its registration event)
    page = http.get(f"/orgs/{code}")
    assert page.status_code == 200 and "黔西南州乡村振兴促进会" in page.text, page.text[:500]
    assert "黔西南州乡村振兴促进会" in http.get("/orgs").text

    # a county office: its name defaults to the county's GB/T 2260 name
    office: LocalAccount = Account.create()
    r = _prepare(
        http, admin.address, action="register_county", account=office.address, county=COUNTY_A
    )
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["县"] == f"册亨县 {COUNTY_A}"
    assert http.post(URL, json={"raw_tx": _sign(r.json()["tx"], admin)}).status_code == 200
    _index(svc)
    entry = _listed(http, office.address, "COUNTY")
    assert entry is not None and (entry["name"], entry["county"]) == ("册亨县", COUNTY_A)

    # revoking: deregister_org, and the list shows it inactive
    r = _prepare(http, admin.address, action="deregister_org", account=org.address)
    assert r.status_code == 200, r.text
    assert http.post(URL, json={"raw_tx": _sign(r.json()["tx"], admin)}).status_code == 200
    _index(svc)
    entry = _listed(http, org.address, "ORG")
    assert entry is not None and entry["active"] is False and entry["name"]
    assert not ledger.has_role("ORG", org.address)


def test_refusals(env: ChainEnv, svc: LedgerService, client: TestClient) -> None:
    a = env.actors
    admin, http = a.admin, client
    ledger = svc.ledger()
    auditor: LocalAccount = Account.create()
    r = _prepare(
        http, admin.address, action="register_auditor", account=auditor.address, name="审计二组"
    )
    assert r.status_code == 200, r.text
    tx = r.json()["tx"]

    # signed by someone who is not the admin: 403 not_admin, nothing sent
    _problem(http.post(URL, json={"raw_tx": _sign(tx, a.stranger)}), 403, "not_admin")
    # a raw transaction calling another function of the ledger (a grantRole): 422
    other = dict(tx)
    other["data"] = ledger.contract.encode_abi(
        "grantRole", args=[ledger.role("AUDITOR"), auditor.address]
    )
    _problem(http.post(URL, json={"raw_tx": _sign(other, admin)}), 422, "not_registration_call")
    # the right call, to another contract: 422 wrong_contract
    elsewhere = {**tx, "to": a.stranger.address}
    _problem(http.post(URL, json={"raw_tx": _sign(elsewhere, admin)}), 422, "wrong_contract")
    # another chain: 422 wrong_chain_id
    chain = {**tx, "chainId": tx["chainId"] + 1}
    _problem(http.post(URL, json={"raw_tx": _sign(chain, admin)}), 422, "wrong_chain_id")
    # tampered: a byte of the signed call changed (the name), so the signature recovers to
    # someone else; and a truncated transaction that does not decode
    raw = bytearray(bytes.fromhex(_sign(tx, admin)[2:]))
    at = raw.find("审计二组".encode())
    assert at > 0
    raw[at + 2] ^= 0x01
    r = http.post(URL, json={"raw_tx": "0x" + raw.hex()})
    assert 400 <= r.status_code < 500 and r.json()["code"] in ("not_admin", "bad_raw_tx"), r.text
    _problem(http.post(URL, json={"raw_tx": _sign(tx, admin)[:-20]}), 422, "bad_raw_tx")
    _problem(http.post(URL, json={"raw_tx": "0xzz"}), 422, "invalid_request")
    _problem(http.post(URL, json={"raw_tx": "0x01" + "00" * 40}), 422, "bad_raw_tx")
    assert not ledger.has_role("AUDITOR", auditor.address)

    # prepare refuses bad fields with codes, and a non-admin signer up front
    stranger = Account.create().address
    # one letter's case flipped: an EIP-55 checksum that fails
    flip = next(i for i, c in enumerate(stranger) if i > 1 and c.isalpha())
    bad_checksum = stranger[:flip] + stranger[flip].swapcase() + stranger[flip + 1 :]
    cases = [
        ({"action": "register_auditor", "account": stranger}, 422, "invalid_name"),
        ({"action": "register_county", "account": stranger, "county": 999999}, 422,
         "unknown_county"),
        ({"action": "register_county", "account": stranger, "county": "52232"}, 422,
         "bad_county_code"),
        ({"action": "register_org", "account": stranger, "org_code": ORG_CODE_A, "name": "某会"},
         422, "org_type_required"),
        ({"action": "register_org", "account": stranger, "org_code": "52520000MJY450802G",
          "name": "某会", "org_type": "基金会"}, 422, "org_type_mismatch"),
        ({"action": "register_org", "account": stranger, "org_code": "52520000MJY450802X",
          "name": "某会"}, 422, "bad_org_code"),
        ({"action": "register_auditor", "account": "0x1234", "name": "某"}, 422,
         "invalid_request"),
        ({"action": "register_auditor", "account": bad_checksum, "name": "某"}, 400,
         "bad_address"),
        ({"action": "grant_role", "account": stranger}, 422, "invalid_request"),
        ({"action": "register_county", "account": a.org_a.address, "county": COUNTY_A}, 422,
         "role_conflict"),
    ]  # fmt: skip
    for fields, status, code in cases:
        _problem(_prepare(http, admin.address, **fields), status, code)
    _problem(
        _prepare(http, a.stranger.address, action="register_auditor", account=stranger, name="某"),
        403,
        "not_admin",
    )


def test_rebuild_keeps_names(env: ChainEnv, svc: LedgerService, tmp_path: Path) -> None:
    """A read model rebuilt from the chain alone has every registration's name, type and
    authority, and the organizations table names each organization from its event."""
    fresh, _ = rebuild(svc.ledger(), f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}")
    try:
        with fresh.read() as s:
            rows = {
                (r.address, r.role): r
                for r in s.scalars(select(RoleEvent).where(RoleEvent.name.is_not(None)))
            }
            org = rows[(env.actors.org_a.address, "ORG")]
            assert (org.name, org.org_type, org.authority) == (
                ORG_NAME_A,
                ORG_TYPE_A,
                ORG_AUTHORITY,
            )
            assert rows[(env.actors.county_a.address, "COUNTY")].name == COUNTY_NAME_A
            assert rows[(env.actors.auditor.address, "AUDITOR")].name == AUDITOR_NAME
            named = s.get(Organization, ORG_CODE_B)
            assert named is not None and named.name == ORG_NAME_B
            assert org_names(s)[ORG_CODE_A][0] == ORG_NAME_A
        assert digest(fresh) == digest(svc.db)
    finally:
        fresh.dispose()
