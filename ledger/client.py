"""Python SDK for the Bangfu Ledger HTTP API: signs records locally with the author's key,
submits them, follows their status, and reads the public lists and totals.

The key never leaves the caller's process; the server only ever sees signed records. Pass an
`httpx.Client` (for example FastAPI's `TestClient`) to talk to an app in process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from ledger import merkle
from ledger.errors import LedgerError, RecordError
from ledger.records import (
    Commitment,
    Delivery,
    DeliveryBatch,
    DeliveryLine,
    Domain,
    Flag,
    FlagReason,
    ProjectAnchor,
    ProjectKind,
    Receipt,
    Record,
    ResourceKind,
    SignedRecord,
    batch_totals,
    category_code,
    new_id,
    parse_bytes32,
    record_type,
    text32,
)

DEFAULT_API = "http://127.0.0.1:8000"
API_ENV = "BANGFU_API_URL"
#: The server takes at most this many records in one submission.
MAX_SUBMISSION = 1000
_STATUS_CHUNK = 200
_ZERO = bytes(32)


class ApiError(LedgerError):
    """The server refused a request; `code` and the message come from its problem JSON."""

    code = "api_error"


class ApiUnreachable(LedgerError):
    """The API could not be reached at all."""

    code = "api_unreachable"
    http_status = 503


class WaitTimeout(LedgerError):
    """Records were not confirmed within the time allowed."""

    code = "wait_timeout"
    http_status = 504


class RecordFailed(LedgerError):
    """The chain refused a record the server had accepted."""

    code = "record_failed"


@dataclass(frozen=True)
class Accepted:
    """The server's answer for one submitted record."""

    record_id: str
    kind: str
    status: str
    duplicate: bool


@dataclass(frozen=True)
class RecordStatus:
    """Where a submitted record is: queued → sent → confirmed, or failed."""

    record_id: str
    kind: str
    status: str
    error_code: str | None = None
    error: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    leaf_index: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordStatus:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def as_bytes32(value: bytes | str, name: str = "value") -> bytes:
    """A 32-byte id or hash from bytes or 0x-hex."""
    return parse_bytes32(value, name)


def _id_hex(value: bytes | str) -> str:
    return "0x" + as_bytes32(value, "id").hex()


class BangfuClient:
    """One API endpoint, optionally with a signing account for the builders and `submit`."""

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
            base_url = injected or DEFAULT_API
        self.base_url = base_url.rstrip("/")
        self.account = account
        self._own_http = http is None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self._domain: Domain | None = None

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> BangfuClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _url(self, path: str) -> str:
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
    ) -> Any:
        """Sends one request and returns its JSON; problem JSON becomes an `ApiError`."""
        try:
            response = self.http.request(
                method, self._url(path), params=params, json=json, headers=headers
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
            raise _api_error(response)
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
    def sign(self, record: Record) -> SignedRecord:
        """Signs `record` with this client's account under the server's domain."""
        if self.account is None:
            raise LedgerError(
                "this client has no signing key; pass account= (see ledger.keys.load_key_file)",
                code="no_key",
            )
        return record.sign(self.account.key, self.domain())

    def submit(self, items: Sequence[Record | SignedRecord]) -> list[Accepted]:
        """Signs unsigned records, then submits all. Each chunk of up to 1,000 is accepted
        or refused as a whole; a refusal raises `ApiError` and later chunks are not sent."""
        signed = [i if isinstance(i, SignedRecord) else self.sign(i) for i in items]
        out: list[Accepted] = []
        for start in range(0, len(signed), MAX_SUBMISSION):
            chunk = signed[start : start + MAX_SUBMISSION]
            body = {"records": [s.to_json() for s in chunk]}
            answer = self.request("POST", "/api/v1/records", json=body)
            out.extend(Accepted(**a) for a in answer["accepted"])
        return out

    def status(self, ids: Sequence[bytes | str]) -> list[RecordStatus]:
        """The status of each record id, in the order asked."""
        hex_ids = [_id_hex(i) for i in ids]
        out: list[RecordStatus] = []
        for start in range(0, len(hex_ids), _STATUS_CHUNK):
            chunk = hex_ids[start : start + _STATUS_CHUNK]
            answer = self.request("GET", "/api/v1/records/status", params={"ids": chunk})
            out.extend(RecordStatus.from_json(s) for s in answer)
        return out

    def wait_confirmed(
        self, ids: Sequence[bytes | str], timeout: float = 60.0, interval: float = 0.5
    ) -> list[RecordStatus]:
        """Polls until every record is confirmed; raises `RecordFailed` as soon as one
        failed and `WaitTimeout` when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.status(ids)
            failed = [s for s in statuses if s.status in ("failed", "conflict")]
            if failed:
                f = failed[0]
                raise RecordFailed(
                    f"record {f.record_id} failed on chain: [{f.error_code}] {f.error}",
                    record_id=f.record_id,
                    error_code=f.error_code,
                )
            if all(s.status == "confirmed" for s in statuses):
                return statuses
            if time.monotonic() >= deadline:
                waiting = [s.record_id for s in statuses if s.status != "confirmed"]
                raise WaitTimeout(
                    f"{len(waiting)} record(s) not confirmed after {timeout:g} s (first: "
                    f"{waiting[0]}); check that the relayer runs, then `bangfu status`",
                    waiting=waiting,
                )
            time.sleep(interval)

    # ------------------------------------------------------------------ public reads
    def query(
        self,
        what: str,
        *,
        county: int | None = None,
        category: int | str | None = None,
        org: str | None = None,
        project: str | None = None,
        commitment: str | None = None,
        since: int | None = None,
        until: int | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """One page of commitments, deliveries, receipts, flags or projects, newest first."""
        params = _filters(county, category, org, since, until)
        params.update(
            {k: v for k, v in (("project", project), ("commitment", commitment)) if v is not None}
        )
        if cursor:
            params["cursor"] = cursor
        params["limit"] = limit
        answer = self.request("GET", f"/api/v1/public/{what}", params=params)
        return Page(items=list(answer["items"]), next_cursor=answer.get("next_cursor"))

    def iter_query(self, what: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every item of a public list, following cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.query(what, cursor=cursor, **filters)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def totals(
        self,
        by: str,
        *,
        county: int | None = None,
        category: int | str | None = None,
        org: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        """Committed, delivered and confirmed amounts by county, category or org."""
        params = _filters(county, category, org, since, until)
        answer: list[dict[str, Any]] = self.request(
            "GET", f"/api/v1/public/totals/{by}", params=params
        )
        return answer

    def record(self, record_id: bytes | str) -> dict[str, Any]:
        """One record with its chain location."""
        answer: dict[str, Any] = self.request("GET", f"/api/v1/public/record/{_id_hex(record_id)}")
        return answer

    # ------------------------------------------------------------------ custodial
    def custodial_submit(
        self, token: str, kind: str, record: Mapping[str, Any] | Record
    ) -> dict[str, Any]:
        """Asks a custodial server to sign `record` with the key bound to `token` and
        submit it (only where the operator has turned custodial mode on)."""
        body = {"kind": kind, "record": record.to_json() if isinstance(record, Record) else record}
        answer: dict[str, Any] = self.request(
            "POST",
            "/api/v1/custodial/records",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        return answer

    # ------------------------------------------------------------------ builders
    def project_anchor(
        self,
        project_id: bytes | str,
        *,
        project_kind: ProjectKind | int,
        county: int,
        category: int | str,
        content_hash: bytes | str = _ZERO,
        version: int = 1,
    ) -> SignedRecord:
        """Anchors one version of a need (county) or supply (organization) project."""
        pid = as_bytes32(project_id, "project_id")
        return self.sign(
            ProjectAnchor(
                id=ProjectAnchor.anchor_id(pid, version),
                project_id=pid,
                project_kind=int(project_kind),
                county=county,
                category=_category(category),
                content_hash=as_bytes32(content_hash, "content_hash"),
                version=version,
            )
        )

    def commitment(
        self,
        need_id: bytes | str,
        *,
        quantity: int,
        resource_kind: ResourceKind | int = ResourceKind.FUNDS,
        unit: str = "",
        due_date: int = 0,
        match_id: bytes | str = _ZERO,
        terms_hash: bytes | str = _ZERO,
    ) -> SignedRecord:
        """An organization's promise for a matched need, with a fresh id. Funds are in fen."""
        return self.sign(
            Commitment(
                id=new_id(),
                need_id=as_bytes32(need_id, "need_id"),
                match_id=as_bytes32(match_id, "match_id"),
                resource_kind=int(resource_kind),
                quantity=quantity,
                unit=text32(unit),
                due_date=due_date,
                terms_hash=as_bytes32(terms_hash, "terms_hash"),
            )
        )

    def delivery(
        self,
        commitment_id: bytes | str,
        *,
        quantity: int,
        delivered_at: int | None = None,
        evidence_hash: bytes | str = _ZERO,
        beneficiary_count: int = 0,
        beneficiary_root: bytes | str = _ZERO,
    ) -> SignedRecord:
        """One delivery against a commitment, with a fresh id (`delivered_at` defaults to now)."""
        return self.sign(
            Delivery(
                id=new_id(),
                commitment_id=as_bytes32(commitment_id, "commitment_id"),
                quantity=quantity,
                delivered_at=int(time.time()) if delivered_at is None else delivered_at,
                evidence_hash=as_bytes32(evidence_hash, "evidence_hash"),
                beneficiary_count=beneficiary_count,
                beneficiary_root=as_bytes32(beneficiary_root, "beneficiary_root"),
            )
        )

    def delivery_batch(
        self, lines: Sequence[DeliveryLine], *, evidence_hash: bytes | str = _ZERO
    ) -> SignedRecord:
        """Many delivery lines as one record: the RFC 9162 root over the lines is signed."""
        if not lines:
            raise RecordError("a batch needs at least one line", code="MalformedBatch")
        cids, quantities = batch_totals(lines)
        return self.sign(
            DeliveryBatch(
                id=new_id(),
                commitment_ids=cids,
                quantities=quantities,
                line_count=len(lines),
                batch_root=merkle.root([line.leaf_hash() for line in lines]),
                evidence_hash=as_bytes32(evidence_hash, "evidence_hash"),
            )
        )

    def receipt(
        self,
        delivery_id: bytes | str,
        *,
        confirmed_quantity: int,
        note_hash: bytes | str = _ZERO,
    ) -> SignedRecord:
        """A county's confirmation of a delivery, with a fresh id."""
        return self.sign(
            Receipt(
                id=new_id(),
                delivery_id=as_bytes32(delivery_id, "delivery_id"),
                confirmed_quantity=confirmed_quantity,
                note_hash=as_bytes32(note_hash, "note_hash"),
            )
        )

    def flag(
        self,
        record_id: bytes | str,
        *,
        reason: FlagReason | int = FlagReason.OTHER,
        note_hash: bytes | str = _ZERO,
    ) -> SignedRecord:
        """An auditor's note on any record, with a fresh id."""
        return self.sign(
            Flag(
                id=new_id(),
                record_id=as_bytes32(record_id, "record_id"),
                reason_code=int(reason),
                note_hash=as_bytes32(note_hash, "note_hash"),
            )
        )


def _category(value: int | str) -> int:
    if isinstance(value, int):
        return value
    return int(value) if value.isdigit() else category_code(value)


def _filters(
    county: int | None,
    category: int | str | None,
    org: str | None,
    since: int | None,
    until: int | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if county is not None:
        params["county"] = county
    if category is not None:
        params["category"] = _category(category)
    if org:
        params["org"] = org
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    return params


def _api_error(response: httpx.Response) -> ApiError:
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


# ---------------------------------------------------------------------- loose input

_NAMED: dict[str, dict[str, int]] = {
    "resourceKind": {k.name.lower(): int(k) for k in ResourceKind},
    "projectKind": {k.name.lower(): int(k) for k in ProjectKind},
    "reasonCode": {k.name.lower(): int(k) for k in FlagReason},
}
_TIME_FIELDS = ("dueDate", "deliveredAt")
#: Dates without a zone are Beijing time, the time of the offices that enter them.
_CHINA = timezone(timedelta(hours=8))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _loose_bytes32(value: Any, name: str, base: Path | None) -> str:
    if isinstance(value, str) and value.startswith("@"):
        path = Path(value[1:])
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            return "0x" + hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise RecordError(
                f"{name}: cannot read {path} to hash it ({exc.strerror})", code="bad_file"
            ) from None
    if name == "unit" and isinstance(value, str) and not value.startswith("0x"):
        return "0x" + text32(value).hex()
    return "0x" + parse_bytes32(value, name).hex()


def _loose_uint(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    if name in _NAMED and text.lower() in _NAMED[name]:
        return _NAMED[name][text.lower()]
    if name == "category":
        return category_code(text)
    if name in _TIME_FIELDS:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(
                f"{name} must be unix seconds or an ISO date such as 2025-06-30",
                code="bad_type",
                field=name,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_CHINA)
        return int(moment.timestamp())
    choices = f"; or one of: {', '.join(_NAMED[name])}" if name in _NAMED else ""
    raise RecordError(f"{name} must be a whole number{choices}", code="bad_type", field=name)


def record_from_fields(kind: str, fields: Mapping[str, Any], *, base: Path | None = None) -> Record:
    """A record from loosely typed input (the CLI's --field pairs or a JSON file).

    Names may be camelCase or snake_case. bytes32 fields take 0x-hex or `@FILE` (the SHA-256
    of the file); `unit` takes text such as 斤; `category` a name; kinds and reasons their
    names (funds, need, late_delivery); dates ISO text (Beijing time) or unix seconds. A left
    out `id` is fresh (for project anchors: derived from project and version), a left out
    `deliveredAt` is now.
    """
    rtype = record_type(kind)
    if not isinstance(fields, Mapping):
        raise RecordError("record must be a JSON object", code="bad_type")
    schema = {_camel(n): t for n, t in rtype.SCHEMA}
    data: dict[str, Any] = {}
    for raw_name, value in fields.items():
        name = _camel(str(raw_name))
        typ = schema.get(name)
        if typ is None:
            data[name] = value  # from_json names the unknown field
        elif typ == "bytes32":
            data[name] = _loose_bytes32(value, name, base)
        elif typ == "bytes32[]":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list):
                raise RecordError(f"{name} must be a list", code="bad_type", field=name)
            data[name] = [
                _loose_bytes32(v.strip() if isinstance(v, str) else v, name, base) for v in items
            ]
        elif typ.endswith("[]"):
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list):
                raise RecordError(f"{name} must be a list", code="bad_type", field=name)
            data[name] = [_loose_uint(v, name) for v in items]
        else:
            data[name] = _loose_uint(value, name)
    if "deliveredAt" in schema and "deliveredAt" not in data:
        data["deliveredAt"] = int(time.time())
    if "id" not in data:
        data["id"] = "0x" + bytes(32).hex()
        record = rtype.from_json(data)
        fresh = (
            ProjectAnchor.anchor_id(record.project_id, record.version)
            if isinstance(record, ProjectAnchor)
            else new_id()
        )
        return dataclasses.replace(record, id=fresh)
    return rtype.from_json(data)
