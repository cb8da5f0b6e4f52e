"""The SDK's HTTP side: one API endpoint, its problem-details answers as `ApiError`, the
deployment's EIP-712 domain, and signing under it with the caller's own key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import httpx
from eth_account.signers.local import LocalAccount

from ledger.config import Settings
from ledger.core.eip712 import Domain
from ledger.core.errors import ApiError, ApiUnreachable, LedgerError
from ledger.core.records import Record, SignedRecord

__all__ = ["API_ENV", "DEFAULT_API", "ApiTransport", "api_error"]

DEFAULT_API: str = Settings.model_fields["api_url"].default
API_ENV = "BANGFU_API_URL"  # read by Settings.api_url; named in messages


class ApiTransport:
    """One API endpoint, optionally with a signing account; the base of `BangfuClient`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        account: LocalAccount | None = None,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        if base_url is None:
            injected = str(http.base_url) if http is not None else ""
            # afresh, not the cached settings: the caller may set BANGFU_API_URL after start
            base_url = injected or Settings().api_url
        self.base_url = base_url.rstrip("/")
        self.account = account
        self._own_http = http is None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self._domain: Domain | None = None

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def url(self, path: str) -> str:
        """The URL to send for `path` (relative when the injected client has a base URL)."""
        # An injected client may carry its own base URL (TestClient); then relative paths work.
        return path if str(self.http.base_url) else self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Any = None,
        data: Any = None,
    ) -> Any:
        """Sends one request and returns its JSON; problem JSON becomes an `ApiError`.
        `files` and `data` make a multipart form (a need list to check)."""
        try:
            response = self.http.request(
                method,
                self.url(path),
                params=params,
                json=json,
                headers=headers,
                files=files,
                data=data,
            )
        except httpx.TimeoutException:
            raise ApiUnreachable(
                f"the API at {self.base_url} did not answer in time; try again later",
                url=self.base_url,
            ) from None
        except httpx.TransportError as exc:
            raise ApiUnreachable(
                f"cannot reach the API at {self.base_url} ({type(exc).__name__}); check the "
                f"URL (--api or {API_ENV}) and that `bangfu run` is serving it",
                url=self.base_url,
            ) from None
        if response.status_code >= 400:
            raise api_error(response)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"the API at {self.base_url} answered {response.status_code} without JSON; "
                "is --api pointing at a Bangfu Ledger server?",
                code="bad_response",
            ) from None

    # ------------------------------------------------------------------ domain
    def eip712(self) -> dict[str, Any]:
        """The deployment's EIP-712 domain, record types and kinds."""
        data: dict[str, Any] = self.request("GET", "/api/v1/eip712")
        return data

    def domain(self) -> Domain:
        """The domain records are signed under (fetched once)."""
        if self._domain is None:
            d = self.eip712()["domain"]
            self._domain = Domain(
                chain_id=int(d["chainId"]),
                verifying_contract=str(d["verifyingContract"]),
                name=str(d["name"]),
                version=str(d["version"]),
            )
        return self._domain

    # ------------------------------------------------------------------ signing
    def signer_address(self, signed_by: str = "") -> str:
        """The address of this client's key (the signer of the records it makes); refuses
        (`no_key`) when the client has none. `signed_by` names whose key the record needs,
        e.g. "县级部门 the county office"."""
        if self.account is None:
            whose = (
                f"须由{signed_by}的密钥签名 / signed by {signed_by}'s key; " if signed_by else ""
            )
            raise LedgerError(
                f"此客户端没有签名密钥 / this client has no signing key; {whose}pass account= to "
                "BangfuClient (see ledger.sdk.keys.load_key_file)",
                code="no_key",
            )
        return str(self.account.address)

    def sign(self, record: Record) -> SignedRecord:
        """Signs `record` with this client's account under the server's domain."""
        if self.account is None:
            raise LedgerError(
                "this client has no signing key; pass account= (see ledger.sdk.keys.load_key_file)",
                code="no_key",
            )
        return record.sign(self.account.key, self.domain())


def api_error(response: httpx.Response) -> ApiError:
    """An `ApiError` from a problem-details answer (or a plain one for other bodies)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        fields = {
            k: v
            for k, v in body.items()
            if k not in ("type", "title", "code", "detail", "message", "status")
        }
        return ApiError(
            str(body.get("detail") or body.get("title") or body["code"]),
            code=str(body["code"]),
            status=response.status_code,
            **fields,
        )
    return ApiError(
        f"the API answered HTTP {response.status_code} for {response.request.url.path}",
        code=f"http_{response.status_code}",
        status=response.status_code,
    )
