"""The pairing program over the API (结对帮扶, docs/programs.md): an organization's
Pairing proposal, the county's PairingAcceptance, the CommitmentSource by which a
commitment cites its pairing — each signed here with this client's key and submitted like
any record — and the public reads (pairings, the key counties' pairings, the oversight of
unpaired and lagging key counties, the east–west flows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from ledger.core import program_kinds, records
from ledger.core.errors import RecordError
from ledger.core.fields import category_code, date_code, parse_bytes32
from ledger.core.lines import new_id
from ledger.core.records import sha256
from ledger.sdk.funds import source_record
from ledger.sdk.transport import ApiTransport

__all__ = ["PairingApi", "categories_mask", "terms_hash"]

_ZERO = bytes(32)


def categories_mask(categories: Iterable[int | str]) -> int:
    """The focus categories (numbers 1..10 or names, Chinese or English) as the bitmask a
    Pairing signs: bit (c-1) for category c."""
    mask = 0
    for c in categories:
        n = c if isinstance(c, int) else category_code(c)
        if not 1 <= n <= 10:
            raise RecordError(f"category {c!r} is not 1..10", code="InvalidCategories")
        mask |= 1 << (n - 1)
    return mask


def terms_hash(text: str) -> bytes:
    """SHA-256 of the terms text (UTF-8, trimmed), the pairing's `termsHash`; zero for none.
    The text itself stays with the two parties; anyone holding it can check the hash."""
    t = text.strip()
    return sha256(t.encode("utf-8")) if t else _ZERO


def _day(value: date | int) -> int:
    return value if isinstance(value, int) else date_code(value)


def _id(value: bytes | str, name: str) -> bytes:
    return parse_bytes32(value, name)


class PairingApi(ApiTransport):
    """Builders (signed with this client's key) and public reads of the pairing program."""

    def pairing(
        self,
        *,
        county: int,
        start: date | int,
        end: date | int,
        categories: Iterable[int | str],
        funds_target: int = 0,
        projects_target: int = 0,
        hours_target: int = 0,
        designated: bool = False,
        terms: str = "",
    ) -> records.SignedRecord:
        """An organization's proposal to pair with `county` from `start` to `end` (Beijing
        dates), its focus categories and targets (funds in fen, need projects, service
        hours); `designated` marks designated assistance (定点帮扶)."""
        return self.sign(
            program_kinds.Pairing(
                id=new_id(self.signer_address()),
                county=county,
                start_date=_day(start),
                end_date=_day(end),
                categories=categories_mask(categories),
                funds_target=funds_target,
                projects_target=projects_target,
                hours_target=hours_target,
                designated=designated,
                terms_hash=terms_hash(terms),
            )
        )

    def pairing_acceptance(self, pairing_id: bytes | str, *, county: int) -> records.SignedRecord:
        """The county office's acceptance of a pairing proposed for its county."""
        return self.sign(
            program_kinds.PairingAcceptance(
                id=new_id(self.signer_address()),
                pairing_id=_id(pairing_id, "pairing_id"),
                county=county,
            )
        )

    def pairing_source(
        self, commitment_id: bytes | str, pairing_id: bytes | str
    ) -> records.SignedRecord:
        """The CommitmentSource by which the organization's commitment cites its (accepted)
        pairing; its id is derived from the commitment (one source per commitment)."""
        return self.sign(source_record(commitment_id, pairing_id=pairing_id))

    # ------------------------------------------------------------------ reads
    def pairings(
        self, *, county: int | None = None, org: str | None = None, accepted: bool | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        if county is not None:
            params["county"] = county
        if org is not None:
            params["org"] = org
        if accepted is not None:
            params["accepted"] = "true" if accepted else "false"
        answer: list[dict[str, Any]] = self.request("GET", "/api/v1/pairings", params=params)
        return answer

    def pairing_info(self, pairing_id: bytes | str) -> dict[str, Any]:
        pid = "0x" + _id(pairing_id, "pairing_id").hex()
        answer: dict[str, Any] = self.request("GET", f"/api/v1/pairings/{pid}")
        return answer

    def key_county_pairings(self, day: date | None = None) -> dict[str, Any]:
        params = {"day": day.isoformat()} if day else {}
        answer: dict[str, Any] = self.request("GET", "/api/v1/pairings/key-counties", params=params)
        return answer

    def pairing_oversight(self, day: date | None = None) -> dict[str, Any]:
        params = {"day": day.isoformat()} if day else {}
        answer: dict[str, Any] = self.request("GET", "/api/v1/pairings/oversight", params=params)
        return answer

    def east_west(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/api/v1/east-west")
        return answer
