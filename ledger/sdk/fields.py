"""Records from loosely typed input (the CLI's --field pairs or a JSON file): names in
camelCase or snake_case, hashes of files, unit text, category and kind names, ISO dates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.errors import RecordError
from ledger.core.fields import (
    BEIJING,
    FlagReason,
    ProjectKind,
    ResourceKind,
    category_code,
    date_code,
    parse_bytes32,
    text32,
)
from ledger.core.lines import new_id
from ledger.core.record_types import record_type
from ledger.core.records import Record

__all__ = ["record_from_fields"]

_NAMED: dict[str, dict[str, int]] = {
    "resourceKind": {k.name.lower(): int(k) for k in ResourceKind},
    "projectKind": {k.name.lower(): int(k) for k in ProjectKind},
    "reasonCode": {k.name.lower(): int(k) for k in FlagReason},
}
_TIME_FIELDS = ("dueDate", "deliveredAt")
#: Dates without a zone are Beijing time, the time of the offices that enter them.


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _loose_bytes32(value: Any, name: str, base: Path | None) -> str:
    if isinstance(value, str) and value.startswith("@"):
        path = Path(value[1:])
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            return "0x" + hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise RecordError(
                f"{name}: cannot read {path} to hash it ({exc.strerror})", code="bad_file"
            ) from None
    if name == "unit" and isinstance(value, str) and not value.startswith("0x"):
        return "0x" + text32(value).hex()
    return "0x" + parse_bytes32(value, name).hex()


def _loose_uint(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    if name in _NAMED and text.lower() in _NAMED[name]:
        return _NAMED[name][text.lower()]
    if name == "category":
        return category_code(text)
    if name in _TIME_FIELDS:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(
                f"{name} must be unix seconds or an ISO date such as 2025-06-30",
                code="bad_type",
                field=name,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BEIJING)
        return int(moment.timestamp())
    choices = f"; or one of: {', '.join(_NAMED[name])}" if name in _NAMED else ""
    raise RecordError(f"{name} must be a whole number{choices}", code="bad_type", field=name)


def record_from_fields(
    kind: str,
    fields: Mapping[str, Any],
    *,
    base: Path | None = None,
    signer: str | None = None,
) -> Record:
    """A record from loosely typed input (the CLI's --field pairs or a JSON file).

    Names may be camelCase or snake_case. bytes32 fields take 0x-hex or `@FILE` (the SHA-256
    of the file); `unit` takes text such as 斤; `category` a name; kinds and reasons their
    names (funds, need, late_delivery); dates ISO text (Beijing time) or unix seconds. A left
    out `id` is fresh and scoped to `signer` (for project anchors: derived from project and
    version), a left out `deliveredAt` is now. `endDate` takes an ISO date or YYYYMMDD.
    """
    rtype = record_type(kind)
    if not isinstance(fields, Mapping):
        raise RecordError("record must be a JSON object", code="bad_type")
    schema = {_camel(n): t for n, t in rtype.SCHEMA}
    data: dict[str, Any] = {}
    for raw_name, value in fields.items():
        name = _camel(str(raw_name))
        typ = schema.get(name)
        if typ is None:
            data[name] = value  # from_json names the unknown field
        elif typ == "string":
            data[name] = value
        elif name == "endDate" and isinstance(value, str) and "-" in value:
            try:
                data[name] = date_code(date.fromisoformat(value.strip()))
            except ValueError:
                raise RecordError(
                    "endDate must be an ISO date such as 2026-06-30, or YYYYMMDD",
                    code="bad_type",
                    field=name,
                ) from None
        elif typ == "bytes32":
            data[name] = _loose_bytes32(value, name, base)
        elif typ == "bytes32[]":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list):
                raise RecordError(f"{name} must be a list", code="bad_type", field=name)
            data[name] = [
                _loose_bytes32(v.strip() if isinstance(v, str) else v, name, base) for v in items
            ]
        elif typ.endswith("[]"):
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list):
                raise RecordError(f"{name} must be a list", code="bad_type", field=name)
            data[name] = [_loose_uint(v, name) for v in items]
        else:
            data[name] = _loose_uint(value, name)
    if "deliveredAt" in schema and "deliveredAt" not in data:
        data["deliveredAt"] = int(time.time())
    if "id" not in data:
        data["id"] = "0x" + bytes(32).hex()
        record = rtype.from_json(data)
        if isinstance(record, ProjectAnchor):
            fresh = ProjectAnchor.anchor_id(record.project_id, record.version)
        elif signer is None:
            raise RecordError(
                "a fresh record id starts with its signer's address; give the signer",
                code="missing_signer",
            )
        else:
            fresh = new_id(signer)
        return dataclasses.replace(record, id=fresh)
    return rtype.from_json(data)
