"""The relayer refuses, before anything is queued, a later ProjectAnchor version the
contract would revert: with the contract's own codes (ProjectIdNotScoped, NotProjectOwner,
ProjectKindChanged, ProjectCountyChanged), through the HTTP API, against a real anvil and
real databases; the owner's next version that keeps kind and county is accepted and lands."""

from __future__ import annotations

import dataclasses
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.app import LedgerService
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord
from ledger.store.models import ProjectAnchorRow
from tests.factories import (
    COUNTY_A,
    COUNTY_B,
    ORG_CODE_A,
    ChainEnv,
    Stack,
    body,
    need,
    outbox_size,
    project_anchor,
    refused,
)

URL = "/api/v1/records"


def supply(owner: str, county: int = 0) -> ProjectAnchor:
    """Version 1 of a supply project owned by `owner`."""
    return project_anchor(
        owner,
        ProjectKind.SUPPLY,
        county=county,
        category=2,
        title="油茶种植技术与资金支持",
        budget=1_000_000,
    )


def later(v1: ProjectAnchor, signer: str, **change: Any) -> ProjectAnchor:
    """The next version of `v1`'s project, its record id scoped to `signer`."""
    version = int(change.pop("version", v1.version + 1))
    rid = ProjectAnchor.anchor_id(v1.project_id, version)
    if rid[:20] != bytes.fromhex(signer[2:]):
        rid = new_id(signer)  # not the derived id: then RecordIdNotScoped would come first
    return dataclasses.replace(v1, id=rid, version=version, content_hash=new_id(signer), **change)


def sign(record: ProjectAnchor, key: LocalAccount, env: ChainEnv) -> SignedRecord:
    return record.sign(key.key, env.domain)


def test_later_versions_keep_owner_kind_and_county(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    a = env.actors
    # the owner's v1 and v2 of a supply project, v2 changing only what may change: accepted
    v1 = supply(a.org_a.address, COUNTY_A)
    assert client.post(URL, json=body(sign(v1, a.org_a, env))).status_code == 202
    # still pending (not on chain): the outbox is what the rules see
    moved = later(v1, a.org_a.address, county=COUNTY_B)
    refused(client.post(URL, json=body(sign(moved, a.org_a, env))), 422, "project_county_changed")
    v2 = later(v1, a.org_a.address, title="油茶种植技术与资金支持（第二期）", budget=2_000_000)
    assert client.post(URL, json=body(sign(v2, a.org_a, env))).status_code == 202
    st.settle()
    with svc.db.read() as s:
        rows = s.scalars(
            select(ProjectAnchorRow)
            .where(ProjectAnchorRow.project_id == "0x" + v1.project_id.hex())
            .order_by(ProjectAnchorRow.version)
        ).all()
        assert [(r.version, r.county, r.title, r.budget) for r in rows] == [
            (1, COUNTY_A, "油茶种植技术与资金支持", 1_000_000),
            (2, COUNTY_A, "油茶种植技术与资金支持（第二期）", 2_000_000),
        ]
    before = outbox_size(svc)
    # on chain now: the read model is what the rules see
    v3 = later(v2, a.org_a.address)
    refused(
        client.post(URL, json=body(sign(dataclasses.replace(v3, county=0), a.org_a, env))),
        422,
        "project_county_changed",
    )
    # someone else's project: the other org's v3 is not its own to anchor
    theirs = later(v2, a.org_b.address)
    refused(client.post(URL, json=body(sign(theirs, a.org_b, env))), 422, "not_project_owner")
    assert outbox_size(svc) == before
    assert client.post(URL, json=body(sign(v3, a.org_a, env))).status_code == 202
    st.settle()
    with svc.db.read() as s:
        versions = s.scalars(
            select(ProjectAnchorRow.version).where(
                ProjectAnchorRow.project_id == "0x" + v1.project_id.hex()
            )
        ).all()
    assert sorted(versions) == [1, 2, 3]


def test_a_project_id_not_scoped_to_its_first_signer(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    """An id no version of which is known must start with the signer's address, whatever
    version the record claims (the contract checks the id before the version)."""
    a = env.actors
    foreign = need(a.county_b.address)  # a project id of county B's office, never anchored
    for version in (1, 2, 5):
        rec = later(foreign, a.county_a.address, version=version, county=COUNTY_A)
        refused(
            client.post(URL, json=body(sign(rec, a.county_a, env))), 422, "project_id_not_scoped"
        )
    assert outbox_size(svc) == 0
    # once county B's office anchored it, county A signing its v2 is NotProjectOwner
    mine = sign(dataclasses.replace(foreign, county=COUNTY_B), a.county_b, env)
    assert client.post(URL, json=body(mine)).status_code == 202
    st.settle()
    rec = later(foreign, a.county_a.address, county=COUNTY_A)
    refused(client.post(URL, json=body(sign(rec, a.county_a, env))), 422, "not_project_owner")


def test_a_later_version_cannot_change_the_project_kind(
    env: ChainEnv, svc: LedgerService, st: Stack, client: TestClient
) -> None:
    """A key that anchored a supply project as an organization, then registered as a
    county office, cannot turn the project into a need."""
    a, ledger = env.actors, env.ledger
    key: LocalAccount = Account.create()
    ledger.register_organization(a.admin, key.address, ORG_CODE_A, "贵州乡村发展基金会", 3)
    registered = "ORG"
    try:
        st.indexer.run_until_synced()  # the relayer knows roles from the read model
        v1 = supply(key.address, COUNTY_B)
        r = client.post(URL, json=body(sign(v1, key, env)))
        assert r.status_code == 202, r.text
        st.settle()
        ledger.deregister(a.admin, "ORG", key.address)
        ledger.register_county(a.admin, key.address, COUNTY_B, "开阳县")
        registered = "COUNTY"
        st.indexer.run_until_synced()
        svc.relayer.cache.forget()  # its roles are cached for a few seconds (CheckCache)
        as_need = later(v1, key.address, project_kind=ProjectKind.NEED)
        refused(client.post(URL, json=body(sign(as_need, key, env))), 422, "project_kind_changed")
        # the same key's new need of its county is accepted: the refusal was the kind
        fresh = need(key.address, COUNTY_B)
        assert client.post(URL, json=body(sign(fresh, key, env))).status_code == 202
        st.settle()
    finally:
        ledger.deregister(a.admin, registered, key.address)
