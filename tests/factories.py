"""Shared test factories: record makers, a flow of signed records, a need matched in the
library, a service stack on a database with loops that drive the relayer and the indexer until
records are settled, the app served by uvicorn, and `bangfu` run as a user runs it.

Fixtures live in tests/conftest.py; what a test builds or calls by hand lives here, once."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from web3 import Web3

from api.app import create_app
from ledger.app import LedgerService
from ledger.config import PROJECT_ROOT, Settings
from ledger.core.aid_kinds import Commitment, Delivery, ProjectAnchor, Receipt
from ledger.core.eip712 import Domain
from ledger.core.fields import ProjectKind, ResourceKind, text32
from ledger.core.grievances import answer_hash
from ledger.core.lines import DeliveryLine, new_id
from ledger.core.program_kinds import FollowUp, FundContribution, Grievance, GrievanceAnswer
from ledger.core.records import SignedRecord, sha256
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect, deploy, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.indexer.rebuild import rebuild
from ledger.indexer.worker import Indexer
from ledger.library import actions
from ledger.relayer.worker import RelayWorker
from ledger.sdk.batch_client import BatchClient
from ledger.sdk.client import BangfuClient
from ledger.store.db import Database
from ledger.store.models import LogEntry, OutboxRecord

COUNTY_A = 522327  # 册亨县, Guizhou
COUNTY_B = 520121  # 开阳县, Guizhou
ORG_CODE_A = "91520000MA6DKTQX0C"
ORG_CODE_B = "52520000MJY450802G"
# The names registered on chain with them (counties: their GB/T 2260 names).
COUNTY_NAME_A = "册亨县"
COUNTY_NAME_B = "开阳县"
ORG_NAME_A = "贵州乡村发展基金会"
ORG_TYPE_A = 3  # 基金会: ORG_CODE_A starts 91 (not 民政's 5x), so its type is given
ORG_NAME_B = "黔南公益服务中心"  # 52…: 民办非企业单位, the type the code names
ORG_AUTHORITY = "贵州省民政厅"
AUDITOR_NAME = "贵州省审计厅第一审计组"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: `reply` answers with a body; nothing is logged."""

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def write_localchain(
    path: Path, port: int, state_file: Path, *, block_time: float = 0, state_interval: int = 1
) -> Path:
    base = (PROJECT_ROOT / "localchain.toml").read_text()
    cfg = load_localchain(Settings(), PROJECT_ROOT / "localchain.toml")
    path.write_text(
        base.replace(f"port = {cfg.port}", f"port = {port}")
        .replace(f"block_time = {cfg.block_time:g}", f"block_time = {block_time:g}")
        .replace(f'state_file = "{cfg.state_file}"', f'state_file = "{state_file}"')
        .replace(f"state_interval = {cfg.state_interval}", f"state_interval = {state_interval}")
    )
    return path


def make_settings(tmp: Path, *, block_time: float = 0, **overrides: object) -> Settings:
    """Settings for a private anvil and var/ under `tmp` (the project's code and node_modules)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    toml = write_localchain(
        tmp / "localchain.toml", port, tmp / "anvil-state.json", block_time=block_time
    )
    values: dict[str, object] = {
        "home": PROJECT_ROOT,
        "var": tmp,
        "localchain_file": toml,
        "rpc_url": f"http://127.0.0.1:{port}",
        "database_url": f"sqlite:///{tmp / 'ledger.sqlite3'}",
        "poll_interval": 0.1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Actors:
    admin: LocalAccount
    county_a: LocalAccount
    county_b: LocalAccount
    org_a: LocalAccount
    org_b: LocalAccount
    auditor: LocalAccount
    stranger: LocalAccount
    relayers: list[LocalAccount]


@dataclass
class ChainEnv:
    settings: Settings
    chain: LocalChain
    w3: Web3
    deployment: Deployment
    ledger: LedgerContract
    actors: Actors

    @property
    def domain(self) -> Domain:
        return self.deployment.domain


def start_env(tmp: Path, *, block_time: float = 0) -> ChainEnv:
    """Starts anvil, deploys AidLedger and registers two counties, two orgs and an auditor."""
    settings = make_settings(tmp, block_time=block_time)
    chain = LocalChain(load_localchain(settings), settings)
    chain.up()
    w3 = connect(settings)
    accts = dev_accounts(chain.cfg)
    actors = Actors(
        accts[0], accts[1], accts[2], accts[3], accts[4], accts[5], accts[6], relayers=accts[7:10]
    )
    deployment = deploy(w3, actors.admin, settings=settings)
    deployment.save(settings)
    ledger = LedgerContract(w3, deployment)
    register_roles(ledger, actors)
    return ChainEnv(settings, chain, w3, deployment, ledger, actors)


def register_roles(ledger: LedgerContract, actors: Actors) -> None:
    """Registers the two counties, two organizations and the auditor, by name."""
    ledger.register_county(actors.admin, actors.county_a.address, COUNTY_A, COUNTY_NAME_A)
    ledger.register_county(actors.admin, actors.county_b.address, COUNTY_B, COUNTY_NAME_B)
    ledger.register_organization(
        actors.admin, actors.org_a.address, ORG_CODE_A, ORG_NAME_A, ORG_TYPE_A, ORG_AUTHORITY
    )
    ledger.register_organization(
        actors.admin, actors.org_b.address, ORG_CODE_B, ORG_NAME_B, authority=ORG_AUTHORITY
    )
    ledger.register_auditor(actors.admin, actors.auditor.address, AUDITOR_NAME)


def _postgres_url() -> str | None:
    return os.environ.get("BANGFU_TEST_POSTGRES_URL") or None


def fresh_database_url(kind: str, tmp: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a new PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'db-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    base = _postgres_url()
    if not base:
        pytest.skip("BANGFU_TEST_POSTGRES_URL is not set")
    with postgres_database(base) as url:
        yield url


def fresh_database_urls(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database each time one is drawn (SQLite files under tmp/1, tmp/2, …; a
    PostgreSQL one dropped when the next is drawn or this is closed)."""
    n = 0
    while True:
        n += 1
        yield from fresh_database_url(kind, tmp / str(n))


def database_kind(url: str) -> str:
    """ "postgres" or "sqlite": the kind of database at `url`, for `fresh_database_url`."""
    return "postgres" if "postgresql" in url else "sqlite"


@contextmanager
def rebuilt(svc: LedgerService, tmp: Path, kind: str | None = None) -> Iterator[Database]:
    """The read model rebuilt from `svc`'s chain alone into a fresh database (of `svc`'s
    kind unless `kind` says), disposed (and a PostgreSQL one dropped) on leaving."""
    urls = fresh_database_url(kind or database_kind(svc.db.url), tmp)
    try:
        db, _ = rebuild(svc.ledger(), next(urls))
        try:
            yield db
        finally:
            db.dispose()
    finally:
        urls.close()


@contextmanager
def postgres_database(base: str, prefix: str = "bangfu_test") -> Iterator[str]:
    """A new PostgreSQL database next to `base` (a server's URL with any database name),
    dropped after, its open connections ended first."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


#: The installed `bangfu` command of this virtualenv.
BANGFU = str(Path(sys.executable).parent / "bangfu")


def project_anchor(
    signer: str,
    kind: ProjectKind = ProjectKind.NEED,
    *,
    county: int = COUNTY_A,
    category: int = 3,
    title: str = "大米帮扶 rice for a county",
    budget: int = 0,
    end_date: int = 20301231,
    project_id: bytes | None = None,
    version: int = 1,
) -> ProjectAnchor:
    """Version `version` of a project of `signer` (a new project when no id), its ids scoped
    to the signer as the contract requires."""
    pid = project_id or new_id(signer)
    return ProjectAnchor(
        id=ProjectAnchor.anchor_id(pid, version),
        project_id=pid,
        project_kind=kind,
        county=county,
        category=category,
        title=title,
        budget=budget,
        end_date=end_date,
        content_hash=new_id(signer),
        version=version,
    )


def need(signer: str, county: int = COUNTY_A, category: int = 3) -> ProjectAnchor:
    """A new need project of `county`, its id scoped to the county office `signer`."""
    return project_anchor(signer, county=county, category=category)


def commitment(
    signer: str,
    need_id: bytes,
    quantity: int = 100,
    *,
    unit: str = "斤",
    due_date: int = 1_767_225_600,
) -> Commitment:
    """A commitment of goods by `signer`'s organization to `need_id`, with a new match id."""
    return Commitment(
        id=new_id(signer),
        need_id=need_id,
        match_id=new_id(),
        resource_kind=ResourceKind.GOODS,
        quantity=quantity,
        unit=text32(unit),
        due_date=due_date,
        terms_hash=new_id(),
    )


def delivery(signer: str, commitment_id: bytes, quantity: int) -> Delivery:
    return Delivery(
        id=new_id(signer),
        commitment_id=commitment_id,
        quantity=quantity,
        delivered_at=1_735_689_600,
        evidence_hash=new_id(),
        beneficiary_count=3,
        beneficiary_root=new_id(),
    )


def receipt(signer: str, delivery_id: bytes, confirmed: int) -> Receipt:
    return Receipt(
        id=new_id(signer),
        delivery_id=delivery_id,
        confirmed_quantity=confirmed,
        note_hash=new_id(),
    )


def need_with_commitments(
    ledger: LedgerContract,
    domain: Domain,
    county: LocalAccount,
    org: LocalAccount,
    payer: LocalAccount,
    quantities: Sequence[int],
    *,
    county_code: int = COUNTY_A,
    category: int = 1,
    title: str = "化肥帮扶 fertilizer",
    unit: str = "斤",
    days: int = 90,
) -> list[bytes]:
    """A need of `county` and one commitment of `org` to it per quantity, submitted straight
    to the contract by `payer` (no relayer, so no pre-check for matches): their ids."""
    anchor = project_anchor(
        county.address, county=county_code, category=category, title=title, end_date=0
    )
    ledger.submit(anchor.sign(county.key, domain), payer)
    ids = []
    due = int(time.time()) + 86_400 * days
    for quantity in quantities:
        c = commitment(org.address, anchor.project_id, quantity, unit=unit, due_date=due)
        signed = c.sign(org.key, domain)
        ledger.submit(signed, payer)
        ids.append(signed.id)
    return ids


def on_chain_commitment(env: ChainEnv, quantity: int, unit: str = "斤") -> bytes:
    """A need of county A and org A's commitment to it, straight on chain (not indexed)."""
    a = env.actors
    return need_with_commitments(
        env.ledger, env.domain, a.county_a, a.org_a, a.admin, [quantity], unit=unit
    )[0]


@dataclass
class BatchEnv:
    """A service with the app in process and a BatchClient on it, for batch uploads."""

    env: ChainEnv
    service: LedgerService
    http: TestClient
    client: BatchClient

    def index(self) -> None:
        Indexer(self.service.db, self.service.ledger()).run_until_synced()

    def relay_until_confirmed(self, record_id: str, timeout: float = 60.0) -> None:
        worker = RelayWorker(self.service.db, self.service.ledger(), self.env.actors.relayers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worker.run_once()
            row = self.service.relayer.status([record_id]).get(record_id)
            if row is not None and row.status == "confirmed":
                return
            if row is not None and row.status == "failed":
                raise AssertionError(f"relayer failed {record_id}: {row.error_code} {row.error}")
            time.sleep(0.05)
        raise AssertionError(f"{record_id} not confirmed in {timeout}s")

    def commitment(self, quantity: int, unit: str = "斤") -> bytes:
        """A need of county A and org A's commitment to it, both on chain and indexed."""
        cid = on_chain_commitment(self.env, quantity, unit)
        self.index()
        return cid


def make_lines(commitment_id: bytes, n: int, quantity: int = 1) -> list[DeliveryLine]:
    """`n` delivery lines against one commitment, delivered an hour ago."""
    now = int(time.time()) - 3600
    return [
        DeliveryLine(
            commitment_id=commitment_id,
            item="大米 rice",
            quantity=quantity,
            unit="斤",
            delivered_at=now,
            beneficiary=os.urandom(32),
            evidence_hash=bytes(32),
        )
        for _ in range(n)
    ]


def body(*signed: SignedRecord) -> dict[str, Any]:
    """The JSON body of POST /api/v1/records."""
    return {"records": [s.to_json() for s in signed]}


def refused(r: Any, status: int, code: str) -> None:
    """`r` (an HTTP answer) is a problem+json refusal with `status` and the error `code`."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["code"] == code, r.text


@dataclass
class Chain:
    """A flow of records: a need, a commitment, deliveries and receipts, signed by actors."""

    domain: Domain
    county: LocalAccount
    org: LocalAccount
    county_code: int = COUNTY_A
    records: list[SignedRecord] = field(default_factory=list)

    def sign(self, record: Any, key: LocalAccount) -> SignedRecord:
        signed: SignedRecord = record.sign(key.key, self.domain)
        self.records.append(signed)
        return signed

    def need(self) -> SignedRecord:
        return self.sign(need(self.county.address, self.county_code), self.county)

    def commit(self, need_id: str, match_id: str, quantity: int = 100) -> SignedRecord:
        """A commitment of the org to a need, citing an accepted match (see `matched`)."""
        rec = commitment(self.org.address, bytes.fromhex(need_id[2:]), quantity)
        return self.sign(dataclasses.replace(rec, match_id=bytes.fromhex(match_id[2:])), self.org)

    def deliver(self, commit_rec: SignedRecord, quantity: int) -> SignedRecord:
        return self.sign(delivery(self.org.address, commit_rec.id, quantity), self.org)

    def confirm(self, delivery_rec: SignedRecord, quantity: int) -> SignedRecord:
        return self.sign(receipt(self.county.address, delivery_rec.id, quantity), self.county)


def fund_contribution(
    signer: str,
    fund_id: bytes,
    amount: int,
    *,
    evidence: bytes = b"bank slip",
    received_date: int = 20260301,
) -> FundContribution:
    """Money `amount` (fen) recorded into `fund_id` by `signer`'s organization, on
    `received_date`, its evidence the hash of `evidence` (unsigned)."""
    return FundContribution(
        id=new_id(signer),
        fund_id=fund_id,
        amount=amount,
        received_date=received_date,
        evidence_hash=sha256(evidence),
    )


def follow_up(signer: LocalAccount, round_id: bytes, line: int, **change: Any) -> FollowUp:
    """A follow-up visit's result by the county office `signer` for line `line` of a round:
    received in full unless `change` says otherwise (unsigned)."""
    fields: dict[str, Any] = {
        "id": new_id(signer.address),
        "round_id": round_id,
        "line_index": line,
        "line_hash": sha256(b"line"),
        "outcome": 1,
        "quantity": 0,
        "note_hash": sha256(b""),
        **change,
    }
    return FollowUp(**fields)


def grievance_registration(
    env: ChainEnv, filed: dict[str, Any], signer: LocalAccount | None = None, **over: Any
) -> SignedRecord:
    """The county office's Grievance record registering `filed` (the answer of POST
    /api/v1/grievances), signed by `signer` (county A's office unless given); `over` replaces
    fields."""
    key = signer or env.actors.county_a
    fields = {
        "id": new_id(key.address),
        "project_id": bytes.fromhex(filed["project_id"][2:]),
        "record_id": bytes.fromhex(filed["record_id"][2:]),
        "grievance_hash": bytes.fromhex(filed["grievance_hash"][2:]),
        "filed_at": filed["filed_at"],
        **over,
    }
    signed: SignedRecord = Grievance(**fields).sign(key.key, env.domain)
    return signed


def grievance_answer(
    env: ChainEnv,
    grievance_id: bytes,
    text: str,
    outcome: int = 1,
    signer: LocalAccount | None = None,
) -> SignedRecord:
    """A GrievanceAnswer to `grievance_id` with the hash of its public `text`, signed by
    `signer` (county A's office unless given)."""
    key = signer or env.actors.county_a
    signed: SignedRecord = GrievanceAnswer(
        id=new_id(key.address),
        grievance_id=grievance_id,
        outcome=outcome,
        answer_hash=bytes.fromhex(answer_hash(text)[2:]),
    ).sign(key.key, env.domain)
    return signed


def posted(http: TestClient, st: Stack, *signed: SignedRecord) -> None:
    """Sends each of `signed` alone (POST /api/v1/records), each accepted, then settles them."""
    for s in signed:
        r = http.post("/api/v1/records", json=body(s))
        assert r.status_code == 202, r.text
    st.settle()


def post_grievance_answer(http: TestClient, st: Stack, answer: SignedRecord, text: str) -> None:
    """Sends a signed answer with its public text (POST /api/v1/grievance-answers), accepted,
    and settles it."""
    r = http.post("/api/v1/grievance-answers", json={"record": answer.to_json(), "text": text})
    assert r.status_code == 202, r.text
    st.settle()


NEED_CONTENT: dict[str, Any] = {
    "title": "大米帮扶 rice for a county",
    "category": "民生保障",
    "mode": "relief",
    "beneficiaries": 120,
    "budget_fen": 0,
    "resources": [{"kind": "goods", "quantity": 10_000, "unit": "斤", "item": "大米"}],
    "deadline": "2030-12-31",
    "contact_role": "县乡村振兴局",
}


def matched(
    st: Stack, county: LocalAccount, org: LocalAccount, county_code: int = COUNTY_A
) -> tuple[str, str]:
    """(need id, match id): a need the county publishes in the library and a match with
    the org that both sides accepted, which the relayer requires of every Commitment."""
    need_id = actions.create_and_publish(
        st.svc, ProjectKind.NEED, {**NEED_CONTENT, "county": county_code}, county.key
    )
    st.settle()
    match_id = actions.create_and_accept_match(st.svc, county.key, org.key, need_id)
    return need_id, match_id


def sdk(http: TestClient, account: LocalAccount | None = None) -> BangfuClient:
    """The SDK over the in-process app, signing as `account` (reading needs no key)."""
    return BangfuClient(http=http, account=account)


def service_for(settings: Settings, database_url: str) -> LedgerService:
    """A ledger service of `settings` on `database_url`, migrated."""
    svc = LedgerService(settings.model_copy(update={"database_url": database_url}))
    svc.db.migrate()
    return svc


def row_count(db: Database, model: Any) -> int:
    """How many rows the table of `model` (an ORM class) holds in `db`."""
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def outbox_size(svc: LedgerService) -> int:
    return row_count(svc.db, OutboxRecord)


@dataclass
class Stack:
    svc: LedgerService
    indexer: Indexer
    worker: RelayWorker

    def step(self) -> int:
        return self.worker.run_once() + self.indexer.run_once()

    def settle(
        self,
        ids: Iterable[str] | None = None,
        *,
        timeout: float = 120,
        tick: Callable[[], None] | None = None,
    ) -> None:
        """Runs the relayer and the indexer until every record (or every outbox record) is
        confirmed by the relayer and indexed; fails the test on timeout."""
        wanted = None if ids is None else {i.lower() for i in ids}
        deadline = time.monotonic() + timeout
        while True:
            work = self.step()
            if tick is not None:
                tick()
            with self.svc.db.read() as s:
                q = select(OutboxRecord.record_id, OutboxRecord.status)
                rows = dict(s.execute(q).tuples().all())
                indexed = set(s.scalars(select(LogEntry.record_id)))
            if wanted is not None:
                rows = {k: v for k, v in rows.items() if k in wanted}
                assert set(rows) == wanted, f"missing from outbox: {wanted - set(rows)}"
            failed = {k: v for k, v in rows.items() if v == "failed"}
            assert not failed, f"records failed: {failed}"
            if all(v == "confirmed" for v in rows.values()) and set(rows) <= indexed:
                self.indexer.run_until_synced()
                return
            assert time.monotonic() < deadline, f"not settled: {rows}"
            if not work:
                time.sleep(0.05)


def stack(svc: LedgerService, relayers: Sequence[LocalAccount], **worker: Any) -> Stack:
    ledger = svc.ledger()
    indexer = Indexer(svc.db, ledger, block_range=worker.pop("block_range", 2000))
    indexer.run_until_synced()
    return Stack(svc, indexer, RelayWorker(svc.db, ledger, relayers, **worker))


def committed_and_delivered(
    env: ChainEnv, svc: LedgerService, delivered: int = 40
) -> tuple[Stack, Chain, SignedRecord, SignedRecord]:
    """A stack, the flow of county A and org A, and a commitment of 100 to a matched need
    with a delivery of `delivered` against it, both relayed and indexed."""
    st = stack(svc, env.actors.relayers)
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    nid, mid = matched(st, env.actors.county_a, env.actors.org_a)
    c = flow.commit(nid, mid, 100)
    svc.relayer.accept([c])
    st.settle()
    d = flow.deliver(c, delivered)
    svc.relayer.accept([d])
    st.settle()
    return st, flow, c, d


def leaf_count(svc: LedgerService, record_id: str) -> int:
    with svc.db.read() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(LogEntry).where(LogEntry.record_id == record_id)
            )
            or 0
        )


def sender_nonces(w3: Web3, sender: str, first_block: int) -> list[int]:
    """Nonces of every mined transaction from `sender` since `first_block`, in order."""
    out: list[int] = []
    for n in range(first_block, int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["from"] == sender:  # type: ignore[index]
                out.append(int(tx["nonce"]))  # type: ignore[index]
    return out


def appended_ids(env: Any, first_block: int) -> list[str]:
    """Record ids of every RecordAppended event of the env's contract since `first_block`."""
    event = env.ledger.contract.events.RecordAppended()
    logs = env.w3.eth.get_logs(
        {
            "address": env.deployment.address,
            "fromBlock": first_block,
            "toBlock": "latest",
            "topics": [event.topic],
        }
    )
    return ["0x" + bytes(event.process_log(x)["args"]["recordId"]).hex() for x in logs]


class Pump:
    """Runs the relayer and the indexer in a thread, as `bangfu run` does, until stopped."""

    def __init__(self, st: Stack, idle: float = 0.05) -> None:
        self.st = st
        self.idle = idle
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.st.step():
                    time.sleep(self.idle)
            except Exception as exc:  # noqa: BLE001 - surfaced by whoever stops the pump
                self.errors.append(exc)
                return

    def halt(self) -> None:
        """Stops the thread and fails the test on any error it met."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(30)
        assert not self.errors, self.errors


def kill9(env: ChainEnv) -> None:
    """kill -9 of anvil's whole process group: LocalChain.down(sig=SIGKILL) would kill only
    the npm wrapper and leave the real anvil (its child) serving the port."""
    pid = env.chain.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while env.chain.answers() and time.monotonic() < deadline:
        time.sleep(0.1)
    env.chain.pid_file.unlink(missing_ok=True)


class LiveServer:
    """An app served by uvicorn on a free port of 127.0.0.1 in a thread (what the CLI and the
    HTTP clients talk to); `config` goes to uvicorn.Config."""

    def __init__(self, app: FastAPI | LedgerService, **config: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if isinstance(app, LedgerService):
            app = create_app(app)
        config.setdefault("log_level", "warning")
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, **config)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def run_bangfu(
    args: Sequence[str], *, env: dict[str, str], timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `bangfu` run as a user runs it: a subprocess, no stdin, text output."""
    return subprocess.run(
        [BANGFU, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )
