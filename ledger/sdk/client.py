"""Python SDK for the Bangfu Ledger HTTP API: signs records locally with the author's key,
submits them, follows their status, and reads the public lists and totals.

The key never leaves the caller's process; the server only ever sees signed records. Pass an
`httpx.Client` (for example FastAPI's `TestClient`) to talk to an app in process.

`BangfuClient` is put together here from its parts: the transport (`transport`), records and
public reads (`records`), library writes (`library`), organization profiles (`profiles`); this
module adds the record builders. Loose input (`record_from_fields`) is in `fields`. The names
below are the SDK's public face.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date

from ledger.core import aid_kinds, merkle, records
from ledger.core.errors import ApiError, ApiUnreachable, RecordError, RecordFailed, WaitTimeout
from ledger.core.fields import FlagReason, ProjectKind, ResourceKind, date_code, text32
from ledger.core.lines import DeliveryLine, batch_totals, new_id
from ledger.sdk.fields import record_from_fields
from ledger.sdk.followup import FollowUpApi
from ledger.sdk.funds import FundsApi
from ledger.sdk.grievances import GrievancesApi
from ledger.sdk.library import LibraryApi
from ledger.sdk.pairing import PairingApi
from ledger.sdk.profiles import ProfilesApi
from ledger.sdk.records import (
    MAX_SUBMISSION,
    Accepted,
    Page,
    RecordsApi,
    RecordStatus,
    as_bytes32,
    category_number,
)
from ledger.sdk.transport import API_ENV, DEFAULT_API

__all__ = [
    "API_ENV",
    "DEFAULT_API",
    "MAX_SUBMISSION",
    "Accepted",
    "ApiError",
    "ApiUnreachable",
    "BangfuClient",
    "Page",
    "RecordFailed",
    "RecordStatus",
    "WaitTimeout",
    "as_bytes32",
    "record_from_fields",
]

_ZERO = bytes(32)


class BangfuClient(
    RecordsApi, LibraryApi, ProfilesApi, PairingApi, FundsApi, FollowUpApi, GrievancesApi
):
    """One API endpoint, optionally with a signing account for the builders and `submit`."""

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
    ) -> records.SignedRecord:
        """Anchors one version of a need (county) or supply (organization) project.

        `title` is what the signer reads (1..200 UTF-8 bytes); `budget` is in fen;
        `end_date` is a date (Beijing time) or YYYYMMDD. A new project's id must start with
        the signer's address: make it with `new_project_id()`."""
        pid = as_bytes32(project_id, "project_id")
        return self.sign(
            aid_kinds.ProjectAnchor(
                id=aid_kinds.ProjectAnchor.anchor_id(pid, version),
                project_id=pid,
                project_kind=int(project_kind),
                county=county,
                category=category_number(category),
                title=title,
                budget=budget,
                end_date=end_date if isinstance(end_date, int) else date_code(end_date),
                content_hash=as_bytes32(content_hash, "content_hash"),
                version=version,
            )
        )

    def new_project_id(self) -> bytes:
        """A fresh project id scoped to this client's key (the project's owner)."""
        return new_id(self.signer_address())

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
    ) -> records.SignedRecord:
        """An organization's promise for a matched need, with a fresh id. Funds are in fen."""
        return self.sign(
            aid_kinds.Commitment(
                id=new_id(self.signer_address()),
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
    ) -> records.SignedRecord:
        """One delivery against a commitment, with a fresh id (`delivered_at` defaults to now)."""
        return self.sign(
            aid_kinds.Delivery(
                id=new_id(self.signer_address()),
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
    ) -> records.SignedRecord:
        """Many delivery lines as one record: the RFC 9162 root over the lines is signed."""
        if not lines:
            raise RecordError("批次没有明细行 / a batch needs at least one line", code="EmptyBatch")
        cids, quantities = batch_totals(lines)
        return self.sign(
            aid_kinds.DeliveryBatch(
                id=new_id(self.signer_address()),
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
    ) -> records.SignedRecord:
        """A county's confirmation of a delivery, with a fresh id."""
        return self.sign(
            aid_kinds.Receipt(
                id=new_id(self.signer_address()),
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
    ) -> records.SignedRecord:
        """An auditor's note on any record, with a fresh id."""
        return self.sign(
            aid_kinds.Flag(
                id=new_id(self.signer_address()),
                record_id=as_bytes32(record_id, "record_id"),
                reason_code=int(reason),
                note_hash=as_bytes32(note_hash, "note_hash"),
            )
        )
