"""Who owns a project: a COUNTY key of the need's county, or an ORG key of the supply
project's organization, as the relayer's current roles say; and finding a project.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ledger.core.errors import NotFoundError, PermissionError_
from ledger.core.fields import ProjectKind, parse_bytes32
from ledger.library.content import NeedContent
from ledger.library.models import LibraryProject
from ledger.relayer.lookups import current_roles

__all__ = [
    "check_owner",
    "county_of",
    "get_project",
    "org_code_of",
    "owner_org",
    "row_by_id",
]

RowT = TypeVar("RowT")


def org_code_of(session: Session, address: str) -> str | None:
    role = current_roles(session, address).get("ORG")
    return role.org_code if role is not None else None


def county_of(session: Session, address: str) -> int | None:
    role = current_roles(session, address).get("COUNTY")
    return role.county if role is not None else None


def check_owner(session: Session, project: LibraryProject, address: str) -> None:
    """Only a COUNTY key of the need's county, or an ORG key of the supply project's
    organization, may act on a project."""
    held: int | str | None
    owner: int | str | None
    if project.kind == ProjectKind.NEED:
        held, owner = county_of(session, address), project.county
        whose = f"county {owner}"
        only = "that county's rural-revitalization office may change this need"
    else:
        held, owner = org_code_of(session, address), project.org_code
        whose = f"organization {owner}"
        only = "that organization may change this supply project"
    if held is None or held != owner:
        raise PermissionError_(
            f"{address} is not a registered key of {whose}; only {only}", code="not_project_owner"
        )


def row_by_id(session: Session, model: type[RowT], value: str, field: str, code: str) -> RowT:
    """The library row keyed by a 0x-hex bytes32 `value`, or a NotFoundError with `code`."""
    key = "0x" + parse_bytes32(value, field).hex()
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"no {field.removesuffix('_id')} {key} in the library", code=code)
    return row


def get_project(session: Session, project_id: str) -> LibraryProject:
    return row_by_id(session, LibraryProject, project_id, "project_id", "unknown_project")


def owner_org(session: Session, kind: ProjectKind, content: Any, signer: str) -> str | None:
    """Who may own a new project: a COUNTY key of the need's county, or any ORG key (the
    project belongs to that organization). Returns the organization's code for supply."""
    if isinstance(content, NeedContent):
        if county_of(session, signer) != content.county:
            raise PermissionError_(
                f"{signer} 不是 {content.county} 县的登记密钥 / {signer} is not a registered key "
                f"of county {content.county}; register the county office's key first "
                "(bangfu register county)",
                code="not_project_owner",
            )
        return None
    org_code = org_code_of(session, signer)
    if org_code is None:
        raise PermissionError_(
            f"{signer} 不是登记的社会组织密钥 / {signer} is not a registered organization key; "
            "register it first (bangfu register org)",
            code="not_project_owner",
        )
    return org_code
