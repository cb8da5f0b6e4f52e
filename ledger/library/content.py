"""Project content: the need and supply schemas and their checks, THE canonical JSON of a
version's document, and what is signed of it (the LibraryProject message, the ProjectAnchor).

Amounts are integers only (fen, units, hours): floats have no single text form, and the
SHA-256 of the canonical JSON is what goes on chain.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.errors import LibraryError
from ledger.core.fields import CATEGORIES, ProjectKind, category_code, date_code, parse_bytes32
from ledger.core.records import sha256
from ledger.library import pii
from ledger.library.messages import MAX_RESOURCES
from ledger.library.models import LibraryProject
from ledger.library.regions import require_county, require_province

# ------------------------------------------------------------------ canonical JSON


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nfc(v) for v in value]
    if isinstance(value, float):
        # floats have no single text form; amounts are integers (fen, units, hours)
        raise LibraryError("numbers in project content must be integers", code="bad_number")
    return value


def canonical_json(content: Mapping[str, Any]) -> bytes:
    """THE canonical form: NFC strings, sorted keys, no whitespace, UTF-8, integers only."""
    return json.dumps(
        _nfc(content), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def content_hash(content: Mapping[str, Any]) -> bytes:
    return sha256(canonical_json(content))


def search_text(*parts: str) -> str:
    """Text for LIKE search: NFC, case-folded, so 'ABC' finds 'abc' and 册亨 finds 册亨县."""
    return unicodedata.normalize("NFC", " ".join(parts)).casefold()


# ------------------------------------------------------------------ content

MAX_QUANTITY = 10**15  # a hard ceiling: larger asks are typing errors, not aid
RESOURCE_KINDS = {"funds": 1, "goods": 2, "service": 3}
RESOURCE_UNITS = {"funds": "fen", "service": "hour"}

Text100 = Annotated[str, Field(min_length=1, max_length=100)]
#: The on-chain ProjectAnchor takes a title of 1..200 UTF-8 bytes.
MAX_TITLE_BYTES = 200
Text64 = Annotated[str, Field(min_length=1, max_length=64)]


def _category(value: Any) -> str:
    if not isinstance(value, str):
        raise LibraryError("category must be text", code="unknown_category")
    return CATEGORIES[category_code(value.strip()) - 1]


def _title_fits(v: str) -> str:
    if not v.strip():
        raise ValueError("title must not be blank")
    if len(unicodedata.normalize("NFC", v).encode("utf-8")) > MAX_TITLE_BYTES:
        raise ValueError(f"title must fit in {MAX_TITLE_BYTES} UTF-8 bytes (about 66 汉字)")
    return v


#: A project's title: 1..100 characters, not blank, within the anchor's byte limit.
Title = Annotated[Text100, AfterValidator(_title_fits)]


class Resource(BaseModel):
    """A resource asked for (need) or offered (supply): funds in fen, goods, service hours."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["funds", "goods", "service"]
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit: str = Field(default="", max_length=16)
    item: str = Field(default="", max_length=64)

    @field_validator("unit")
    @classmethod
    def _unit_fits(cls, v: str) -> str:
        if len(v.encode("utf-8")) > 32:
            raise ValueError("unit must fit in 32 UTF-8 bytes")
        return v

    def normalized(self) -> Resource:
        unit = RESOURCE_UNITS.get(self.kind, self.unit or "件")
        return self.model_copy(update={"unit": unit})


class NeedContent(BaseModel):
    """What a county publishes in the needs library (no personal data: roles, not names)."""

    model_config = ConfigDict(extra="forbid")

    county: int
    village: str = Field(default="", max_length=64)
    title: Title
    description: str = Field(default="", max_length=4000)
    category: str
    mode: Literal["relief", "capacity"]  # 输血 / 造血
    beneficiaries: int = Field(ge=0, le=10_000_000)
    budget_fen: int = Field(ge=0, le=MAX_QUANTITY)
    resources: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)
    deadline: date
    contact_role: Text64

    @field_validator("county", mode="before")
    @classmethod
    def _county(cls, v: Any) -> int:
        return require_county(v).code

    @field_validator("category", mode="before")
    @classmethod
    def _cat(cls, v: Any) -> str:
        return _category(v)


class SupplyContent(BaseModel):
    """What an organization publishes in the supply library."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: str = Field(default="", max_length=4000)
    categories: list[str] = Field(min_length=1, max_length=10)
    regions: list[int] = Field(min_length=1, max_length=500)  # provinces (52) or counties
    capacity: list[Resource] = Field(min_length=1, max_length=MAX_RESOURCES)
    period_start: date
    period_end: date

    @field_validator("categories", mode="before")
    @classmethod
    def _cats(cls, v: Any) -> list[str]:
        if not isinstance(v, list):
            raise LibraryError("categories must be a list", code="unknown_category")
        return sorted({_category(c) for c in v}, key=CATEGORIES.index)

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, v: Any) -> list[int]:
        if not isinstance(v, list):
            raise LibraryError("regions must be a list of codes", code="bad_county_code")
        out = {
            require_province(c) if len(str(c).strip()) == 2 else require_county(c).code for c in v
        }
        return sorted(out)


def parse_content(kind: ProjectKind, data: Mapping[str, Any]) -> NeedContent | SupplyContent:
    """Validated content, or LibraryError naming the first bad field."""
    model: type[NeedContent] | type[SupplyContent] = (
        NeedContent if kind == ProjectKind.NEED else SupplyContent
    )
    try:
        parsed = model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise LibraryError(
            f"{where}: {first.get('msg')}", code="invalid_project", field=where
        ) from None
    if isinstance(parsed, SupplyContent) and parsed.period_end < parsed.period_start:
        raise LibraryError("period_end is before period_start", code="invalid_project")
    pii.screen(parsed.model_dump(mode="json"))
    return parsed


def resources_of(content: NeedContent | SupplyContent) -> list[Resource]:
    items = content.resources if isinstance(content, NeedContent) else content.capacity
    return [r.normalized() for r in items]


def document(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    status: str,
    org_code: str | None = None,
) -> dict[str, Any]:
    """The JSON that is hashed and anchored for one version (status included, so a status
    change is a signed, provable version too)."""
    body = content.model_dump(mode="json")
    body["resources" if kind == ProjectKind.NEED else "capacity"] = [
        r.model_dump(mode="json") for r in resources_of(content)
    ]
    doc: dict[str, Any] = {
        "format": "bangfu-project/1",
        "project_id": project_id,
        "kind": "need" if kind == ProjectKind.NEED else "supply",
        "status": status,
        **body,
    }
    if org_code is not None:
        doc["org_code"] = org_code
    return doc


def budget_of(content: NeedContent | SupplyContent) -> int:
    """Fen: a need's budget, or a supply project's funds capacity (decision 2)."""
    if isinstance(content, NeedContent):
        return content.budget_fen
    return sum(r.quantity for r in content.capacity if r.kind == "funds")


def end_date_of(content: NeedContent | SupplyContent) -> int:
    """YYYYMMDD: a need's deadline, or a supply project's period_end (decision 2)."""
    return date_code(content.deadline if isinstance(content, NeedContent) else content.period_end)


def _first_category(content: NeedContent | SupplyContent) -> int:
    cats = [content.category] if isinstance(content, NeedContent) else content.categories
    return category_code(cats[0])


def project_message(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    *,
    action: str,
    status: str,
    version: int,
    org_code: str | None,
    nonce: str,
    expiry: int,
) -> dict[str, Any]:
    """The LibraryProject message for one version of a project: the human fields, and the
    SHA-256 of the canonical JSON of that version's document."""
    doc = document(kind, project_id, content, status, org_code)
    return {
        "action": action,
        "projectId": project_id.lower(),
        "projectKind": int(kind),
        "county": content.county if isinstance(content, NeedContent) else 0,
        "orgCode": org_code or "",
        "title": content.title,
        "category": _first_category(content),
        "budget": budget_of(content),
        "endDate": end_date_of(content),
        "status": status,
        "version": version,
        "contentHash": "0x" + sha256(canonical_json(doc)).hex(),
        "nonce": nonce,
        "expiry": expiry,
    }


def make_anchor(
    kind: ProjectKind,
    project_id: str,
    content: NeedContent | SupplyContent,
    *,
    status: str,
    version: int,
    org_code: str | None,
) -> ProjectAnchor:
    """The ProjectAnchor of one version, with its human-readable fields (decision 2)."""
    pid = parse_bytes32(project_id, "project_id")
    doc = document(kind, project_id, content, status, org_code)
    return ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, version),
        project_id=pid,
        project_kind=int(kind),
        county=content.county if isinstance(content, NeedContent) else 0,
        category=_first_category(content),
        content_hash=sha256(canonical_json(doc)),
        title=content.title,
        budget=budget_of(content),
        end_date=end_date_of(content),
        version=version,
    )


def apply_content(row: LibraryProject, content: NeedContent | SupplyContent, status: str) -> None:
    """Writes one version's document and its search columns into the project's row."""
    doc = document(ProjectKind(row.kind), row.project_id, content, status, row.org_code)
    row.draft_json = canonical_json(doc).decode("utf-8")
    row.title = content.title
    row.search_text = search_text(content.title, content.description)
    cats = [content.category] if isinstance(content, NeedContent) else content.categories
    row.category = category_code(cats[0])
    row.categories = "," + ",".join(str(category_code(c)) for c in cats) + ","
    kinds = sorted({RESOURCE_KINDS[r.kind] for r in resources_of(content)})
    row.resource_kinds = "," + ",".join(map(str, kinds)) + ","


def content_from_json(kind: ProjectKind, text: str) -> NeedContent | SupplyContent:
    doc = json.loads(text)
    for key in ("format", "project_id", "kind", "status", "org_code"):
        doc.pop(key, None)
    return parse_content(kind, doc)


def content_of(row: LibraryProject) -> NeedContent | SupplyContent:
    """A draft's pending content, or a published project's latest anchored content."""
    return content_from_json(ProjectKind(row.kind), row.draft_json)


def draft_of(row: LibraryProject) -> dict[str, Any]:
    """A project's draft content as stored: the JSON document, not parsed into a schema."""
    return dict(json.loads(row.draft_json))


def quantities_by_kind(items: list[dict[str, Any]]) -> dict[str, int]:
    """The summed quantity of each resource kind in a stored `resources` or `capacity` list."""
    out: dict[str, int] = {}
    for item in items:
        out[item["kind"]] = out.get(item["kind"], 0) + int(item["quantity"])
    return out
