"""The libraries against a real anvil and real databases: lifecycle, signed versions and
their proofs, permissions, ranking, the match rule, sharing and Chinese search."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from api.problems import status_of
from ledger.core.aid_kinds import Commitment
from ledger.core.errors import ConflictError, LedgerError, PermissionError_
from ledger.core.fields import ProjectKind, ResourceKind
from ledger.core.lines import new_id
from ledger.library import (
    actions,
    key_counties,
    need_progress,
    projects,
    proofs,
    recommendations,
    search,
    sharing,
)
from ledger.library.models import LibraryProject
from tests.factories import fresh_database_url
from tests.library.forms import need, supply, sync


def test_lifecycle_each_allowed_transition_and_a_refused_one(svc, env):
    a = env.actors
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    with pytest.raises(ConflictError) as info:  # not before a match is accepted
        actions.change_status(svc, nid, "matched", a.county_a.key)
    assert info.value.code == "no_accepted_match"
    actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, nid)
    for status in ("matched", "in_progress", "completed", "closed"):
        actions.change_status(svc, nid, status, a.county_a.key)
        assert actions.get(svc, nid).status == status
    with pytest.raises(ConflictError) as info:
        actions.change_status(svc, nid, "published", a.county_a.key)
    assert info.value.code == "transition_not_allowed"
    with svc.db.read() as s:
        assert [v.status for v in projects.versions(s, nid)] == [
            "published",
            "matched",
            "in_progress",
            "completed",
            "closed",
        ]
    # a published project can go back from matched, and be closed from published
    sid = actions.create_and_publish(svc, ProjectKind.SUPPLY, supply(), a.org_a.key)
    actions.change_status(svc, sid, "closed", a.org_a.key)
    with pytest.raises(ConflictError):
        actions.change_status(svc, sid, "in_progress", a.org_a.key)


def test_versions_anchored_and_old_version_proven(svc, env):
    a = env.actors
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    actions.edit(svc, nid, need(title="册亨县者楼村油茶产业帮扶（第二版）"), a.county_a.key)
    sync(svc, env)
    with svc.db.read() as s:
        old = proofs.version_proof(s, nid, 1)
        new = proofs.version_proof(s, nid, 2)
    signed = proofs.verify_version_proof(old)
    assert signed.signer == a.county_a.address
    assert "第二版" not in old["content_json"] and "第二版" in new["content_json"]
    assert json.loads(old["content_json"])["project_id"] == nid
    # the chain's root at that size is the one the proof leads to
    assert svc.ledger().log_root() == bytes.fromhex(old["root"][2:]) or old["tree_size"] < int(
        svc.ledger().log_size()
    )
    forged = dict(old, content_json=old["content_json"].replace("120", "999"))
    with pytest.raises(LedgerError) as info:
        proofs.verify_version_proof(forged)
    assert info.value.code == "content_mismatch"


def test_permissions(svc, env):
    a = env.actors
    # a county key cannot create a need for another county
    with pytest.raises(PermissionError_):
        actions.create_draft(svc, ProjectKind.NEED, need(), a.county_b.key)
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    for intruder in (a.county_b, a.org_a, a.stranger):
        with pytest.raises(PermissionError_) as info:
            actions.edit(svc, nid, need(title="被篡改"), intruder.key)
        assert info.value.code == "not_project_owner"
    sid = actions.create_and_publish(svc, ProjectKind.SUPPLY, supply(), a.org_a.key)
    with pytest.raises(PermissionError_):
        actions.change_status(svc, sid, "closed", a.org_b.key)
    # the other side must answer a match: the proposing org cannot accept its own 接单
    mid = actions.propose_match(
        svc, a.org_a.key, nid, direction="take", org_code="91520000MA6DKTQX0C"
    )
    with pytest.raises(PermissionError_):
        actions.answer_match(svc, a.org_a.key, mid, "accept")
    assert actions.get_match(svc, mid).status == "proposed"


def test_commitment_needs_an_accepted_match(svc, env):
    a = env.actors
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    sync(svc, env)

    def commitment(match_id: bytes) -> object:
        return Commitment(
            id=new_id(a.org_a.address),
            need_id=bytes.fromhex(nid[2:]),
            match_id=match_id,
            resource_kind=ResourceKind.FUNDS,
            quantity=1_000_000,
            due_date=int(datetime.now(UTC).timestamp()) + 86400 * 30,
        ).sign(a.org_a.key, svc.domain)

    with pytest.raises(LedgerError) as info:
        svc.relayer.accept([commitment(new_id(a.org_a.address))])
    assert info.value.code == "no_accepted_match"
    mid = actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, nid)
    with pytest.raises(LedgerError):  # the match is org A's, not org B's
        svc.relayer.accept(
            [
                Commitment(
                    id=new_id(a.org_b.address),
                    need_id=bytes.fromhex(nid[2:]),
                    match_id=bytes.fromhex(mid[2:]),
                    resource_kind=1,
                    quantity=5,
                    due_date=2_000_000_000,
                ).sign(a.org_b.key, svc.domain)
            ]
        )
    accepted = svc.relayer.accept([commitment(bytes.fromhex(mid[2:]))])
    assert accepted[0].status == "queued"
    sync(svc, env)
    with svc.db.read() as s:
        got = need_progress.progress(s, nid)["by_resource"]["funds"]
    assert got == {"asked": 20_000_000, "committed": 1_000_000, "delivered": 0, "confirmed": 0}


def test_ranking_on_a_fixed_data_set(svc, env):
    a = env.actors
    with svc.db.write() as s:
        key_counties.load_key_counties(s, [522327], "test")
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    # best: serves the county itself, category fits, full capacity
    best = actions.create_and_publish(
        svc, ProjectKind.SUPPLY, supply(title="甲", regions=[522327]), a.org_a.key
    )
    # province only, half the goods
    mid = actions.create_and_publish(
        svc,
        ProjectKind.SUPPLY,
        supply(
            title="乙",
            capacity=[
                {"kind": "funds", "quantity": 20_000_000},
                {"kind": "goods", "quantity": 2500, "unit": "株"},
            ],
        ),
        a.org_b.key,
    )
    # wrong category, wrong province
    worst = actions.create_and_publish(
        svc,
        ProjectKind.SUPPLY,
        supply(title="丙", categories=["文化体育"], regions=[11]),
        a.org_b.key,
    )
    with svc.db.read() as s:
        recs = [
            r
            for r in recommendations.recommend(s, nid, limit=100)
            if r.project_id in (best, mid, worst)
        ]
        by_id = {r.project_id: r for r in recs}
        assert [r.project_id for r in recs] == [best, mid, worst]
        assert [(c["component"], c["points"]) for c in by_id[best].components] == [
            ("category", 40),
            ("region", 25),
            ("capacity", 20),
            ("key_county", 10),
            ("waiting", 0),
        ]
        assert by_id[mid].score == 40 + 18 + 15 + 10
        assert by_id[worst].score == 0 + 0 + 20 + 10
        later = recommendations.recommend(
            s, nid, limit=100, today=date.today() + timedelta(days=90)
        )
        assert {r.project_id: r.score for r in later}[best] == 100
    with svc.db.write() as s:
        key_counties.load_key_counties(s, [520121], "test")


def test_tampered_bundle_refused(svc, env):
    a = env.actors
    nid = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    sync(svc, env)
    with svc.db.read() as s:
        bundle = sharing.export_bundle(
            s, a.admin.key, svc.domain, instance="guizhou", project_ids=[nid]
        )
    assert len(bundle["projects"]) == 1
    trusted = [a.admin.address]

    def refused(b, code):
        with svc.db.write() as s, pytest.raises(LedgerError) as info:
            sharing.import_bundle(s, b, trusted)
        assert info.value.code == code

    edited = copy.deepcopy(bundle)
    edited["projects"][0]["versions"][0]["content_json"] = edited["projects"][0]["versions"][0][
        "content_json"
    ].replace("120", "121")
    refused(edited, "bad_bundle_signature")
    # re-signed by the tamperer: the signature is then not a trusted exporter's
    with svc.db.read() as s:
        other = sharing.export_bundle(
            s, a.stranger.key, svc.domain, instance="x", project_ids=[nid]
        )
    refused(other, "untrusted_exporter")
    # a trusted signer's bundle whose content was changed before signing fails the proof
    with svc.db.read() as s:
        good = sharing.export_bundle(s, a.stranger.key, svc.domain, instance="x", project_ids=[nid])
    bad = copy.deepcopy(good)
    bad["projects"][0]["versions"][0]["content_json"] += " "
    from ledger.library import messages

    bad.pop("signature")
    bad["signature"] = messages.sign(
        messages.LIBRARY_BUNDLE, sharing._bundle_message(bad), svc.domain, a.stranger.key
    )
    with svc.db.write() as s, pytest.raises(LedgerError) as info:
        sharing.import_bundle(s, bad, [a.stranger.address])
    assert info.value.code == "bad_bundle_proof"


def test_bundle_import_trusted_from_settings_never_overwrites(svc, env, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.app import LedgerService
    from ledger.indexer.worker import Indexer
    from ledger.sdk.client import ApiError, BangfuClient

    a = env.actors
    exporter = a.stranger
    # the exporting instance: its own database on the same chain
    url = next(fresh_database_url("sqlite", tmp_path))
    other = LedgerService(env.settings.model_copy(update={"database_url": url}))
    other.db.migrate()
    Indexer(other.db, other.ledger()).run_until_synced()
    nid = actions.create_and_publish(
        other, ProjectKind.NEED, need(county=520121, title="开阳县茶园帮扶"), a.county_b.key
    )
    sync(other, env)

    def export(instance: str = "guizhou") -> dict:
        with other.db.read() as s:
            return sharing.export_bundle(
                s, exporter.key, other.domain, instance=instance, project_ids=[nid]
            )

    b1 = export()

    def admin_client(trusted: str) -> BangfuClient:
        target = LedgerService(
            svc.settings.model_copy(update={"library_trusted_exporters": trusted})
        )
        return BangfuClient(http=TestClient(create_app(target)), account=a.admin)

    # not in BANGFU_LIBRARY_TRUSTED_EXPORTERS: refused, nothing stored
    with pytest.raises(ApiError) as info:
        admin_client(a.org_b.address).library_import_bundle(b1)
    assert info.value.code == "untrusted_exporter"
    with svc.db.read() as s:
        assert s.get(LibraryProject, nid) is None
    # the caller cannot choose whom to trust: ?trusted= is gone, the query is ignored
    admin = admin_client(exporter.address)
    r = admin_client("").http.post(
        "/api/v1/library/bundles/import", params={"trusted": exporter.address}, json={"bundle": b1}
    )
    assert r.status_code == 401 and r.json()["code"] == "signature_required"
    # not the admin: refused
    with pytest.raises(ApiError) as info:
        BangfuClient(http=admin.http, account=a.county_a).library_import_bundle(b1)
    assert info.value.code == "not_admin"

    assert admin.library_import_bundle(b1) == {"imported": 1}
    with svc.db.read() as s:
        row = s.get(LibraryProject, nid)
        assert row is not None and row.origin == "import:guizhou" and row.status == "published"
    # a later version is added; the earlier one stays as it was
    actions.edit(other, nid, need(county=520121, title="开阳县茶园帮扶（二期）"), a.county_b.key)
    sync(other, env)
    b2 = export()
    assert admin.library_import_bundle(b2) == {"imported": 1}
    # an older bundle again changes nothing
    assert admin.library_import_bundle(b1) == {"imported": 0}
    with svc.db.read() as s:
        vs = projects.versions(s, nid)
        assert [v.version for v in vs] == [1, 2] and "二期" not in vs[0].content_json
        assert s.get(LibraryProject, nid).title == "开阳县茶园帮扶（二期）"
    # the same project under another instance's name cannot overwrite it
    with pytest.raises(ApiError) as info:
        admin.library_import_bundle(export("someone-else"))
    assert info.value.code == "import_conflict"
    # nor can a bundle overwrite a local project
    local = actions.create_and_publish(svc, ProjectKind.NEED, need(), a.county_a.key)
    sync(svc, env)
    with svc.db.read() as s:
        mine = sharing.export_bundle(
            s, exporter.key, svc.domain, instance="guizhou", project_ids=[local]
        )
    with pytest.raises(ApiError) as info:
        admin.library_import_bundle(mine)
    assert info.value.code == "import_conflict"
    other.close()


def test_chinese_search_and_filters(svc, env):
    a = env.actors
    tag = new_id().hex()[:6]
    nid = actions.create_and_publish(
        svc,
        ProjectKind.NEED,
        need(title=f"蜂蜜深加工项目{tag}", description="林下养蜂合作社"),
        a.county_a.key,
    )
    actions.create_and_publish(
        svc,
        ProjectKind.NEED,
        need(title=f"乡村学校图书室{tag}", category="文化体育"),
        a.county_a.key,
    )
    with svc.db.read() as s:
        found = search.search(s, search.Search(text=f"蜂蜜 {tag}"))
        assert [p.project_id for p in found] == [nid]
        assert [p.project_id for p in search.search(s, search.Search(text="养蜂合作"))][:1] == [nid]
        assert search.search(s, search.Search(text=f"蜂蜜{tag}", category=6)) == []
        assert search.search(s, search.Search(text=f"{tag}", county=520121)) == []
        got = search.search(s, search.Search(text=tag, resource_kind=2, status="published"))
        assert len(got) == 2
        assert search.search(s, search.Search(text="100%_")) == []


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"county": 52232}, "bad_county_code"),
        ({"county": 999999}, "unknown_county"),
        ({"category": "炼金术"}, "unknown_category"),
        ({"resources": [{"kind": "funds", "quantity": -5}]}, "invalid_project"),
        ({"resources": [{"kind": "funds", "quantity": 10**18}]}, "invalid_project"),
        ({"title": "长" * 101}, "invalid_project"),
        ({"budget_fen": 1.5}, "invalid_project"),
    ],
)
def test_bad_input_refused(svc, env, override, code):
    with pytest.raises(LedgerError) as info:
        actions.create_draft(svc, ProjectKind.NEED, need(**override), env.actors.county_a.key)
    assert info.value.code == code
    assert 400 <= status_of(info.value) < 500
