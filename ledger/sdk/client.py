"""Python SDK for the Bangfu Ledger HTTP API: signs records locally with the author's key,
submits them, follows their status, and reads the public lists and totals.

The key never leaves the caller's process; the server only ever sees signed records. Pass an
`httpx.Client` (for example FastAPI's `TestClient`) to talk to an app in process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from ledger.core import merkle
from ledger.core.eip712 import Domain
from ledger.core.errors import LedgerError, RecordError
from ledger.core.fields import (
    FlagReason,
    ProjectKind,
    ResourceKind,
    category_code,
    date_code,
    parse_bytes32,
    text32,
)
from ledger.core.lines import DeliveryLine, batch_totals, new_id
from ledger.core.records import (
    Commitment,
    Delivery,
    DeliveryBatch,
    Flag,
    ProjectAnchor,
    Receipt,
    Record,
    SignedRecord,
    record_type,
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
        title: str,
        budget: int = 0,
        end_date: date | int | None = None,
        content_hash: bytes | str = _ZERO,
        version: int = 1,
    ) -> SignedRecord:
        """Anchors one version of a need (county) or supply (organization) project.

        `title` is what the signer reads (1..200 UTF-8 bytes); `budget` is in fen;
        `end_date` is a date (Beijing time) or YYYYMMDD. A new project's id must start with
        the signer's address: make it with `new_project_id()`."""
        pid = as_bytes32(project_id, "project_id")
        return self.sign(
            ProjectAnchor(
                id=ProjectAnchor.anchor_id(pid, version),
                project_id=pid,
                project_kind=int(project_kind),
                county=county,
                category=_category(category),
                title=title,
                budget=budget,
                end_date=end_date if isinstance(end_date, int) else date_code(end_date),
                content_hash=as_bytes32(content_hash, "content_hash"),
                version=version,
            )
        )

    def new_project_id(self) -> bytes:
        """A fresh project id scoped to this client's key (the project's owner)."""
        return new_id(self._signer())

    def _signer(self) -> str:
        if self.account is None:
            raise RecordError(
                "this client has no key; pass account= to sign records", code="no_key"
            )
        return str(self.account.address)

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
                id=new_id(self._signer()),
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
                id=new_id(self._signer()),
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
            raise RecordError("批次没有明细行 / a batch needs at least one line", code="EmptyBatch")
        cids, quantities = batch_totals(lines)
        return self.sign(
            DeliveryBatch(
                id=new_id(self._signer()),
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
                id=new_id(self._signer()),
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
                id=new_id(self._signer()),
                record_id=as_bytes32(record_id, "record_id"),
                reason_code=int(reason),
                note_hash=as_bytes32(note_hash, "note_hash"),
            )
        )

    # ------------------------------------------------------------------ project libraries
    # Every library write is signed here with this client's account (ledger.library.messages):
    # the SDK recomputes the content hash and human fields of whatever the server hands it to
    # sign, and refuses to sign when they differ (`to_sign_mismatch`).

    def _library_key(self) -> LocalAccount:
        if self.account is None:
            raise LedgerError(
                "library writes are signed by their owner; pass account= to BangfuClient",
                code="no_key",
            )
        return self.account

    def library_read_header(self, project_id: str, lifetime: int = 300) -> dict[str, str]:
        """The `X-Bangfu-Read` header that lets this account read its own draft."""
        from ledger.library import messages

        acct = self._library_key()
        message = {
            "projectId": project_id.lower(),
            "reader": acct.address,
            "expiry": int(time.time()) + lifetime,
        }
        sig = messages.sign(messages.LIBRARY_READ, message, self.domain(), acct.key)
        return {"X-Bangfu-Read": f"{acct.address}:{message['expiry']}:{sig}"}

    def library_project(self, project_id: str) -> dict[str, Any]:
        """One project (a draft only for its owner)."""
        headers = self.library_read_header(project_id) if self.account is not None else None
        answer: dict[str, Any] = self.request(
            "GET", f"/api/v1/library/projects/{project_id}", headers=headers
        )
        return answer

    def _project_message(
        self,
        kind: ProjectKind,
        project_id: str,
        content: Mapping[str, Any],
        *,
        action: str,
        status: str,
        version: int,
        org_code: str | None,
        lifetime: int,
    ) -> tuple[dict[str, Any], Any]:
        from ledger.library import messages, projects

        parsed = projects.parse_content(kind, content)
        message = projects.project_message(
            kind,
            project_id,
            parsed,
            action=action,
            status=status,
            version=version,
            org_code=org_code,
            nonce=messages.new_nonce(),
            expiry=int(time.time()) + lifetime,
        )
        return message, parsed

    def library_create(
        self,
        kind: str,
        content: Mapping[str, Any],
        *,
        org_code: str | None = None,
        lifetime: int = 600,
    ) -> dict[str, Any]:
        """A draft need (`kind="need"`, signed by the county) or supply project (`"supply"`,
        signed by the organization, whose credit code is `org_code`). Returns the draft and
        what to sign to publish it; the project id starts with this account's address."""
        from ledger.library import messages

        acct = self._library_key()
        pk = ProjectKind.NEED if kind == "need" else ProjectKind.SUPPLY
        if pk == ProjectKind.SUPPLY and not org_code:
            raise LedgerError("a supply project needs org_code", code="missing_org")
        project_id = "0x" + new_id(acct.address).hex()
        message, _ = self._project_message(
            pk,
            project_id,
            content,
            action="draft",
            status="published",
            version=1,
            org_code=org_code if pk == ProjectKind.SUPPLY else None,
            lifetime=lifetime,
        )
        body = {
            "content": dict(content),
            "message": message,
            "signature": messages.sign(messages.LIBRARY_PROJECT, message, self.domain(), acct.key),
        }
        path = "/api/v1/library/needs" if pk == ProjectKind.NEED else "/api/v1/library/supply"
        answer: dict[str, Any] = self.request("POST", path, json=body)
        return answer

    def _sign_to_sign(self, to_sign: Mapping[str, Any]) -> tuple[str, str]:
        """Checks then signs the server's LibraryProject request and ProjectAnchor."""
        from eth_account import Account

        from ledger.library import messages, projects

        acct = self._library_key()
        request = to_sign["request_typed_data"]
        anchor = to_sign["typed_data"]
        msg = messages.parse(messages.LIBRARY_PROJECT, request["message"])
        doc = json.loads(str(to_sign["content_json"]))
        kind = ProjectKind.NEED if doc.get("kind") == "need" else ProjectKind.SUPPLY
        content = projects.content_from_json(kind, str(to_sign["content_json"]))
        expected = projects.project_message(
            kind,
            str(doc["project_id"]),
            content,
            action=msg["action"],
            status=str(doc["status"]),
            version=int(to_sign["version"]),
            org_code=doc.get("org_code"),
            nonce=msg["nonce"],
            expiry=msg["expiry"],
        )
        digest = "0x" + hashlib.sha256(str(to_sign["content_json"]).encode("utf-8")).hexdigest()
        if (
            expected != msg
            or digest != msg["contentHash"]
            or anchor["message"].get("contentHash") != digest
            or request["domain"] != self.domain().as_dict()
            or anchor["domain"] != self.domain().as_dict()
        ):
            raise LedgerError(
                "服务器给出的待签数据与内容不符 / what the server asks to sign does not match "
                "the content it shows; not signing",
                code="to_sign_mismatch",
            )
        request_sig = messages.sign(messages.LIBRARY_PROJECT, msg, self.domain(), acct.key)
        anchor_sig = Account.sign_typed_data(acct.key, full_message=anchor).signature
        return request_sig, "0x" + bytes(anchor_sig).hex()

    def library_publish(self, project_id: str) -> dict[str, Any]:
        """Publishes this account's draft as version 1 (after checking what it signs)."""
        to_sign = self.request(
            "GET",
            f"/api/v1/library/projects/{project_id}/to-sign",
            headers=self.library_read_header(project_id),
        )
        request_sig, anchor_sig = self._sign_to_sign(to_sign)
        body = {
            "message": to_sign["request_typed_data"]["message"],
            "signature": request_sig,
            "anchor_signature": anchor_sig,
        }
        answer: dict[str, Any] = self.request(
            "POST", f"/api/v1/library/projects/{project_id}/publish", json=body
        )
        return answer

    def library_transition(self, project_id: str, status: str) -> dict[str, Any]:
        """A lifecycle move of a published project, as a new signed version."""
        to_sign = self.request(
            "GET", f"/api/v1/library/projects/{project_id}/to-sign", params={"status": status}
        )
        request_sig, anchor_sig = self._sign_to_sign(to_sign)
        body = {
            "status": status,
            "message": to_sign["request_typed_data"]["message"],
            "signature": request_sig,
            "anchor_signature": anchor_sig,
        }
        answer: dict[str, Any] = self.request(
            "POST", f"/api/v1/library/projects/{project_id}/transition", json=body
        )
        return answer

    def library_edit(
        self, project_id: str, content: Mapping[str, Any], *, lifetime: int = 600
    ) -> dict[str, Any]:
        """New content: a draft is edited in place; a published project gets a new version
        (the message and the ProjectAnchor are built and signed here, from `content`)."""
        from ledger.library import messages, projects

        acct = self._library_key()
        current = self.library_project(project_id)
        kind = ProjectKind.NEED if current["kind"] == "need" else ProjectKind.SUPPLY
        draft = current["status"] == "draft"
        status = "published" if draft else str(current["status"])
        version = 1 if draft else int(current["version"]) + 1
        message, parsed = self._project_message(
            kind,
            project_id,
            content,
            action="draft" if draft else "edit",
            status=status,
            version=version,
            org_code=current.get("org_code"),
            lifetime=lifetime,
        )
        body: dict[str, Any] = {
            "content": dict(content),
            "message": message,
            "signature": messages.sign(messages.LIBRARY_PROJECT, message, self.domain(), acct.key),
        }
        if not draft:
            anchor = projects.make_anchor(
                kind,
                project_id,
                parsed,
                status=status,
                version=version,
                org_code=current.get("org_code"),
            )
            body["anchor_signature"] = "0x" + anchor.sign(acct.key, self.domain()).signature.hex()
        answer: dict[str, Any] = self.request(
            "PUT", f"/api/v1/library/projects/{project_id}", json=body
        )
        return answer

    def library_push(self, project_id: str, *, limit: int = 5, lifetime: int = 600) -> list[str]:
        """Pushes this account's project to its best matches."""
        from ledger.library import messages

        acct = self._library_key()
        current = self.library_project(project_id)
        message = {
            "projectId": project_id.lower(),
            "title": current["content"]["title"],
            "limit": limit,
            "nonce": messages.new_nonce(),
            "expiry": int(time.time()) + lifetime,
        }
        sig = messages.sign(messages.LIBRARY_PUSH, message, self.domain(), acct.key)
        answer: list[str] = self.request(
            "POST",
            f"/api/v1/library/projects/{project_id}/push",
            json={"message": message, "signature": sig},
        )
        return answer

    def library_propose(
        self,
        need_id: str,
        *,
        direction: str,
        supply_id: str | None = None,
        org_code: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """点单 (`direction="order"`, a county orders `supply_id`) or 接单 (`"take"`, an
        organization takes the need): signs the proposal after checking its fields."""
        from ledger.library import messages

        acct = self._library_key()
        params: dict[str, Any] = {
            "direction": direction,
            "need_id": need_id,
            "proposer": acct.address,
            "note": note,
        }
        if supply_id:
            params["supply_id"] = supply_id
        if org_code:
            params["org_code"] = org_code
        prepared = self.request("GET", "/api/v1/library/matches/to-sign", params=params)
        msg = messages.parse(messages.LIBRARY_MATCH, prepared["message"])
        need = self.library_project(need_id)
        asked = messages.resources_of(need["content"]["resources"])
        if (
            msg["action"] != "propose"
            or msg["direction"] != direction
            or msg["needId"] != need_id.lower()
            or msg["needTitle"] != need["content"]["title"]
            or msg["resources"] != asked
            or msg["note"] != note
            or msg["matchId"][2:42] != acct.address[2:].lower()
            or (org_code is not None and msg["orgCode"] != org_code)
        ):
            raise LedgerError(
                "服务器给出的匹配与请求不符 / the match the server asks to sign is not the one "
                "asked for; not signing",
                code="to_sign_mismatch",
            )
        sig = messages.sign(messages.LIBRARY_MATCH, msg, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "POST", "/api/v1/library/matches", json={"message": msg, "signature": sig}
        )
        return answer

    def library_answer(self, match_id: str, action: str = "accept") -> dict[str, Any]:
        """The other side accepts (or declines) a proposal, signing the proposal's fields."""
        from ledger.library import messages

        acct = self._library_key()
        detail = self.request("GET", f"/api/v1/library/matches/{match_id}")
        typed = detail.get(f"{action}_typed_data")
        if typed is None:
            raise LedgerError(f"match {match_id} is not open for an answer", code="match_closed")
        msg = messages.parse(messages.LIBRARY_MATCH, typed["message"])
        proposal = detail["match"]["proposal_message"]
        fixed = [k for k in msg if k not in ("action", "nonce", "expiry")]
        if msg["action"] != action or any(msg[k] != proposal[k] for k in fixed):
            raise LedgerError(
                "待签答复与提议不符 / the answer to sign differs from the proposal; not signing",
                code="to_sign_mismatch",
            )
        sig = messages.sign(messages.LIBRARY_MATCH, msg, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "POST",
            f"/api/v1/library/matches/{match_id}/respond",
            json={"message": msg, "signature": sig},
        )
        return answer

    def library_load_key_counties(
        self, codes: Sequence[int], *, source: str, version: int | None = None
    ) -> dict[str, Any]:
        """The admin's signed key-county list; `version` defaults to the loaded one + 1."""
        from ledger.library import messages

        acct = self._library_key()
        if version is None:
            version = int(self.request("GET", "/api/v1/library/key-counties/version")["version"])
            version += 1
        message = {
            "version": version,
            "source": source,
            "counties": sorted(set(int(c) for c in codes)),
            "expiry": int(time.time()) + 600,
        }
        sig = messages.sign(messages.KEY_COUNTY_LIST, message, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "PUT", "/api/v1/library/key-counties", json={"message": message, "signature": sig}
        )
        return answer

    def library_import_bundle(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """The admin's signed import of a bundle (its exporter must be trusted by the server)."""
        from ledger.library import messages, sharing

        acct = self._library_key()
        message = sharing.import_message(bundle, messages.new_nonce(), int(time.time()) + 600)
        sig = messages.sign(messages.LIBRARY_IMPORT, message, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "POST",
            "/api/v1/library/bundles/import",
            json={"bundle": dict(bundle), "message": message, "signature": sig},
        )
        return answer


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


def record_from_fields(
    kind: str,
    fields: Mapping[str, Any],
    *,
    base: Path | None = None,
    signer: str | None = None,
) -> Record:
    """A record from loosely typed input (the CLI's --field pairs or a JSON file).

    Names may be camelCase or snake_case. bytes32 fields take 0x-hex or `@FILE` (the SHA-256
    of the file); `unit` takes text such as 斤; `category` a name; kinds and reasons their
    names (funds, need, late_delivery); dates ISO text (Beijing time) or unix seconds. A left
    out `id` is fresh and scoped to `signer` (for project anchors: derived from project and
    version), a left out `deliveredAt` is now. `endDate` takes an ISO date or YYYYMMDD.
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
        elif typ == "string":
            data[name] = value
        elif name == "endDate" and isinstance(value, str) and "-" in value:
            try:
                data[name] = date_code(date.fromisoformat(value.strip()))
            except ValueError:
                raise RecordError(
                    "endDate must be an ISO date such as 2026-06-30, or YYYYMMDD",
                    code="bad_type",
                    field=name,
                ) from None
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
        if isinstance(record, ProjectAnchor):
            fresh = ProjectAnchor.anchor_id(record.project_id, record.version)
        elif signer is None:
            raise RecordError(
                "a fresh record id starts with its signer's address; give the signer",
                code="missing_signer",
            )
        else:
            fresh = new_id(signer)
        return dataclasses.replace(record, id=fresh)
    return rtype.from_json(data)
