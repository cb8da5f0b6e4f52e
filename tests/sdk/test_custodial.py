"""Custodial mode on a real anvil and real databases: off by default, refused without a
keystore password, tokens stored only as digests, signing bound to one key and its role."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from ledger.app import LedgerService
from ledger.config import Settings
from ledger.core.errors import ApiError, BadToken, ConfigError, CustodialDisabled
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind
from ledger.custodial import Custodian
from ledger.sdk.client import BangfuClient
from tests.factories import ChainEnv, Stack, matched, stack

PASSWORD = "keystore-password-for-tests"
FAST = 2**10  # scrypt n: the default is slow by design; tests only need the format


def custodial_settings(env: ChainEnv, tmp: Path, database_url: str, **extra: object) -> Settings:
    # the deployment file lives under var/, so a private var/ gets a copy of it
    shutil.copy(env.settings.deployment_path, tmp / "deployment.json")
    values: dict[str, object] = {
        "var": tmp,
        "database_url": database_url,
        "custodial": True,
        "keystore_password": SecretStr(PASSWORD),  # model_copy does not validate
    }
    values.update(extra)
    return env.settings.model_copy(update=values)


@pytest.fixture
def csvc(env: ChainEnv, tmp_path: Path, database_url: str) -> Iterator[LedgerService]:
    svc = LedgerService(custodial_settings(env, tmp_path, database_url))
    svc.db.migrate()
    yield svc
    svc.close()


@pytest.fixture
def cst(csvc: LedgerService, env: ChainEnv) -> Stack:
    return stack(csvc, env.actors.relayers)


def test_custodial_signing_end_to_end(env: ChainEnv, csvc: LedgerService, cst: Stack) -> None:
    custodian = Custodian(csvc.settings)
    org_address, org_token = custodian.add_key(
        bytes(env.actors.org_a.key), label="org A", iterations=FAST
    )
    _, county_token = custodian.add_key(bytes(env.actors.county_a.key), iterations=FAST)
    assert org_address == env.actors.org_a.address
    need_id, match_id = matched(cst, env.actors.county_a, env.actors.org_a)

    with TestClient(create_app(csvc)) as http:
        client = BangfuClient(http=http)
        record = {
            "needId": need_id,
            "matchId": match_id,
            "resourceKind": 1,
            "quantity": 88_800,
            "unit": "0x" + "00" * 32,
            "dueDate": 1_900_000_000,
            "termsHash": "0x" + "77" * 32,
        }
        answer = client.custodial_submit(org_token, "commitment", record)
        assert answer["signer"] == env.actors.org_a.address
        assert answer["status"] == "queued" and not answer["duplicate"]
        cst.settle([answer["record_id"]])
        on_chain = client.record(answer["record_id"])
        signed = signed_from_bytes(bytes.fromhex(on_chain["bytes"][2:]))
        assert signed.kind == Kind.COMMITMENT and signed.signer == env.actors.org_a.address
        assert signed.verify() == env.actors.org_a.address

        # The org's token cannot sign what only a county may sign, and vice versa.
        receipt = {
            "deliveryId": "0x" + "12" * 32,
            "confirmedQuantity": 1,
            "noteHash": "0x" + "00" * 32,
        }
        with pytest.raises(ApiError) as exc:
            client.custodial_submit(org_token, "receipt", receipt)
        assert (exc.value.code, exc.value.fields["status"]) == ("kind_not_allowed", 403)
        with pytest.raises(ApiError) as exc:
            client.custodial_submit(county_token, "commitment", record)
        assert exc.value.code == "kind_not_allowed"
        with pytest.raises(ApiError) as exc:
            client.custodial_submit(
                org_token,
                "flag",
                {"recordId": "0x" + "12" * 32, "reasonCode": 1, "noteHash": "0x" + "00" * 32},
            )
        assert exc.value.code == "kind_not_allowed"

        # A bad record is refused with the record's own code, before anything is signed.
        with pytest.raises(ApiError) as exc:
            client.custodial_submit(org_token, "commitment", {**record, "quantity": "lots"})
        assert exc.value.code == "bad_type"

        # Tokens: wrong, missing, revoked.
        for token in ("bfc_wrong", ""):
            with pytest.raises(ApiError) as exc:
                client.custodial_submit(token, "commitment", record)
            assert (exc.value.code, exc.value.fields["status"]) == ("bad_token", 401)
        r = http.post("/api/v1/custodial/records", json={"kind": "commitment", "record": record})
        assert r.status_code == 401 and r.json()["code"] == "bad_token"
        assert custodian.revoke(org_address) == 1
        with pytest.raises(ApiError) as exc:
            client.custodial_submit(org_token, "commitment", record)
        assert exc.value.code == "bad_token"


def test_keystore_keeps_no_secret_in_clear(env: ChainEnv, tmp_path: Path) -> None:
    settings = Settings(var=tmp_path, custodial=True, keystore_password=PASSWORD)
    custodian = Custodian(settings)
    address, token = custodian.add_key(bytes(env.actors.org_b.key), iterations=FAST)
    files = {p.name: p.read_bytes() for p in (tmp_path / "keystore").iterdir()}
    everything = b"".join(files.values())
    assert token.encode() not in everything
    assert hashlib.sha256(token.encode()).hexdigest().encode() in files["tokens.json"]
    assert env.actors.org_b.key.hex().encode() not in everything
    assert (tmp_path / "keystore" / f"{address.lower()[2:]}.json").stat().st_mode & 0o077 == 0
    # A second token for the same key keeps the one keystore file and adds a digest.
    second = custodian.issue_token(address)
    entries = json.loads(files["tokens.json"])["tokens"]
    assert len(custodian.entries()) == len(entries) + 1
    assert custodian.authenticate(f"Bearer {second}") == address
    # A fresh process (a new Custodian) decrypts the stored key with the password alone.
    assert Custodian(settings).account(address).address == address
    wrong = Custodian(
        settings.model_copy(update={"keystore_password": SecretStr("not-the-password")})
    )
    with pytest.raises(Exception) as exc:
        wrong.account(address)
    assert getattr(exc.value, "code", None) == "wrong_password"
    with pytest.raises(BadToken):
        custodian.authenticate("Basic abc")


def test_custodial_is_off_by_default(env: ChainEnv, tmp_path: Path, database_url: str) -> None:
    assert Settings().custodial is False
    settings = custodial_settings(env, tmp_path, database_url, custodial=False)
    with pytest.raises(CustodialDisabled):
        Custodian(settings)
    svc = LedgerService(settings)
    svc.db.migrate()
    with TestClient(create_app(svc)) as http:
        r = http.post(
            "/api/v1/custodial/records",
            json={"kind": "commitment", "record": {}},
            headers={"Authorization": "Bearer bfc_x"},
        )
    svc.close()
    assert r.status_code == 404
    assert r.json()["code"] == "custodial_disabled"


def test_custodial_mode_refuses_to_start_without_password(
    env: ChainEnv, tmp_path: Path, database_url: str
) -> None:
    settings = custodial_settings(env, tmp_path, database_url, keystore_password=None)
    with pytest.raises(ConfigError) as exc:
        Custodian(settings)
    assert exc.value.code == "custodial_no_password"
    svc = LedgerService(settings)
    svc.db.migrate()
    try:
        with pytest.raises(ConfigError), TestClient(create_app(svc)):
            pass
    finally:
        svc.close()
