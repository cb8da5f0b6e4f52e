"""Grievances (申诉) in bytes: the canonical public text of a filing, whose SHA-256 is the
`grievanceHash` a county's Grievance record anchors, the canonical answer text, whose SHA-256
is a GrievanceAnswer's `answerHash`, and filing numbers. Pure: no I/O.

Anyone holding a filing's receipt (filing number, project, record, time and text) can
recompute its hash and check that the county registered that very text; contact details
are never part of it.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

from ledger.core.fields import GrievanceOutcome

#: A grievance's text, in characters after normalization.
MIN_TEXT, MAX_TEXT = 5, 2000
#: An answer's text, likewise.
MIN_ANSWER, MAX_ANSWER = 2, 4000
#: Optional contact details (kept apart, never public).
MAX_CONTACT = 200
#: The first line of every canonical grievance text (its format and version).
HEADER = "bangfu-grievance-v1"
#: Filing numbers: SS-XXXX-XXXX in Crockford base32 (no I, L, O, U: nothing to misread).
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: The outcomes in words (Chinese, English).
OUTCOME_NAMES: dict[int, tuple[str, str]] = {
    GrievanceOutcome.UPHELD: ("成立", "upheld"),
    GrievanceOutcome.PARTLY_UPHELD: ("部分成立", "partly upheld"),
    GrievanceOutcome.NOT_UPHELD: ("不成立", "not upheld"),
}


def normalize(text: str) -> str:
    """NFC, line ends as LF, and no spaces, tabs or line ends at either end (the same rule
    the workspace applies in the browser before it hashes an answer)."""
    return (
        unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip(" \t\n")
    )


def new_filing_no() -> str:
    """A fresh filing number, e.g. SS-7K2Q-9XMB (40 random bits)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"SS-{chars[:4]}-{chars[4:]}"


def canonical_text(
    filing_no: str, project_id: str, record_id: str, filed_at: int, text: str
) -> str:
    """The public text of a filing whose SHA-256 is its grievanceHash: a header line, the
    filing number, project and record ids (0x-hex, lowercase), the filing time in Unix
    seconds, a blank line and the normalized text."""
    return (
        f"{HEADER}\nfiling: {filing_no}\nproject: {project_id.lower()}\n"
        f"record: {record_id.lower()}\nfiled_at: {int(filed_at)}\n\n{normalize(text)}"
    )


def grievance_hash(
    filing_no: str, project_id: str, record_id: str, filed_at: int, text: str
) -> str:
    """SHA-256 of `canonical_text`, 0x-hex."""
    data = canonical_text(filing_no, project_id, record_id, filed_at, text).encode("utf-8")
    return "0x" + hashlib.sha256(data).hexdigest()


def answer_hash(text: str) -> str:
    """SHA-256 of the normalized answer text (UTF-8), 0x-hex: a GrievanceAnswer's
    answerHash."""
    return "0x" + hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()
