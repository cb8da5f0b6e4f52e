"""Signing in as a browser does: ask for the challenge, sign its typed data with eth-account
(as ethers' `wallet.signTypedData` would), post it back."""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient


def sign_typed(account: LocalAccount, typed_data: dict[str, Any]) -> str:
    """An eth_signTypedData_v4 signature over a JSON typed-data document, 0x-hex."""
    full = {**typed_data, "types": dict(typed_data["types"])}
    signed = Account.sign_typed_data(account.key, full_message=full)
    return "0x" + bytes(signed.signature).hex()


def challenge(http: TestClient, account: LocalAccount) -> dict[str, Any]:
    answer = http.get("/api/v1/session/challenge", params={"address": account.address})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def sign_in(http: TestClient, account: LocalAccount) -> httpx.Response:
    """Signs in `account`; the client keeps the cookies."""
    c = challenge(http, account)
    return http.post(
        "/api/v1/session",
        json={"message": c["message"], "signature": sign_typed(account, c["typed_data"])},
    )


def signed_in(http: TestClient, account: LocalAccount) -> str:
    """Signs in and answers the CSRF token."""
    answer = sign_in(http, account)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["csrf_token"]
    return token
