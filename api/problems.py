"""Errors as RFC 9457 problem-details JSON with a stable `code`; never a traceback, and
never a dropped keep-alive connection: an unexpected error becomes a 500 (or a 503 when
SQLite is busy) inside the application, so the server keeps the connection open.

The HTTP status of every code of `ledger.core.codes` is decided here (`STATUS`), not by the
ledger's exceptions, and the OpenAPI document lists every code with its status.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import PROBLEM, problem_body
from ledger.core import codes
from ledger.core.errors import (
    ConflictError,
    LedgerError,
    PermissionError_,
    ProofError,
    RecordError,
    SignatureError,
)

log = logging.getLogger("bangfu.api")

# The status each code answers with, grouped by status.
_CODES_BY_STATUS: dict[int, tuple[str, ...]] = {
    400: (
        codes.API_ERROR,
        codes.BAD_ADDRESS,
        codes.BAD_CHAIN_PROFILE,
        codes.BAD_ADMIN_DELAY,
        codes.BAD_ARGUMENTS,
        codes.BAD_CHARACTERS,
        codes.BAD_CONTENT_LENGTH,
        codes.BAD_CURSOR,
        codes.BAD_DATABASE_URL,
        codes.BAD_EVIDENCE,
        codes.BAD_FIELD,
        codes.BAD_GROUP,
        codes.BAD_KEY_COUNTIES,
        codes.BAD_KEY_FILE,
        codes.BAD_LIST,
        codes.BAD_LOCALCHAIN,
        codes.BAD_LOG_KEY,
        codes.BAD_PARAMETER,
        codes.BAD_PERIOD,
        codes.BAD_PROJECT_ID,
        codes.BAD_PROVINCE,
        codes.BAD_QUORUM,
        codes.BAD_RECORD_ID,
        codes.BAD_RESPONSE,
        codes.BAD_SOURCES,
        codes.BAD_WITNESSES,
        codes.BATCH_LINES_TAMPERED,
        codes.CJK_FONT_MISSING,
        codes.COMPILE_FAILED,
        codes.CONFIG_ERROR,
        codes.CUSTODIAL_KEY_MISMATCH,
        codes.CUSTODIAL_NO_PASSWORD,
        codes.CUSTODIAL_TOKENS_CORRUPT,
        codes.DEMO_BATCH,
        codes.DEMO_RECORD_FAILED,
        codes.DEMO_TIMEOUT,
        codes.FILE_EXISTS,
        codes.FILE_NOT_FOUND,
        codes.INDEXER_LAGGING,
        codes.INDEXER_NOT_STARTED,
        codes.INDEX_INCOMPLETE,
        codes.INVALID_JSON,
        codes.KEY_FILE_EXISTS,
        codes.KEY_FILE_NOT_FOUND,
        codes.LEDGER_ERROR,
        codes.MISSING_NODE,
        codes.MISSING_NODE_MODULES,
        codes.MISSING_SOURCE,
        codes.NO_LOCALCHAIN,
        codes.NO_PASSWORD,
        codes.REBUILD_TARGET_NOT_EMPTY,
        codes.RECORD_FAILED,
        codes.REPORT_CUTOFF_MISMATCH,
        codes.STATE_DIR_NOT_WRITABLE,
        codes.TOOLCHAIN_ERROR,
        codes.TO_SIGN_MISMATCH,
        codes.USAGE_ERROR,
        codes.VAR_NOT_WRITABLE,
        codes.WEAK_PASSWORD,
        codes.WITNESS_REFUSED,
        codes.WRONG_CHECKPOINT_KEY,
        codes.WRONG_PASSWORD,
    ),
    401: (
        codes.BAD_TOKEN,
        codes.EXPIRY_TOO_FAR,
        codes.LIST_VERSION_NOT_NEWER,
        codes.SESSION_EXPIRED,
        codes.SESSION_REQUIRED,
        codes.SIGNATURE_EXPIRED,
        codes.SIGNATURE_REPLAYED,
        codes.SIGNATURE_REQUIRED,
    ),
    403: (
        codes.CSRF_FAILED,
        codes.FORBIDDEN,
        codes.ID_NOT_SIGNER_SCOPED,
        codes.KIND_NOT_ALLOWED,
        codes.NOT_ADMIN,
        codes.NOT_AUDITOR,
        codes.NOT_MATCH_PARTY,
        codes.NOT_ORG_KEY,
        codes.NOT_PROJECT_OWNER,
        codes.UNTRUSTED_EXPORTER,
    ),
    404: (
        codes.FUND_NOT_FOUND,  # special funds
        codes.AUDIT_NOT_FOUND,
        codes.BATCH_NOT_INDEXED,
        codes.COUNTY_NOT_FOUND,
        codes.CUSTODIAL_DISABLED,
        codes.CUSTODIAL_KEY_NOT_FOUND,
        codes.EVIDENCE_NOT_FOUND,
        codes.LINE_NOT_FOUND,
        codes.NOTHING_TO_EXPORT,
        codes.NOT_FOUND,
        codes.NOT_INDEXED_YET,
        codes.NO_CHECKPOINT,
        codes.NO_LOG_KEY,
        codes.NO_VERSION,
        codes.ORG_NOT_FOUND,
        codes.PAIRING_NOT_FOUND,
        codes.PROJECT_NOT_FOUND,
        codes.RECORD_NOT_FOUND,
        codes.TX_NOT_FOUND,
        codes.UNKNOWN_MATCH,
        codes.UNKNOWN_PROJECT,
        codes.UPLOAD_NOT_FOUND,
        codes.UNKNOWN_FILING,
    ),
    405: (codes.METHOD_NOT_ALLOWED,),
    409: (
        codes.IATI_NO_REPORTING_ORG,
        codes.ALREADY_PUBLISHED,
        codes.BUSY,
        codes.CHECKPOINT_RACED,
        codes.CONFLICT,
        codes.DUPLICATE_IN_SUBMISSION,
        codes.IMPORT_CONFLICT,
        codes.MATCH_CLOSED,
        codes.MATCH_EXISTS,
        codes.NEED_CHANGED,
        codes.NEED_NOT_OPEN,
        codes.NOTHING_TO_PUBLISH,
        codes.NOT_YET_ON_CHAIN,
        codes.PROFILE_VERSION_NOT_NEXT,
        codes.PROJECT_EXISTS,
        codes.PROJECT_IS_DRAFT,
        codes.PROJECT_NOT_OPEN,
        codes.PUBLISHED_IS_IMMUTABLE,
        codes.RECORD_CONFLICT,
        codes.RECORD_ID_USED,
        codes.STALE_VERSION,
        codes.SUPPLY_NOT_OPEN,
        codes.TRANSITION_NOT_ALLOWED,
        codes.UPLOAD_ACCEPTED,
        codes.UPLOAD_GAP,
        codes.UPLOAD_INCOMPLETE,
        codes.UPLOAD_REFUSED,
        # follow-up (回访): the sample is drawn once the seed block is mined; try again then
        codes.SEED_NOT_YET_KNOWN,
        codes.GRIEVANCE_ALREADY_REGISTERED,
    ),
    413: (
        codes.BODY_TOO_LARGE,
        codes.EVIDENCE_TOO_LARGE,
        codes.FILE_TOO_LARGE,
    ),
    422: (
        # special funds (ledger.workspace.funds)
        codes.PURPOSE_HASH_MISMATCH,
        codes.SPONSOR_HASH_MISMATCH,
        codes.SPONSOR_NAME_IN_PUBLIC_TEXT,
        # grievances (申诉)
        codes.ANSWER_HASH_MISMATCH,
        codes.ANSWER_TEXT_MISSING,
        codes.GRIEVANCE_FILING_MISMATCH,
        codes.GRIEVANCE_NOT_FILED,
        codes.RECORD_NOT_OF_PROJECT,
        codes.ABSURD_DATE,
        codes.ABSURD_QUANTITY,
        codes.ACCESS_CONTROL_BAD_CONFIRMATION,
        codes.ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_DELAY,
        codes.ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_RULES,
        codes.ACCESS_CONTROL_INVALID_DEFAULT_ADMIN,
        codes.ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT,
        codes.ALREADY_RECEIPTED,
        codes.BAD_ACTION,
        codes.BAD_AMOUNT,
        codes.BAD_BATCH_FILE,
        codes.BAD_BUNDLE,
        codes.BAD_BUNDLE_PROOF,
        codes.BAD_BUNDLE_SIGNATURE,
        codes.BAD_CHECKPOINT_SIGNATURE,
        codes.BAD_CHOICE,
        codes.BAD_CONSISTENCY,
        codes.BAD_COUNTY_CODE,
        codes.BAD_CSV,
        codes.BAD_DATE,
        codes.BAD_DIRECTION,
        codes.BAD_ENCODING,
        codes.BAD_FILE,
        codes.BAD_FORMAT,
        codes.BAD_FRAME,
        codes.BAD_HEADER,
        codes.BAD_HEX,
        codes.BAD_ID_NUMBER,
        codes.BAD_INCLUSION,
        codes.BAD_JSON,
        codes.BAD_KIND,
        codes.BAD_LEAF_HASH,
        codes.BAD_LENGTH,
        codes.BAD_LINE,
        codes.BAD_LINE_BYTES,
        codes.BAD_LINE_COUNT,
        codes.BAD_LINE_PROOF,
        codes.BAD_MESSAGE,
        codes.BAD_NUMBER,
        codes.BAD_ORG_CODE,
        codes.BAD_PROOF,
        codes.BAD_RAW_TX,
        codes.BAD_RECORD,
        codes.BAD_RECORD_BYTES,
        codes.BAD_SIGNATURE,
        codes.BAD_SIZE,
        codes.BAD_STATUS,
        codes.BAD_TYPE,
        codes.BAD_WEBSITE,
        codes.BATCH_LENGTH_MISMATCH,
        codes.BATCH_RECEIPT_NEEDS_SINGLE_COMMITMENT,
        codes.BATCH_ROOT_MISMATCH,
        codes.BATCH_TOTALS_MISMATCH,
        codes.BOTH_BENEFICIARY_COLUMNS,
        codes.CHAIN_REORGANIZED,
        codes.CHECKPOINT_UNSIGNED,
        codes.COMMITMENTS_NOT_SORTED,
        codes.COMMITMENT_ALREADY_SOURCED,
        codes.CONTENT_MISMATCH,
        codes.COUNTY_CHANGED,
        codes.COUNTY_KEY_NEEDED,
        codes.DEADLINE_PASSED,
        codes.DUPLICATE_LINE,
        codes.EMPTY_BATCH,
        codes.EMPTY_FILE,
        codes.EMPTY_LIST,
        codes.EMPTY_SOURCE,
        codes.EVIDENCE_HASH_MISMATCH,
        codes.EVIDENCE_SIZE_MISMATCH,
        codes.EXPORT_RACED,
        codes.FIELD_TOO_LARGE,
        codes.FOLLOW_UP_REPEATED,
        codes.FOLLOW_UP_ROUND_EXISTS,
        codes.FUND_OVER_COMMITTED,
        codes.GRIEVANCE_ALREADY_ANSWERED,
        codes.HISTORY_REWRITTEN,
        codes.IMPORTED_PROJECT,
        codes.INCONSISTENT_CHECKPOINT,
        codes.INVALID_ADDRESS,
        codes.INVALID_AUTHORITY,
        codes.INVALID_BATCH,
        codes.INVALID_BUDGET,
        codes.INVALID_CATEGORIES,
        codes.INVALID_CATEGORY,
        codes.INVALID_COUNTY_CODE,
        codes.INVALID_END_DATE,
        codes.INVALID_FUND_NAME,
        codes.INVALID_NAME,
        codes.INVALID_ORG_CODE,
        codes.INVALID_ORG_TYPE,
        codes.INVALID_OUTCOME,
        codes.INVALID_PERIOD,
        codes.INVALID_PROJECT,
        codes.INVALID_PROJECT_KIND,
        codes.INVALID_PROOF,
        codes.INVALID_QUANTITY,
        codes.INVALID_RATE,
        codes.INVALID_RECORD,
        codes.INVALID_REQUEST,
        codes.INVALID_RESOURCE_KIND,
        codes.INVALID_SIGNATURE,
        codes.INVALID_SPONSOR_KIND,
        codes.INVALID_TITLE,
        codes.LINE_COMMITMENT_NOT_IN_BATCH,
        codes.LINE_COUNT_MISMATCH,
        codes.LINE_OUT_OF_RANGE,
        codes.LOG_INCOMPLETE,
        codes.LOG_KEY_CHANGED,
        codes.MALFORMED_FIELDS,
        codes.MESSAGE_MISMATCH,
        codes.MISSING_FIELD,
        codes.MISSING_ORG,
        codes.MISSING_ROLE,
        codes.MISSING_SIGNER,
        codes.MISSING_SUPPLY,
        codes.MISSING_VALUE,
        codes.NEED_LIST_REFUSED,
        codes.NOT_ANCHORED,
        codes.NOT_A_NEED,
        codes.NOT_COMMITMENT_OWNER,
        codes.NOT_FUND_OWNER,
        codes.NOT_PAIRING_PARTY,
        codes.NOT_POSITIVE,
        codes.NOT_REGISTERED,
        codes.NOT_REGISTRATION_CALL,
        codes.NO_ACCEPTED_MATCH,
        codes.NO_KEY,
        codes.ORG_TYPE_MISMATCH,
        codes.ORG_TYPE_REQUIRED,
        codes.OUT_OF_RANGE,
        codes.OVER_CONFIRMATION,
        codes.OVER_DELIVERY,
        codes.PAIRING_ALREADY_ACCEPTED,
        codes.PAIRING_COUNTY_MISMATCH,
        codes.PAIRING_NOT_ACCEPTED,
        codes.PERSONAL_DATA_IN_TEXT,
        codes.PROJECT_COUNTY_CHANGED,
        codes.PROJECT_ID_NOT_SCOPED,
        codes.PROJECT_KIND_CHANGED,
        codes.PROJECT_NOT_EDITABLE,
        codes.QUORUM_NOT_MET,
        codes.RECORD_ID_NOT_SCOPED,
        codes.REGISTRATION_FAILED,
        codes.REVERTED,
        codes.ROLE_CONFLICT,
        codes.ROLE_MANAGED_BY_REGISTRATION,
        codes.ROOT_MISMATCH,
        codes.SEED_BLOCK_NOT_FUTURE,
        codes.SELF_RECEIPT,
        codes.SIGNER_NOT_AUTHORIZED,
        codes.TEXT_TOO_LONG,
        codes.TOO_LONG,
        codes.TOO_MANY_COMMITMENTS,
        codes.TOO_MANY_LINES,
        codes.UNKNOWN_BATCH,
        codes.UNKNOWN_CATEGORY,
        codes.UNKNOWN_COMMITMENT,
        codes.UNKNOWN_COUNTY,
        codes.UNKNOWN_DELIVERY,
        codes.UNKNOWN_FIELD,
        codes.UNKNOWN_FOLLOW_UP_ROUND,
        codes.UNKNOWN_FUND,
        codes.UNKNOWN_GRIEVANCE,
        codes.UNKNOWN_KIND,
        codes.UNKNOWN_NEED,
        codes.UNKNOWN_PAIRING,
        codes.UNKNOWN_PROVINCE,
        codes.UNKNOWN_RECORD,
        codes.UNKNOWN_ROLE,
        codes.WRONG_CHAIN_ID,
        codes.WRONG_COLUMN_COUNT,
        codes.WRONG_CONTRACT,
        codes.WRONG_COUNTY,
        codes.WRONG_DOMAIN,
        codes.WRONG_FOLLOW_UP_RATE,
        codes.WRONG_KIND,
        codes.WRONG_ORIGIN,
        codes.WRONG_PROJECT_VERSION,
        # follow-up (回访): the relayer's off-chain rules (ledger/relayer/rules_followup.py)
        codes.BATCH_NOT_IN_COUNTY,
        codes.LINE_NOT_IN_SAMPLE,
        codes.LINE_HASH_MISMATCH,
        codes.BATCH_LINES_NOT_HELD,
        codes.NOT_RATE_CALL,
    ),
    429: (codes.TOO_MANY_GRIEVANCES,),
    500: (
        codes.AUDIT_FAILED,
        codes.IATI_INVALID,
        codes.INDEX_DIVERGED,
        codes.INTERNAL_ERROR,
    ),
    503: (
        codes.API_UNREACHABLE,
        codes.AUDIT_INTERRUPTED,
        codes.BAD_DEPLOYMENT,
        codes.BAD_DUMP,
        codes.BAD_STATE_FILE,
        codes.CHAIN_START_FAILED,
        codes.CHAIN_START_TIMEOUT,
        codes.CHAIN_UNFIT,
        codes.CHAIN_UNREACHABLE,
        codes.DATABASE_BUSY,
        codes.DUMP_MISMATCH,
        codes.NO_CONTRACT,
        codes.NO_DEPLOYMENT,
        codes.PORT_IN_USE,
        codes.PROFILE_MISMATCH,
        codes.REBUILD_INCOMPLETE,
        codes.ROLLED_BACK,
        codes.RPC_ERROR,
        codes.TX_REVERTED,
        codes.WRONG_CHAIN,
    ),
    504: (codes.WAIT_TIMEOUT,),
}
#: Code → HTTP status, for every code of the registry (tests/test_codes.py checks it).
STATUS: dict[str, int] = {
    code: status for status, group in _CODES_BY_STATUS.items() for code in group
}

# A few codes are raised by two families that answer with different statuses; the exact
# family decides for them. A bad signature on a library write is an authentication failure
# (401), on a record a refusal of the record (422); the portal's own county-code check is a
# malformed address (400); a contract's refusal keeps the 422 of every contract error, where
# the ledger's own check of the same rule may answer otherwise (record_id_used is a 409); a
# halting alarm refuses a checkpoint with the alarm's code as a proof error (422).
_FAMILY_STATUS: dict[tuple[str, type[LedgerError]], int] = {
    (codes.BAD_SIGNATURE, SignatureError): 401,
    (codes.NO_ACCEPTED_MATCH, ConflictError): 409,
    (codes.BAD_COUNTY_CODE, LedgerError): 400,
    (codes.NOT_PROJECT_OWNER, RecordError): 422,
    (codes.RECORD_ID_USED, RecordError): 422,
    (codes.HISTORY_REWRITTEN, LedgerError): 400,
    (codes.INDEX_DIVERGED, ProofError): 422,
    # an address without a role may not sign in or upload evidence: a permission refusal
    (codes.NOT_REGISTERED, PermissionError_): 403,
    (codes.WRONG_ORIGIN, PermissionError_): 403,
}


def code_of(exc: LedgerError) -> str:
    """The registry code an error answers with (a contract error's name becomes its code)."""
    return codes.canonical(exc.code)


def status_of(exc: LedgerError) -> int:
    """The HTTP status an error answers with; 400 for a code outside the registry."""
    code = code_of(exc)
    return _FAMILY_STATUS.get((code, type(exc)), STATUS.get(code, 400))


def problem(
    status: int,
    code: str,
    detail: str,
    response_headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {**problem_body(status, code, detail), **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=response_headers)


def ledger_problem(exc: LedgerError) -> JSONResponse:
    """The problem document a LedgerError answers with: its code, status, message and
    fields."""
    extra = {k: v for k, v in exc.fields.items() if k not in ("code", "detail")}
    return problem(status_of(exc), code_of(exc), exc.message, **extra)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this path (for `Allow` on 405)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str, list[Any]]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, codes.INVALID_JSON, "the request body is not valid JSON", []
    simplified = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
        for e in errors[:20]
    ]
    for e in simplified:
        # pydantic names its validators in the location (function-after[…]): keep the fields.
        e["loc"] = [p for p in e["loc"] if re.fullmatch(r"[\w.-]+", p)]
    first = simplified[0] if simplified else {"loc": [], "msg": "invalid"}
    where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
    return 422, codes.INVALID_REQUEST, f"{where}: {first['msg']}", simplified


def unexpected(exc: BaseException) -> JSONResponse:
    """The answer to an error that is not a LedgerError: logged here, never shown."""
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        log.warning("database busy: %s", exc.orig)
        response = problem(
            503,
            codes.DATABASE_BUSY,
            "数据库繁忙，未写入任何内容，请稍后重试 / the database is busy and nothing was "
            "written; try again in a moment",
        )
        response.headers["Retry-After"] = "1"
        return response
    log.error("unexpected error", exc_info=exc)
    return problem(
        500,
        codes.INTERNAL_ERROR,
        "服务器内部错误，已记录，请稍后重试 / an unexpected error happened; it was logged. "
        "Try again later.",
    )


class CatchUnexpected:
    """Answers an unexpected error from inside the application.

    Starlette's outermost error middleware sends its 500 and then re-raises, and uvicorn
    closes the connection of a request whose application raised: every client that reuses
    connections would lose its next request too. This answers the problem document itself
    and returns normally. An error after the answer began to be sent still propagates (the
    half-sent answer must end with the connection); one after it was sent is only logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "done": False}

        async def tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if state["done"]:
                log.error("error after the answer was sent", exc_info=exc)
                return
            if state["started"]:
                raise
            await unexpected(exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every error into a problem document."""

    @app.exception_handler(LedgerError)
    async def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        return ledger_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, detail, errors = _validation_detail(exc)
        return problem(status, code, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: codes.NOT_FOUND,
            405: codes.METHOD_NOT_ALLOWED,
            413: codes.BODY_TOO_LARGE,
        }.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers or {})
        detail = str(exc.detail)
        if exc.status_code == 405:
            allow = allowed_methods(request)
            headers["Allow"] = ", ".join(allow)
            detail = f"不支持此方法 / {request.method} is not allowed here; use {', '.join(allow)}"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"没有此地址 / nothing at {request.url.path}"
        return problem(exc.status_code, code, detail, response_headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # only errors outside CatchUnexpected (in an outer middleware) still come here
        return unexpected(exc)

    app.add_middleware(CatchUnexpected)
