"""No write without its owner's signature, for every state-changing route of the whole app.

`write_routes()` reads every non-GET/HEAD route from the real app's route table; each must
have an entry in `TABLE` saying what its trust rests on and how its cases are built, or
`test_every_write_route_is_in_the_table` fails (and so does its own parametrized case). A new
route without a check therefore fails this test.

What "signature" means differs per route; each entry says which cases apply and why the
others do not:

* library routes (`/api/v1/library/...`): an EIP-712 library message with expiry and nonce.
  Their cases (unsigned, stranger, expired, tampered, accepted, replay) are built and run by
  `tests/library/test_auth.py` from its own `WRITES` table; here a library route must be in
  that table, so it cannot escape both.
* `POST /api/v1/records`: the EIP-712 signed record itself.
* `POST /api/v1/batches`: the signed DeliveryBatch record (its root binds the lines).
* `PUT .../lines`, `POST .../finish`: the signed batch root — only lines that hash to the root
  the owner signed are accepted; the upload id comes from the signed record.
* `POST /api/v1/custodial/records`: off by default; with it on, a bearer token bound to a key.
* `PUT /api/v1/orgs/{org_code}/profile`: an EIP-712 OrgProfile with expiry and nonce, signed
  by a registered ORG key of that organization.

For every refusal the status, the stable `code` of the problem+json body, and that what GET
shows is unchanged (plus the outbox and log rows, for records) are asserted; every valid
request is shown to be accepted. On SQLite and PostgreSQL, against the real anvil.
"""

from __future__ import annotations

import copy
import os
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from ledger.app import LedgerService
from ledger.batches.build import build_batch
from ledger.config import Settings
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine, new_id
from ledger.core.records import SignedRecord
from ledger.custodial import Custodian
from ledger.library import messages
from ledger.sdk.batch_client import sign_batch
from ledger.store.batch_models import BatchUpload
from ledger.store.models import LogEntry, OutboxRecord
from ledger.workspace import audits
from tests.factories import (
    COUNTY_A,
    ChainEnv,
    Stack,
    body,
    need,
    on_chain_commitment,
    row_count,
    service_for,
    stack,
)
from tests.library.test_auth import READ_ONLY as LIBRARY_READ_ONLY
from tests.library.test_auth import WRITES as LIBRARY_WRITES
from tests.programs.fund_route_cases import case_fund_details, case_open_fund
from tests.programs.grievance_route_cases import (
    case_grievance_answer,
    case_grievance_file,
    case_grievance_form,
)
from tests.workspace.helpers import sign_typed
from tests.workspace.profile_cases import case_profile
from tests.workspace.route_cases import case_evidence, case_sign_in, case_sign_out

LIBRARY = "/api/v1/library"
FAST = 2**10  # scrypt n for test keystores: the default is slow by design


# ------------------------------------------------------------------ the route table


def write_routes() -> list[tuple[str, str]]:
    """Every state-changing route of the real app (custodial on, so none is hidden)."""
    app = create_app(settings=Settings())
    out = []
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        for method in sorted(set(methods) - {"GET", "HEAD", "OPTIONS"}):
            assert isinstance(route, APIRoute), f"{method} {route} is not an API route"
            out.append((method, route.path))
    return sorted(out)


@dataclass
class World:
    env: ChainEnv
    svc: LedgerService
    st: Stack
    client: TestClient
    tmp: Path

    def outbox(self) -> int:
        return row_count(self.svc.db, OutboxRecord)

    def leaves(self) -> int:
        return row_count(self.svc.db, LogEntry)

    def uploads(self) -> int:
        return row_count(self.svc.db, BatchUpload)

    def seen(self, record_ids: Sequence[str], upload_ids: Sequence[str] = ()) -> dict[str, Any]:
        """What GET shows about these records and uploads, plus the row counts behind it."""
        c = self.client
        out: dict[str, Any] = {
            "root": c.get("/api/v1/proofs/root").json(),
            "outbox rows": self.outbox(),
            "leaves": self.leaves(),
            "uploads": self.uploads(),
        }
        if record_ids:
            out["status"] = c.get("/api/v1/records/status", params={"ids": list(record_ids)}).json()
            out["public"] = [
                c.get(f"/api/v1/public/record/{rid}").status_code for rid in record_ids
            ]
        for uid in upload_ids:
            out[f"upload {uid}"] = c.get(f"/api/v1/batches/uploads/{uid}").json()
        return out

    def refused(
        self,
        method: str,
        url: str,
        status: int,
        code: str,
        record_ids: Sequence[str],
        upload_ids: Sequence[str] = (),
        **kw: Any,
    ) -> None:
        before = self.seen(record_ids, upload_ids)
        r = self.client.request(method, url, **kw)
        assert r.status_code == status, (method, url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["code"] == code, (method, url, r.text)
        assert self.seen(record_ids, upload_ids) == before, f"{method} {url} changed state"


def _without_signature(signed: SignedRecord) -> dict[str, Any]:
    data = signed.to_json()
    del data["signature"]
    return data


def _zero_signature(signed: SignedRecord) -> dict[str, Any]:
    return {**signed.to_json(), "signature": "0x" + "00" * 65}


def _tampered(signed: SignedRecord, field: str, value: Any) -> dict[str, Any]:
    """The signed JSON with one field changed after signing (the stated signer kept)."""
    data = copy.deepcopy(signed.to_json())
    data["record"][field] = value
    return data


# ------------------------------------------------------------------ POST /api/v1/records


def case_records(w: World) -> None:
    """EIP-712 records. Unsigned, a stranger, the wrong role, an id scoped to another
    signer and a body altered after signing are refused; a replay is idempotent (duplicate,
    no second outbox row, no second leaf). No expiry case: a record is a permanent signed
    fact with no expiry field, and its unique id makes every replay a duplicate."""
    a = w.env.actors
    url = "/api/v1/records"
    good = need(a.county_a.address).sign(a.county_a.key, w.env.domain)
    rid = hex0x(good.id)
    ids = [rid]

    w.refused(
        "POST", url, 422, "invalid_request", ids, json={"records": [_without_signature(good)]}
    )
    w.refused("POST", url, 422, "bad_signature", ids, json={"records": [_zero_signature(good)]})
    # a stranger (no role), on its own scoped ids
    stranger = need(a.stranger.address).sign(a.stranger.key, w.env.domain)
    w.refused("POST", url, 422, "missing_role", [hex0x(stranger.id)], json=body(stranger))
    # the wrong role: an organization signing a county's need
    org_need = need(a.org_a.address).sign(a.org_a.key, w.env.domain)
    w.refused("POST", url, 422, "missing_role", [hex0x(org_need.id)], json=body(org_need))
    # the wrong signer of this very id: county B signs a record whose id is county A's
    squat = good.record.sign(a.county_b.key, w.env.domain)
    w.refused("POST", url, 422, "record_id_not_scoped", ids, json=body(squat))
    # a body altered after signing
    w.refused(
        "POST",
        url,
        422,
        "bad_signature",
        ids,
        json={"records": [_tampered(good, "title", "【已取消】请联系13800138000转账")]},
    )

    # accepted
    outbox = w.outbox()
    r = w.client.post(url, json=body(good))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == [
        {"record_id": rid, "kind": "project_anchor", "status": "queued", "duplicate": False}
    ]
    assert w.outbox() == outbox + 1
    w.st.settle(ids)
    assert w.client.get(f"/api/v1/public/record/{rid}").status_code == 200
    leaves = w.leaves()

    # a replay: idempotent, no second row or leaf
    before = w.seen(ids)
    r = w.client.post(url, json=body(good))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"][0]["duplicate"] is True
    assert r.json()["accepted"][0]["status"] == "confirmed"
    w.st.settle()
    assert w.seen(ids) == before
    assert w.leaves() == leaves and w.outbox() == outbox + 1


# ------------------------------------------------------------------ batches


def _commitment(w: World, quantity: int = 1000) -> bytes:
    """A need of county A and org A's commitment to it, straight on chain and indexed."""
    cid = on_chain_commitment(w.env, quantity)
    w.st.indexer.run_until_synced()
    return cid


def _lines(cid: bytes, n: int = 3) -> list[DeliveryLine]:
    return [
        DeliveryLine(
            commitment_id=cid,
            item="大米 rice",
            quantity=2,
            unit="斤",
            delivered_at=int(time.time()) - 3600,
            beneficiary=os.urandom(32),
            evidence_hash=bytes(32),
        )
        for _ in range(n)
    ]


def _frames(lines: list[DeliveryLine]) -> bytes:
    return b"".join(struct.pack(">I", len(b)) + b for b in (ln.line_bytes() for ln in lines))


LINES = {"content-type": "application/vnd.bangfu.lines"}


def case_open_batch(w: World) -> None:
    """The signed DeliveryBatch. Unsigned, a stranger, the wrong role, another org's
    commitments, a foreign id and a body altered after signing open no upload; the valid
    record opens one; a replay answers the same upload (no second one). No expiry case: the
    record has no expiry, and its id makes a replay answer the same upload."""
    a = w.env.actors
    url = "/api/v1/batches"
    cid = _commitment(w)
    lines = _lines(cid)
    good = sign_batch(lines, a.org_a.key, w.env.domain)
    ids = [hex0x(good.id)]

    w.refused("POST", url, 422, "invalid_request", ids, json=_without_signature(good))
    w.refused("POST", url, 422, "bad_signature", ids, json=_zero_signature(good))
    # A stranger, the wrong role (a county office), another org's commitments.
    for signer, code in (
        (a.stranger, "missing_role"),
        (a.county_a, "missing_role"),
        (a.org_b, "not_commitment_owner"),
    ):
        signed = sign_batch(lines, signer.key, w.env.domain)
        w.refused("POST", url, 422, code, ids, json=signed.to_json())
    squat = build_batch(lines, a.org_a.address).sign(a.org_b.key, w.env.domain)
    w.refused("POST", url, 422, "record_id_not_scoped", ids, json=squat.to_json())
    w.refused("POST", url, 422, "bad_signature", ids, json=_tampered(good, "lineCount", 4))

    r = w.client.post(url, json=good.to_json())
    assert r.status_code == 201, r.text
    upload = r.json()
    assert upload["status"] == "receiving" and upload["signer"] == a.org_a.address
    assert w.client.get(f"/api/v1/batches/uploads/{upload['upload_id']}").json() == upload
    before = w.seen(ids, [upload["upload_id"]])
    again = w.client.post(url, json=good.to_json())
    assert again.status_code == 201 and again.json() == upload
    assert w.seen(ids, [upload["upload_id"]]) == before


def _opened(w: World) -> tuple[SignedRecord, list[DeliveryLine], dict[str, Any]]:
    cid = _commitment(w)
    lines = _lines(cid)
    good = sign_batch(lines, w.env.actors.org_a.key, w.env.domain)
    r = w.client.post("/api/v1/batches", json=good.to_json())
    assert r.status_code == 201, r.text
    return good, lines, r.json()


def case_put_lines(w: World) -> None:
    """The signed batch root. Lines carry no signature of their own: they are accepted only
    if they hash to the root the owner signed. An unknown upload takes nothing; lines of a
    commitment the batch does not name, or lines other than the signed ones, are refused, queue
    no record and hold no line (the upload shows it was refused; the signed record opens a
    fresh one); the signed lines are accepted and queue the record; sending them again is
    refused. No stranger / expiry case: there is no signer or expiry at this step."""
    good, lines, upload = _opened(w)
    uid = upload["upload_id"]
    ids = [hex0x(good.id)]
    url = f"/api/v1/batches/uploads/{uid}/lines"

    w.refused(
        "PUT",
        "/api/v1/batches/uploads/" + "ab" * 16 + "/lines",
        404,
        "upload_not_found",
        ids,
        content=_frames(lines),
        headers=LINES,
    )
    # a line of another commitment: refused on arrival
    other = _lines(new_id(w.env.actors.org_a.address), 1)
    outbox = w.outbox()
    r = w.client.put(url, content=_frames(other), headers=LINES)
    assert r.status_code == 422 and r.json()["code"] == "line_commitment_not_in_batch", r.text
    assert (
        w.outbox() == outbox and w.client.get(f"/api/v1/public/record/{ids[0]}").status_code == 404
    )
    refused = w.client.get(f"/api/v1/batches/uploads/{uid}").json()
    assert (refused["status"], refused["lines_received"]) == ("refused", 0)
    w.refused("PUT", url, 409, "upload_refused", ids, [uid], content=_frames(lines), headers=LINES)

    # lines other than the signed ones (same commitment and total, other beneficiaries)
    uid = w.client.post("/api/v1/batches", json=good.to_json()).json()["upload_id"]
    url = f"/api/v1/batches/uploads/{uid}/lines"
    r = w.client.put(url, content=_frames(_lines(lines[0].commitment_id)), headers=LINES)
    assert r.status_code == 422 and r.json()["code"] == "batch_root_mismatch", r.text
    assert (
        w.outbox() == outbox and w.client.get(f"/api/v1/public/record/{ids[0]}").status_code == 404
    )

    # the signed lines: accepted, the record queued
    uid = w.client.post("/api/v1/batches", json=good.to_json()).json()["upload_id"]
    url = f"/api/v1/batches/uploads/{uid}/lines"
    r = w.client.put(url, content=_frames(lines), headers=LINES)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert w.outbox() == outbox + 1
    w.st.settle(ids)
    assert w.client.get(f"/api/v1/batches/{ids[0]}/lines/2").status_code == 200
    # a replay of the lines takes nothing
    w.refused("PUT", url, 409, "upload_accepted", ids, [uid], content=_frames(lines), headers=LINES)


def case_finish(w: World) -> None:
    """The signed batch root, checked against the held lines. An unknown upload, an
    incomplete one and a refused one are refused and queue nothing; complete signed lines are
    queued; finishing again answers the same (no second row or leaf). No stranger / expiry
    case: there is no signer or expiry at this step."""
    good, lines, upload = _opened(w)
    uid = upload["upload_id"]
    ids = [hex0x(good.id)]
    url = f"/api/v1/batches/uploads/{uid}/finish"

    w.refused(
        "POST", "/api/v1/batches/uploads/" + "cd" * 16 + "/finish", 404, "upload_not_found", ids
    )
    w.refused("POST", url, 409, "upload_incomplete", ids, [uid])
    r = w.client.put(
        f"/api/v1/batches/uploads/{uid}/lines", content=_frames(lines[:2]), headers=LINES
    )
    assert r.status_code == 200 and r.json()["lines_received"] == 2, r.text
    w.refused("POST", url, 409, "upload_incomplete", ids, [uid])

    # every line held but not finished (a crash between the last flush and finish)
    batches = w.client.app.state.batches  # type: ignore[attr-defined]
    rx = batches.receiver(uid, 2)
    rx.feed(_frames(lines[2:]))
    rx.flush()
    assert w.client.get(f"/api/v1/batches/uploads/{uid}").json()["status"] == "receiving"
    outbox = w.outbox()
    r = w.client.post(url)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert w.outbox() == outbox + 1
    w.st.settle(ids)
    leaves = w.leaves()
    before = w.seen(ids, [uid])
    again = w.client.post(url)
    assert again.status_code == 200 and again.json()["status"] == "accepted"
    w.st.settle()
    assert w.seen(ids, [uid]) == before and w.leaves() == leaves

    # a refused upload cannot be finished into acceptance
    good2, lines2, upload2 = _opened(w)
    uid2 = upload2["upload_id"]
    r = w.client.put(
        f"/api/v1/batches/uploads/{uid2}/lines",
        content=_frames(_lines(lines2[0].commitment_id)),
        headers=LINES,
    )
    assert r.json()["code"] == "batch_root_mismatch", r.text
    w.refused(
        "POST",
        f"/api/v1/batches/uploads/{uid2}/finish",
        409,
        "upload_refused",
        [hex0x(good2.id)],
        [uid2],
    )


# ------------------------------------------------------------------ custodial


def case_custodial(w: World) -> None:
    """A bearer token bound to a custodial key. Off by default: refused even with a token.
    On: no token, a wrong token, a revoked token and a key whose role may not sign the kind
    are refused; the valid token is accepted; a replay of the same record is a duplicate
    (no second row or leaf). No expiry case: tokens do not expire, revocation withdraws them."""
    a = w.env.actors
    url = "/api/v1/custodial/records"
    rec = need(a.county_a.address).to_json()
    del rec["id"]  # the server derives the anchor id
    anchor_id = hex0x(ProjectAnchor.anchor_id(bytes.fromhex(rec["projectId"][2:]), 1))
    ids = [anchor_id]
    payload = {"kind": "project_anchor", "record": rec}

    # off (the default)
    assert not w.svc.settings.custodial
    w.refused("POST", url, 404, "custodial_disabled", ids, json=payload)
    w.refused(
        "POST",
        url,
        404,
        "custodial_disabled",
        ids,
        json=payload,
        headers={"Authorization": "Bearer bfc_anything"},
    )

    # on, with its own service on the same database
    var = w.tmp / "custodial"
    var.mkdir()
    (var / "deployment.json").write_bytes(w.env.settings.deployment_path.read_bytes())
    settings = w.svc.settings.model_copy(
        update={
            "var": var,
            "custodial": True,
            "keystore_password": SecretStr("route-auth-test-password"),
        }
    )
    csvc = LedgerService(settings)
    try:
        custodian = Custodian(settings)
        county_addr, county_token = custodian.add_key(bytes(a.county_a.key), iterations=FAST)
        _, org_token = custodian.add_key(bytes(a.org_a.key), iterations=FAST)
        _, stranger_token = custodian.add_key(bytes(a.stranger.key), iterations=FAST)
        with TestClient(create_app(csvc)) as http:
            cw = World(w.env, csvc, stack(csvc, w.env.actors.relayers), http, w.tmp)

            def bearer(token: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {token}"}

            cw.refused("POST", url, 401, "bad_token", ids, json=payload)
            cw.refused(
                "POST", url, 401, "bad_token", ids, json=payload, headers=bearer("bfc_wrong")
            )
            # keys whose roles may not sign a county's need
            cw.refused(
                "POST", url, 403, "kind_not_allowed", ids, json=payload, headers=bearer(org_token)
            )
            cw.refused(
                "POST",
                url,
                403,
                "kind_not_allowed",
                ids,
                json=payload,
                headers=bearer(stranger_token),
            )

            outbox = cw.outbox()
            r = http.post(url, json=payload, headers=bearer(county_token))
            assert r.status_code == 202, r.text
            out = r.json()
            assert out["record_id"] == anchor_id and out["signer"] == a.county_a.address
            assert out["duplicate"] is False and cw.outbox() == outbox + 1
            cw.st.settle(ids)
            leaves = cw.leaves()
            before = cw.seen(ids)
            again = http.post(url, json=payload, headers=bearer(county_token))
            assert again.status_code == 202 and again.json()["duplicate"] is True, again.text
            cw.st.settle()
            assert cw.seen(ids) == before and cw.leaves() == leaves

            assert custodian.revoke(county_addr) == 1
            fresh_pid = new_id(a.county_a.address)
            fresh = {**payload, "record": {**rec, "projectId": hex0x(fresh_pid)}}
            fresh_id = hex0x(ProjectAnchor.anchor_id(fresh_pid, 1))
            cw.refused(
                "POST", url, 401, "bad_token", [fresh_id], json=fresh, headers=bearer(county_token)
            )
    finally:
        csvc.close()


# ------------------------------------------------------------------ the table


def case_library(route: tuple[str, str]) -> Callable[[World], None]:
    def run(w: World) -> None:
        assert route in LIBRARY_WRITES, (
            f"{route} has no signed-request builder in tests/library/test_auth.py WRITES"
        )

    run.__doc__ = (
        "EIP-712 library messages with expiry and nonce; unsigned, stranger, expired, "
        "tampered, accepted and replayed cases run in tests/library/test_auth.py"
    )
    return run


def case_need_list_check(w: World) -> None:
    """No signature: the route checks an uploaded need list and answers; it stores nothing,
    so there is nothing to sign, expire or replay. A good list, a bad one and a file that is
    no list each leave everything GET shows as it was."""
    url = "/api/v1/library/need-lists/check"
    good = (
        "标题,类别,方式,受益人数,预算（元）,资源类型,数量,单位,截止日期,联系人角色\r\n"
        "大米,民生保障,输血,10,0,物资,5,斤,2099-12-31,县乡村振兴局\r\n"
    ).encode()
    form = {"county": str(COUNTY_A)}
    before = w.seen([])
    r = w.client.post(url, files={"file": ("a.csv", good)}, data=form)
    assert r.status_code == 200 and len(r.json()["needs"]) == 1, r.text
    r = w.client.post(url, files={"file": ("a.csv", good.replace(b"10,", b"x,"))}, data=form)
    assert r.status_code == 200 and r.json()["errors"][0]["code"] == "bad_number", r.text
    w.refused("POST", url, 422, "bad_file", [], files={"file": ("a.pdf", b"%PDF")}, data=form)
    assert w.seen([]) == before


def _registration_tx(w: World, account: str) -> dict[str, Any]:
    r = w.client.post(
        "/api/v1/registrations/prepare",
        json={
            "action": "register_auditor",
            "admin": w.env.actors.admin.address,
            "account": account,
            "name": "审计组",
        },
    )
    assert r.status_code == 200, r.text
    tx = dict(r.json()["tx"])
    del tx["gasLimit"]  # ethers' name for `gas`; eth-account takes `gas` only
    return tx


def case_registration_prepare(w: World) -> None:
    """Writes nothing: it answers an unsigned transaction for the admin to sign. No signature
    case, then, beyond refusing a non-admin signer up front (403 not_admin); it changes no
    role on chain either way (tests/api/test_registrations.py checks every field)."""
    a = w.env.actors
    stranger = Account.create().address
    body = {"action": "register_auditor", "admin": a.org_a.address, "account": stranger}
    w.refused("POST", "/api/v1/registrations/prepare", 403, "not_admin", [], json={**body,
              "name": "审计组"})  # fmt: skip
    _registration_tx(w, stranger)
    assert not w.svc.ledger().has_role("AUDITOR", stranger)


def case_registration_submit(w: World) -> None:
    """The admin's signature on the transaction itself (Ethereum's). Unsigned (garbage) and
    tampered transactions are bad_raw_tx or not_admin, a stranger's is not_admin; the admin's
    is sent. No expiry or replay case: the transaction's nonce makes it single-use on chain."""
    a = w.env.actors
    url = "/api/v1/registrations"
    stranger = Account.create().address
    tx = _registration_tx(w, stranger)
    raw = a.admin.sign_transaction(tx).raw_transaction
    w.refused("POST", url, 422, "bad_raw_tx", [], json={"raw_tx": "0x02"})
    forged = hex0x(bytes(a.stranger.sign_transaction(tx).raw_transaction))
    w.refused("POST", url, 403, "not_admin", [], json={"raw_tx": forged})
    tampered = bytearray(raw)
    tampered[-40] ^= 0x01  # inside the signature's s
    r = w.client.post(url, json={"raw_tx": hex0x(bytes(tampered))})
    assert r.status_code in (403, 422) and r.json()["code"] in ("not_admin", "bad_raw_tx")
    assert not w.svc.ledger().has_role("AUDITOR", stranger)
    r = w.client.post(url, json={"raw_tx": hex0x(bytes(raw))})
    assert r.status_code == 200, r.text
    assert w.svc.ledger().has_role("AUDITOR", stranger)


def _rate_tx(w: World, bps: int) -> dict[str, Any]:
    admin = w.env.actors.admin.address
    r = w.client.post("/api/v1/follow-up/rate/prepare", json={"admin": admin, "rate_bps": bps})
    assert r.status_code == 200, r.text
    tx = dict(r.json()["tx"])
    del tx["gasLimit"]  # ethers' name for `gas`; eth-account takes `gas` only
    return tx


def case_follow_up_rate_prepare(w: World) -> None:
    """Writes nothing: it answers the unsigned setFollowUpRate transaction for the admin to
    sign. No signature case, then, beyond refusing a non-admin signer up front (403
    not_admin); the rate does not change either way."""
    a = w.env.actors
    before = w.svc.ledger().follow_up_rate()
    body = {"admin": a.org_a.address, "rate_bps": 500}
    w.refused("POST", "/api/v1/follow-up/rate/prepare", 403, "not_admin", [], json=body)
    _rate_tx(w, 500)
    assert w.svc.ledger().follow_up_rate() == before


def case_follow_up_rate_submit(w: World) -> None:
    """The admin's signature on the transaction itself (Ethereum's). Garbage is bad_raw_tx, a
    stranger's signature not_admin, the admin's signature on another call not_rate_call; the
    admin's setFollowUpRate is sent. No expiry or replay case: the transaction's nonce makes
    it single-use on chain."""
    a = w.env.actors
    url = "/api/v1/follow-up/rate"
    ledger = w.svc.ledger()
    bps = 1_500 if ledger.follow_up_rate() != 1_500 else 1_600
    tx = _rate_tx(w, bps)
    w.refused("POST", url, 422, "bad_raw_tx", [], json={"raw_tx": "0x02"})
    forged = hex0x(bytes(a.stranger.sign_transaction(tx).raw_transaction))
    w.refused("POST", url, 403, "not_admin", [], json={"raw_tx": forged})
    other = hex0x(bytes(a.admin.sign_transaction(_registration_tx(w, Account.create().address))
                       .raw_transaction))  # fmt: skip
    w.refused("POST", url, 422, "not_rate_call", [], json={"raw_tx": other})
    assert ledger.follow_up_rate() != bps
    r = w.client.post(
        url, json={"raw_tx": hex0x(bytes(a.admin.sign_transaction(tx).raw_transaction))}
    )
    assert r.status_code == 200, r.text
    assert ledger.follow_up_rate() == bps


def case_audit_run(w: World) -> None:
    """A signed AuditRun by an auditor starts the audit. Unsigned, expired, tampered and a
    non-auditor (an organization, a stranger) are refused and start nothing; accepted once;
    a replay is refused. No record or library change follows: the audit only reads and
    keeps its report."""
    a = w.env.actors
    url = "/api/v1/audits"

    def signed(who: Any, **over: Any) -> dict[str, Any]:
        m = {**audits.new_message(), **over}
        return {"message": m, "signature": sign_typed(who, audits.typed_data(m, w.env.domain))}

    w.refused("POST", url, 401, "signature_required", [], json={"message": audits.new_message()})
    old = signed(a.auditor, expiry=int(time.time()) - 1)
    w.refused("POST", url, 401, "signature_expired", [], json=old)
    tampered = signed(a.auditor)
    tampered["message"]["nonce"] = messages.new_nonce()  # recovers to another address
    w.refused("POST", url, 403, "not_auditor", [], json=tampered)
    w.refused("POST", url, 403, "not_auditor", [], json=signed(a.org_a))
    w.refused("POST", url, 403, "not_auditor", [], json=signed(a.stranger))
    assert w.client.get(f"{url}/latest").status_code == 404
    good = signed(a.auditor)
    ok = w.client.post(url, json=good)
    assert ok.status_code == 202, ok.text
    w.refused("POST", url, 401, "signature_replayed", [], json=good)
    w.client.app.state.audit_runner.wait(120)  # type: ignore[attr-defined]


TABLE: dict[tuple[str, str], Callable[[World], None]] = {
    ("POST", "/api/v1/library/need-lists/check"): case_need_list_check,
    ("POST", "/api/v1/records"): case_records,
    ("POST", "/api/v1/batches"): case_open_batch,
    ("PUT", "/api/v1/batches/uploads/{upload_id}/lines"): case_put_lines,
    ("POST", "/api/v1/batches/uploads/{upload_id}/finish"): case_finish,
    ("POST", "/api/v1/custodial/records"): case_custodial,
    ("POST", "/api/v1/registrations/prepare"): case_registration_prepare,
    ("POST", "/api/v1/registrations"): case_registration_submit,
    # the province's follow-up rate (回访比例), signed by the admin in the civil workspace
    ("POST", "/api/v1/follow-up/rate/prepare"): case_follow_up_rate_prepare,
    ("POST", "/api/v1/follow-up/rate"): case_follow_up_rate_submit,
    **{route: case_library(route) for route in LIBRARY_WRITES},
    # the workspaces: sign-in, sign-out and evidence uploads
    ("POST", "/api/v1/session"): case_sign_in,
    ("DELETE", "/api/v1/session"): case_sign_out,
    ("POST", "/api/v1/evidence"): case_evidence,
    # the auditor's workspace: an audit run
    ("POST", "/api/v1/audits"): case_audit_run,
    # organization profiles, signed by the organization's ORG key
    ("PUT", "/api/v1/orgs/{org_code}/profile"): case_profile,
    # special funds: the signed Fund, and its details bound by the hashes it signed
    ("POST", "/api/v1/funds"): case_open_fund,
    ("PUT", "/api/v1/funds/{fund_id}/details"): case_fund_details,
    # grievances (申诉): filed with no account; answered by a county's signed record
    ("POST", "/api/v1/grievances"): case_grievance_file,
    ("POST", "/grievances/new"): case_grievance_form,
    ("POST", "/api/v1/grievance-answers"): case_grievance_answer,
}


def test_every_write_route_is_in_the_table() -> None:
    routes = write_routes()
    missing = [r for r in routes if r not in TABLE]
    assert not missing, f"state-changing routes without an auth case: {missing}"
    stale = [r for r in TABLE if r not in routes]
    assert not stale, f"table entries for routes that no longer exist: {stale}"
    library = [r for r in routes if r[1].startswith(LIBRARY) and r not in LIBRARY_READ_ONLY]
    assert sorted(library) == sorted(LIBRARY_WRITES)
    for route, case in TABLE.items():
        if not route[1].startswith(LIBRARY) or route in LIBRARY_READ_ONLY:
            # each case says which of the four cases apply and why the others do not
            assert case.__doc__ and "No " in case.__doc__, route


@pytest.fixture
def world(env: ChainEnv, database_url: str, tmp_path: Path) -> Iterator[World]:
    svc = service_for(env.settings, database_url)
    st = stack(svc, env.actors.relayers, confirmations=0)
    with TestClient(create_app(svc)) as client:
        yield World(env, svc, st, client, tmp_path)
    svc.close()


@pytest.mark.parametrize(
    "route",
    [r for r in write_routes() if not r[1].startswith(LIBRARY) or r in LIBRARY_READ_ONLY],
    ids=lambda r: f"{r[0]} {r[1]}",
)
def test_write_refused_without_its_owners_signature(world: World, route: tuple[str, str]) -> None:
    assert route in TABLE, f"{route} has no auth case: add one to TABLE"
    TABLE[route](world)
