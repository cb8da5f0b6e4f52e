"""Request and response models shared by the routers (the OpenAPI document's shapes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RecordKindName = Literal[
    "project_anchor", "commitment", "delivery", "receipt", "flag", "delivery_batch"
]


class SignedRecordIn(BaseModel):
    """One record signed with EIP-712 by its author (see GET /api/v1/eip712)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "delivery",
                    "record": {
                        "id": "0x" + "11" * 32,
                        "commitmentId": "0x" + "22" * 32,
                        "quantity": 40,
                        "deliveredAt": 1790000000,
                        "evidenceHash": "0x" + "33" * 32,
                        "beneficiaryCount": 3,
                        "beneficiaryRoot": "0x" + "44" * 32,
                    },
                    "signature": "0x" + "55" * 65,
                }
            ]
        },
    )

    kind: RecordKindName
    record: dict[str, Any] = Field(description="the EIP-712 message, camelCase, bytes as 0x-hex")
    signature: str = Field(max_length=140, description="65-byte r‖s‖v signature, 0x-hex")
    signer: str | None = Field(
        default=None, max_length=42, description="optional: refused if the signature says otherwise"
    )


class SubmissionIn(BaseModel):
    """One or several signed records, accepted all together or not at all."""

    model_config = ConfigDict(extra="forbid")
    records: list[SignedRecordIn] = Field(min_length=1, max_length=1000)


class AcceptedOut(BaseModel):
    record_id: str
    kind: str
    status: str
    duplicate: bool


class SubmissionOut(BaseModel):
    accepted: list[AcceptedOut]


class StatusOut(BaseModel):
    record_id: str
    kind: str
    status: Literal["queued", "sent", "confirmed", "failed", "conflict", "unknown"]
    error_code: str | None = None
    error: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    leaf_index: int | None = None


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
