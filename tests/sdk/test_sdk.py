"""The SDK against the real app (in process over TestClient, and over HTTP to uvicorn), a real
anvil and real databases: a record's whole life, status polling, queries and every error."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.core.aid_kinds import Commitment, Delivery, ProjectAnchor
from ledger.core.errors import (
    ApiError,
    ApiUnreachable,
    LedgerError,
    RecordError,
    RecordFailed,
    WaitTimeout,
)
from ledger.core.fields import ResourceKind, text32
from ledger.core.lines import DeliveryLine
from ledger.core.record_types import signed_from_bytes
from ledger.sdk.client import BangfuClient
from ledger.sdk.fields import record_from_fields
from tests.factories import (
    COUNTY_A,
    ORG_CODE_A,
    ChainEnv,
    LiveServer,
    Pump,
    Stack,
    free_port,
    matched,
    sdk,
)


def test_record_life_through_the_sdk(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient, pump: Pump
) -> None:
    need_id, match_id = matched(st, env.actors.county_a, env.actors.org_a)
    pump.start()

    org = sdk(http, env.actors.org_a)
    county = sdk(http, env.actors.county_a)
    assert org.domain() == env.domain

    c = org.commitment(
        need_id,
        match_id=match_id,
        resource_kind=ResourceKind.GOODS,
        quantity=500,
        unit="斤",
        due_date=1_900_000_000,
    )
    assert c.signer == env.actors.org_a.address
    (accepted,) = org.submit([c])
    assert (accepted.kind, accepted.duplicate) == ("commitment", False)
    org.wait_confirmed([c.id], timeout=120, interval=0.1)

    d = org.delivery(c.id, quantity=200, evidence_hash="0x" + "ab" * 32, beneficiary_count=4)
    lines = [
        DeliveryLine(c.id, "大米", 50, "斤", 1_800_000_000, bytes([i]) * 32, bytes(32))
        for i in range(1, 4)
    ]
    batch = org.delivery_batch(lines)
    org.submit([d, batch])
    statuses = org.wait_confirmed([d.id, batch.id], timeout=120, interval=0.1)
    assert [s.status for s in statuses] == ["confirmed", "confirmed"]
    assert all(s.leaf_index is not None and s.tx_hash for s in statuses)

    r = county.receipt(d.id, confirmed_quantity=190)
    county.submit([r])
    county.wait_confirmed([r.id], timeout=120, interval=0.1)

    # Resubmitting the same signed bytes is answered as a duplicate, not a second record.
    (again,) = org.submit([d])
    assert again.duplicate and again.status == "confirmed"

    reader = sdk(http)  # no key: reading needs none
    cid = "0x" + c.id.hex()
    one = reader.record(c.id)
    assert one["signer"] == env.actors.org_a.address
    assert signed_from_bytes(bytes.fromhex(one["bytes"][2:])) == c
    deliveries = list(reader.iter_query("deliveries", commitment=cid, limit=1))
    assert {i["record_id"] for i in deliveries} == {"0x" + d.id.hex(), "0x" + batch.id.hex()}
    commits = reader.query("commitments", county=COUNTY_A, org=ORG_CODE_A, category="民生保障")
    assert cid in {i["record_id"] for i in commits.items}
    totals = reader.totals("county", county=COUNTY_A, org=ORG_CODE_A)
    goods = [t for t in totals if t["resource_kind"] == ResourceKind.GOODS and t["unit"] == "斤"]
    assert goods and goods[0]["committed"] >= 500 and goods[0]["delivered"] >= 350


def test_refusals_come_back_as_api_errors(env: ChainEnv, st: Stack, http: TestClient) -> None:
    stranger = sdk(http, env.actors.stranger)
    with pytest.raises(ApiError) as exc:
        stranger.submit([stranger.flag("0x" + "11" * 32)])
    assert exc.value.code == "missing_role"
    assert exc.value.fields["status"] == 422

    org = sdk(http, env.actors.org_a)
    with pytest.raises(ApiError) as exc:
        org.submit([org.delivery("0x" + "22" * 32, quantity=1)])
    assert exc.value.code == "unknown_commitment", exc.value.message

    with pytest.raises(ApiError) as exc:
        org.record("0x" + "33" * 32)
    assert (exc.value.code, exc.value.fields["status"]) == ("record_not_found", 404)

    with pytest.raises(ApiError) as exc:
        org.query("nonsense")
    assert exc.value.code == "invalid_request"

    with pytest.raises(LedgerError) as exc:
        sdk(http).commitment("0x" + "44" * 32, quantity=1)
    assert exc.value.code == "no_key"


def test_status_of_unknown_ids_and_wait_timeout(svc: LedgerService, http: TestClient) -> None:
    client = sdk(http)
    (s,) = client.status(["0x" + "55" * 32])
    assert s.status == "unknown"
    with pytest.raises(WaitTimeout) as exc:
        client.wait_confirmed(["0x" + "55" * 32], timeout=0.3, interval=0.1)
    assert exc.value.fields["waiting"] == ["0x" + "55" * 32]


def test_wait_confirmed_raises_when_the_chain_refused(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    from ledger.store.models import OutboxRecord

    org = sdk(http, env.actors.org_a)
    # A record the chain refused is marked failed by the relayer; stand one in directly.
    rid = "0x" + "66" * 32
    with svc.db.write() as s:
        s.add(
            OutboxRecord(
                record_id=rid,
                kind=3,
                signer=env.actors.org_a.address,
                record_bytes=b"\x01",
                status="failed",
                error_code="OverDelivery",
                error="too much",
            )
        )
    with pytest.raises(RecordFailed) as exc:
        org.wait_confirmed([rid], timeout=5)
    assert exc.value.fields["error_code"] == "over_delivery"


def test_unreachable_api_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with BangfuClient(url) as client, pytest.raises(ApiUnreachable) as exc:
        client.status(["0x" + "77" * 32])
    assert url in exc.value.message
    assert exc.value.code == "api_unreachable"


def test_over_real_http(env: ChainEnv, st: Stack, live: LiveServer) -> None:
    with BangfuClient(live.url, account=env.actors.org_a) as client:
        assert client.domain() == env.domain
        assert client.eip712()["kinds"]["commitment"] == "Commitment"
        with pytest.raises(ApiError) as exc:
            client.submit([client.delivery("0x" + "88" * 32, quantity=3)])
        assert exc.value.code == "unknown_commitment"


# ---------------------------------------------------------------- loose input (no chain)


SIGNER = "0x" + "ab" * 20


def test_record_from_fields_converts_loose_values(tmp_path) -> None:
    evidence = tmp_path / "photo.jpg"
    evidence.write_bytes(b"jpeg bytes")
    rec = record_from_fields(
        "commitment",
        {
            "need_id": "0x" + "01" * 32,
            "matchId": "0x" + "02" * 32,
            "resourceKind": "goods",
            "quantity": "500",
            "unit": "斤",
            "dueDate": "2026-01-01",
            "termsHash": "@photo.jpg",
        },
        base=tmp_path,
        signer=SIGNER,
    )
    assert isinstance(rec, Commitment)
    assert rec.resource_kind == ResourceKind.GOODS and rec.quantity == 500
    assert rec.unit == text32("斤")
    assert rec.due_date == 1_767_196_800  # 2026-01-01 00:00 Beijing time
    import hashlib

    assert rec.terms_hash == hashlib.sha256(b"jpeg bytes").digest()
    assert len(rec.id) == 32 and rec.id[:20] == bytes.fromhex(SIGNER[2:])  # scoped to its signer

    anchor = record_from_fields(
        "project_anchor",
        {
            "projectId": "0x" + "03" * 32,
            "projectKind": "need",
            "county": str(COUNTY_A),
            "category": "产业发展",
            "title": "2026",
            "budget": "1200",
            "endDate": "2026-06-30",
            "contentHash": "0x" + "04" * 32,
            "version": 2,
        },
    )
    assert isinstance(anchor, ProjectAnchor)
    assert anchor.id == ProjectAnchor.anchor_id(b"\x03" * 32, 2)
    assert anchor.category == 1
    assert (anchor.title, anchor.budget, anchor.end_date) == ("2026", 1200, 20260630)

    d = record_from_fields(
        "delivery",
        {
            "commitmentId": "0x" + "05" * 32,
            "quantity": 1,
            "evidenceHash": "0x" + "06" * 32,
            "beneficiaryCount": 0,
            "beneficiaryRoot": "0x" + "00" * 32,
        },
        signer=SIGNER,
    )
    assert isinstance(d, Delivery) and d.delivered_at > 1_700_000_000
    with pytest.raises(RecordError) as exc:  # a fresh id needs to know whose it is
        record_from_fields("receipt", {"deliveryId": "0x" + "05" * 32, "confirmedQuantity": 1,
                                       "noteHash": "0x" + "00" * 32})  # fmt: skip
    assert exc.value.code == "missing_signer"


@pytest.mark.parametrize(
    ("kind", "fields", "code"),
    [
        ("gift", {}, "unknown_kind"),
        (
            "receipt",
            {"deliveryId": "0x12", "confirmedQuantity": 1, "noteHash": "0x" + "0" * 64},
            "bad_length",
        ),
        (
            "receipt",
            {
                "deliveryId": "0x" + "1" * 64,
                "confirmedQuantity": "many",
                "noteHash": "0x" + "0" * 64,
            },
            "bad_type",
        ),
        ("receipt", {"deliveryId": "0x" + "1" * 64}, "missing_field"),
        (
            "receipt",
            {
                "deliveryId": "0x" + "1" * 64,
                "confirmedQuantity": 1,
                "noteHash": "0x" + "0" * 64,
                "colour": "red",
            },
            "unknown_field",
        ),
        ("commitment", {"resourceKind": "gold"}, "bad_type"),
        ("commitment", {"dueDate": "next tuesday"}, "bad_type"),
        ("project_anchor", {"category": "魔法"}, "unknown_category"),
        ("flag", {"noteHash": "@/nonexistent/file"}, "bad_file"),
        ("commitment", {"unit": "一二三四五六七八九十一二"}, "text_too_long"),
    ],
)
def test_record_from_fields_refusals(kind: str, fields: dict, code: str) -> None:
    with pytest.raises(RecordError) as exc:
        record_from_fields(kind, fields)
    assert exc.value.code == code
