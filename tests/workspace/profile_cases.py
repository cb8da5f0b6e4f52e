"""The auth case of the profile write route, for tests/api/test_route_auth.py's table (it
takes that module's `World`: env, svc, client and `refused`)."""

from __future__ import annotations

import time
from typing import Any

from ledger.workspace import profiles
from tests.factories import ORG_CODE_A
from tests.workspace.helpers import sign_typed


def case_profile(w: Any) -> None:
    """A signed OrgProfile. Unsigned, another organization's key, a stranger's, expired and
    a phone number in the contact role are refused and change nothing the profile shows;
    accepted once; a replay is refused. No record is written: a profile is off chain."""
    a = w.env.actors
    url = f"/api/v1/orgs/{ORG_CODE_A}/profile"

    def body(signer: Any, **over: Any) -> dict[str, Any]:
        offered = w.client.get(url + "/to-sign").json()["message"]
        message = {**offered, "description": "乡村产业帮扶。", "contactRole": "项目部", **over}
        typed = profiles.typed_data(message, w.env.domain)
        return {"message": message, "signature": sign_typed(signer, typed)}

    def refused(status: int, code: str, sent: dict[str, Any]) -> None:
        before = w.client.get(url).json()
        w.refused("PUT", url, status, code, [], json=sent)
        assert w.client.get(url).json() == before

    refused(401, "signature_required", {"message": body(a.org_a)["message"]})
    refused(403, "not_org_key", body(a.org_b))
    refused(403, "not_org_key", body(a.stranger))
    refused(401, "signature_expired", body(a.org_a, expiry=int(time.time()) - 1))
    refused(422, "personal_data_in_text", body(a.org_a, contactRole="王 13800138000"))
    good = body(a.org_a)
    ok = w.client.put(url, json=good)
    assert ok.status_code == 200 and ok.json()["signer"] == a.org_a.address, ok.text
    refused(401, "signature_replayed", good)
