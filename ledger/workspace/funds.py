"""A special fund's off-chain details (专项基金): the sponsor's name with the salt of the
Fund's `sponsorHash = SHA-256(salt ‖ name)`, and the purpose text of its `purposeHash`.

The details carry no signature of their own: the organization signed both hashes in the Fund
record, so details are accepted only when they hash to what it signed, and nobody can put
other words beside a fund. They are checked before a new Fund is accepted (`open_fund`) or
attached to a fund already recorded or pending (`attach_details`):

- the purpose is public: no ID or mobile number in it (`personal_data_in_text`);
- without the sponsor's consent (`sponsorPublic` false) the sponsor's name must not appear in
  the fund's name or the purpose, which are public (`sponsor_name_in_public_text`);
- the sponsor's name is kept but answered only when `sponsorPublic` is true; it is never
  logged, and the salt is never answered.

Whoever opens a fund (the SDK, the demo) makes its Fund from the details with `fund_record`
and sends the details as `FundDetails.to_json` gives them.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.errors import MessageError, NotFoundError, RecordError
from ledger.core.hexes import hex0x
from ledger.core.program_kinds import Fund
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind, SignedRecord
from ledger.library import pii
from ledger.relayer.lookups import LIVE_ROW
from ledger.store.db import Database
from ledger.store.fund_models import FundDetail, FundRow
from ledger.store.models import OutboxRecord

__all__ = [
    "MAX_PURPOSE",
    "MAX_SPONSOR_NAME",
    "FundDetails",
    "attach_details",
    "check_details",
    "fund_record",
    "new_salt",
    "open_checked",
    "purpose_hash",
    "sponsor_hash",
    "store_details",
]

MAX_SPONSOR_NAME = 200
MAX_PURPOSE = 4000


def sponsor_hash(salt: bytes, name: str) -> bytes:
    """SHA-256(salt ‖ UTF-8 of the NFC name): the Fund's `sponsorHash`."""
    return hashlib.sha256(salt + unicodedata.normalize("NFC", name).encode("utf-8")).digest()


def purpose_hash(purpose: str) -> bytes:
    """SHA-256 of the UTF-8 purpose text: the Fund's `purposeHash`."""
    return hashlib.sha256(purpose.encode("utf-8")).digest()


def new_salt() -> bytes:
    """32 random bytes for a sponsor hash (so a short name cannot be guessed from it)."""
    return os.urandom(32)


@dataclass(frozen=True)
class FundDetails:
    """What the organization gives beside a Fund, off chain."""

    sponsor_name: str
    sponsor_salt: bytes
    purpose: str

    def to_json(self) -> dict[str, str]:
        """The details as the fund routes take them (POST /api/v1/funds beside the record,
        PUT …/details alone), the salt as 0x-hex."""
        return {
            "sponsor_name": self.sponsor_name,
            "sponsor_salt": hex0x(self.sponsor_salt),
            "purpose": self.purpose,
        }


def fund_record(
    fund_id: bytes,
    details: FundDetails,
    *,
    name: str,
    sponsor_kind: int,
    sponsor_public: bool,
    pledged: int,
) -> Fund:
    """The (unsigned) Fund whose sponsorHash and purposeHash are those of `details`
    (`pledged` in fen); nothing is checked here (`check_details` does)."""
    return Fund(
        id=fund_id,
        name=name,
        sponsor_kind=int(sponsor_kind),
        sponsor_hash=sponsor_hash(details.sponsor_salt, details.sponsor_name),
        sponsor_public=sponsor_public,
        pledged=pledged,
        purpose_hash=purpose_hash(details.purpose),
    )


def _plain(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def check_details(fund: Fund, details: FundDetails) -> None:
    """Refuses details that do not hash to what the Fund signed, a purpose with personal
    data, or a sponsor's name in public text without the sponsor's consent."""
    name = details.sponsor_name.strip()
    if not name or len(name) > MAX_SPONSOR_NAME or any(ord(c) < 32 for c in name):
        raise MessageError(
            f"出资方名称须为 1..{MAX_SPONSOR_NAME} 个字符 / the sponsor's name must be "
            f"1..{MAX_SPONSOR_NAME} characters without control characters",
            code=codes.BAD_FIELD,
            field="sponsor_name",
        )
    if len(details.sponsor_salt) != 32:
        raise MessageError(
            "盐值须为 32 字节 / the salt must be 32 bytes (0x and 64 hex digits)",
            code=codes.BAD_HEX,
            field="sponsor_salt",
        )
    if len(details.purpose) > MAX_PURPOSE:
        raise MessageError(
            f"用途说明最多 {MAX_PURPOSE} 字 / the purpose has at most {MAX_PURPOSE} characters",
            code=codes.TEXT_TOO_LONG,
            field="purpose",
        )
    if sponsor_hash(details.sponsor_salt, details.sponsor_name) != fund.sponsor_hash:
        raise MessageError(
            "出资方名称与盐值不符合签名的 sponsorHash / SHA-256(salt ‖ sponsor name) is not the "
            "sponsorHash the fund signed; give the name and salt it was made from",
            code=codes.SPONSOR_HASH_MISMATCH,
            field="sponsor_name",
        )
    if purpose_hash(details.purpose) != fund.purpose_hash:
        raise MessageError(
            "用途说明不符合签名的 purposeHash / SHA-256 of the purpose text is not the "
            "purposeHash the fund signed",
            code=codes.PURPOSE_HASH_MISMATCH,
            field="purpose",
        )
    kind = pii.find(details.purpose) or pii.find(fund.name)
    if kind is not None:
        field = "purpose" if pii.find(details.purpose) else "name"
        raise pii.refusal(
            field,
            kind,
            "基金名称和用途说明是公开的，请删除",
            "the fund's name and purpose are public; remove it",
        )
    if not fund.sponsor_public:
        needle = _plain(name)
        for field, text in (("name", fund.name), ("purpose", details.purpose)):
            if needle and needle in _plain(text):
                raise MessageError(
                    "出资方未同意公开名称，基金名称和用途说明中不得出现其名称 / the sponsor "
                    f"did not consent to be named, so the public {field} must not contain the name",
                    code=codes.SPONSOR_NAME_IN_PUBLIC_TEXT,
                    field=field,
                )


def store_details(session: Session, fund_id: str, details: FundDetails) -> bool:
    """Keeps checked details; True if new. Details of a fund are fixed by its hashes, so a
    second copy is the same (and a different one was refused by `check_details`)."""
    if session.get(FundDetail, fund_id) is not None:
        return False
    session.add(
        FundDetail(
            fund_id=fund_id,
            sponsor_name=details.sponsor_name,
            sponsor_salt="0x" + details.sponsor_salt.hex(),
            purpose=details.purpose,
        )
    )
    return True


def _known_fund(session: Session, fund_id: str) -> Fund:
    """The Fund record of `fund_id`: indexed, or live in our outbox."""
    row = session.get(FundRow, fund_id)
    if row is not None:
        return Fund(
            id=bytes.fromhex(row.record_id[2:]),
            name=row.name,
            sponsor_kind=row.sponsor_kind,
            sponsor_hash=bytes.fromhex(row.sponsor_hash[2:]),
            sponsor_public=bool(row.sponsor_public),
            pledged=int(row.pledged),
            purpose_hash=bytes.fromhex(row.purpose_hash[2:]),
        )
    pending = session.scalars(
        select(OutboxRecord).where(
            OutboxRecord.record_id == fund_id,
            OutboxRecord.kind == int(Kind.FUND),
            LIVE_ROW,
        )
    ).first()
    if pending is None:
        raise NotFoundError(
            f"没有此专项基金 / no fund {fund_id} is recorded or pending; submit its Fund first",
            code=codes.FUND_NOT_FOUND,
        )
    rec = signed_from_bytes(pending.record_bytes).record
    assert isinstance(rec, Fund)
    return rec


def attach_details(db: Database, fund_id: str, details: FundDetails) -> bool:
    """Checks and keeps the details of a fund already recorded or pending; True if new."""
    fid = fund_id.lower()
    with db.write() as session:
        fund = _known_fund(session, fid)
        check_details(fund, details)
        return store_details(session, fid, details)


def open_checked(records: Sequence[SignedRecord]) -> Fund:
    """The one Fund of a fund-opening submission (the route's `records`)."""
    if len(records) != 1 or records[0].kind != Kind.FUND:
        raise RecordError(
            "开设基金须提交一条 Fund 记录 / opening a fund takes exactly one Fund record",
            code=codes.BAD_KIND,
        )
    rec = records[0].record
    assert isinstance(rec, Fund)
    return rec
