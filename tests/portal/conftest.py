"""Portal fixtures: a private AidLedger on the session's anvil with demo-like records made
through the ledger layer (signed, submitted, indexed into a real database), and the app
served by uvicorn on a free port for the browser tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from ledger.chain import deploy
from ledger.indexer import Indexer
from ledger.onchain import LedgerContract
from ledger.records import (
    Commitment,
    Delivery,
    Flag,
    FlagReason,
    ProjectAnchor,
    ProjectKind,
    Receipt,
    ResourceKind,
    SignedRecord,
    category_code,
    new_id,
    text32,
)
from ledger.service import LedgerService
from ledger.store.models import Organization
from tests.conftest import COUNTY_A, COUNTY_B, ORG_CODE_A, ORG_CODE_B, ChainEnv, free_port

DAY = 86_400


@dataclass
class World:
    service: LedgerService
    needs: dict[str, str] = field(default_factory=dict)  # name → project id (0x-hex)
    records: dict[str, str] = field(default_factory=dict)  # name → record id (0x-hex)
    signed: dict[str, SignedRecord] = field(default_factory=dict)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def build_world(env: ChainEnv, tmp: Path) -> World:
    """Deploys a fresh AidLedger (a clean log) and records a small, realistic history."""
    a = env.actors
    settings = env.settings.model_copy(
        update={"var": tmp, "database_url": f"sqlite:///{tmp / 'portal.sqlite3'}"}
    )
    deployment = deploy(env.w3, a.admin, settings=settings)
    deployment.save(settings)
    ledger = LedgerContract(env.w3, deployment)
    ledger.register_county(a.admin, a.county_a.address, COUNTY_A)
    ledger.register_county(a.admin, a.county_b.address, COUNTY_B)
    ledger.register_organization(a.admin, a.org_a.address, ORG_CODE_A)
    ledger.register_organization(a.admin, a.org_b.address, ORG_CODE_B)
    ledger.register_auditor(a.admin, a.auditor.address)
    domain = deployment.domain
    payer = env.actors.relayers[0]
    world = World(LedgerService(settings))
    now = int(time.time())

    def put(name: str, signer: object, record: object) -> bytes:
        signed = record.sign(signer.key, domain)  # type: ignore[attr-defined]
        ledger.submit(signed, payer)
        world.records[name] = _hex(signed.id)
        world.signed[name] = signed
        return signed.id  # type: ignore[no-any-return]

    def need(name: str, county_acct: object, county: int, category: str) -> bytes:
        pid = new_id()
        put(
            f"anchor:{name}",
            county_acct,
            ProjectAnchor(
                id=ProjectAnchor.anchor_id(pid, 1),
                project_id=pid,
                project_kind=ProjectKind.NEED,
                county=county,
                category=category_code(category),
                content_hash=new_id(),
                version=1,
            ),
        )
        world.needs[name] = _hex(pid)
        return pid

    school = need("school", a.county_a, COUNTY_A, "民生保障")
    clinic = need("clinic", a.county_a, COUNTY_A, "卫生健康")
    tea = need("tea", a.county_b, COUNTY_B, "产业发展")
    need("training", a.county_a, COUNTY_A, "人才培育")
    supply_id = new_id()
    put(
        "anchor:supply",
        a.org_a,
        ProjectAnchor(
            id=ProjectAnchor.anchor_id(supply_id, 1),
            project_id=supply_id,
            project_kind=ProjectKind.SUPPLY,
            county=COUNTY_A,
            category=category_code("科技助农"),
            content_hash=new_id(),
            version=1,
        ),
    )
    world.needs["supply"] = _hex(supply_id)

    c_funds = put(
        "c:funds",
        a.org_a,
        Commitment(
            id=new_id(),
            need_id=school,
            match_id=new_id(),
            resource_kind=ResourceKind.FUNDS,
            quantity=12_000_000,  # ¥120,000.00
            unit=text32("fen"),
            due_date=now + 30 * DAY,
            terms_hash=new_id(),
        ),
    )
    c_goods = put(
        "c:goods",
        a.org_b,
        Commitment(
            id=new_id(),
            need_id=clinic,
            match_id=new_id(),
            resource_kind=ResourceKind.GOODS,
            quantity=500,
            unit=text32("箱"),
            due_date=now - DAY,  # already due: the partial delivery below is late
            terms_hash=new_id(),
        ),
    )
    put(
        "c:tea",
        a.org_b,
        Commitment(
            id=new_id(),
            need_id=tea,
            match_id=new_id(),
            resource_kind=ResourceKind.FUNDS,
            quantity=5_000_000,
            unit=text32("fen"),
            due_date=now + 60 * DAY,
            terms_hash=new_id(),
        ),
    )
    d1 = put(
        "d:funds1",
        a.org_a,
        Delivery(
            id=new_id(),
            commitment_id=c_funds,
            quantity=8_000_000,
            delivered_at=now - 3600,
            evidence_hash=new_id(),
            beneficiary_count=40,
            beneficiary_root=new_id(),
        ),
    )
    d2 = put(
        "d:funds2",
        a.org_a,
        Delivery(
            id=new_id(),
            commitment_id=c_funds,
            quantity=4_000_000,
            delivered_at=now - 600,
            evidence_hash=new_id(),
            beneficiary_count=20,
            beneficiary_root=new_id(),
        ),
    )
    put(
        "d:goods",
        a.org_b,
        Delivery(
            id=new_id(),
            commitment_id=c_goods,
            quantity=200,
            delivered_at=now,
            evidence_hash=new_id(),
            beneficiary_count=200,
            beneficiary_root=new_id(),
        ),
    )
    put(
        "r:funds1",
        a.county_a,
        Receipt(id=new_id(), delivery_id=d1, confirmed_quantity=8_000_000, note_hash=new_id()),
    )
    put(
        "r:funds2",
        a.county_a,
        Receipt(id=new_id(), delivery_id=d2, confirmed_quantity=3_500_000, note_hash=new_id()),
    )
    put(
        "f:goods",
        a.auditor,
        Flag(
            id=new_id(),
            record_id=bytes.fromhex(world.records["d:goods"][2:]),
            reason_code=FlagReason.LATE_DELIVERY,
            note_hash=new_id(),
        ),
    )
    svc = world.service
    svc.db.migrate()
    with svc.db.session() as s:
        s.add(
            Organization(
                org_code=ORG_CODE_A, name="贵州乡村发展基金会", name_en="Guizhou Rural Fund"
            )
        )
        s.add(Organization(org_code=ORG_CODE_B, name="黔南公益服务中心", name_en=None))
    Indexer(svc.db, svc.ledger()).run_until_synced()
    return world


@pytest.fixture(scope="package")
def world(env: ChainEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_world(env, tmp_path_factory.mktemp("portal"))
    yield w
    w.service.close()


@dataclass
class Served:
    url: str
    world: World


@pytest.fixture(scope="package")
def served(world: World) -> Iterator[Served]:
    """The app on a real HTTP port (uvicorn in a thread), for the browser."""
    port = free_port()
    config = uvicorn.Config(
        create_app(world.service), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield Served(f"http://127.0.0.1:{port}", world)
    server.should_exit = True
    thread.join(timeout=10)
