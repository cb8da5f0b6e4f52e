"""The errors of the OpenAPI document: every operation gets its problem+json error
responses, and the Problem schema lists every error code with its status (`x-error-codes`),
so a client can read from the document which codes it may meet.
"""

from __future__ import annotations

from typing import Any

from api.middleware import PROBLEM
from api.problems import STATUS

# What each error status means, with the codes it carries most often; every operation of the
# OpenAPI document gets these as application/problem+json (see `document`).
ERROR_RESPONSES: dict[int, str] = {
    400: "请求有误 bad request: invalid_json, bad_content_length, bad_characters, bad_cursor, "
    "and the ledger's own codes for malformed input",
    401: "未认证 unauthorized: a write that needs its owner's signature or session came without "
    "a valid one",
    403: "无权操作 forbidden: forbidden, not_admin and other permission codes",
    404: "不存在 not found: not_found and the ledger's *_not_found codes",
    409: "冲突 conflict: conflict, record_id_used, duplicate_in_submission, busy",
    413: "请求体过大 body_too_large: the body passed the limit (counted as it streams)",
    422: "无法处理 unprocessable: invalid_request (the request does not fit this document) or "
    "a refusal by the ledger's rules, e.g. bad_signature, missing_role, unknown_need",
    500: "内部错误 internal_error: logged on the server; nothing was half-written",
    503: "暂不可用 unavailable: chain_unreachable, no_deployment",
}
BODY_ONLY = {413}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable machine-readable `code`; "
    "some problems add fields such as `index`, `errors` or `line_index`.",
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {
            "type": "string",
            "description": "stable snake_case code; `x-error-codes` lists every code with "
            "the status it answers with",
        },
        "detail": {"type": "string", "description": "what went wrong and what to do next"},
    },
    "additionalProperties": True,
    "x-error-codes": dict(sorted(STATUS.items())),
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the problem+json error responses to every operation of an OpenAPI document.

    Done here once, so a new route gets documented errors without anyone remembering to; a
    route's own description of a status (e.g. 401 on custodial signing) is kept, and its
    content becomes the problem document. FastAPI's default 422 schema is replaced, since
    the validation handler of `api.problems` answers problem+json.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    ref = {"$ref": "#/components/schemas/Problem"}
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch") or not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            wanted = dict(ERROR_RESPONSES)
            if "requestBody" not in op:
                for status in BODY_ONLY:
                    wanted.pop(status)
            for status, description in wanted.items():
                responses.setdefault(str(status), {"description": description})
            for status, entry in responses.items():
                if status[:1] not in ("4", "5") or not isinstance(entry, dict):
                    continue
                content = entry.setdefault("content", {})
                json_schema = content.get("application/json", {}).get("schema", {})
                if "HTTPValidationError" in str(json_schema.get("$ref", "")):
                    del content["application/json"]
                # A route's own body for a status (e.g. /readyz's 503) stays beside it.
                content[PROBLEM] = {"schema": ref}
    return schema
