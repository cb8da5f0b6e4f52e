"""`POST /api/v1/records` answers the same through its lean path (`SubmitFastPath`, a JSON
body that validates) as through FastAPI's route: the same status, headers and bytes, for
accepted records and for every kind of refusal, and nothing written by a refusal.

A body sent as `application/x-bangfu+json` is parsed by FastAPI as JSON (a `+json` type)
but is not the lean path's `application/json`, so it shows what the route itself answers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routers.submit import SubmitFastPath
from ledger.app import LedgerService
from ledger.core.records import SignedRecord
from tests.factories import Chain, ChainEnv, body, need, outbox_size

URL = "/api/v1/records"
LEAN = {"content-type": "application/json"}
ROUTE = {"content-type": "application/x-bangfu+json"}
#: Headers that differ between any two answers, whoever sends them.
VARYING = {"date", "server"}


def _answer(r: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in r.headers.items() if k.lower() not in VARYING}
    return r.status_code, headers, r.content


def _both(client: TestClient, content: bytes) -> tuple[Any, Any]:
    return (
        client.post(URL, content=content, headers=LEAN),
        client.post(URL, content=content, headers=ROUTE),
    )


def _json(signed: SignedRecord, times: int = 1, record: Any = None, **changes: Any) -> bytes:
    """The body of `signed` (`times` over), with its fields or its record's changed."""
    item = {**signed.to_json(), **changes}
    if record is not None:
        item["record"] = {**item["record"], **record}
    return json.dumps({"records": [item] * times}).encode()


def test_the_lean_path_serves_an_accepted_record(
    svc: LedgerService, client: TestClient, flow: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean path is taken (the framework's route is never entered), and its answer to a
    resubmission is the route's answer, byte for byte."""
    entered: list[str] = []
    route = next(r for r in client.app.routes if getattr(r, "path", "") == URL)  # type: ignore[attr-defined]
    endpoint = route.app

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        entered.append(scope["path"])
        await endpoint(scope, receive, send)

    monkeypatch.setattr(route, "app", counting)
    signed = flow.need()
    first = client.post(URL, content=_json(signed), headers=LEAN)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"][0]["duplicate"] is False
    assert entered == [] and outbox_size(svc) == 1
    lean, routed = _both(client, _json(signed))
    assert entered == [URL]  # only the +json request went through the route
    assert _answer(lean) == _answer(routed)
    assert lean.json()["accepted"][0] == {
        "record_id": "0x" + signed.id.hex(),
        "kind": "project_anchor",
        "status": "queued",
        "duplicate": True,
    }
    assert lean.headers["x-frame-options"] == "DENY"
    assert outbox_size(svc) == 1


def test_refusals_are_the_routes_own(
    env: ChainEnv, svc: LedgerService, client: TestClient, flow: Chain
) -> None:
    good = flow.need()
    stranger = env.actors.stranger
    forged = flow.sign(need(stranger.address), stranger)
    flipped = bytearray(good.signature)
    flipped[10] ^= 1
    cases = {
        "not JSON": b"{not json",
        "not UTF-8": b"\xff\xfe",
        "no records": b'{"records": []}',
        "an extra field": b'{"records": [], "extra": 1}',
        "an unknown kind": _json(good, kind="gift"),
        "a bad signature's pattern": _json(good, signature="0xzz"),
        "an integer past 64 bits": _json(good, record={"category": 10**30}),
        "a signature that recovers to a stranger": _json(
            good, signature="0x" + bytes(flipped).hex(), signer=good.signer
        ),
        "a signer without the role": _json(forged),
        "NaN": b'{"records": [NaN]}',
    }
    for what, content in cases.items():
        lean, routed = _both(client, content)
        assert 400 <= lean.status_code < 500, (what, lean.text)
        assert _answer(lean) == _answer(routed), what
    assert outbox_size(svc) == 0
    # A submission that validates but is refused by the outbox's rules, and one too large.
    lean, routed = _both(client, _json(good, times=2))
    assert lean.status_code == 409 and _answer(lean) == _answer(routed)
    lean, routed = _both(client, _json(good, record={"pad": "x" * 2_100_000}))
    assert lean.status_code == 413 and _answer(lean) == _answer(routed)
    assert outbox_size(svc) == 0


def test_other_requests_pass_through(client: TestClient) -> None:
    assert client.get(URL).status_code == 405
    slash = client.post(URL + "/", content=b"{}", headers=LEAN, follow_redirects=False)
    assert slash.status_code == 307 and slash.headers["location"].endswith(URL)
    assert client.get("/api/v1/eip712").status_code == 200
    assert SubmitFastPath.PATH == URL


def test_body_is_posted_whole_by_the_sdk_shape(client: TestClient, flow: Chain) -> None:
    r = client.post(URL, json=body(flow.need()))
    assert r.status_code == 202 and r.json()["accepted"][0]["status"] == "queued"
