"""Role events → rows: each RoleGranted, RoleRevoked and registration event the contract
emits becomes a role event row (once per chain position), and an organization's
registration also names it in the organizations table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from ledger.core.events import ROLE_NAMES
from ledger.core.hexes import hex0x
from ledger.store import models

__all__ = ["write_role_event"]


def write_role_event(
    session: Session, name: str, args: Mapping[str, Any], pos: dict[str, Any]
) -> None:
    """Writes one role event: its `name`, its decoded `args` and its chain location `pos`."""
    if name in ("RoleGranted", "RoleRevoked"):
        _role(
            session,
            pos,
            args["account"],
            ROLE_NAMES.get(bytes(args["role"]), hex0x(args["role"])[:16]),
            name == "RoleGranted",
        )
    elif name == "CountyRegistered":
        _role(
            session,
            pos,
            args["account"],
            "COUNTY",
            True,
            county=int(args["county"]),
            name=str(args["name"]),
        )
    elif name == "OrganizationRegistered":
        code = bytes(args["orgCode"]).rstrip(b"\0").decode("ascii", "replace")
        _role(
            session,
            pos,
            args["account"],
            "ORG",
            True,
            org_code=code,
            name=str(args["name"]),
            org_type=int(args["orgType"]),
            authority=str(args["authority"]),
        )
        _org_name(session, code, str(args["name"]))
    elif name == "AuditorRegistered":
        _role(session, pos, args["account"], "AUDITOR", True, name=str(args["name"]))


def _role(
    session: Session,
    pos: dict[str, Any],
    account: str,
    role: str,
    granted: bool,
    *,
    county: int | None = None,
    org_code: str | None = None,
    name: str | None = None,
    org_type: int | None = None,
    authority: str | None = None,
) -> None:
    exists = session.scalar(
        select(models.RoleEvent.id).where(
            models.RoleEvent.chain_id == pos["chain_id"],
            models.RoleEvent.block_hash == pos["block_hash"],
            models.RoleEvent.tx_hash == pos["tx_hash"],
            models.RoleEvent.log_index == pos["log_index"],
        )
    )
    if exists is None:
        session.add(
            models.RoleEvent(
                address=Web3.to_checksum_address(account),
                role=role,
                granted=granted,
                county=county,
                org_code=org_code,
                name=name,
                org_type=org_type,
                authority=authority,
                **pos,
            )
        )


def _org_name(session: Session, code: str, name: str) -> None:
    """The organizations table takes the name of the latest registration (applied in
    chain order); its English name, an off-chain fact, is kept."""
    row = session.get(models.Organization, code)
    if row is None:
        session.add(models.Organization(org_code=code, name=name, name_en=None))
    else:
        row.name = name
