"""Sign-in with a key the browser holds: a signed SignIn challenge opens an HttpOnly,
SameSite=Strict session; every refusal (wrong origin, expired, replayed, unregistered,
tampered, expired session, missing CSRF token) answers its code and opens nothing."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from ledger.app import LedgerService
from ledger.library import messages
from ledger.workspace.models import SignInSession
from ledger.workspace.signin import SIGN_IN
from tests.factories import COUNTY_A, ORG_CODE_A, ChainEnv, row_count
from tests.workspace.helpers import challenge, sign_in, sign_typed, signed_in


def _cookies(answer: Any) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    out = {}
    for header in answer.headers.get_list("set-cookie"):
        out[header.split("=", 1)[0]] = header
    return out


def test_sign_in_read_the_session_and_sign_out(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    county = env.actors.county_a
    answer = sign_in(http, county)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["address"] == county.address
    assert body["roles"] == [
        {
            "role": "COUNTY",
            "county": COUNTY_A,
            "county_name": "册亨县",
            "org_code": None,
            "name": "册亨县",
        }
    ]
    assert len(body["csrf_token"]) == 64
    cookies = _cookies(answer)
    session_cookie = cookies["bangfu_session"]
    assert "HttpOnly" in session_cookie
    assert "SameSite=strict" in session_cookie or "SameSite=Strict" in session_cookie
    assert "Path=/" in session_cookie
    assert "Secure" not in session_cookie  # http://testserver: no TLS
    csrf_cookie = cookies["bangfu_csrf"]
    assert "HttpOnly" not in csrf_cookie
    assert "samesite=strict" in csrf_cookie.lower()
    assert csrf_cookie.startswith(f"bangfu_csrf={body['csrf_token']};")
    # the token is not stored: only its hash
    token = session_cookie.split(";", 1)[0].split("=", 1)[1]
    with svc.db.read() as s:
        row = s.scalars(select(SignInSession)).one()
    assert row.token_hash != token and len(row.token_hash) == 64
    assert row.csrf_hash != body["csrf_token"]

    again = http.get("/api/v1/session")
    assert again.status_code == 200
    assert again.json()["csrf_token"] == body["csrf_token"]
    assert again.json()["roles"] == body["roles"]

    out = http.delete("/api/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
    assert row_count(svc.db, SignInSession) == 0
    gone = http.get("/api/v1/session")
    assert gone.status_code == 401
    assert gone.json()["code"] == "session_required"


def test_an_org_signs_in_with_its_code(env: ChainEnv, http: TestClient) -> None:
    body = sign_in(http, env.actors.org_a).json()
    assert [(r["role"], r["org_code"]) for r in body["roles"]] == [("ORG", ORG_CODE_A)]
    auditor = sign_in(http, env.actors.auditor).json()
    assert [r["role"] for r in auditor["roles"]] == ["AUDITOR"]


def test_no_cookie_is_no_session(http: TestClient) -> None:
    answer = http.get("/api/v1/session")
    assert answer.status_code == 401
    assert answer.json()["code"] == "session_required"
    http.cookies.set("bangfu_session", "00" * 32)
    assert http.get("/api/v1/session").json()["code"] == "session_required"
    assert http.get("/api/v1/inbox").status_code == 401


def _challenge_signed(http: TestClient, account: Any) -> tuple[dict[str, Any], str]:
    """A fresh challenge's message and the account's signature of it."""
    c = challenge(http, account)
    return c["message"], sign_typed(account, c["typed_data"])


def _post(http: TestClient, message: dict[str, Any], signature: str) -> Any:
    return http.post("/api/v1/session", json={"message": message, "signature": signature})


def _signed(env: ChainEnv, account: Any, message: dict[str, Any]) -> str:
    return sign_typed(account, messages.typed_data(SIGN_IN, message, env.domain))


def test_a_challenge_signed_for_another_origin_is_refused(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    county = env.actors.county_a
    message = {**challenge(http, county)["message"], "origin": "https://evil.example"}
    answer = _post(http, message, _signed(env, county, message))
    assert answer.status_code == 403
    assert answer.json()["code"] == "wrong_origin"
    assert row_count(svc.db, SignInSession) == 0
    # and a page of another site cannot post a good challenge either
    c = challenge(http, county)
    answer = http.post(
        "/api/v1/session",
        json={"message": c["message"], "signature": sign_typed(county, c["typed_data"])},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "wrong_origin"
    assert "bangfu_session" not in _cookies(answer)
    assert row_count(svc.db, SignInSession) == 0


def test_an_expired_challenge_is_refused(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    county = env.actors.county_a
    now = int(time.time())
    message = {
        **challenge(http, county)["message"],
        "issuedAt": now - 600,
        "expiry": now - 300,
    }
    answer = _post(http, message, _signed(env, county, message))
    assert answer.status_code == 401
    assert answer.json()["code"] == "signature_expired"
    assert row_count(svc.db, SignInSession) == 0


def test_a_challenge_opens_one_session_only(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    message, signature = _challenge_signed(http, env.actors.county_a)
    assert _post(http, message, signature).status_code == 200
    replay = _post(http, message, signature)
    assert replay.status_code == 401
    assert replay.json()["code"] == "signature_replayed"
    assert row_count(svc.db, SignInSession) == 1
    # signing in again from the same browser replaces its session
    assert sign_in(http, env.actors.county_a).status_code == 200
    assert row_count(svc.db, SignInSession) == 1


def test_an_unregistered_address_may_not_sign_in(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    answer = sign_in(http, env.actors.stranger)
    assert answer.status_code == 403
    assert answer.json()["code"] == "not_registered"
    assert "未登记" in answer.json()["detail"]
    assert row_count(svc.db, SignInSession) == 0


def test_a_tampered_signature_or_message_is_refused(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    county = env.actors.county_a
    message, signature = _challenge_signed(http, county)
    flipped = signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]
    answer = _post(http, message, flipped)
    assert answer.status_code == 401
    assert answer.json()["code"] == "bad_signature"
    # the county's signature over a challenge naming another address opens nothing for it
    other = {**message, "address": env.actors.org_a.address}
    answer = _post(http, other, _signed(env, county, other))
    assert answer.status_code == 401
    assert answer.json()["code"] == "bad_signature"
    unsigned = _post(http, message, "")
    assert unsigned.json()["code"] == "signature_required"
    assert row_count(svc.db, SignInSession) == 0
    # the untouched challenge still works: nothing above spent its nonce
    assert _post(http, message, signature).status_code == 200


def test_a_session_expires(env: ChainEnv, svc: LedgerService, http: TestClient) -> None:
    svc.settings.session_lifetime = 2
    signed_in(http, env.actors.county_a)
    assert http.get("/api/v1/inbox").status_code == 200
    token = http.cookies["bangfu_session"]
    time.sleep(2.5)
    # the browser drops the cookie at its Max-Age; one that still sends it is refused
    assert http.get("/api/v1/session").json()["code"] == "session_required"
    http.cookies.set("bangfu_session", token)
    for path in ("/api/v1/session", "/api/v1/inbox"):
        answer = http.get(path)
        assert answer.status_code == 401
        assert answer.json()["code"] == "session_expired"
        assert "过期" in answer.json()["detail"]


def test_sign_out_needs_the_csrf_token(env: ChainEnv, svc: LedgerService, http: TestClient) -> None:
    csrf = signed_in(http, env.actors.county_a)
    missing = http.delete("/api/v1/session")
    assert missing.status_code == 403
    assert missing.json()["code"] == "csrf_failed"
    wrong = http.delete("/api/v1/session", headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "csrf_failed"
    assert row_count(svc.db, SignInSession) == 1
    assert http.get("/api/v1/session").status_code == 200
    assert http.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert row_count(svc.db, SignInSession) == 0


def test_over_https_the_cookies_are_secure(env: ChainEnv, svc: LedgerService) -> None:
    with TestClient(create_app(svc), base_url="https://ledger.example") as https:
        c = challenge(https, env.actors.org_a)
        assert c["message"]["origin"] == "https://ledger.example"
        assert c["typed_data"]["primaryType"] == "SignIn"
        assert c["typed_data"]["domain"] == env.domain.as_dict()
        answer = sign_in(https, env.actors.org_a)
        assert answer.status_code == 200, answer.text
        cookies = _cookies(answer)
        assert "Secure" in cookies["bangfu_session"] and "HttpOnly" in cookies["bangfu_session"]
        assert "Secure" in cookies["bangfu_csrf"]


def test_a_challenge_needs_an_address(http: TestClient) -> None:
    answer = http.get("/api/v1/session/challenge", params={"address": "0x1234"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_address"
