"""The auth cases of the workspace's write routes, for tests/api/test_route_auth.py's table
(each takes its `World`: env, svc, client and `refused`)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from ledger.library import auth, messages
from ledger.workspace.evidence import EVIDENCE_UPLOAD
from ledger.workspace.signin import SIGN_IN
from tests.workspace.helpers import challenge, sign_typed


def case_sign_in(w: Any) -> None:
    """A signed SignIn challenge. Unsigned, tampered, expired, an unregistered stranger and
    another origin are refused; accepted once; a replay is refused. No record or library
    change follows from any of them: a session only reads."""
    a = w.env.actors
    url = "/api/v1/session"
    c = challenge(w.client, a.county_a)
    good = sign_typed(a.county_a, c["typed_data"])
    w.refused("POST", url, 401, "signature_required", [], json={"message": c["message"]})
    tampered = {**c["message"], "address": a.county_b.address}
    w.refused("POST", url, 401, "bad_signature", [], json={"message": tampered, "signature": good})
    now = int(time.time())
    old = {**c["message"], "issuedAt": now - 900, "expiry": now - 600}
    old_sig = sign_typed(a.county_a, messages.typed_data(SIGN_IN, old, w.env.domain))
    w.refused(
        "POST", url, 401, "signature_expired", [], json={"message": old, "signature": old_sig}
    )
    s = challenge(w.client, a.stranger)
    w.refused(
        "POST",
        url,
        403,
        "not_registered",
        [],
        json={"message": s["message"], "signature": sign_typed(a.stranger, s["typed_data"])},
    )
    elsewhere = {**c["message"], "origin": "https://evil.example"}
    other_sig = sign_typed(a.county_a, messages.typed_data(SIGN_IN, elsewhere, w.env.domain))
    w.refused(
        "POST", url, 403, "wrong_origin", [], json={"message": elsewhere, "signature": other_sig}
    )
    ok = w.client.post(url, json={"message": c["message"], "signature": good})
    assert ok.status_code == 200, ok.text
    w.client.cookies.clear()
    w.refused(
        "POST",
        url,
        401,
        "signature_replayed",
        [],
        json={"message": c["message"], "signature": good},
    )


def case_sign_out(w: Any) -> None:
    """Ends the cookie's own session. No signature: it changes nothing but that session,
    so the cookie plus the CSRF token are what it rests on; without either it is refused."""
    a = w.env.actors
    url = "/api/v1/session"
    w.client.cookies.clear()
    w.refused("DELETE", url, 401, "session_required", [])
    c = challenge(w.client, a.org_a)
    opened = w.client.post(
        url, json={"message": c["message"], "signature": sign_typed(a.org_a, c["typed_data"])}
    )
    assert opened.status_code == 200, opened.text
    w.refused("DELETE", url, 403, "csrf_failed", [])
    w.refused("DELETE", url, 403, "csrf_failed", [], headers={"X-CSRF-Token": "0" * 64})
    assert w.client.get(url).status_code == 200
    done = w.client.delete(url, headers={"X-CSRF-Token": opened.json()["csrf_token"]})
    assert done.status_code == 204
    assert w.client.get(url).status_code == 401


def case_evidence(w: Any) -> None:
    """A signed EvidenceUpload. Unsigned, a stranger, expired, and bytes that differ from
    the signed hash are refused and store nothing; accepted once; a replay is refused.
    No record is written: the file is what a delivery's evidence hash commits to."""
    a = w.env.actors
    url = "/api/v1/evidence"
    w.svc.settings.evidence_dir = w.tmp / "evidence"
    data = os.urandom(512)

    def message(**over: Any) -> dict[str, Any]:
        return {
            "sha256": "0x" + hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "mediaType": "image/jpeg",
            "public": False,
            "nonce": messages.new_nonce(),
            "expiry": auth.expiry(),
            **over,
        }

    def form(m: dict[str, Any], signer: Any | None, body: bytes = data) -> dict[str, Any]:
        fields = {"message": json.dumps(m)}
        if signer is not None:
            typed = messages.typed_data(EVIDENCE_UPLOAD, m, w.env.domain)
            fields["signature"] = sign_typed(signer, typed)
        return {"files": {"file": ("e.jpg", body, "image/jpeg")}, "data": fields}

    w.refused("POST", url, 401, "signature_required", [], **form(message(), None))
    w.refused("POST", url, 403, "not_registered", [], **form(message(), a.stranger))
    now = int(time.time())
    w.refused("POST", url, 401, "signature_expired", [], **form(message(expiry=now - 1), a.org_a))
    w.refused(
        "POST", url, 422, "evidence_hash_mismatch", [], **form(message(), a.org_a, data[::-1])
    )
    assert not list((w.tmp / "evidence").iterdir())
    good = form(message(), a.org_a)
    ok = w.client.post(url, **good)
    assert ok.status_code == 201, ok.text
    w.refused("POST", url, 401, "signature_replayed", [], **good)
