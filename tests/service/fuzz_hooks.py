"""Schemathesis hooks for tests/service/test_fuzz.py (loaded with SCHEMATHESIS_HOOKS).

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
