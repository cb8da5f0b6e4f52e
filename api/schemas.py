"""Request and response models shared by the routers (the OpenAPI document's shapes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, Union

from annotated_types import Interval
from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    create_model,
)

from ledger.core import codes
from ledger.core.record_types import BY_SLUG, signed_from_json
from ledger.core.records import Record, SignedRecord, camel_case
from ledger.library.messages import (
    MAX_ITEMS,
    MAX_RESOURCES,
    MAX_TEXT,
    RESOURCE_TYPE,
    MessageType,
)

if TYPE_CHECKING:
    from ledger.core.eip712 import Domain
    from ledger.relayer.outbox import Acceptance

RecordKindName = Literal[
    "project_anchor",
    "commitment",
    "delivery",
    "receipt",
    "flag",
    "delivery_batch",
    "pairing",
    "pairing_acceptance",
    "fund",
    "fund_contribution",
    "commitment_source",
    "follow_up_round",
    "follow_up",
    "grievance",
    "grievance_answer",
]


HEX32 = r"^0x[0-9a-fA-F]{64}$"

#: An error code as the registry spells it: the relayer stores a contract refusal under the
#: contract's error name, which an answer gives as its snake_case code.
ErrorCode = Annotated[str, AfterValidator(codes.canonical)]
ADDRESS = r"^0x[0-9a-fA-F]{40}$"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"
_DAY = r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
# 2026, 2026-H1, 2026-Q3 (or 2026Q3), 2026-07, 2026-07-01..2026-09-30 or all
# (see ledger.export.snapshot);
# a day that does not exist (02-30) passes the pattern and is refused as bad_period.
_PART = r"(-?([Qq][1-4]|[Hh][12])|-(0[1-9]|1[0-2]))?"
# (years 1000..9998: ledger.export.snapshot needs the year after the period's to exist)
_YEAR = r"([1-9][0-9]{2}[0-8]|[1-9][0-9][0-8]9|[1-9][0-8]99|[1-8]999)"
PERIOD = rf"^\s*([Aa][Ll][Ll]|{_YEAR}{_PART}|{_DAY}\.\.{_DAY})\s*$"
ORG_CODE = r"^[0-9A-HJ-NP-RTUW-Y]{18}$"  # 统一社会信用代码: 0-9, A-Y without I/O/S/V/Z
ORG_OR_ADDRESS = r"^([0-9A-HJ-NP-RTUW-Y]{18}|0x[0-9a-fA-F]{40})$"

Hex32 = Annotated[str, StringConstraints(pattern=HEX32)]
Address = Annotated[str, StringConstraints(pattern=ADDRESS)]
Signature = Annotated[str, Field(pattern=SIGNATURE, description="65-byte r‖s‖v signature, 0x-hex")]
# Path parameters: ids are 0x-hex, refused before they reach the database.
Hex32Path = Annotated[str, Path(pattern=HEX32, description="0x-hex id (32 bytes)")]
# The same in the document, checked by the ledger itself with its own codes (bad_hex,
# bad_length), for routes whose callers rely on those codes.
Hex32LedgerPath = Annotated[
    str, Path(description="0x-hex id (32 bytes)", json_schema_extra={"pattern": HEX32})
]

SAFE_INTEGER_BITS = 53  # above this, JSON numbers lose precision: the SDK sends decimal text


def _json_integer(value: Any) -> Any:
    """A JSON Schema integer: an int, or a number with no fraction (4.0); never text or bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _json_uint(top: int) -> Any:
    return Annotated[
        int,
        BeforeValidator(_json_integer),
        Interval(ge=0, le=top),
        WithJsonSchema({"type": "integer", "minimum": 0, "maximum": top}),
    ]


def _uint(bits: int, name: str) -> Any:
    top = (1 << bits) - 1
    if bits <= SAFE_INTEGER_BITS:
        return _json_uint(top)
    # A JSON number past 2^53 is not exact in most parsers: larger values come as text.
    number = _json_uint((1 << SAFE_INTEGER_BITS) - 1)
    # Decimal text with fewer digits than 2^bits - 1 has, so every such text fits.
    digits = len(str(top)) - 1
    text = Annotated[str, StringConstraints(pattern=rf"^[0-9]{{1,{digits}}}$")]
    return number | text


def _utf8_200(value: str) -> str:
    if len(value.encode("utf-8")) > 200:
        raise ValueError("must be at most 200 UTF-8 bytes")
    return value


def _field_type(typ: str, name: str) -> Any:
    if typ.endswith("[]"):
        return Annotated[list[_field_type(typ[:-2], name)], Field(max_length=256)]  # type: ignore[misc]
    if typ == "bytes32":
        return Hex32
    if typ == "address":
        return Address
    if typ == "bool":
        return StrictBool
    if typ.startswith("uint"):
        return _uint(int(typ[4:]), name)
    if typ == "string":
        return Annotated[
            str, StringConstraints(min_length=1, max_length=200), AfterValidator(_utf8_200)
        ]
    raise TypeError(f"no JSON schema for the Solidity type {typ} of {name}")


def record_model(cls: type[Record], *, id_optional: bool = False) -> type[BaseModel]:
    """The JSON body of one record kind, field for field from its EIP-712 struct (camelCase,
    bytes as 0x-hex, big integers also as decimal text). Unknown fields are refused."""
    fields: dict[str, Any] = {}
    for name, typ in cls.SCHEMA:
        camel = camel_case(name)
        annotation = _field_type(typ, camel)
        if name == "id" and id_optional:
            fields[camel] = (
                annotation | None,
                Field(default=None, description="omit for a new id"),
            )
        else:
            fields[camel] = (annotation, ...)
    suffix = "Unsigned" if id_optional else ""
    return create_model(
        f"{cls.primary_type()}{suffix}Message",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The {cls.primary_type()} EIP-712 message (see GET /api/v1/eip712).",
        **fields,
    )


# Models that appear in the OpenAPI document only: the ledger validates these values itself
# (SignedRecord.from_json, the library's content models), with its own error codes, and the
# document shows exactly what those validators take. `add_components` puts them in.
DOCUMENTED: dict[str, type[BaseModel]] = {}
MARK = "x-bangfu-model"


def documented(model: type[BaseModel], description: str) -> Any:
    """A JSON object typed in the OpenAPI document as `model`, passed on as a dict."""
    DOCUMENTED[model.__name__] = model
    return Annotated[
        dict[str, Any],
        BeforeValidator(_integral_floats),
        # pydantic resolves "$ref"s itself: a marker, replaced by one in add_components.
        WithJsonSchema({MARK: model.__name__, "description": description}),
    ]


def text_body(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route whose 200 answer is a document (CSV, XML, a signed note)
    rather than JSON."""
    return {
        200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    }


def _integral_floats(value: Any) -> Any:
    """4.0 is an integer in JSON Schema: pass it on as 4 (recursively), like any JSON parser."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats(v) for v in value]
    return value


def add_components(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the DOCUMENTED models (and the models they use) to an OpenAPI document."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model in DOCUMENTED.items():
        doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for sub, sub_doc in doc.pop("$defs", {}).items():
            components.setdefault(sub, sub_doc)
        components[name] = doc

    def link(node: Any) -> Any:
        if isinstance(node, dict):
            if MARK in node:
                rest = {k: v for k, v in node.items() if k != MARK}
                return {"$ref": f"#/components/schemas/{node[MARK]}", **rest}
            return {k: link(v) for k, v in node.items()}
        if isinstance(node, list):
            return [link(v) for v in node]
        return node

    linked: dict[str, Any] = link(schema)
    return linked


DELIVERY_EXAMPLE: dict[str, Any] = {
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


EXAMPLES: dict[str, Any] = {"examples": [DELIVERY_EXAMPLE]}


def _signed_model(slug: str, cls: type[Record]) -> type[BaseModel]:
    title = "".join(part.title() for part in slug.split("_"))
    return create_model(
        f"Signed{title}In",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [dict(DELIVERY_EXAMPLE)]}
            if slug == "delivery"
            else None,
        ),
        __doc__=f"A {cls.primary_type()} signed with EIP-712 by its author.",
        kind=(Literal[slug], ...),
        record=(documented(record_model(cls), "the EIP-712 message, camelCase"), ...),
        signature=(Signature, ...),
        signer=(
            Address | None,
            Field(default=None, description="optional: refused if the signature says otherwise"),
        ),
    )


SIGNED_BY_SLUG: dict[str, type[BaseModel]] = {
    slug: _signed_model(slug, cls) for slug, cls in BY_SLUG.items()
}
UNSIGNED_BY_SLUG: dict[str, type[BaseModel]] = {
    slug: record_model(cls, id_optional=True) for slug, cls in BY_SLUG.items()
}

# One record signed by its author: the `kind` says which message `record` holds.
if TYPE_CHECKING:
    SignedRecordIn = BaseModel
else:
    SignedRecordIn = Annotated[
        Union[tuple(SIGNED_BY_SLUG.values())],  # noqa: UP007 - a Union built from a tuple
        Field(discriminator="kind"),
    ]


def signed_record(item: BaseModel, domain: Domain) -> SignedRecord:
    """The record a request's signed record (a SignedRecordIn, a SignedBatchIn...) stands
    for, parsed and its signature checked under `domain`; fields sent as null are absent."""
    return signed_from_json(item.model_dump(exclude_none=True), domain)


if TYPE_CHECKING:
    SignedBatchIn = BaseModel
    UnsignedRecordIn = BaseModel
else:
    SignedBatchIn = SIGNED_BY_SLUG["delivery_batch"]

    def _unsigned_model(slug: str, message: type[BaseModel]) -> type[BaseModel]:
        title = "".join(part.title() for part in slug.split("_"))
        return create_model(
            f"Unsigned{title}In",
            __config__=ConfigDict(extra="forbid"),
            __doc__="A record for the custodial key to sign; leave `id` out to get a fresh one.",
            kind=(Literal[slug], ...),
            record=(documented(message, "the EIP-712 message; `id` may be left out"), ...),
        )

    # An unsigned record for custodial signing, typed per kind like SignedRecordIn.
    UnsignedRecordIn = Annotated[
        Union[tuple(_unsigned_model(k, m) for k, m in UNSIGNED_BY_SLUG.items())],  # noqa: UP007
        Field(discriminator="kind"),
    ]


class SubmissionIn(BaseModel):
    """One or several signed records, accepted all together or not at all."""

    model_config = ConfigDict(extra="forbid")
    records: list[SignedRecordIn] = Field(min_length=1, max_length=1000)


class RawTxIn(BaseModel):
    """An admin transaction signed in the browser (a registration, the follow-up rate); the
    server checks which call it is (`ledger.evm.admin_tx`)."""

    model_config = ConfigDict(extra="forbid")

    raw_tx: str = Field(
        pattern=r"^0x([0-9a-fA-F]{2})+$",
        max_length=65_536,
        description="the admin's signed EIP-1559 transaction, 0x-hex",
    )


class AcceptedOut(BaseModel):
    record_id: str
    kind: str
    status: str
    duplicate: bool

    @classmethod
    def of(cls, accepted: Acceptance, **more: Any) -> Self:
        """The answer for a record the relayer accepted (with what a subclass adds)."""
        return cls(
            record_id=accepted.record_id,
            kind=accepted.kind,
            status=accepted.status,
            duplicate=accepted.duplicate,
            **more,
        )


class SubmissionOut(BaseModel):
    accepted: list[AcceptedOut]


class StatusOut(BaseModel):
    record_id: str
    kind: str
    status: Literal["queued", "sent", "confirmed", "failed", "conflict", "unknown"]
    error_code: ErrorCode | None = None
    error: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    leaf_index: int | None = None


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


# ------------------------------------------------ library messages (ledger.library.messages)
# The JSON Schema of each signed library message is derived from its EIP-712 type table, the
# same table messages.parse checks a message against (with its own code, bad_message): the
# document and the server cannot drift apart.

# messages.parse takes any text without NUL of at most MAX_TEXT characters.
_MESSAGE_TEXT = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=r"^[^\u0000]*$")]
_MESSAGE_MODELS: dict[str, type[BaseModel]] = {}


def _message_field_type(typ: str, name: str) -> Any:
    if typ.endswith("[]"):
        elem = _message_field_type(typ[:-2], name)
        most = MAX_RESOURCES if typ == "Resource[]" else MAX_ITEMS
        return Annotated[list[elem], Field(max_length=most)]  # type: ignore[valid-type]
    if typ == "Resource":
        return _struct_model("Eip712Resource", RESOURCE_TYPE, "One Resource of a LibraryMatch.")
    if typ == "string":
        return _MESSAGE_TEXT
    if typ == "bytes32":
        return Hex32
    if typ == "address":
        return Annotated[
            str,
            StringConstraints(pattern=ADDRESS),
            Field(description="0x address; in mixed case it must be its EIP-55 checksum"),
        ]
    if typ.startswith("uint"):
        return _uint(int(typ[4:]), name)
    raise TypeError(f"no JSON schema for the EIP-712 type {typ} of {name}")


def _struct_model(
    model_name: str, fields: Sequence[Mapping[str, str]], doc: str
) -> type[BaseModel]:
    if model_name not in _MESSAGE_MODELS:
        definitions: dict[str, Any] = {
            f["name"]: (_message_field_type(f["type"], f["name"]), ...) for f in fields
        }
        _MESSAGE_MODELS[model_name] = create_model(
            model_name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **definitions
        )
    return _MESSAGE_MODELS[model_name]


def message_model(mtype: MessageType) -> type[BaseModel]:
    """The JSON body of one library message: every field of its EIP-712 type, required, none
    other (uint64/uint128 also as decimal text, as messages.parse takes them)."""
    return _struct_model(
        f"{mtype.name}Message",
        [{"name": n, "type": t} for n, t in mtype.fields],
        f"The {mtype.name} EIP-712 message (ledger.library.messages), signed by its author.",
    )


def signed_message(mtype: MessageType) -> Any:
    """A request's optional `message`: typed in the document as `mtype`'s message, checked by
    messages.parse with the library's own code (bad_message). Without it (and without a
    signature) the write is refused as signature_required (401)."""
    return documented(message_model(mtype), f"签名的消息 the signed {mtype.name} message") | None


# A signature in the document; the ledger checks it itself (signature_required when absent,
# bad_signature when malformed or not recovering), so its callers keep those codes.
LedgerSignature = Annotated[
    str,
    Field(
        description="65-byte r‖s‖v EIP-712 signature, 0x-hex; checked by the ledger "
        "(signature_required, bad_signature)",
        json_schema_extra={"pattern": SIGNATURE},
    ),
]
