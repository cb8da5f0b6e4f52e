"""Organization profiles: a profile signed by the organization's ORG key is stored with its
signature and shown on the portal's organization page under the chain's name; another
organization's key (403), no signature, an expired one and a replay (401) are refused; a
phone number in the contact role is refused with a code (422) and nothing is stored; the
version must be the current one + 1 (409). Through the SDK too. Real anvil, real database
(SQLite, and PostgreSQL when BANGFU_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from ledger.app import LedgerService
from ledger.core.errors import LedgerError
from ledger.library.models import LibraryNonce
from ledger.store.db import Database, alembic_config
from ledger.workspace import profiles
from ledger.workspace.models import OrgProfile
from tests.cli.test_cli import bangfu, key_file, one_error_line
from tests.factories import (
    ORG_AUTHORITY,
    ORG_CODE_A,
    ORG_CODE_B,
    ORG_NAME_A,
    ChainEnv,
    LiveServer,
    row_count,
    sdk,
)
from tests.workspace.helpers import sign_typed

URL = f"/api/v1/orgs/{ORG_CODE_A}/profile"
DESCRIPTION = "本基金会在黔西南开展乡村产业帮扶与助学项目。"


def _to_sign(http: TestClient, code: str = ORG_CODE_A, **fields: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/orgs/{code}/profile/to-sign", params=fields)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _signed(http: TestClient, signer: LocalAccount, env: ChainEnv, **over: Any) -> dict[str, Any]:
    """A PUT body: the next version's message with `over` applied, signed by `signer`."""
    fields = {"description": DESCRIPTION, "contact_role": "项目部", "website": ""}
    message = {**_to_sign(http, **fields)["message"], **over}
    typed = profiles.typed_data(message, env.domain)
    return {"message": message, "signature": sign_typed(signer, typed)}


def _stored(svc: LedgerService) -> list[tuple[str, int, str]]:
    with svc.db.read() as s:
        rows = s.scalars(select(OrgProfile).order_by(OrgProfile.org_code)).all()
        return [(r.org_code, r.version, r.contact_role) for r in rows]


def _refused(
    http: TestClient, svc: LedgerService, body: dict[str, Any], status: int, code: str
) -> dict[str, Any]:
    before = (_stored(svc), row_count(svc.db, LibraryNonce), http.get(URL).json())
    r = http.put(URL, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    assert problem["code"] == code, r.text
    assert (_stored(svc), row_count(svc.db, LibraryNonce), http.get(URL).json()) == before
    return problem


def test_a_signed_profile_is_stored_verifiable_and_shown_on_the_portal(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    a = env.actors
    before = http.get(URL)
    assert before.status_code == 200, before.text
    facts = before.json()
    assert (facts["name"], facts["org_type"], facts["authority"]) == (ORG_NAME_A, 3, ORG_AUTHORITY)
    assert facts["org_type_name"] == {"zh": "基金会", "en": "foundation"}
    assert facts["profile"] is None

    body = _signed(http, a.org_a, env, website="https://gzxc.example.org/about")
    r = http.put(URL, json=body)
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["version"] == 1 and stored["signer"] == a.org_a.address
    assert stored["contact_role"] == "项目部"

    shown = http.get(URL).json()
    profile = shown["profile"]
    assert profile["description"] == DESCRIPTION
    assert profile["website"] == "https://gzxc.example.org/about"
    assert profile["signature"] == body["signature"] and profile["message"] == body["message"]
    # anyone re-verifies it from the answer alone
    assert profiles.recheck(profile, env.domain) == a.org_a.address
    assert sign_typed(a.org_a, profile["typed_data"]) == body["signature"]

    page = http.get(f"/orgs/{ORG_CODE_A}")
    assert page.status_code == 200
    html = page.text
    assert f"<title>{ORG_NAME_A}" in html
    for text in (DESCRIPTION, "项目部", "基金会", ORG_AUTHORITY, a.org_a.address, "signed by"):
        assert text in html, text
    assert f'href="/api/v1/orgs/{ORG_CODE_A}/profile"' in html
    english = http.get(f"/orgs/{ORG_CODE_A}", params={"lang": "en"}).text
    for text in ("foundation (基金会)", "Registering authority", "Signed by the organization"):
        assert text in english, text
    # the list names the organization
    assert ORG_NAME_A in http.get("/orgs").text

    # the next version replaces it
    r = http.put(URL, json=_signed(http, a.org_a, env, contactRole="志愿服务部"))
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    assert _stored(svc)[0] == (ORG_CODE_A, 2, "志愿服务部")


def test_refusals_store_nothing(env: ChainEnv, svc: LedgerService, http: TestClient) -> None:
    a = env.actors
    good = _signed(http, a.org_a, env)

    # no signature, a malformed one, a body altered after signing
    _refused(http, svc, {"message": good["message"]}, 401, "signature_required")
    _refused(http, svc, {**good, "signature": "0x" + "00" * 65}, 401, "bad_signature")
    tampered = {**good, "message": {**good["message"], "description": "改过的简介"}}
    problem = _refused(http, svc, tampered, 403, "not_org_key")  # recovers to someone else
    assert "不是" in problem["detail"]
    # another organization's key, and a stranger's
    _refused(http, svc, _signed(http, a.org_b, env), 403, "not_org_key")
    _refused(http, svc, _signed(http, a.stranger, env), 403, "not_org_key")
    # org B signing its own code, sent to org A's address
    other = _signed(http, a.org_b, env, orgCode=ORG_CODE_B)
    _refused(http, svc, other, 422, "message_mismatch")
    # expired
    now = int(time.time())
    _refused(http, svc, _signed(http, a.org_a, env, expiry=now - 1), 401, "signature_expired")
    # a personal phone number as the contact role, written the ways people write it
    phones = ("13800138000", "张经理 138-0013-8000", "+86 139 1234 5678", "１３８００１３８０００")
    for phone in phones:
        problem = _refused(
            http, svc, _signed(http, a.org_a, env, contactRole=phone), 422, "personal_data_in_text"
        )
        assert problem["field"] == "contactRole" and "手机号" in problem["detail"]
    # an ID number in the description
    _refused(
        http,
        svc,
        _signed(http, a.org_a, env, description="负责人 52232719900101123X"),
        422,
        "personal_data_in_text",
    )
    # lengths and the website
    _refused(http, svc, _signed(http, a.org_a, env, contactRole="部" * 65), 422, "text_too_long")
    _refused(http, svc, _signed(http, a.org_a, env, description="简" * 2001), 422, "text_too_long")
    for site in ("http://gzxc.example.org", "javascript:alert(1)", "https://", "https://a b.cn"):
        _refused(http, svc, _signed(http, a.org_a, env, website=site), 422, "bad_website")
    _refused(http, svc, _signed(http, a.org_a, env, description="  "), 422, "missing_value")
    # the version must be the next one
    _refused(http, svc, _signed(http, a.org_a, env, version=2), 409, "profile_version_not_next")
    assert _stored(svc) == []

    # the good one (a 2000-character description is allowed), then its replay
    long_ok = _signed(http, a.org_a, env, description="简" * 2000)
    assert http.put(URL, json=long_ok).status_code == 200
    _refused(http, svc, long_ok, 401, "signature_replayed")
    # an old version, freshly signed, is refused too: the version only goes up
    _refused(http, svc, _signed(http, a.org_a, env, version=1), 409, "profile_version_not_next")
    assert _stored(svc) == [(ORG_CODE_A, 1, "项目部")]


def test_unknown_organizations_are_404(http: TestClient) -> None:
    for code in ("52520000MJY4508XXX", "not-a-code"):
        r = http.get(f"/api/v1/orgs/{code}/profile")
        assert r.status_code == 404 and r.json()["code"] == "org_not_found", r.text
        r = http.get(f"/api/v1/orgs/{code}/profile/to-sign")
        assert r.status_code == 404 and r.json()["code"] == "org_not_found", r.text


def test_sdk_signs_the_next_version(env: ChainEnv, svc: LedgerService, http: TestClient) -> None:
    a = env.actors
    client = sdk(http, a.org_b)
    first = client.org_profile_update(
        ORG_CODE_B, description="黔南州社区服务与养老照护。", contact_role="服务部"
    )
    assert first["version"] == 1 and first["signer"] == a.org_b.address
    # only the contact role changes; the description is kept
    second = client.org_profile_update(ORG_CODE_B, contact_role="项目部")
    assert second["version"] == 2
    shown = client.org_profile(ORG_CODE_B)
    assert shown["profile"]["description"] == "黔南州社区服务与养老照护。"
    assert shown["profile"]["contact_role"] == "项目部"
    assert profiles.recheck(shown["profile"], env.domain) == a.org_b.address


def test_migration_adds_and_removes_the_table(database_url: str) -> None:
    """0009_org_profiles (down_revision 0001_core) makes org_profiles on a database at the
    core revision, and its downgrade takes it out; SQLite and PostgreSQL."""
    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0001_core")
    db = Database(database_url)
    try:
        assert "org_profiles" not in inspect(db.engine).get_table_names()
        db.migrate()
        cols = {c["name"] for c in inspect(db.engine).get_columns("org_profiles")}
        assert cols == {
            "org_code",
            "version",
            "description",
            "contact_role",
            "website",
            "signer",
            "message_json",
            "signature",
            "updated_at",
        }
        script = ScriptDirectory.from_config(cfg)
        assert script.get_revision("0009_org_profiles").down_revision == "0001_core"
        command.downgrade(cfg, "0009_org_profiles@-1")
        assert "org_profiles" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_cli_profile_signs_with_the_key_file(
    env: ChainEnv, svc: LedgerService, live: LiveServer, tmp_path: Path
) -> None:
    """`bangfu org profile CODE --description … --contact-role … --key` as a user runs it;
    a phone number is refused with its code before anything is signed or sent."""
    a = env.actors
    key = key_file(tmp_path, a.org_a, "org.json")
    code = ORG_CODE_A
    bad = bangfu("org", "profile", code, "--contact-role", "13800138000", "--key", str(key),
                 "--description", DESCRIPTION, api=live.url)  # fmt: skip
    assert "[personal_data_in_text]" in one_error_line(bad)
    assert _stored(svc) == []
    no_key = bangfu("org", "profile", code, "--description", DESCRIPTION, api=live.url)
    assert "[no_key]" in one_error_line(no_key)
    done = bangfu("org", "profile", code, "--description", DESCRIPTION, "--contact-role", "项目部",
                  "--key", str(key), api=live.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "version 1" in done.stdout and ORG_NAME_A in done.stdout and "基金会" in done.stdout
    assert _stored(svc) == [(ORG_CODE_A, 1, "项目部")]
    shown = bangfu("org", "profile", code, api=live.url)
    assert shown.returncode == 0 and DESCRIPTION in shown.stdout, shown.stderr


def test_two_writers_of_one_version_store_one(
    env: ChainEnv, svc: LedgerService, http: TestClient
) -> None:
    """Two signed version-1 profiles sent at once: one is stored, the other is told to sign
    the next version (409), never a 500 or two rows."""
    a = env.actors
    bodies = [_signed(http, a.org_a, env, contactRole=f"部门{i}") for i in range(2)]
    barrier = threading.Barrier(2)

    def send(body: dict[str, Any]) -> str:
        barrier.wait()
        try:
            profiles.update_profile(
                svc.db, ORG_CODE_A, body["message"], body["signature"], env.domain
            )
            return "stored"
        except LedgerError as exc:
            return exc.code

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(send, bodies))
    assert results == ["profile_version_not_next", "stored"], results
    assert len(_stored(svc)) == 1 and _stored(svc)[0][1] == 1
