"""The key-county list (国家乡村振兴重点帮扶县): loading it from a CSV or an admin-signed
KeyCountyList message, refusing an old list coming back, and flagging need projects.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.eip712 import Domain
from ledger.core.errors import LedgerError, LibraryError, MessageError, SignatureError
from ledger.library import auth, pii
from ledger.library.messages import KEY_COUNTY_LIST
from ledger.library.models import KeyCounty, KeyCountyList, LibraryProject
from ledger.library.regions import require_county

__all__ = [
    "is_key_county",
    "key_counties",
    "key_county_list_version",
    "key_county_message",
    "load_key_counties",
    "load_signed_key_counties",
    "parse_key_county_csv",
]


def is_key_county(session: Session, county: int | None) -> bool:
    return county is not None and session.get(KeyCounty, county) is not None


def parse_key_county_csv(text: str) -> list[int]:
    """County codes from a CSV whose first column is the code ('#' comments, a header ok)."""
    codes: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        cell = line.split(",")[0].strip().strip('"')
        if not cell or cell.startswith("#") or cell.lower() == "code":
            continue
        try:
            codes.append(require_county(cell).code)
        except LedgerError as exc:
            raise LibraryError(f"line {n}: {exc.message}", code=exc.code, line=n) from None
    if not codes:
        raise LibraryError("the key-county list has no county codes", code="empty_list")
    return codes


def load_key_counties(session: Session, codes: list[int], source: str) -> int:
    """Replaces the key-county list and re-flags existing need projects."""
    for row in session.scalars(select(KeyCounty)):
        session.delete(row)
    session.flush()
    for code in sorted(set(codes)):
        session.add(KeyCounty(code=code, name=require_county(code).full_name, source=source[:200]))
    session.flush()
    keys = set(codes)
    for project in session.scalars(select(LibraryProject)):
        project.key_county = project.county in keys
    return len(keys)


def key_counties(session: Session) -> list[KeyCounty]:
    return list(session.scalars(select(KeyCounty).order_by(KeyCounty.code)))


def key_county_list_version(session: Session) -> int:
    """The version of the loaded key-county list (0 when none was loaded by signature)."""
    return int(session.scalar(select(func.max(KeyCountyList.version))) or 0)


def key_county_message(version: int, source: str, codes: list[int], expiry: int) -> dict[str, Any]:
    """The KeyCountyList message the admin signs: the codes themselves, not a hash of them."""
    return {
        "version": version,
        "source": source,
        "counties": sorted({require_county(c).code for c in codes}),
        "expiry": expiry,
    }


def load_signed_key_counties(
    session: Session,
    message: Any,
    signature: str | None,
    domain: Domain,
    admins: list[str],
) -> int:
    """Replaces the key-county list with an admin-signed KeyCountyList whose version is
    higher than the loaded one's; an older or equal version (a replay) is refused."""
    verified = auth.verify(session, KEY_COUNTY_LIST, message, signature, domain)
    auth.require_admin(session, verified.signer, admins)
    current = key_county_list_version(session)
    if verified.message["version"] <= current:
        raise SignatureError(
            f"名单版本 {verified.message['version']} 不新于已载入的 {current} / the list's "
            f"version must be above the loaded version {current}; an old list cannot come back",
            code="list_version_not_newer",
            loaded_version=current,
        )
    codes = list(verified.message["counties"])
    if not codes:
        raise LibraryError("the key-county list has no county codes", code="empty_list")
    if codes != sorted(set(codes)):
        raise MessageError(
            "counties must be ascending without repeats", code="bad_message", field="counties"
        )
    for code in codes:
        require_county(code)
    source = str(verified.message["source"])
    if not 1 <= len(source) <= 200:
        raise MessageError("source must be 1..200 characters", code="bad_message", field="source")
    pii.screen(source, "source")
    count = load_key_counties(session, codes, source)
    session.add(
        KeyCountyList(
            version=verified.message["version"],
            source=source,
            signer=verified.signer,
            message_json=json.dumps(verified.message, ensure_ascii=False, sort_keys=True),
            signature=verified.signature,
        )
    )
    session.flush()
    return count
