"""Header cells of the spreadsheets people fill in (need lists, delivery batch files): a
cell may hold the Chinese label, the field name or both (`承诺编号 commitment_id`,
`数量/quantity`, `单位：unit`), and any of its words names the column."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["header_key"]

_WORDS = re.compile(r"[\s/|()（）:：,，]+")


def header_key(cell: str, aliases: Mapping[str, str]) -> str | None:
    """The column that a header cell names through any of its words (looked up in
    `aliases` as written, then in lower case), or None. A leading byte-order mark is
    ignored."""
    for word in _WORDS.split(cell.strip().lstrip("\ufeff")):
        key = aliases.get(word) or aliases.get(word.lower())
        if key:
            return key
    return None
