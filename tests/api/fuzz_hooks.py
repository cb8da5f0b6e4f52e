"""Schemathesis hooks for tests/api/test_fuzz.py (loaded with SCHEMATHESIS_HOOKS).

The batch line upload takes `application/vnd.bangfu.lines` (length u32 ‖ line bytes per line),
which schemathesis cannot serialize by itself: its generated value is sent as bytes.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/vnd.bangfu.lines")
def _lines(_ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value, default=str).encode()


# Refusals that mean "this JSON does not have the shape the server takes": the request
# validation's own code, and SignedRecord.from_json's codes for a record's fields.
SHAPE_CODES = frozenset(
    {
        "invalid_request",
        "bad_type",
        "bad_hex",
        "bad_length",
        "out_of_range",
        "unknown_field",
        "missing_field",
    }
)


@schemathesis.check
def schema_valid_is_never_invalid_request(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request that fits the OpenAPI document must never be refused for its shape.

    The ledger's own rules (a signature that must verify, a county code that must exist in
    GB/T 2260, a period day that must exist) can still refuse a schema-valid request, with
    their own codes; tests/api/schemathesis.toml lists the operations where that may
    happen. What this check forbids is a refusal with a shape code (SHAPE_CODES): the
    document being looser than the server's own validation is always the document's bug.
    """
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if not 400 <= response.status_code < 500:
        return None
    if "problem+json" not in (response.headers.get("content-type") or [""])[0]:
        return None
    try:
        code = json.loads(response.content).get("code")
    except ValueError:
        return None
    if code in SHAPE_CODES:
        raise AssertionError(
            f"a request valid by the OpenAPI document was refused for its shape ({code}): "
            f"{response.content[:300]!r}"
        )
    return None
