"""Screening of free text for personal data: resident ID numbers and mobile numbers.

The libraries are public, so a need's title, description, village, contact role, resource
names, a match note or any other free text must not carry a person's ID number (GB 11643,
18 characters: 6-digit region, 8-digit birth date, 3-digit sequence, a check digit or X) or a
mainland mobile number (1[3-9] and 9 more digits, also written with spaces, dashes or +86).
Text is NFKC-normalized first, so full-width digits (１３８…) are caught too. The check
digit is not required to be right: a mistyped ID number is still personal data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

from ledger.core.errors import PersonalDataError

_SEP = r"[\s\-.]?"
_ID = re.compile(
    r"(?<![0-9A-Za-z])"
    r"\d{6}"
    + _SEP
    + r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    + _SEP
    + r"\d{3}[\dXx]"
    r"(?![0-9A-Za-z])"
)
_MOBILE = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86" + _SEP + r")?1[3-9]\d(?:" + _SEP + r"\d){8}(?![0-9])"
)


def find(text: str) -> str | None:
    """'id_number' or 'mobile_number' when `text` holds one, else None."""
    norm = unicodedata.normalize("NFKC", text)
    if _ID.search(norm):
        return "id_number"
    if _MOBILE.search(norm):
        return "mobile_number"
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}.{i}" if path else str(i))


def screen(value: Any, path: str = "") -> None:
    """Refuses (PersonalDataError naming the field) any text in `value` with personal data."""
    for field, text in _strings(value, path):
        kind = find(text)
        if kind is not None:
            raise refusal(
                field,
                kind,
                "项目库是公开的，请删除",
                "the library is public, remove it (give a role, not a person)",
            )


def refusal(field: str, kind: str, zh: str, en: str, label: str = "") -> PersonalDataError:
    """The error for `field` (shown as `label` in Chinese) holding personal data of `kind`
    (`find`'s answer); `zh` and `en` say why it may not and what to write instead."""
    what = "身份证号" if kind == "id_number" else "手机号"
    return PersonalDataError(
        f"{label or field} 含有{what}，{zh} / {field} contains a {kind.replace('_', ' ')}; {en}",
        field=field,
        pattern=kind,
    )
