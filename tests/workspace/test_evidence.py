"""Evidence files: a signed upload whose bytes hash to the signed SHA-256 is stored under it
and readable; bytes that differ store nothing (no temporary file either); a private file is
hidden (404) from the public and from other counties, shown to an auditor, its uploader and
the county of the delivery naming it; the audit's evidence check accepts the folder as is.

This module runs on an anvil of its own, so the audit sees only these records."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from ledger.app import LedgerService
from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.core.fields import ProjectKind
from ledger.library import actions, auth, messages
from ledger.workspace.evidence import EVIDENCE_UPLOAD
from ledger.workspace.models import EvidenceFile
from tests.factories import Chain, ChainEnv, Stack, body, row_count
from tests.library.forms import need
from tests.workspace.helpers import sign_typed, signed_in

pytestmark = pytest.mark.own_chain

PHOTO = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)  # what a phone sends, give or take


@pytest.fixture
def chain(svc_env: ChainEnv) -> ChainEnv:
    """The chain `svc` is on: this module's own (the session's `chain` is another one)."""
    return svc_env


def _message(data: bytes, *, public: bool = False, media: str = "image/png") -> dict[str, Any]:
    return {
        "sha256": "0x" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "mediaType": media,
        "public": public,
        "nonce": messages.new_nonce(),
        "expiry": auth.expiry(),
    }


def _upload(
    http: TestClient,
    chain: ChainEnv,
    account: LocalAccount,
    data: bytes,
    message: dict[str, Any],
    *,
    name: str = "photo.png",
) -> Any:
    typed = messages.typed_data(EVIDENCE_UPLOAD, message, chain.domain)
    return http.post(
        "/api/v1/evidence",
        files={"file": (name, data, message["mediaType"])},
        data={"message": json.dumps(message), "signature": sign_typed(account, typed)},
    )


def _folder(svc: LedgerService) -> Path:
    return svc.settings.evidence_path


@pytest.fixture
def evidence_dir(svc: LedgerService, tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    svc.settings.evidence_dir = folder
    return folder


def test_upload_store_read_and_audit(
    chain: ChainEnv, st: Stack, http: TestClient, evidence_dir: Path
) -> None:
    a = chain.actors
    svc = st.svc
    message = _message(PHOTO)
    stored = _upload(http, chain, a.org_a, PHOTO, message)
    assert stored.status_code == 201, stored.text
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert stored.json() == {
        "sha256": digest,
        "size": len(PHOTO),
        "public": False,
        "url": f"/api/v1/evidence/{digest}",
    }
    assert sorted(p.name for p in evidence_dir.iterdir()) == [digest]
    assert (evidence_dir / digest).read_bytes() == PHOTO
    # the same signed upload again is a replay
    replay = http.post(
        "/api/v1/evidence",
        files={"file": ("photo.png", PHOTO, "image/png")},
        data={
            "message": json.dumps(message),
            "signature": sign_typed(
                a.org_a, messages.typed_data(EVIDENCE_UPLOAD, message, chain.domain)
            ),
        },
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "signature_replayed"
    # the same bytes uploaded again (by the county, signed afresh) keep the first file and row
    again = _upload(http, chain, a.county_a, PHOTO, _message(PHOTO, public=True))
    assert again.status_code == 201, again.text
    assert again.json()["public"] is False
    assert sorted(p.name for p in evidence_dir.iterdir()) == [digest]
    with svc.db.read() as s:
        assert s.get(EvidenceFile, digest).uploader == a.org_a.address  # type: ignore[union-attr]

    # a delivery to county A names the photo
    need_id = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    st.settle()
    match_id = actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, need_id)
    flow = Chain(chain.domain, a.county_a, a.org_a)
    commit = flow.commit(need_id, match_id, quantity=10)
    assert http.post("/api/v1/records", json=body(commit)).status_code in (200, 202)
    st.settle()
    delivery = flow.sign(
        dataclasses.replace(flow.deliver(commit, 10).record, evidence_hash=bytes.fromhex(digest)),
        a.org_a,
    )
    assert http.post("/api/v1/records", json=body(delivery)).status_code in (200, 202)
    st.settle()

    url = f"/api/v1/evidence/{digest}"
    http.cookies.clear()
    hidden = http.get(url)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "evidence_not_found"
    signed_in(http, a.county_b)
    assert http.get(url).status_code == 404  # another county
    for reader in (a.auditor, a.org_a, a.county_a):
        http.cookies.clear()
        signed_in(http, reader)
        shown = http.get(url)
        assert shown.status_code == 200, (reader.address, shown.text)
        assert shown.content == PHOTO
        assert shown.headers["content-type"] == "image/png"
        assert shown.headers["content-disposition"].startswith("inline")
    # the county sees the file from its inbox
    inbox = http.get("/api/v1/inbox").json()
    (waiting,) = [
        d for d in inbox["awaiting_receipt"] if d["delivery_id"] == "0x" + delivery.id.hex()
    ]
    assert waiting["evidence_url"] == url

    # the audit's evidence check takes the folder as it is
    report = run_audit(
        AuditOptions(
            rpc_url=svc.settings.rpc_url or "",
            contract=chain.deployment.address,
            database_url=None,
            evidence_dir=evidence_dir,
            workers=1,
        )
    )
    evidence_findings = [f for f in report.findings if f.code.startswith("evidence_")]
    assert evidence_findings == []
    assert report.checks["evidence"] == "checked 1 files"
    assert report.integrity == []


def test_a_public_file_is_shown_to_anyone_and_downloaded_unless_an_image(
    chain: ChainEnv, svc: LedgerService, http: TestClient, evidence_dir: Path
) -> None:
    note = "签收单 delivery note\n".encode() + os.urandom(16)
    answer = _upload(
        http, chain, chain.actors.county_a, note, _message(note, public=True, media="text/plain")
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["public"] is True
    shown = http.get(answer.json()["url"])
    assert shown.status_code == 200
    assert shown.content == note
    assert shown.headers["content-disposition"].startswith("attachment")
    assert (
        http.get(
            answer.json()["url"].upper().replace("/API/V1/EVIDENCE/", "/api/v1/evidence/0x")
        ).status_code
        == 200
    )


def test_bytes_that_do_not_match_the_signed_hash_store_nothing(
    chain: ChainEnv, svc: LedgerService, http: TestClient, evidence_dir: Path
) -> None:
    org = chain.actors.org_a
    tampered = bytearray(PHOTO)
    tampered[100] ^= 0xFF
    answer = _upload(http, chain, org, bytes(tampered), _message(PHOTO))
    assert answer.status_code == 422
    assert answer.json()["code"] == "evidence_hash_mismatch"
    assert "哈希不符" in answer.json()["detail"]
    assert list(evidence_dir.iterdir()) == []  # no file, no temporary file
    # what a killed upload leaves is swept by the next one
    stale = evidence_dir / ".upload-killed.part"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert row_count(svc.db, EvidenceFile) == 0
    # a size that differs from the signed one is refused the same way
    short = _message(PHOTO)
    short["size"] = len(PHOTO) + 1
    answer = _upload(http, chain, org, PHOTO, short)
    assert answer.status_code == 422
    assert answer.json()["code"] == "evidence_size_mismatch"
    assert list(evidence_dir.iterdir()) == []
    # the refusals spent no nonce: the genuine upload of the same message goes through
    genuine = _message(PHOTO)
    assert _upload(http, chain, org, bytes(tampered), genuine).status_code == 422
    assert _upload(http, chain, org, PHOTO, genuine).status_code == 201
    assert row_count(svc.db, EvidenceFile) == 1
    assert [p.name for p in evidence_dir.iterdir()] == [hashlib.sha256(PHOTO).hexdigest()]


def test_only_registered_orgs_and_counties_upload(
    chain: ChainEnv, svc: LedgerService, http: TestClient, evidence_dir: Path
) -> None:
    for who in (chain.actors.stranger, chain.actors.auditor):
        answer = _upload(http, chain, who, PHOTO, _message(PHOTO))
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "not_registered"
    unsigned = http.post(
        "/api/v1/evidence",
        files={"file": ("p.png", PHOTO, "image/png")},
        data={"message": json.dumps(_message(PHOTO))},
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "signature_required"
    bad_media = _upload(http, chain, chain.actors.org_a, PHOTO, _message(PHOTO, media="png"))
    assert bad_media.status_code == 422
    assert bad_media.json()["code"] == "bad_message"
    too_big = _message(PHOTO)
    svc.settings.evidence_max_bytes = 1000
    answer = _upload(http, chain, chain.actors.org_a, PHOTO, too_big)
    assert answer.status_code == 413
    assert answer.json()["code"] == "evidence_too_large"
    assert row_count(svc.db, EvidenceFile) == 0
    assert not evidence_dir.exists() or list(evidence_dir.iterdir()) == []
    assert http.get("/api/v1/evidence/not-a-hash").status_code == 404


def test_a_deregistered_party_loses_its_session(
    chain: ChainEnv, st: Stack, http: TestClient, evidence_dir: Path
) -> None:
    # on this module's own anvil, so no other test loses organization B
    org = chain.actors.org_b
    signed_in(http, org)
    assert http.get("/api/v1/inbox").status_code == 200
    chain.ledger.deregister(chain.actors.admin, "ORG", org.address)
    st.indexer.run_until_synced()
    for path in ("/api/v1/session", "/api/v1/inbox"):
        answer = http.get(path)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "not_registered"
