"""Records over the API: submitting signed records, following their status until the chain
confirms them, and the public lists, totals and custodial submission.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from ledger.core.errors import RecordFailed, WaitTimeout
from ledger.core.fields import category_code, parse_bytes32
from ledger.core.records import Record, SignedRecord
from ledger.sdk.transport import ApiTransport

__all__ = [
    "MAX_SUBMISSION",
    "Accepted",
    "Page",
    "RecordStatus",
    "RecordsApi",
    "as_bytes32",
    "category_number",
]

#: The server takes at most this many records in one submission.
MAX_SUBMISSION = 1000
_STATUS_CHUNK = 200


@dataclass(frozen=True)
class Accepted:
    """The server's answer for one submitted record."""

    record_id: str
    kind: str
    status: str
    duplicate: bool


class TotalsFilters(TypedDict, total=False):
    """What a public total may be narrowed to (each optional; times are unix seconds)."""

    county: int | None
    category: int | str | None
    org: str | None
    since: int | None
    until: int | None


class ListFilters(TotalsFilters, total=False):
    """A public list's filters: the totals' ones, one project's or one commitment's records."""

    project: str | None
    commitment: str | None


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


class RecordsApi(ApiTransport):
    """Submission, status, waiting and the public reads of one API endpoint."""

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
        cursor: str | None = None,
        limit: int = 50,
        **filters: Unpack[ListFilters],
    ) -> Page:
        """One page of commitments, deliveries, receipts, flags or projects, newest first."""
        params = _params(filters)
        if cursor:
            params["cursor"] = cursor
        params["limit"] = limit
        answer = self.request("GET", f"/api/v1/public/{what}", params=params)
        return Page(items=list(answer["items"]), next_cursor=answer.get("next_cursor"))

    def iter_query(
        self, what: str, *, limit: int = 50, **filters: Unpack[ListFilters]
    ) -> Iterator[dict[str, Any]]:
        """Every item of a public list, following cursors page by page (`limit` per page)."""
        cursor: str | None = None
        while True:
            page = self.query(what, cursor=cursor, limit=limit, **filters)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def totals(self, by: str, **filters: Unpack[TotalsFilters]) -> list[dict[str, Any]]:
        """Committed, delivered and confirmed amounts by county, category or org."""
        answer: list[dict[str, Any]] = self.request(
            "GET", f"/api/v1/public/totals/{by}", params=_params(filters)
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


def category_number(value: int | str) -> int:
    if isinstance(value, int):
        return value
    return int(value) if value.isdigit() else category_code(value)


def _params(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The query string of a public read: the filters given, the category as its number."""
    params = {k: v for k, v in filters.items() if v is not None and v != ""}
    if "category" in params:
        params["category"] = category_number(params["category"])
    return params
