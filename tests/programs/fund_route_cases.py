"""The auth cases of the special-fund write routes, for tests/api/test_route_auth.py's table
(they take that module's `World`: env, svc, client and `refused`)."""

from __future__ import annotations

import copy
from typing import Any

from ledger.core.hexes import hex0x
from tests.programs.test_fund import make_fund

URL = "/api/v1/funds"


def case_open_fund(w: Any) -> None:
    """A signed Fund with its details. Unsigned, a zero signature, a stranger, the wrong role
    (a county office), a body altered after signing and details that do not hash to what was
    signed are refused, writing no outbox row and no details; accepted once; a replay is a
    duplicate (no second row). No expiry case: a Fund is a permanent signed record whose id
    can be used once."""
    a = w.env.actors
    good, opening = make_fund(a.org_a, w.env.domain)
    ids = [hex0x(good.id)]
    unsigned = copy.deepcopy(opening)
    del unsigned["record"]["signature"]
    w.refused("POST", URL, 422, "invalid_request", ids, json=unsigned)
    zero = {**opening, "record": {**opening["record"], "signature": "0x" + "00" * 65}}
    w.refused("POST", URL, 422, "bad_signature", ids, json=zero)
    stranger, by_stranger = make_fund(a.stranger, w.env.domain)
    w.refused("POST", URL, 422, "missing_role", [hex0x(stranger.id)], json=by_stranger)
    county, by_county = make_fund(a.county_a, w.env.domain)
    w.refused("POST", URL, 422, "missing_role", [hex0x(county.id)], json=by_county)
    tampered = copy.deepcopy(opening)
    tampered["record"]["record"]["pledged"] = 1
    w.refused("POST", URL, 422, "bad_signature", ids, json=tampered)
    w.refused(
        "POST", URL, 422, "sponsor_hash_mismatch", ids, json={**opening, "sponsor_name": "某人"}
    )
    assert w.client.get(f"{URL}/{ids[0]}").status_code == 404
    ok = w.client.post(URL, json=opening)
    assert ok.status_code == 202 and ok.json()["details_stored"] is True, ok.text
    rows = w.outbox()
    again = w.client.post(URL, json=opening)
    assert again.status_code == 202 and again.json()["accepted"]["duplicate"] is True
    assert again.json()["details_stored"] is False and w.outbox() == rows


def case_fund_details(w: Any) -> None:
    """The off-chain details of a submitted Fund. They carry no signature of their own: they
    are bound by the sponsorHash and purposeHash its organization signed, so details that do
    not hash to them (another name, salt or purpose) are refused and nothing is kept, and a
    fund not recorded is 404; accepted once, a replay changes nothing. No expiry or nonce
    case: the same details are the only ones that can ever be accepted."""
    a = w.env.actors
    fund, opening = make_fund(a.org_a, w.env.domain)
    details = {k: opening[k] for k in ("sponsor_name", "sponsor_salt", "purpose")}
    fid = hex0x(fund.id)
    url = f"{URL}/{fid}/details"
    w.refused("PUT", url, 404, "fund_not_found", [], json=details)
    assert w.client.post("/api/v1/records", json={"records": [fund.to_json()]}).status_code == 202
    w.st.settle()
    before = w.client.get(f"{URL}/{fid}").json()
    assert before["details_registered"] is False
    w.refused("PUT", url, 422, "sponsor_hash_mismatch", [], json={**details, "sponsor_name": "x"})
    other_salt = {**details, "sponsor_salt": "0x" + "11" * 32}
    w.refused("PUT", url, 422, "sponsor_hash_mismatch", [], json=other_salt)
    w.refused("PUT", url, 422, "purpose_hash_mismatch", [], json={**details, "purpose": "x"})
    assert w.client.get(f"{URL}/{fid}").json() == before
    ok = w.client.put(url, json=details)
    assert ok.status_code == 200 and ok.json()["details_stored"] is True, ok.text
    after = w.client.get(f"{URL}/{fid}").json()
    again = w.client.put(url, json=details)
    assert again.status_code == 200 and again.json()["details_stored"] is False
    assert w.client.get(f"{URL}/{fid}").json() == after
