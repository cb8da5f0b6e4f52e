"""Portal fixtures: a private AidLedger on the session's anvil with demo-like records made
through the ledger layer (signed, submitted, indexed into a real database), and the app
served by uvicorn on a free port for the browser tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.core.aid_kinds import Commitment, Delivery, Flag, ProjectAnchor, Receipt
from ledger.core.fields import FlagReason, ProjectKind, ResourceKind, text32
from ledger.core.hexes import hex0x
from ledger.core.lines import new_id
from ledger.core.records import SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import deploy
from ledger.indexer.worker import Indexer
from ledger.library import actions
from ledger.library import key_counties as key_county_list
from ledger.relayer.worker import RelayWorker
from ledger.store.models import Organization
from tests.conftest import (
    COUNTY_A,
    COUNTY_B,
    ORG_CODE_A,
    ChainEnv,
    fresh_database_url,
)
from tests.factories import ORG_NAME_A, LiveServer, register_roles

DAY = 86_400


@dataclass
class World:
    service: LedgerService
    needs: dict[str, str] = field(default_factory=dict)  # name → project id (0x-hex)
    records: dict[str, str] = field(default_factory=dict)  # name → record id (0x-hex)
    signed: dict[str, SignedRecord] = field(default_factory=dict)


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def build_world(env: ChainEnv, tmp: Path, database_url: str) -> World:
    """Deploys a fresh AidLedger (a clean log) and records a small, realistic history: library
    projects published and matched through ledger.library, then commitments, deliveries,
    receipts and a flag signed by their authors and submitted on chain."""
    a = env.actors
    settings = env.settings.model_copy(update={"var": tmp, "database_url": database_url})
    deployment = deploy(env.w3, a.admin, settings=settings)
    deployment.save(settings)
    ledger = LedgerContract(env.w3, deployment)
    register_roles(ledger, a)
    domain = deployment.domain
    payer = a.relayers[0]
    world = World(LedgerService(settings))
    svc = world.service
    svc.db.migrate()
    indexer = Indexer(svc.db, svc.ledger())
    indexer.run_until_synced()  # roles, so the library knows who owns which county
    with svc.db.write() as s:
        # The Chinese names come from the registrations on chain; the English one is an
        # off-chain fact of the organizations table.
        s.merge(Organization(org_code=ORG_CODE_A, name=ORG_NAME_A, name_en="Guizhou Rural Fund"))
        key_county_list.load_key_counties(s, [COUNTY_A], "tests/portal")
    now = int(time.time())
    deadline = (date.today() + timedelta(days=120)).isoformat()

    def put(name: str, signer: object, record: object) -> bytes:
        signed = record.sign(signer.key, domain)  # type: ignore[attr-defined]
        ledger.submit(signed, payer)
        world.records[name] = hex0x(signed.id)
        world.signed[name] = signed
        return signed.id  # type: ignore[no-any-return]

    def need(name: str, county_acct: object, county: int, category: str, title: str) -> bytes:
        content = {
            "county": county,
            "village": "者楼村",
            "title": title,
            "description": f"{title}：面向脱贫户，带动增收",
            "category": category,
            "mode": "capacity",
            "beneficiaries": 120,
            "budget_fen": 20_000_000,
            "resources": [{"kind": "funds", "quantity": 20_000_000}],
            "deadline": deadline,
            "contact_role": "县乡村振兴局项目办",
        }
        key = county_acct.key  # type: ignore[attr-defined]
        world.needs[name] = actions.create_and_publish(svc, ProjectKind.NEED, content, key)
        return _b(world.needs[name])

    school = need("school", a.county_a, COUNTY_A, "民生保障", "者楼小学营养午餐")
    clinic = need("clinic", a.county_a, COUNTY_A, "卫生健康", "村卫生室医疗设备")
    tea = need("tea", a.county_b, COUNTY_B, "产业发展", "开阳富硒茶产业")
    need("training", a.county_a, COUNTY_A, "人才培育", "电商带头人培训")
    world.needs["supply"] = actions.create_and_publish(
        svc,
        ProjectKind.SUPPLY,
        {
            "title": "乡村医疗物资捐赠",
            "description": "为贵州脱贫县卫生室提供医疗物资",
            "categories": ["卫生健康"],
            "regions": [52],
            "capacity": [{"kind": "goods", "quantity": 2000, "unit": "箱", "item": "医疗包"}],
            "period_start": date.today().isoformat(),
            "period_end": (date.today() + timedelta(days=365)).isoformat(),
        },
        a.org_b.key,
    )
    worker = RelayWorker(svc.db, svc.ledger(), a.relayers, confirmations=0)
    for _ in range(5):
        worker.run_once()
    indexer.run_until_synced()
    for name in ("school", "clinic", "tea", "training", "supply"):
        world.records[f"anchor:{name}"] = hex0x(ProjectAnchor.anchor_id(_b(world.needs[name]), 1))
    m_school = actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, hex0x(school))
    m_clinic = actions.create_and_accept_match(
        svc, a.county_a.key, a.org_b.key, hex0x(clinic), supply_id=world.needs["supply"]
    )
    m_tea = actions.create_and_accept_match(svc, a.county_b.key, a.org_b.key, hex0x(tea))

    # name, author, need, match, kind, quantity, unit, due
    commitments = [
        ("c:funds", a.org_a, school, m_school, ResourceKind.FUNDS, 12_000_000, "fen", 30 * DAY),
        # already due: the partial delivery below is late
        ("c:goods", a.org_b, clinic, m_clinic, ResourceKind.GOODS, 500, "箱", -DAY),
        ("c:tea", a.org_b, tea, m_tea, ResourceKind.FUNDS, 5_000_000, "fen", 60 * DAY),
    ]
    for name, author, need_id, match, kind, quantity, unit, due in commitments:
        put(
            name,
            author,
            Commitment(
                id=new_id(author.address),
                need_id=need_id,
                match_id=_b(match),
                resource_kind=kind,
                quantity=quantity,  # c:funds is ¥120,000.00
                unit=text32(unit),
                due_date=now + due,
                terms_hash=new_id(),
            ),
        )
    # name, author, commitment, quantity, seconds before now, beneficiaries
    deliveries = [
        ("d:funds1", a.org_a, "c:funds", 8_000_000, 3600, 40),
        ("d:funds2", a.org_a, "c:funds", 4_000_000, 600, 20),
        ("d:goods", a.org_b, "c:goods", 200, 0, 200),
    ]
    for name, author, commitment, quantity, ago, beneficiaries in deliveries:
        put(
            name,
            author,
            Delivery(
                id=new_id(author.address),
                commitment_id=_b(world.records[commitment]),
                quantity=quantity,
                delivered_at=now - ago,
                evidence_hash=new_id(),
                beneficiary_count=beneficiaries,
                beneficiary_root=new_id(),
            ),
        )
    receipts = [("r:funds1", "d:funds1", 8_000_000), ("r:funds2", "d:funds2", 3_500_000)]
    for name, delivery, confirmed in receipts:
        put(
            name,
            a.county_a,
            Receipt(
                id=new_id(a.county_a.address),
                delivery_id=_b(world.records[delivery]),
                confirmed_quantity=confirmed,
                note_hash=new_id(),
            ),
        )
    put(
        "f:goods",
        a.auditor,
        Flag(
            id=new_id(a.auditor.address),
            record_id=_b(world.records["d:goods"]),
            reason_code=FlagReason.LATE_DELIVERY,
            note_hash=new_id(),
        ),
    )
    indexer.run_until_synced()
    return world


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, env: ChainEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The demo ledger on a fresh SQLite database, and on PostgreSQL when configured."""
    tmp = tmp_path_factory.mktemp("portal")
    urls = fresh_database_url(request.param, tmp)
    w = build_world(env, tmp, next(urls))
    yield w
    w.service.close()
    next(urls, None)  # drops the PostgreSQL database


@pytest.fixture(scope="module")
def client(world: World) -> TestClient:
    """The app in process, on the demo ledger."""
    return TestClient(create_app(world.service))


def listing_pages() -> list[str]:
    """The home page (funds and goods), the libraries and lists, and organization A's and
    county A's pages: what every plain-HTTP check of the portal renders."""
    return [
        "/",
        "/?kind=goods",
        "/needs",
        "/supply",
        "/commitments",
        "/orgs",
        f"/orgs/{ORG_CODE_A}",
        "/counties",
        f"/counties/{COUNTY_A}",
    ]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop page, in Chinese, in the `browser` of the test's module (each browser test
    module launches its own, with its own screenshot folder), watched (`watched_page`)."""
    from tests.browser import watched_page  # here: tests.browser skips a module without playwright

    with watched_page(browser, viewport={"width": 1280, "height": 900}, locale="zh-CN") as pg:
        yield pg


@dataclass
class Served:
    url: str
    world: World


@pytest.fixture(scope="package")
def served(world: World) -> Iterator[Served]:
    """The app on a real HTTP port (uvicorn in a thread), for the browser."""
    with LiveServer(world.service) as server:
        yield Served(server.url, world)
