"""Fixtures of the audit tests: a private anvil with a small, clean ledger indexed into SQLite,
with the off-chain rows the audit also checks (the library's matches and anchored versions,
a batch's lines, signed checkpoints); and a chain of the rule-less `Forger`
(tests/audit/forger/Forger.sol), which puts on chain whatever records it is given."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import solcx
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from web3 import Web3

from ledger.audit.pipeline import AuditOptions, run_audit
from ledger.audit.report import AuditReport
from ledger.config import PROJECT_ROOT, Settings
from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, Flag, ProjectAnchor, Receipt
from ledger.core.eip712 import Domain
from ledger.core.fields import FlagReason, ProjectKind, ResourceKind, text32
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine, new_id
from ledger.core.merkle import MerkleTree
from ledger.core.records import SignedRecord, sha256
from ledger.evm.compiler import collect_sources, solc_binary, standard_input
from ledger.evm.deploy import send_transaction
from ledger.indexer.worker import Indexer
from ledger.library.models import LibraryMatch, LibraryProject, LibraryProjectVersion
from ledger.store.batch_models import BatchLine
from ledger.store.checkpoint_models import CheckpointRow, CosignatureRow, WitnessProgress
from ledger.store.db import Database
from ledger.store.models import LogEntry, OutboxRecord
from ledger.tlog.note import Checkpoint, SignerKey
from tests.conftest import COUNTY_A, COUNTY_B, ORG_CODE_A, ORG_CODE_B, ChainEnv, start_env
from tests.factories import (
    AUDITOR_NAME,
    COUNTY_NAME_A,
    COUNTY_NAME_B,
    ORG_AUTHORITY,
    ORG_NAME_A,
    ORG_NAME_B,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "produces(*codes): the audit finding codes this test makes the audit find"
    )


#: the need's human-readable anchor fields (the audit compares each with the chain)
NEED_TITLE, NEED_BUDGET, NEED_END_DATE = "册亨县冬季取暖物资", 5_000_000, 20271231


def anchor(**kw: Any) -> ProjectAnchor:
    """A ProjectAnchor with a title where the record has one (issue 12 adds it)."""
    names = {f.name for f in fields(ProjectAnchor)}
    if "title" in names:
        kw.setdefault("title", "册亨县冬季取暖物资")
    return ProjectAnchor(**{k: v for k, v in kw.items() if k in names})


@dataclass
class Offchain:
    """What the library and the batch service keep for the ledger (not on chain)."""

    need_json: str
    matches: list[dict[str, Any]]
    lines: dict[str, list[DeliveryLine]]  # batch id → lines kept in the clean database
    other_lines: dict[str, list[DeliveryLine]]  # org B's batch: kept only by some tests


@dataclass
class Ledger:
    env: ChainEnv
    db_url: str
    evidence: Path
    records: list[SignedRecord]
    offchain: Offchain

    @property
    def contract(self) -> str:
        return self.env.deployment.address

    @property
    def rpc(self) -> str:
        return str(self.env.settings.rpc_url)


def submit(env: ChainEnv, signed: SignedRecord) -> SignedRecord:
    env.ledger.submit(signed, env.actors.relayers[0])
    return signed


def _batch(
    env: ChainEnv, key: Any, commitment: bytes, beneficiaries: list[bytes], evidence: bytes
) -> tuple[DeliveryBatch, list[DeliveryLine]]:
    lines = [
        DeliveryLine(commitment, "棉被", 2, "床", int(time.time()), who, evidence)
        for who in beneficiaries
    ]
    tree = MerkleTree()
    for line in lines:
        tree.append(line.leaf_hash())
    batch = DeliveryBatch(
        id=new_id(key.address),
        commitment_ids=(commitment,),
        quantities=(2 * len(lines),),
        line_count=len(lines),
        batch_root=tree.root(),
        evidence_hash=evidence,
    )
    return batch, lines


def _commitment(key: Any, need_id: bytes, quantity: int, unit: str, terms: bytes) -> Commitment:
    """A commitment by `key`'s organization on `need_id`, due in a year."""
    return Commitment(
        id=new_id(key.address),
        need_id=need_id,
        match_id=new_id(key.address),
        resource_kind=ResourceKind.GOODS,
        quantity=quantity,
        unit=text32(unit),
        due_date=int(time.time()) + 365 * 86_400,
        terms_hash=sha256(terms),
    )


def _delivery(
    key: Any, commitment: bytes, quantity: int, blob: bytes, who: bytes, count: int = 1
) -> Delivery:
    """A delivery by `key`'s organization with evidence `blob`, to `count` beneficiaries."""
    return Delivery(
        id=new_id(key.address),
        commitment_id=commitment,
        quantity=quantity,
        delivered_at=int(time.time()),
        evidence_hash=sha256(blob),
        beneficiary_count=count,
        beneficiary_root=sha256(who),
    )


def populate(env: ChainEnv, evidence: Path) -> tuple[list[SignedRecord], Offchain]:
    """A need, a commitment, two deliveries with evidence, a full receipt, a flag answered;
    then a batch of two lines, and org B's commitment on the same need with a one-line batch
    that serves one of the same beneficiaries (kept out of the clean database)."""
    a, d = env.actors, env.domain
    out = []
    need_doc = {"format": "bangfu-project/1", "kind": "need", "status": "published"}
    need_doc["title"] = "册亨县冬季取暖物资"
    need_json = json.dumps(need_doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    need = anchor(
        id=new_id(a.county_a.address),
        project_id=new_id(a.county_a.address),
        project_kind=ProjectKind.NEED,
        county=COUNTY_A,
        category=1,
        content_hash=sha256(need_json.encode("utf-8")),
        version=1,
        budget=NEED_BUDGET,
        end_date=NEED_END_DATE,
    )
    out.append(submit(env, need.sign(a.county_a.key, d)))
    commit = _commitment(a.org_a, need.project_id, 100, "斤", b"terms")
    out.append(submit(env, commit.sign(a.org_a.key, d)))
    evidence.mkdir(parents=True, exist_ok=True)
    deliveries = []
    for i in range(2):
        blob = f"photo {i} of rice delivered".encode()
        (evidence / f"{sha256(blob).hex()}.txt").write_bytes(blob)
        dl = _delivery(a.org_a, commit.id, 30, blob, f"beneficiaries {i}".encode(), count=3)
        deliveries.append(dl)
        out.append(submit(env, dl.sign(a.org_a.key, d)))
    rc = Receipt(
        id=new_id(a.county_a.address),
        delivery_id=deliveries[0].id,
        confirmed_quantity=30,
        note_hash=sha256(b"ok"),
    )
    out.append(submit(env, rc.sign(a.county_a.key, d)))
    fl = Flag(
        id=new_id(a.auditor.address),
        record_id=deliveries[1].id,
        reason_code=FlagReason.EVIDENCE_MISMATCH,
        note_hash=sha256(b"blurry photo"),
    )
    out.append(submit(env, fl.sign(a.auditor.key, d)))
    blob = b"a sharper photo"
    (evidence / f"0x{sha256(blob).hex()}.jpg").write_bytes(blob)
    answer = _delivery(a.org_a, commit.id, 10, blob, b"beneficiaries 2")
    out.append(submit(env, answer.sign(a.org_a.key, d)))
    # a batch of two lines (index 7), then org B's commitment (8) and its batch (9)
    blob = b"signed list of quilts handed out"
    (evidence / f"{sha256(blob).hex()}.txt").write_bytes(blob)
    p1, p2 = sha256(b"pseudonym 1"), sha256(b"pseudonym 2")
    batch_a, lines_a = _batch(env, a.org_a, commit.id, [p1, p2], sha256(blob))
    out.append(submit(env, batch_a.sign(a.org_a.key, d)))
    commit_b = _commitment(a.org_b, need.project_id, 10, "床", b"terms b")
    out.append(submit(env, commit_b.sign(a.org_b.key, d)))
    batch_b, lines_b = _batch(env, a.org_b, commit_b.id, [p1], sha256(blob))
    out.append(submit(env, batch_b.sign(a.org_b.key, d)))
    matches = [
        {"match_id": commit.match_id, "org": a.org_a, "org_code": ORG_CODE_A},
        {"match_id": commit_b.match_id, "org": a.org_b, "org_code": ORG_CODE_B},
    ]
    for m in matches:
        m["need_id"] = need.project_id
    off = Offchain(
        need_json,
        matches,
        {"0x" + batch_a.id.hex(): lines_a},
        {"0x" + batch_b.id.hex(): lines_b},
    )
    return out, off


def add_lines(db: Database, lines: dict[str, list[DeliveryLine]]) -> None:
    with db.write() as session:
        for batch_id, items in lines.items():
            for i, line in enumerate(items):
                session.add(
                    BatchLine(
                        batch_id=batch_id,
                        line_index=i,
                        line_bytes=line.line_bytes(),
                        leaf_hash=hex0x(line.leaf_hash()),
                        commitment_id=hex0x(line.commitment_id),
                        beneficiary=hex0x(line.beneficiary),
                        quantity=line.quantity,
                        item=line.item,
                        unit=line.unit,
                        delivered_at=line.delivered_at,
                        evidence_hash=hex0x(line.evidence_hash),
                    )
                )


def fill_offchain(
    db: Database,
    env: ChainEnv,
    records: list[SignedRecord],
    off: Offchain,
    *,
    checkpoints: bool = True,
) -> None:
    """The library's rows for the need and both accepted matches, batch A's lines, the
    outbox's answers for two records and (with `checkpoints`) three checkpoints signed by a
    key of the test's own (sizes 2, 5 and the whole log) with one witness's progress."""
    a = env.actors
    need = records[0]
    anchor_rec: Any = need.record
    pid = hex0x(anchor_rec.project_id)
    with db.write() as session:
        session.add(
            LibraryProject(
                project_id=pid,
                kind=int(ProjectKind.NEED),
                status="published",
                owner=need.signer,
                county=COUNTY_A,
                org_code=None,
                category=anchor_rec.category,
                categories=f",{anchor_rec.category},",
                resource_kinds=",2,",
                key_county=False,
                title="册亨县冬季取暖物资",
                search_text="册亨县冬季取暖物资",
                version=1,
                draft_json=off.need_json,
                origin="local",
                published_at=datetime.now(UTC),
            )
        )
        session.add(
            LibraryProjectVersion(
                project_id=pid,
                version=1,
                status="published",
                content_json=off.need_json,
                content_hash=hex0x(anchor_rec.content_hash),
                anchor_id=hex0x(need.id),
                anchor_bytes=need.canonical_bytes(),
                signer=need.signer,
            )
        )
        for m in off.matches:
            session.add(
                LibraryMatch(
                    match_id=hex0x(m["match_id"]),
                    direction="take",
                    need_id=hex0x(m["need_id"]),
                    supply_id="0x" + "00" * 32,
                    county=COUNTY_A,
                    org_code=m["org_code"],
                    status="accepted",
                    proposer=m["org"].address,
                    proposal_signature="0x" + "11" * 65,
                    responder=a.county_a.address,
                    response_signature="0x" + "22" * 65,
                    note="",
                )
            )
    add_lines(db, off.lines)
    with db.write() as session:  # the relayer's answers for two records it confirmed
        for signed in records[1:3]:
            entry = session.scalars(
                select(LogEntry).where(LogEntry.record_id == hex0x(signed.id))
            ).one()
            session.add(
                OutboxRecord(
                    record_id=entry.record_id,
                    kind=int(signed.kind),
                    signer=signed.signer,
                    record_bytes=signed.canonical_bytes(),
                    status="confirmed",
                    tx_hash=entry.tx_hash,
                    sender=a.relayers[0].address,
                    nonce=0,
                    attempts=1,
                    block_number=entry.block_number,
                    block_hash=entry.block_hash,
                    leaf_index=entry.leaf_index,
                )
            )
    if checkpoints:
        add_checkpoints(db, env, records)


def add_checkpoints(db: Database, env: ChainEnv, records: list[SignedRecord]) -> None:
    tree = MerkleTree()
    for signed in records:
        tree.append(signed.leaf_hash())
    origin = f"bangfu.example/ledger/{env.domain.chain_id}/{env.domain.verifying_contract.lower()}"
    key = SignerKey.generate(origin)
    with db.write() as session:
        for size in (2, 5, tree.size):
            root = tree.root(size)
            note = Checkpoint(origin, size, root).sign(key)
            session.add(
                CheckpointRow(origin=origin, size=size, root=hex0x(root), block_number=0, note=note)
            )
        session.flush()
        session.add(CosignatureRow(checkpoint_id=2, witness="w1", line="— w1 AAAA\n"))
        session.add(WitnessProgress(witness="w1", size=5))


def read_model(url: str, ledger: Ledger, *, checkpoints: bool = True) -> Database:
    """The ledger indexed by the real Indexer into the database at `url`, with its off-chain
    rows."""
    db = Database(url, ledger.env.settings)
    db.migrate()
    Indexer(db, ledger.env.ledger).run_until_synced()
    fill_offchain(db, ledger.env, ledger.records, ledger.offchain, checkpoints=checkpoints)
    return db


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    tmp = tmp_path_factory.mktemp("auditchain")
    env = start_env(tmp)
    try:
        records, off = populate(env, tmp / "evidence")
        db_url = f"sqlite:///{tmp / 'read.sqlite3'}"
        led = Ledger(env, db_url, tmp / "evidence", records, off)
        # no checkpoints here: other tests sign the operator's own into this database
        read_model(db_url, led, checkpoints=False).dispose()
        yield led
    finally:
        env.chain.down()


@pytest.fixture
def db(ledger: Ledger, database_url: str) -> Iterator[Database]:
    """The ledger indexed by the real Indexer into a fresh database (SQLite and PostgreSQL),
    with its off-chain rows, for a test to tamper with."""
    d = read_model(database_url, ledger)
    yield d
    d.dispose()


# ---------------------------------------------------------------- the Forger

FORGER = Path(__file__).parent / "forger" / "Forger.sol"


@dataclass
class Compiled:
    abi: list[dict[str, Any]]
    bytecode: str


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChainEnv, Compiled]]:
    tmp = tmp_path_factory.mktemp("forgerchain")
    home = tmp / "home"
    (home / "contracts" / "libraries").mkdir(parents=True)
    shutil.copy(FORGER, home / "contracts" / "Forger.sol")
    shutil.copy(
        PROJECT_ROOT / "contracts" / "libraries" / "MerkleLog.sol",
        home / "contracts" / "libraries" / "MerkleLog.sol",
    )
    shutil.copytree(PROJECT_ROOT / "scripts", home / "scripts")
    (home / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    settings = Settings(home=home)
    out = solcx.compile_standard(
        standard_input(collect_sources(settings)), solc_binary=solc_binary(settings)
    )
    c = out["contracts"]["contracts/Forger.sol"]["Forger"]
    env = start_env(tmp / "chain")
    try:
        yield env, Compiled(c["abi"], c["evm"]["bytecode"]["object"])
    finally:
        env.chain.down()


class Forged:
    """One fresh Forger with the test's roles registered on it."""

    def __init__(self, env: ChainEnv, compiled: Compiled) -> None:
        self.env = env
        self.w3: Web3 = env.w3
        self.admin: LocalAccount = env.actors.admin
        factory = self.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
        tx = factory.constructor().build_transaction({"from": self.admin.address})
        receipt = send_transaction(self.w3, self.admin, dict(tx))
        self.address = receipt["contractAddress"]
        self.contract = self.w3.eth.contract(address=self.address, abi=compiled.abi)
        self.domain = Domain(self.w3.eth.chain_id, self.address)
        a = env.actors
        self.send("registerCounty", a.county_a.address, COUNTY_A, COUNTY_NAME_A)
        self.send("registerCounty", a.county_b.address, COUNTY_B, COUNTY_NAME_B)
        code_a, code_b = (c.encode().ljust(32, b"\0") for c in (ORG_CODE_A, ORG_CODE_B))
        self.send("registerOrganization", a.org_a.address, code_a, ORG_NAME_A, 3, ORG_AUTHORITY)
        self.send("registerOrganization", a.org_b.address, code_b, ORG_NAME_B, 2, ORG_AUTHORITY)
        self.send("registerAuditor", a.auditor.address, AUDITOR_NAME)

    def send(self, fn: str, *args: Any) -> Any:
        call = getattr(self.contract.functions, fn)(*args)
        return send_transaction(self.w3, self.admin, dict(call.build_transaction()))

    def append(self, signed: SignedRecord) -> SignedRecord:
        self.send("append", signed.id, int(signed.kind), signed.canonical_bytes())
        return signed

    def sign(self, record: Any, key: LocalAccount, domain: Domain | None = None) -> SignedRecord:
        return record.sign(key.key, domain or self.domain)

    def audit(self, **kw: Any) -> AuditReport:
        base: dict[str, Any] = {
            "rpc_url": str(self.env.settings.rpc_url),
            "contract": self.address,
            "workers": 1,
            "compare_totals": False,
        }
        base.update(kw)
        return run_audit(AuditOptions(**base))

    # ---- a small honest ledger to build on
    def need(self, county: LocalAccount | None = None, county_code: int = COUNTY_A) -> Any:
        key = county or self.env.actors.county_a
        rec = anchor(
            id=new_id(key.address),
            project_id=new_id(key.address),
            project_kind=ProjectKind.NEED,
            county=county_code,
            category=1,
            content_hash=sha256(b"need"),
            version=1,
        )
        self.append(self.sign(rec, key))
        return rec

    def commitment(
        self, need_id: bytes, org: LocalAccount | None = None, due: int | None = None
    ) -> Commitment:
        key = org or self.env.actors.org_a
        rec = Commitment(
            id=new_id(key.address),
            need_id=need_id,
            match_id=new_id(key.address),
            resource_kind=ResourceKind.GOODS,
            quantity=100,
            unit=text32("斤"),
            due_date=int(time.time()) + 365 * 86_400 if due is None else due,
            terms_hash=sha256(b"terms"),
        )
        self.append(self.sign(rec, key))
        return rec

    def delivery(self, cid: bytes, qty: int = 30, org: LocalAccount | None = None) -> Delivery:
        key = org or self.env.actors.org_a
        rec = Delivery(
            id=new_id(key.address),
            commitment_id=cid,
            quantity=qty,
            delivered_at=int(time.time()),
            evidence_hash=sha256(b"photo"),
            beneficiary_count=1,
            beneficiary_root=sha256(b"who"),
        )
        self.append(self.sign(rec, key))
        return rec

    def receipt(self, did: bytes, qty: int) -> Receipt:
        key = self.env.actors.county_a
        rec = Receipt(
            id=new_id(key.address), delivery_id=did, confirmed_quantity=qty, note_hash=sha256(b"")
        )
        self.append(self.sign(rec, key))
        return rec


@pytest.fixture
def forged(chain: tuple[ChainEnv, Compiled]) -> Forged:
    return Forged(*chain)
