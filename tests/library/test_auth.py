"""No library write without its owner's signature, generated from the route table.

Every non-GET route under /api/v1/library must have a builder in `WRITES` that makes a valid
signed request; a new route without one fails `test_every_library_write_has_a_builder` and
its own case. For each route: without a signature, with a wrong signer and with an expired
message the request is refused with 401/403 and a stable code, and everything GET shows is
unchanged; the valid request is accepted and changes what GET shows; sending it again (a
replay) is refused and changes nothing. On SQLite and PostgreSQL, against the real anvil.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.config import Settings
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.library import (
    actions,
    auth,
    key_counties,
    matching,
    messages,
    ownership,
    recommendations,
    sharing,
)
from ledger.library import (
    content as project_content,
)
from tests.factories import ORG_CODE_A, ORG_CODE_B, fresh_database_url
from tests.library.forms import need, supply, sync

#: The other instance whose bundles this one trusts (settings, never the request).
EXPORTER = Account.from_key(hashlib.sha256(b"bangfu test exporter").digest())
PREFIX = "/api/v1/library"


@pytest.fixture
def asvc(env, database_url) -> Iterator[LedgerService]:
    settings = env.settings.model_copy(
        update={"database_url": database_url, "library_trusted_exporters": EXPORTER.address}
    )
    service = LedgerService(settings)
    service.db.migrate()
    from ledger.indexer.worker import Indexer

    Indexer(service.db, service.ledger()).run_until_synced()
    yield service
    service.close()


@dataclass
class Request:
    method: str
    url: str
    body: dict[str, Any]
    ids: list[str] = field(default_factory=list)  # projects or matches it would create


@dataclass
class World:
    svc: LedgerService
    env: Any
    client: TestClient
    need: str = ""
    supply: str = ""
    draft: str = ""
    match: str = ""
    projects: list[str] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    bundle: dict[str, Any] | None = None

    @property
    def domain(self) -> Any:
        return self.svc.domain


def expiry(delta: int) -> int:
    return auth.now() + delta


def _signed(
    w: World,
    method: str,
    url: str,
    mtype: messages.MessageType,
    message: dict[str, Any],
    signer: LocalAccount,
    *,
    ids: list[str] | None = None,
    **fields: Any,
) -> Request:
    """A request whose body is `fields` and `message` signed by `signer` as an `mtype`."""
    signature = messages.sign(mtype, message, w.domain, signer.key)
    body = {**fields, "message": message, "signature": signature}
    return Request(method, url, body, ids=ids or [])


def _version_request(
    w: World, pid: str, key: LocalAccount, delta: int, action: str, **kw: Any
) -> tuple[dict[str, Any], str, str]:
    """The LibraryProject request and the anchor signature for the next version."""
    with w.svc.db.read() as s:
        row = ownership.get_project(s, pid)
        kind = ProjectKind(row.kind)
        content = (
            project_content.parse_content(kind, kw["data"])
            if "data" in kw
            else project_content.content_of(row)
        )
        status = kw.get("status") or ("published" if row.status == "draft" else row.status)
        version = row.version + 1
        message = project_content.project_message(
            kind,
            pid,
            content,
            action=action,
            status=status,
            version=version,
            org_code=row.org_code,
            nonce=messages.new_nonce(),
            expiry=expiry(delta),
        )
        anchor = project_content.make_anchor(
            kind, pid, content, status=status, version=version, org_code=row.org_code
        )
    anchor_sig = "0x" + anchor.sign(key.key, w.domain).signature.hex()
    return message, messages.sign(messages.LIBRARY_PROJECT, message, w.domain, key.key), anchor_sig


def _draft_request(
    w: World, kind: ProjectKind, content: dict[str, Any], key: LocalAccount, delta: int
) -> Request:
    pid = "0x" + new_id(key.address).hex()
    org = {w.env.actors.org_a.address: ORG_CODE_A, w.env.actors.org_b.address: ORG_CODE_B}
    parsed = project_content.parse_content(kind, content)
    message = project_content.project_message(
        kind,
        pid,
        parsed,
        action="draft",
        status="published",
        version=1,
        org_code=None if kind == ProjectKind.NEED else org.get(key.address, ORG_CODE_A),
        nonce=messages.new_nonce(),
        expiry=expiry(delta),
    )
    path = "needs" if kind == ProjectKind.NEED else "supply"
    url = f"{PREFIX}/{path}"
    return _signed(
        w, "POST", url, messages.LIBRARY_PROJECT, message, key, ids=[pid], content=content
    )


def b_create_need(w: World, key: LocalAccount | None, delta: int) -> Request:
    return _draft_request(
        w, ProjectKind.NEED, need(title="新需求"), key or w.env.actors.county_a, delta
    )


def b_create_supply(w: World, key: LocalAccount | None, delta: int) -> Request:
    return _draft_request(
        w, ProjectKind.SUPPLY, supply(title="新供给"), key or w.env.actors.org_a, delta
    )


def b_edit(w: World, key: LocalAccount | None, delta: int) -> Request:
    data = need(title="册亨县者楼村油茶产业帮扶（第二版）", beneficiaries=150)
    message, sig, anchor_sig = _version_request(
        w, w.need, key or w.env.actors.county_a, delta, "edit", data=data
    )
    return Request(
        "PUT",
        f"{PREFIX}/projects/{w.need}",
        {"content": data, "message": message, "signature": sig, "anchor_signature": anchor_sig},
    )


def b_transition(w: World, key: LocalAccount | None, delta: int) -> Request:
    message, sig, anchor_sig = _version_request(
        w, w.need, key or w.env.actors.county_a, delta, "transition", status="closed"
    )
    return Request(
        "POST",
        f"{PREFIX}/projects/{w.need}/transition",
        {"status": "closed", "message": message, "signature": sig, "anchor_signature": anchor_sig},
    )


def b_publish(w: World, key: LocalAccount | None, delta: int) -> Request:
    message, sig, anchor_sig = _version_request(
        w, w.draft, key or w.env.actors.county_a, delta, "publish"
    )
    return Request(
        "POST",
        f"{PREFIX}/projects/{w.draft}/publish",
        {"message": message, "signature": sig, "anchor_signature": anchor_sig},
    )


def b_push(w: World, key: LocalAccount | None, delta: int) -> Request:
    with w.svc.db.read() as s:
        message = recommendations.push_message(s, w.need, 5, messages.new_nonce(), expiry(delta))
    signer = key or w.env.actors.county_a
    return _signed(
        w, "POST", f"{PREFIX}/projects/{w.need}/push", messages.LIBRARY_PUSH, message, signer
    )


def b_propose(w: World, key: LocalAccount | None, delta: int) -> Request:
    signer = key or w.env.actors.org_b
    mid = "0x" + new_id(signer.address).hex()
    with w.svc.db.read() as s:
        proposal = matching.MatchProposal("take", w.need, None, ORG_CODE_B, "可提供技术员")
        message = matching.match_message(
            s, "propose", proposal, match_id=mid, nonce=messages.new_nonce(), expiry=expiry(delta)
        )
    return _signed(
        w, "POST", f"{PREFIX}/matches", messages.LIBRARY_MATCH, message, signer, ids=[mid]
    )


def b_respond(w: World, key: LocalAccount | None, delta: int) -> Request:
    with w.svc.db.read() as s:
        m = matching.get_match(s, w.match)
        message = matching.response_message(m, "accept", messages.new_nonce(), expiry(delta))
    signer = key or w.env.actors.county_a
    url = f"{PREFIX}/matches/{w.match}/respond"
    return _signed(w, "POST", url, messages.LIBRARY_MATCH, message, signer)


def b_key_counties(w: World, key: LocalAccount | None, delta: int) -> Request:
    with w.svc.db.read() as s:
        version = key_counties.key_county_list_version(s) + 1
    message = key_counties.key_county_message(
        version, "国乡振发 test list", [522327, 522326], expiry(delta)
    )
    signer = key or w.env.actors.admin
    return _signed(w, "PUT", f"{PREFIX}/key-counties", messages.KEY_COUNTY_LIST, message, signer)


def b_import(w: World, key: LocalAccount | None, delta: int) -> Request:
    assert w.bundle is not None
    message = sharing.import_message(w.bundle, messages.new_nonce(), expiry(delta))
    signer = key or w.env.actors.admin
    ids = [p["project_id"] for p in w.bundle["projects"]]
    url = f"{PREFIX}/bundles/import"
    return _signed(
        w, "POST", url, messages.LIBRARY_IMPORT, message, signer, ids=ids, bundle=w.bundle
    )


Builder = Callable[[World, LocalAccount | None, int], Request]

#: (method, path) of every library write → how to build a valid signed request for it.
WRITES: dict[tuple[str, str], Builder] = {
    ("POST", f"{PREFIX}/needs"): b_create_need,
    ("POST", f"{PREFIX}/supply"): b_create_supply,
    ("PUT", f"{PREFIX}/projects/{{project_id}}"): b_edit,
    ("POST", f"{PREFIX}/projects/{{project_id}}/transition"): b_transition,
    ("POST", f"{PREFIX}/projects/{{project_id}}/publish"): b_publish,
    ("POST", f"{PREFIX}/projects/{{project_id}}/push"): b_push,
    ("POST", f"{PREFIX}/matches"): b_propose,
    ("POST", f"{PREFIX}/matches/{{match_id}}/respond"): b_respond,
    ("PUT", f"{PREFIX}/key-counties"): b_key_counties,
    ("POST", f"{PREFIX}/bundles/import"): b_import,
}


#: Library routes that are POST only to carry a file, and write nothing: a need list is
#: checked and answered, never stored (tests/library/test_needlist.py shows nothing changes;
#: tests/api/test_route_auth.py runs that case too).
READ_ONLY: frozenset[tuple[str, str]] = frozenset({("POST", f"{PREFIX}/need-lists/check")})


def library_writes() -> list[tuple[str, str]]:
    """Every state-changing library route of the real app."""
    app = create_app(settings=Settings())
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith(PREFIX):
            for method in sorted(route.methods - {"GET", "HEAD", "OPTIONS"}):
                if (method, route.path) not in READ_ONLY:
                    out.append((method, route.path))
    return sorted(out)


#: The EIP-712 type each write's `message` is, in the server and in the OpenAPI document.
MESSAGE_OF: dict[tuple[str, str], messages.MessageType] = {
    route: messages.LIBRARY_PROJECT for route in list(WRITES)[:5]
} | {
    ("POST", f"{PREFIX}/projects/{{project_id}}/push"): messages.LIBRARY_PUSH,
    ("POST", f"{PREFIX}/matches"): messages.LIBRARY_MATCH,
    ("POST", f"{PREFIX}/matches/{{match_id}}/respond"): messages.LIBRARY_MATCH,
    ("PUT", f"{PREFIX}/key-counties"): messages.KEY_COUNTY_LIST,
    ("POST", f"{PREFIX}/bundles/import"): messages.LIBRARY_IMPORT,
}


def body_validator(doc: dict[str, Any], route: tuple[str, str]) -> Any:
    """A JSON Schema validator for the route's request body, as the served document says."""
    method, path = route
    schema = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
    return jsonschema_rs.Draft202012Validator(
        {**schema["schema"], "components": doc["components"]}, validate_formats=True
    )


def message_schema(doc: dict[str, Any], route: tuple[str, str]) -> dict[str, Any]:
    method, path = route
    ref = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
    body = doc["components"]["schemas"][ref["schema"]["$ref"].rsplit("/", 1)[1]]
    typed = [s for s in body["properties"]["message"]["anyOf"] if "$ref" in s]
    name = typed[0]["$ref"].rsplit("/", 1)[1]
    out: dict[str, Any] = doc["components"]["schemas"][name]
    return out


def test_every_library_write_has_a_builder():
    missing = [r for r in library_writes() if r not in WRITES]
    assert not missing, f"library write routes without a signed-request case: {missing}"
    assert len(library_writes()) == len(WRITES)


def _make_bundle(env, tmp_path) -> dict[str, Any]:
    """A bundle of a published need from another instance (its own database, same chain)."""
    url = next(fresh_database_url("sqlite", tmp_path))
    other = LedgerService(env.settings.model_copy(update={"database_url": url}))
    other.db.migrate()
    from ledger.indexer.worker import Indexer

    Indexer(other.db, other.ledger()).run_until_synced()
    pid = actions.create_and_publish(
        other, ProjectKind.NEED, need(county=520121, title="外省共享需求"), env.actors.county_b.key
    )
    sync(other, env)
    with other.db.read() as s:
        bundle = sharing.export_bundle(
            s, EXPORTER.key, other.domain, instance="guizhou-2", project_ids=[pid]
        )
    other.close()
    return bundle


def _world(svc: LedgerService, env, tmp_path, route: tuple[str, str]) -> World:
    a = env.actors
    w = World(svc, env, TestClient(create_app(svc)))
    w.need = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    w.supply = actions.create_and_publish(svc, ProjectKind.SUPPLY, supply(), a.org_a.key)
    w.draft = actions.create_draft(svc, ProjectKind.NEED, need(title="草稿需求"), a.county_a.key)
    w.match = actions.propose_match(svc, a.org_a.key, w.need, direction="take", org_code=ORG_CODE_A)
    w.projects = [w.need, w.supply, w.draft]
    w.matches = [w.match]
    if route[1].endswith("/bundles/import"):
        w.bundle = _make_bundle(env, tmp_path)
    return w


def _read_header(w: World, pid: str, key: LocalAccount) -> dict[str, str]:
    message = {"projectId": pid, "reader": key.address, "expiry": expiry(300)}
    sig = messages.sign(messages.LIBRARY_READ, message, w.domain, key.key)
    return {"X-Bangfu-Read": f"{key.address}:{message['expiry']}:{sig}"}


def snapshot(w: World, extra: list[str]) -> dict[str, Any]:
    """Everything GET shows about the world (drafts read by their owners)."""
    a = w.env.actors
    c = w.client
    out: dict[str, Any] = {}
    owners = [a.county_a, a.county_b, a.org_a, a.org_b]
    for pid in w.projects + [i for i in extra if i not in w.matches]:
        seen = []
        for owner in owners:
            r = c.get(f"{PREFIX}/projects/{pid}", headers=_read_header(w, pid, owner))
            seen.append((r.status_code, r.json()))
        out[f"project {pid}"] = seen
        out[f"versions {pid}"] = c.get(f"{PREFIX}/projects/{pid}/versions").json()
    for mid in w.matches + [i for i in extra if i not in w.projects]:
        r = c.get(f"{PREFIX}/matches/{mid}")
        out[f"match {mid}"] = (r.status_code, r.json().get("match"))
    out["search"] = c.get(f"{PREFIX}/projects", params={"limit": 200}).json()
    out["key counties"] = c.get(f"{PREFIX}/key-counties").json()
    out["list version"] = c.get(f"{PREFIX}/key-counties/version").json()
    return out


def _send(w: World, req: Request) -> Any:
    return w.client.request(req.method, req.url, json=req.body)


def _refused(w: World, req: Request, statuses: tuple[int, ...], codes: set[str]) -> None:
    before = snapshot(w, req.ids)
    r = _send(w, req)
    assert r.status_code in statuses, (req.url, r.status_code, r.text)
    assert r.json()["code"] in codes, (req.url, r.text)
    assert snapshot(w, req.ids) == before, f"{req.method} {req.url} changed state when refused"


@pytest.mark.parametrize("route", library_writes(), ids=lambda r: f"{r[0]} {r[1]}")
def test_write_refused_unless_signed_by_its_owner(asvc, env, tmp_path, route):
    assert route in WRITES, f"{route} has no signed-request builder: add one to WRITES"
    build = WRITES[route]
    w = _world(asvc, env, tmp_path, route)
    stranger = env.actors.stranger

    # 0. the served document types the body as the server checks it: the message by its
    # EIP-712 type (every field, required, no other), and it takes the valid signed request
    # and the unsigned one; a message the document refuses, the server refuses as
    # bad_message, changing nothing.
    doc = w.client.get("/openapi.json").json()
    mtype = MESSAGE_OF[route]
    typed = message_schema(doc, route)
    assert list(typed["properties"]) == list(mtype.field_names)
    assert typed["required"] == list(mtype.field_names)
    assert typed["additionalProperties"] is False
    fits = body_validator(doc, route)
    valid = build(w, None, 600)
    assert fits.is_valid(valid.body), list(fits.iter_errors(valid.body))[:3]
    assert fits.is_valid({k: v for k, v in valid.body.items() if "signature" not in k})
    for change in ({"unsigned_extra": 1}, {mtype.field_names[0]: None}):
        malformed = copy.deepcopy(valid)
        malformed.body["message"].update(change)
        assert not fits.is_valid(malformed.body)
        _refused(w, malformed, (422,), {"bad_message"})
    missing = copy.deepcopy(valid)
    del missing.body["message"]["expiry"]
    assert not fits.is_valid(missing.body)
    _refused(w, missing, (422,), {"bad_message"})
    bad_sig = copy.deepcopy(valid)
    bad_sig.body["signature"] = "0x12"
    assert not fits.is_valid(bad_sig.body)
    _refused(w, bad_sig, (401,), {"bad_signature"})

    # 1. no signature at all
    unsigned = build(w, None, 600)
    unsigned.body = {
        k: v for k, v in unsigned.body.items() if k not in ("signature", "anchor_signature")
    }
    _refused(w, unsigned, (401,), {"signature_required"})
    # 2. signed by the wrong key (a stranger: no role, not the owner, not the admin)
    _refused(
        w,
        build(w, stranger, 600),
        (403,),
        {"not_project_owner", "not_match_party", "not_admin"},
    )
    # 3. expired
    _refused(w, build(w, None, -60), (401,), {"signature_expired"})
    # 4. a body altered after signing: the signature names someone else (or no one)
    altered = build(w, None, 600)
    tampered = copy.deepcopy(altered)
    tampered.body["message"]["expiry"] += 1
    _refused(
        w,
        tampered,
        (401, 403),
        {"not_project_owner", "not_match_party", "not_admin", "bad_signature"},
    )
    # 5. the valid request is accepted and changes what GET shows
    before = snapshot(w, altered.ids)
    r = _send(w, altered)
    assert 200 <= r.status_code < 300, r.text
    w.projects += [i for i in altered.ids if route[1] != f"{PREFIX}/matches"]
    w.matches += [i for i in altered.ids if route[1] == f"{PREFIX}/matches"]
    after = snapshot(w, [])
    assert after != before
    # 6. the same body again is a replay
    _refused(w, altered, (401,), {"signature_replayed", "list_version_not_newer"})
    assert snapshot(w, []) == after
