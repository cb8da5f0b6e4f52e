"""County codes and credit codes: real data, malformed and unknown input refused."""

import pytest

from ledger.core.errors import RegionError
from ledger.library.regions import (
    counties,
    county_name,
    make_org_code,
    province_of,
    require_county,
    require_org_code,
)


def test_real_counties_resolve():
    assert county_name(522327) == "册亨县"
    assert province_of("520121") == 52
    assert require_county(110101).full_name == "北京市东城区"
    assert len(counties()) > 2800


@pytest.mark.parametrize("code", [52232, "5223270", "52a327", "", "５２２３２７", True])
def test_malformed_county_code(code):
    with pytest.raises(RegionError) as info:
        require_county(code)
    assert info.value.code == "bad_county_code"


@pytest.mark.parametrize("code", [999999, 520100, 520000])
def test_unknown_county_code(code):
    with pytest.raises(RegionError) as info:
        require_county(code)
    assert info.value.code == "unknown_county"


@pytest.mark.parametrize("code", ["91110108551385082Q", "9144030071526726XG"])
def test_real_credit_codes_pass(code):
    assert require_org_code(code.lower()) == code


@pytest.mark.parametrize(
    "code",
    ["91110108551385082A", "91110108551385082", "9111010855138508IQ", "91ABCDEF551385082Q"],
)
def test_bad_credit_codes(code):
    with pytest.raises(RegionError) as info:
        require_org_code(code)
    assert info.value.code == "bad_org_code"


def test_synthetic_codes_are_valid():
    code = make_org_code("52", 520000, "MJY450802")
    assert require_org_code(code) == code
