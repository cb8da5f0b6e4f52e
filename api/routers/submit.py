"""Organizations and counties: submit signed records, follow their status, get the
EIP-712 domain and types to sign with."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import ServiceDep
from api.problems import ledger_problem, unexpected
from api.schemas import SignedRecordIn, StatusOut, SubmissionIn, SubmissionOut
from ledger.app import LedgerService
from ledger.core.errors import LedgerError
from ledger.core.record_types import BY_SLUG, signed_from_json
from ledger.core.records import Kind, SignedRecord

router = APIRouter(prefix="/api/v1", tags=["orgs & counties 社会组织与县"])

#: Up to this many records are parsed on the event loop (~0.2 ms each: the EIP-712 digest
#: and the signer's recovery); a larger submission is parsed on a worker thread, so that it
#: does not hold up the requests around it.
PARSE_INLINE = 8

# 500 ids make a 36 kB query string: within what uvicorn's parsers take in a request head
# (httptools about 64 kB; h11 with the limit `bangfu run` sets). The SDK asks 200 at a time.
MAX_STATUS_IDS = 500


def _json_dumps() -> Callable[[Any], bytes]:
    """orjson's dumps if it is installed, else the standard library's (same JSON)."""
    try:
        fast: Any = importlib.import_module("orjson")
    except ImportError:
        return lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()
    dumps: Callable[[Any], bytes] = fast.dumps
    return dumps


_dumps = _json_dumps()


def _parse(service: ServiceDep, items: list[SignedRecordIn]) -> list[SignedRecord]:
    domain = service.domain
    out = []
    for i, item in enumerate(items):
        try:
            out.append(signed_from_json(item.model_dump(exclude_none=True), domain))
        except LedgerError as exc:
            exc.fields.setdefault("index", i)
            raise
    return out


@router.post(
    "/records",
    response_model=SubmissionOut,
    status_code=202,
    summary="提交签名记录 Submit signed records",
)
async def submit_records(body: SubmissionIn, service: ServiceDep) -> Response:
    """Checks each record (signature, role, unused id, references, no over-delivery) and
    writes all of them durably to the outbox before answering 202. Nothing is written if one
    is refused. Resubmitting an accepted record answers its status with `duplicate: true`."""
    # Async, so that no thread waits here: the outbox's one writer thread checks and
    # commits this submission with the others waiting (group commit), and the answer is
    # sent once that commit is done.
    return Response(await _accept(service, body), status_code=202, media_type="application/json")


async def _accept(service: LedgerService, body: SubmissionIn) -> bytes:
    """Parses, checks and durably writes a submission; the 202 answer's bytes. Raises the
    LedgerError that refuses it."""
    if len(body.records) <= PARSE_INLINE:
        records = _parse(service, body.records)
    else:
        records = await run_in_threadpool(_parse, service, body.records)
    accepted = await service.relayer.accept_async(records)
    # The answer is written here, not through `response_model` (documented there): bytes
    # returned as is skip FastAPI's validation and encoding of the model.
    out = {
        "accepted": [
            {
                "record_id": a.record_id,
                "kind": a.kind,
                "status": a.status,
                "duplicate": a.duplicate,
            }
            for a in accepted
        ]
    }
    return _dumps(out)


class SubmitFastPath:
    """`POST /api/v1/records` without the framework around it, for the submissions that
    validate: the most frequent write, and one record a request in the field.

    A JSON body with a Content-Length within the limit is validated with the same pydantic
    model as the route (`SubmissionIn`, in Python mode after the standard library's JSON
    parse, as FastAPI does: orjson would read an integer past 64 bits as a float)
    and handed to the same `_accept`; its answer, or the problem document of the
    LedgerError that refuses it, is sent from here. Anything else (another path or method,
    no or a large Content-Length, another content type, a body that does not parse or
    validate) goes to the application with the body replayed, so every refusal of the
    request's shape is FastAPI's own, byte for byte (tests/api/test_submit_fast_path.py).
    It sits inside SecurityHeaders, so its answers carry the same headers."""

    PATH = "/api/v1/records"

    def __init__(self, app: ASGIApp, state: Any, limit: int) -> None:
        self.app = app
        #: the application's state: its `service` is set by the lifespan, after this is made
        self.state = state
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.PATH
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        length, json_body = None, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"content-type":
                json_body = value.split(b";")[0].strip().lower() == b"application/json"
        if length is None or length > self.limit or not json_body:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        try:
            body = SubmissionIn.model_validate(json.loads(raw)) if len(raw) == length else None
        except (ValueError, ValidationError):
            body = None
        if body is None:
            await self.app(scope, _replay(raw, receive), send)
            return
        response: Response
        try:
            answer = await _accept(self.state.service, body)
            response = Response(answer, status_code=202, media_type="application/json")
        except LedgerError as exc:
            response = ledger_problem(exc)
        except Exception as exc:  # noqa: BLE001 - answered as CatchUnexpected answers it
            response = unexpected(exc)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


@router.get(
    "/records/status",
    response_model=list[StatusOut],
    summary="记录状态 Status of submitted records",
)
def record_status(
    service: ServiceDep,
    ids: list[Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]] = Query(
        ..., max_length=MAX_STATUS_IDS, description="record ids, 0x-hex"
    ),
) -> list[StatusOut]:
    """queued → sent → confirmed, or failed with the contract's reason."""
    rows = service.relayer.status(ids)
    out = []
    for rid in ids:
        row = rows.get(rid.lower())
        if row is None:
            out.append(StatusOut(record_id=rid.lower(), kind="unknown", status="unknown"))
            continue
        out.append(
            StatusOut(
                record_id=row.record_id,
                kind=_slug(row.kind),
                status=row.status,
                error_code=row.error_code,
                error=row.error,
                tx_hash=row.tx_hash,
                block_number=row.block_number,
                leaf_index=row.leaf_index,
            )
        )
    return out


def _slug(kind: int) -> str:
    return Kind(kind).slug


@router.get("/eip712", summary="签名域与类型 EIP-712 domain and types")
def eip712(service: ServiceDep) -> dict[str, Any]:
    """What a client needs to sign records for this deployment."""
    return {
        "domain": service.domain.as_dict(),
        "types": {cls.primary_type(): cls.eip712_types() for cls in BY_SLUG.values()},
        "kinds": {slug: cls.primary_type() for slug, cls in BY_SLUG.items()},
        "record_bytes": "version u8 ‖ kind u8 ‖ chainId u256 ‖ contract ‖ signer ‖ "
        "abi.encode(struct) ‖ r ‖ s ‖ v; leaf = SHA-256(0x00 ‖ bytes)",
    }
