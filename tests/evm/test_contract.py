"""AidLedger against a real anvil: the on-chain RFC 9162 log, every record kind accepted, and
every way a record can be wrong refused with its named custom error.

Leaf hashes are checked twice: as the contract emits them in `RecordAppended` and as
`SignedRecord.canonical_bytes()` makes them in Python; both must give the contract's root.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from ledger.core import merkle
from ledger.core.aid_kinds import Commitment, Delivery, DeliveryBatch, Flag, ProjectAnchor, Receipt
from ledger.core.errors import ChainError, RecordError
from ledger.core.fields import MAX_TITLE_BYTES, ProjectKind, ResourceKind
from ledger.core.lines import DeliveryLine, batch_totals, new_id
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import MAX_BATCH_COMMITMENTS, Kind, Record, SignedRecord
from ledger.evm.contract import LedgerContract, revert_error
from ledger.evm.deploy import deploy, send_transaction
from tests import factories
from tests.factories import (
    AUDITOR_NAME,
    COUNTY_A,
    COUNTY_B,
    COUNTY_NAME_A,
    COUNTY_NAME_B,
    ORG_CODE_A,
    ORG_CODE_B,
    ORG_NAME_A,
    ORG_NAME_B,
    ChainEnv,
    project_anchor,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# ---------------------------------------------------------------------------- record makers


def need(
    by: LocalAccount,
    county: int = COUNTY_A,
    *,
    project_id: bytes | None = None,
    version: int = 1,
    category: int = 3,
) -> ProjectAnchor:
    """A need project version signed by county office `by` (a new project when no id)."""
    return project_anchor(
        by.address,
        county=county,
        category=category,
        title=f"饮水安全工程 第{version}版",
        budget=12_000_000,
        end_date=20261231,
        project_id=project_id,
        version=version,
    )


def supply(by: LocalAccount, *, project_id: bytes | None = None, version: int = 1) -> ProjectAnchor:
    return project_anchor(
        by.address,
        ProjectKind.SUPPLY,
        category=5,
        title="农技培训 supply",
        end_date=0,
        project_id=project_id,
        version=version,
    )


def commitment(
    by: LocalAccount, need_id: bytes, quantity: int = 100, resource_kind: int = ResourceKind.GOODS
) -> Commitment:
    c = factories.commitment(by.address, need_id, quantity)
    return dataclasses.replace(c, resource_kind=resource_kind)


def delivery(by: LocalAccount, commitment_id: bytes, quantity: int) -> Delivery:
    return factories.delivery(by.address, commitment_id, quantity)


def receipt(by: LocalAccount, delivery_id: bytes, confirmed: int) -> Receipt:
    return factories.receipt(by.address, delivery_id, confirmed)


def flag(by: LocalAccount, record_id: bytes, reason: int = 1) -> Flag:
    return Flag(
        id=new_id(by.address), record_id=record_id, reason_code=reason, note_hash=new_id(by.address)
    )


def batch(
    by: LocalAccount,
    commitment_ids: Sequence[bytes],
    quantities: Sequence[int],
    line_count: int | None = None,
    *,
    sort: bool = True,
) -> DeliveryBatch:
    """A batch by `by`; its commitments sorted by id (as the contract requires) unless not
    `sort`, or unless the lists differ in length."""
    ids, qtys = tuple(commitment_ids), tuple(quantities)
    if sort and len(ids) == len(qtys):
        pairs = sorted(zip(ids, qtys, strict=True))
        ids, qtys = tuple(c for c, _ in pairs), tuple(q for _, q in pairs)
    return DeliveryBatch(
        id=new_id(by.address),
        commitment_ids=ids,
        quantities=qtys,
        line_count=len(quantities) if line_count is None else line_count,
        batch_root=new_id(by.address),
        evidence_hash=new_id(by.address),
    )


# ---------------------------------------------------------------------------- helpers


def appended(ledger: LedgerContract, tx_receipt: Any) -> list[Any]:
    """The RecordAppended events of one transaction, in log order."""
    return list(ledger.contract.events.RecordAppended().process_receipt(tx_receipt, errors=DISCARD))


@dataclass
class Book:
    """Signs and submits records on one deployment, remembering what went in."""

    ledger: LedgerContract
    payer: LocalAccount
    signed: list[SignedRecord] = field(default_factory=list)

    @property
    def domain(self) -> Any:
        return self.ledger.deployment.domain

    def sign(self, record: Record, who: LocalAccount) -> SignedRecord:
        return record.sign(who.key, self.domain)

    def submit(self, record: Record | SignedRecord, who: LocalAccount | None = None) -> Any:
        """Submits one record in its own transaction; returns the transaction receipt."""
        signed = record if isinstance(record, SignedRecord) else self.sign(record, _req(who))
        tx_receipt = self.ledger.submit(signed, self.payer)
        self.signed.append(signed)
        return tx_receipt

    def refused(self, record: Record | SignedRecord, who: LocalAccount | None = None) -> str:
        """Submits a record that must be refused; returns the contract's error name."""
        signed = record if isinstance(record, SignedRecord) else self.sign(record, _req(who))
        size = self.ledger.log_size()
        with pytest.raises(RecordError) as info:
            self.ledger.submit(signed, self.payer)
        assert self.ledger.log_size() == size
        return info.value.code

    def multicall(self, signed: Sequence[SignedRecord]) -> Any:
        calls = [self.ledger.submit_calldata(s) for s in signed]
        fn = self.ledger.contract.functions.multicall(calls)
        try:
            fn.call({"from": self.payer.address})
        except (ContractCustomError, ContractLogicError) as exc:
            raise revert_error(self.ledger.abi, exc) from None
        tx = fn.build_transaction({"from": self.payer.address})
        tx_receipt = send_transaction(self.ledger.w3, self.payer, dict(tx))
        self.signed.extend(signed)
        return tx_receipt


def own_id(record: Record, who: LocalAccount) -> Record:
    """`record` with a fresh id scoped to `who` (who then can sign it without squatting)."""
    return dataclasses.replace(record, id=new_id(who.address))


def _req(who: LocalAccount | None) -> LocalAccount:
    assert who is not None, "an unsigned record needs a signer"
    return who


def with_signature(signed: SignedRecord, signature: bytes) -> SignedRecord:
    return dataclasses.replace(signed, signature=signature)


def high_s(signature: bytes) -> bytes:
    """The malleated twin of a valid signature: s' = n - s with v flipped, same signer."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def fresh_ledger(env: ChainEnv, admin_delay: int | None = None) -> LedgerContract:
    """A new AidLedger (empty log) on the session's anvil, with the session's roles."""
    a = env.actors
    deployment = deploy(env.w3, a.admin, settings=env.settings, admin_delay=admin_delay)
    ledger = LedgerContract(env.w3, deployment, env.ledger.artifact)
    c = ledger.contract
    calls = [
        c.encode_abi("registerCounty", args=[a.county_a.address, COUNTY_A, COUNTY_NAME_A]),
        c.encode_abi("registerCounty", args=[a.county_b.address, COUNTY_B, COUNTY_NAME_B]),
        c.encode_abi(
            "registerOrganization",
            args=[a.org_a.address, ORG_CODE_A.encode().ljust(32, b"\0"), ORG_NAME_A, 3, ""],
        ),
        c.encode_abi(
            "registerOrganization",
            args=[a.org_b.address, ORG_CODE_B.encode().ljust(32, b"\0"), ORG_NAME_B, 2, ""],
        ),
        c.encode_abi("registerAuditor", args=[a.auditor.address, AUDITOR_NAME]),
    ]
    tx = c.functions.multicall(calls).build_transaction({"from": a.admin.address})
    send_transaction(env.w3, a.admin, dict(tx))
    assert ledger.county_of(a.county_b.address) == COUNTY_B
    return ledger


@pytest.fixture(scope="module")
def new_ledger(env: ChainEnv) -> Callable[[], LedgerContract]:
    return lambda: fresh_ledger(env)


def open_commitment(
    book: Book, env: ChainEnv, quantity: int = 100, org: LocalAccount | None = None
) -> tuple[ProjectAnchor, Commitment]:
    """A need of county A and a commitment against it by org A (or `org`)."""
    n = need(env.actors.county_a)
    book.submit(n, env.actors.county_a)
    c = commitment(org or env.actors.org_a, n.project_id, quantity)
    book.submit(c, org or env.actors.org_a)
    return n, c


def open_delivery(
    book: Book, env: ChainEnv, quantity: int = 10
) -> tuple[ProjectAnchor, Commitment, Delivery]:
    """`open_commitment` of 100 and a delivery of `quantity` against it by org A."""
    n, c = open_commitment(book, env)
    d = delivery(env.actors.org_a, c.id, quantity)
    book.submit(d, env.actors.org_a)
    return n, c, d


# ---------------------------------------------------------------------------- a mixed scenario


class Scenario:
    """Builds a valid sequence of records of random kinds from a list of choices.

    Each step asks for a kind; when what it needs does not exist yet (no need to commit
    to, nothing left to deliver…) it anchors a new need instead, so every step is valid.
    """

    KINDS = ("need", "supply", "version", "commitment", "delivery", "batch", "receipt", "flag")

    def __init__(self, env: ChainEnv) -> None:
        self.a = env.actors
        self.needs: list[tuple[bytes, int]] = []  # (project id, county)
        self.projects: list[tuple[bytes, int, LocalAccount, ProjectKind, int]] = []
        self.open: list[tuple[bytes, int, LocalAccount, int]] = []  # commitment, left, org, county
        self.deliveries: list[tuple[bytes, int, int]] = []  # unreceipted: id, quantity, county
        self.ids: list[bytes] = []

    def county_key(self, county: int) -> LocalAccount:
        return self.a.county_a if county == COUNTY_A else self.a.county_b

    def step(self, kind: str, amount: int) -> tuple[Record, LocalAccount]:
        record, who = self._step(kind, amount)
        self.ids.append(record.id)
        return record, who

    def _need(self, amount: int) -> tuple[Record, LocalAccount]:
        county = COUNTY_A if amount % 2 == 0 else COUNTY_B
        n = need(self.county_key(county), county, category=1 + amount % 10)
        self.needs.append((n.project_id, county))
        self.projects.append((n.project_id, 1, self.county_key(county), ProjectKind.NEED, county))
        return n, self.county_key(county)

    def _step(self, kind: str, amount: int) -> tuple[Record, LocalAccount]:
        if kind == "supply":
            org = self.a.org_a if amount % 2 == 0 else self.a.org_b
            s = supply(org)
            self.projects.append((s.project_id, 1, org, ProjectKind.SUPPLY, COUNTY_A))
            return s, org
        if kind == "version" and self.projects:
            i = amount % len(self.projects)
            pid, version, owner, pkind, county = self.projects[i]
            anchor = ProjectAnchor(
                id=ProjectAnchor.anchor_id(pid, version + 1),
                project_id=pid,
                project_kind=pkind,
                county=county,
                category=2,
                title=f"第{version + 1}版",
                content_hash=new_id(owner.address),
                version=version + 1,
            )
            self.projects[i] = (pid, version + 1, owner, pkind, county)
            return anchor, owner
        if kind == "commitment" and self.needs:
            pid, county = self.needs[amount % len(self.needs)]
            org = self.a.org_a if amount % 3 else self.a.org_b
            quantity = 1 + amount % 1000
            c = commitment(org, pid, quantity, resource_kind=1 + amount % 3)
            self.open.append((c.id, quantity, org, county))
            return c, org
        live = [o for o in self.open if o[1] > 0]
        if kind == "delivery" and live:
            cid, left, org, county = live[amount % len(live)]
            quantity = 1 + amount % left
            d = delivery(org, cid, quantity)
            self._deliver(cid, quantity)
            self.deliveries.append((d.id, quantity, county))
            return d, org
        if kind == "batch" and live:
            org = live[amount % len(live)][2]
            mine = [o for o in live if o[2] == org][: 1 + amount % 3]
            quantities = [1 + amount % o[1] for o in mine]
            b = batch(org, [o[0] for o in mine], quantities, line_count=1 + amount % 5000)
            for o, q in zip(mine, quantities, strict=True):
                self._deliver(o[0], q)
            if len(mine) == 1:
                self.deliveries.append((b.id, quantities[0], mine[0][3]))
            return b, org
        if kind == "receipt" and self.deliveries:
            did, quantity, county = self.deliveries.pop(amount % len(self.deliveries))
            who = self.county_key(county)
            return receipt(who, did, amount % (quantity + 1)), who
        if kind == "flag" and self.ids:
            auditor = self.a.auditor
            return flag(auditor, self.ids[amount % len(self.ids)], 1 + amount % 5), auditor
        return self._need(amount)

    def _deliver(self, cid: bytes, quantity: int) -> None:
        self.open = [
            (c, left - quantity if c == cid else left, o, k) for c, left, o, k in self.open
        ]


def check_proofs(leaves: Sequence[bytes], roots: dict[int, bytes]) -> None:
    """Every inclusion and consistency proof between the sizes in `roots` verifies."""
    sizes = sorted(roots)
    for m in sizes:
        assert merkle.root(leaves[:m]) == roots[m]
        for i in range(m):
            proof = merkle.inclusion_proof(leaves[:m], i)
            merkle.verify_inclusion(leaves[i], i, m, proof, roots[m])
        for old in sizes:
            if old <= m:
                proof = merkle.consistency_proof(leaves[:m], old)
                merkle.verify_consistency(old, m, roots[old], roots[m], proof)


# ---------------------------------------------------------------------------- the log


def test_empty_log_root_is_sha256_of_nothing(new_ledger: Callable[[], LedgerContract]) -> None:
    ledger = new_ledger()
    assert ledger.log_size() == 0
    assert ledger.log_root() == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_log_roots_known_answers(env: ChainEnv, new_ledger: Callable[[], LedgerContract]) -> None:
    """After each of 0..33 appends, logRoot() equals the Python root of the leaves, taken
    both from the events and from canonical_bytes(); history stays readable per block."""
    ledger = new_ledger()
    book = Book(ledger, env.actors.relayers[1])
    scenario = Scenario(env)
    kinds = Scenario.KINDS
    event_leaves: list[bytes] = []
    python_leaves: list[bytes] = []
    frontier = merkle.Frontier()
    at_block: dict[int, tuple[int, bytes]] = {}
    for n in range(1, 34):
        record, who = scenario.step(kinds[(n * 5) % len(kinds)], n * 7919)
        signed = book.sign(record, who)
        tx_receipt = book.submit(signed)
        (event,) = appended(ledger, tx_receipt)
        args = event["args"]
        assert args["index"] == n - 1
        assert args["recordId"] == record.id
        assert args["kind"] == int(record.KIND)
        assert bytes(args["record"]) == signed.canonical_bytes()
        assert bytes(args["leafHash"]) == merkle.leaf_hash(bytes(args["record"]))
        event_leaves.append(bytes(args["leafHash"]))
        python_leaves.append(signed.leaf_hash())
        frontier.append(signed.leaf_hash())
        onchain = ledger.log_root()
        assert ledger.log_size() == n
        assert onchain == merkle.root(event_leaves) == merkle.root(python_leaves)
        assert onchain == frontier.root()
        at_block[int(tx_receipt["blockNumber"])] = (n, onchain)
    assert len({leaf for leaf in python_leaves}) == len(python_leaves)
    for block, (size, root) in at_block.items():
        assert ledger.log_size(block) == size
        assert ledger.log_root(block) == root
    assert ledger.log_root(ledger.deployment.block) == merkle.EMPTY_ROOT
    # The same leaves read back the way an indexer reads them.
    logs = ledger.contract.events.RecordAppended().get_logs(from_block=ledger.deployment.block)
    assert [bytes(e["args"]["leafHash"]) for e in logs] == event_leaves
    for e, signed in zip(logs, book.signed, strict=True):
        assert signed_from_bytes(bytes(e["args"]["record"])) == signed
        assert signed_from_bytes(bytes(e["args"]["record"])).verify() == signed.signer


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.lists(
        st.lists(
            st.tuples(st.sampled_from(Scenario.KINDS), st.integers(0, 2**32)),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_random_appends_match_python_tree(
    env: ChainEnv, groups: list[list[tuple[str, int]]]
) -> None:
    """Random records, one transaction (a multicall) per group: after each transaction the
    contract's root is the Python root, and every proof over the event leaves verifies."""
    ledger = fresh_ledger(env)
    book = Book(ledger, env.actors.relayers[1])
    scenario = Scenario(env)
    leaves: list[bytes] = []
    roots = {0: ledger.log_root()}
    for group in groups:
        signed = [book.sign(*scenario.step(kind, amount)) for kind, amount in group]
        tx_receipt = book.multicall(signed) if len(signed) > 1 else book.submit(signed[0])
        events = appended(ledger, tx_receipt)
        assert [e["args"]["index"] for e in events] == list(
            range(len(leaves), len(leaves) + len(signed))
        )
        assert [bytes(e["args"]["leafHash"]) for e in events] == [s.leaf_hash() for s in signed]
        leaves += [bytes(e["args"]["leafHash"]) for e in events]
        roots[len(leaves)] = ledger.log_root()
        assert ledger.log_size() == len(leaves)
    check_proofs(leaves, roots)


def test_batch_line_proves_to_log_root(env: ChainEnv, book: Book) -> None:
    """A delivery line: line → batch root (the signed field) → the contract's log root."""
    a = env.actors
    _, c1 = open_commitment(book, env, 1000)
    _, c2 = open_commitment(book, env, 1000)
    lines = [
        DeliveryLine(cid, "化肥", 10 + i, "kg", 1_735_689_600 + i, new_id(), new_id())
        for i, cid in enumerate([c1.id, c2.id, c1.id, c1.id, c2.id])
    ]
    line_leaves = [line.leaf_hash() for line in lines]
    ids, quantities = batch_totals(lines)
    b = DeliveryBatch(
        id=new_id(a.org_a.address),
        commitment_ids=ids,
        quantities=quantities,
        line_count=len(lines),
        batch_root=merkle.root(line_leaves),
        evidence_hash=new_id(),
    )
    tx_receipt = book.submit(b, a.org_a)
    (event,) = appended(env.ledger, tx_receipt)
    index = event["args"]["index"]
    logs = env.ledger.contract.events.RecordAppended().get_logs(
        from_block=env.ledger.deployment.block
    )
    log_leaves = [bytes(e["args"]["leafHash"]) for e in logs]
    size = env.ledger.log_size()
    assert len(log_leaves) == size
    log_root = env.ledger.log_root()
    record = signed_from_bytes(bytes(event["args"]["record"]))
    assert isinstance(record.record, DeliveryBatch)
    for i, line in enumerate(lines):
        merkle.verify_inclusion(
            line.leaf_hash(),
            i,
            len(lines),
            merkle.inclusion_proof(line_leaves, i),
            record.record.batch_root,
        )
    merkle.verify_inclusion(
        record.leaf_hash(), index, size, merkle.inclusion_proof(log_leaves, index), log_root
    )
    assert env.ledger.commitment_totals(c1.id) == (1000, 10 + 12 + 13, 0)
    assert env.ledger.commitment_totals(c2.id) == (1000, 11 + 14, 0)


# ---------------------------------------------------------------------------- accepted


def test_every_kind_accepted(env: ChainEnv, book: Book) -> None:
    a = env.actors
    ledger = env.ledger
    s = supply(a.org_b)
    n = need(a.county_a)
    c = commitment(a.org_a, n.project_id, 500, ResourceKind.FUNDS)
    d = delivery(a.org_a, c.id, 200)
    r = receipt(a.county_a, d.id, 150)
    b = batch(a.org_a, [c.id], [300], line_count=42)
    rb = receipt(a.county_a, b.id, 300)
    f = flag(a.auditor, d.id, 2)
    n2 = need(a.county_a, project_id=n.project_id, version=2)
    steps: list[tuple[Record, LocalAccount]] = [
        (s, a.org_b),
        (n, a.county_a),
        (c, a.org_a),
        (d, a.org_a),
        (r, a.county_a),
        (b, a.org_a),
        (rb, a.county_a),
        (f, a.auditor),
        (n2, a.county_a),
    ]
    for record, who in steps:
        size = ledger.log_size()
        signed = book.sign(record, who)
        tx_receipt = book.submit(signed)
        (event,) = appended(ledger, tx_receipt)
        assert event["args"]["index"] == size
        assert event["args"]["kind"] == int(record.KIND)
        assert bytes(event["args"]["record"]) == signed.canonical_bytes()
        assert bytes(event["args"]["leafHash"]) == signed.leaf_hash()
        assert ledger.record_kind(record.id) == int(record.KIND)
        assert ledger.log_size() == size + 1
    assert ledger.commitment_totals(c.id) == (500, 500, 450)
    # the program kinds: tests/evm/test_contract_programs.py::test_every_program_kind_accepted
    assert {int(k) for k in Kind if k < Kind.PAIRING} == {int(rec.KIND) for rec, _ in steps}


def test_kind_specific_events(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c = open_commitment(book, env, 80)
    d = delivery(a.org_a, c.id, 80)
    tx_receipt = book.submit(d, a.org_a)
    (ev,) = env.ledger.contract.events.DeliveryRecorded().process_receipt(
        tx_receipt, errors=DISCARD
    )
    assert ev["args"]["id"] == d.id
    assert ev["args"]["commitmentId"] == c.id
    assert ev["args"]["org"] == a.org_a.address
    assert ev["args"]["quantity"] == 80
    tx_receipt = book.submit(receipt(a.county_a, d.id, 80), a.county_a)
    (ev,) = env.ledger.contract.events.ReceiptRecorded().process_receipt(tx_receipt, errors=DISCARD)
    assert ev["args"]["county"] == a.county_a.address
    assert env.ledger.commitment_totals(c.id) == (80, 80, 80)


# ---------------------------------------------------------------------------- forged signatures


def test_unregistered_signer_refused_for_every_kind(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, c, d = open_delivery(book, env)
    records: list[Record] = [
        need(a.stranger),
        supply(a.stranger),
        commitment(a.stranger, n.project_id),
        delivery(a.stranger, c.id, 1),
        receipt(a.stranger, d.id, 1),
        flag(a.stranger, d.id),
        batch(a.stranger, [c.id], [1]),
    ]
    for record in records:
        assert book.refused(record, a.stranger) == "MissingRole", record.KIND


def test_altered_signature_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, _ = open_commitment(book, env)
    signed = book.sign(commitment(a.org_a, n.project_id), a.org_a)
    sig = signed.signature
    # Any flipped bit of r or s recovers some other key (or none): never org A, so the id
    # (scoped to org A) is not the recovered signer's.
    for pos in (0, 17, 31, 32, 50, 63):
        altered = bytearray(sig)
        altered[pos] ^= 0x04
        code = book.refused(with_signature(signed, bytes(altered)))
        assert code in {"RecordIdNotScoped", "InvalidSignature"}, (pos, code)
    assert book.refused(with_signature(signed, sig[:64] + bytes([55 - sig[64]]))) in {
        "RecordIdNotScoped",
        "InvalidSignature",
    }
    assert book.refused(with_signature(signed, sig[:64] + bytes([29]))) == "InvalidSignature"
    assert book.refused(with_signature(signed, sig[:64] + bytes([0]))) == "InvalidSignature"
    assert book.refused(with_signature(signed, sig[:64])) == "InvalidSignature"
    assert book.refused(with_signature(signed, sig + b"\0")) == "InvalidSignature"
    assert book.refused(with_signature(signed, bytes(65))) == "InvalidSignature"
    book.submit(signed)  # the untouched original still goes in


def test_high_s_malleated_signature_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, c = open_commitment(book, env)
    originals: list[tuple[Record, LocalAccount]] = [
        (need(a.county_a), a.county_a),
        (commitment(a.org_a, n.project_id), a.org_a),
        (delivery(a.org_a, c.id, 1), a.org_a),
        (flag(a.auditor, c.id), a.auditor),
        (batch(a.org_a, [c.id], [1]), a.org_a),
    ]
    for record, who in originals:
        signed = book.sign(record, who)
        twin = with_signature(signed, high_s(signed.signature))
        assert book.refused(twin) == "InvalidSignature", record.KIND
        book.submit(signed)  # the low-s original is fine, and only once
        assert book.refused(twin) == "RecordIdUsed", record.KIND


def test_tampered_field_with_original_signature_refused(env: ChainEnv, book: Book) -> None:
    """A relayer that changes a signed field (here the quantity) changes the signer."""
    a = env.actors
    n, c = open_commitment(book, env, 100)
    d = delivery(a.org_a, c.id, 10)
    signed = book.sign(d, a.org_a)
    bigger = dataclasses.replace(signed, record=dataclasses.replace(d, quantity=90))
    assert book.refused(bigger) == "RecordIdNotScoped"
    cm = commitment(a.org_a, n.project_id, 5)
    signed_c = book.sign(cm, a.org_a)
    moved = dataclasses.replace(signed_c, record=dataclasses.replace(cm, need_id=new_id()))
    assert book.refused(moved) == "RecordIdNotScoped"


def test_record_for_another_deployment_refused(
    env: ChainEnv, book: Book, new_ledger: Callable[[], LedgerContract]
) -> None:
    """EIP-712 domain separation: a record signed for one AidLedger is no use on another."""
    a = env.actors
    other = Book(new_ledger(), env.actors.relayers[1])
    n = need(a.county_a)
    signed_elsewhere = other.sign(n, a.county_a)
    assert book.refused(signed_elsewhere) == "RecordIdNotScoped"
    other.submit(signed_elsewhere)
    assert env.ledger.record_kind(n.id) == 0


def test_refused_in_a_sent_transaction_too(env: ChainEnv, book: Book) -> None:
    """The contract itself is the gate: a forged record sent without the eth_call check
    reverts on chain and appends nothing."""
    a = env.actors
    signed = book.sign(need(a.stranger), a.stranger)
    size = env.ledger.log_size()
    tx = env.ledger.submit_call(signed).build_transaction(
        {"from": book.payer.address, "gas": 500_000}
    )
    with pytest.raises(ChainError) as info:
        send_transaction(env.w3, book.payer, dict(tx))
    assert info.value.code == "tx_reverted"
    assert env.ledger.log_size() == size


# ---------------------------------------------------------------------------- replay


def test_replay_refused_for_every_kind(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n = need(a.county_a)
    c = commitment(a.org_a, n.project_id, 100)
    d = delivery(a.org_a, c.id, 10)
    steps: list[tuple[Record, LocalAccount]] = [
        (n, a.county_a),
        (supply(a.org_a), a.org_a),
        (c, a.org_a),
        (d, a.org_a),
        (receipt(a.county_a, d.id, 10), a.county_a),
        (flag(a.auditor, c.id), a.auditor),
        (batch(a.org_a, [c.id], [5]), a.org_a),
    ]
    for record, who in steps:
        signed = book.sign(record, who)
        book.submit(signed)
        assert book.refused(signed) == "RecordIdUsed", record.KIND
    # A new record reusing a used id, even by another author, is refused as well.
    assert (
        book.refused(dataclasses.replace(flag(a.auditor, d.id), id=d.id), a.auditor)
        == "RecordIdUsed"
    )
    assert env.ledger.commitment_totals(c.id) == (100, 15, 10)


# ---------------------------------------------------------------------------- roles and counties


def test_wrong_role_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, c, d = open_delivery(book, env)
    cases: list[tuple[Record, LocalAccount]] = [
        (receipt(a.org_a, d.id, 10), a.org_a),  # org signs a receipt
        (commitment(a.county_a, n.project_id), a.county_a),  # county signs a commitment
        (delivery(a.county_a, c.id, 1), a.county_a),
        (batch(a.auditor, [c.id], [1]), a.auditor),
        (flag(a.org_a, d.id), a.org_a),
        (flag(a.county_a, d.id), a.county_a),
        (need(a.org_a), a.org_a),  # a need project is the county's
        (supply(a.county_a), a.county_a),  # a supply project is an organization's
        (need(a.auditor), a.auditor),
        (receipt(a.admin, d.id, 10), a.admin),  # the admin registers roles but signs no records
    ]
    for record, who in cases:
        assert book.refused(record, who) == "MissingRole", (record.KIND, who.address)


def test_missing_role_error_names_signer_and_role(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, _ = open_commitment(book, env)
    with pytest.raises(RecordError) as info:
        env.ledger.submit(book.sign(commitment(a.county_a, n.project_id), a.county_a), book.payer)
    assert info.value.code == "MissingRole"
    signer, role = info.value.fields["args"]
    assert signer.lower() == a.county_a.address.lower()  # eth_abi decodes lowercase
    assert role == "0x" + env.ledger.role("ORG").hex()


def test_wrong_county_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, _, d = open_delivery(book, env)
    assert book.refused(receipt(a.county_b, d.id, 10), a.county_b) == "WrongCounty"
    assert book.refused(need(a.county_b, COUNTY_A), a.county_b) == "WrongCounty"
    assert book.refused(need(a.county_a, COUNTY_B), a.county_a) == "WrongCounty"
    book.submit(receipt(a.county_a, d.id, 10), a.county_a)


def test_role_revocation(env: ChainEnv, book: Book) -> None:
    a = env.actors
    org: LocalAccount = Account.create()
    env.ledger.register_organization(a.admin, org.address, "91110000MA01XXXX1X", "测试组织", 1)
    n = need(a.county_a)
    book.submit(n, a.county_a)
    c = commitment(org, n.project_id, 50)
    book.submit(c, org)
    book.submit(delivery(org, c.id, 10), org)
    env.ledger.deregister(a.admin, "ORG", org.address)
    assert not env.ledger.has_role("ORG", org.address)
    assert env.ledger.org_code_of(org.address) == ""
    assert book.refused(delivery(org, c.id, 10), org) == "MissingRole"
    assert book.refused(commitment(org, n.project_id), org) == "MissingRole"
    assert book.refused(supply(org), org) == "MissingRole"
    assert env.ledger.commitment_totals(c.id) == (50, 10, 0)


def test_only_admin_registers(env: ChainEnv) -> None:
    a = env.actors
    with pytest.raises(RecordError) as info:
        env.ledger.register_auditor(a.stranger, a.stranger.address, AUDITOR_NAME)
    assert info.value.code == "AccessControlUnauthorizedAccount"
    with pytest.raises(RecordError) as info:
        env.ledger.register_organization(a.org_a, a.stranger.address, ORG_CODE_B, ORG_NAME_B)
    assert info.value.code == "AccessControlUnauthorizedAccount"
    with pytest.raises(RecordError) as info:
        env.ledger.register_county(a.admin, a.stranger.address, 52232, COUNTY_NAME_A)
    assert info.value.code == "InvalidCountyCode"
    with pytest.raises(RecordError) as info:
        env.ledger.register_organization(a.admin, a.stranger.address, "", "测试组织", 1)
    assert info.value.code == "InvalidOrgCode"


def test_registrations_carry_names(env: ChainEnv) -> None:
    """Each registration event carries the name (and an organization's type and authority);
    the contract refuses an empty, oversized or malformed name and a type outside 1..3, and
    the Python side refuses a type the credit code contradicts before anything is sent."""
    a = env.actors
    ledger, c = env.ledger, env.ledger.contract
    county, org, auditor = Account.create(), Account.create(), Account.create()
    tx = ledger.register_county(a.admin, county.address, COUNTY_B, " 开阳县乡村振兴局 ")
    (ev,) = c.events.CountyRegistered().process_receipt(tx, errors=DISCARD)
    assert (ev["args"]["county"], ev["args"]["name"]) == (COUNTY_B, "开阳县乡村振兴局")
    code = "51522300MJY450802U"  # 51…: 社会团体
    tx = ledger.register_organization(a.admin, org.address, code, "黔西南州乡村振兴促进会",
                                      authority="黔西南州民政局")  # fmt: skip
    (ev,) = c.events.OrganizationRegistered().process_receipt(tx, errors=DISCARD)
    args = ev["args"]
    assert (args["name"], args["orgType"], args["authority"]) == (
        "黔西南州乡村振兴促进会",
        1,
        "黔西南州民政局",
    )
    assert bytes(args["orgCode"]).rstrip(b"\0").decode() == code
    tx = ledger.register_auditor(a.admin, auditor.address, "审计组")
    (ev,) = c.events.AuditorRegistered().process_receipt(tx, errors=DISCARD)
    assert ev["args"]["name"] == "审计组"
    stranger = Account.create().address
    # The Python checks, with codes, before a transaction is sent.
    for bad, want in (
        (lambda: ledger.register_organization(a.admin, stranger, code, "某会", 3),
         "org_type_mismatch"),
        (lambda: ledger.register_organization(a.admin, stranger, ORG_CODE_A, "某会"),
         "org_type_required"),
        (lambda: ledger.register_organization(a.admin, stranger, code, "某会", "公司"),
         "invalid_org_type"),
        (lambda: ledger.register_county(a.admin, stranger, COUNTY_A, "  "), "invalid_name"),
        (lambda: ledger.register_auditor(a.admin, stranger, "审" * 67), "invalid_name"),
    ):  # fmt: skip
        with pytest.raises(RecordError) as info:
            bad()
        assert info.value.code == want
    # The contract's own checks, past the Python ones.
    fn = c.functions
    code32 = code.encode().ljust(32, b"\0")
    for call, want in (
        (fn.registerCounty(stranger, COUNTY_A, ""), "InvalidName"),
        (fn.registerAuditor(stranger, "x" * 201), "InvalidName"),
        (fn.registerOrganization(stranger, code32, "某会", 0, ""), "InvalidOrgType"),
        (fn.registerOrganization(stranger, code32, "某会", 4, ""), "InvalidOrgType"),
        (fn.registerOrganization(stranger, code32, "", 1, ""), "InvalidName"),
        (fn.registerOrganization(stranger, code32, "某会", 1, "x" * 201), "InvalidAuthority"),
    ):
        with pytest.raises(RecordError) as info:
            _admin_call(ledger, a.admin, call)
        assert info.value.code == want
    assert not ledger.has_role("COUNTY", stranger) and not ledger.has_role("ORG", stranger)


# ------------------------------------------------------------------------ ids cannot be squatted


def test_id_squatting_refused(env: ChainEnv, book: Book) -> None:
    """Another role holder who sees a pending record and submits its id first is refused
    (the id is the victim's: it starts with the victim's address); the victim's lands."""
    a = env.actors
    victim_need = book.sign(need(a.county_a), a.county_a)  # pending, seen in the mempool
    victim_id = victim_need.id
    squats: list[tuple[Record, LocalAccount]] = [
        (dataclasses.replace(flag(a.auditor, new_id()), id=victim_id), a.auditor),
        (dataclasses.replace(supply(a.org_b), id=victim_id), a.org_b),
        (dataclasses.replace(need(a.county_b, COUNTY_B), id=victim_id), a.county_b),
    ]
    for record, who in squats:
        with pytest.raises(RecordError) as info:
            env.ledger.submit(book.sign(record, who), book.payer)
        assert info.value.code == "RecordIdNotScoped", who.address
        rid, signer = info.value.fields["args"]
        assert (rid, signer.lower()) == ("0x" + victim_id.hex(), who.address.lower())
    # The victim's project id cannot be taken either, even under an id of the squatter's own.
    pid = victim_need.record.project_id  # type: ignore[attr-defined]
    taken = need(a.county_b, COUNTY_B, project_id=pid)
    taken = dataclasses.replace(taken, id=new_id(a.county_b.address))
    assert book.refused(taken, a.county_b) == "ProjectIdNotScoped"
    book.submit(victim_need)
    assert env.ledger.record_kind(victim_id) == int(Kind.PROJECT_ANCHOR)
    # The same for a commitment: org B copies org A's pending commitment id.
    c = book.sign(commitment(a.org_a, pid), a.org_a)
    copied = dataclasses.replace(commitment(a.org_b, pid), id=c.id)
    assert book.refused(copied, a.org_b) == "RecordIdNotScoped"
    book.submit(c)
    assert env.ledger.commitment_totals(c.id) == (100, 0, 0)


# ---------------------------------------------------------------------- roles by registration only


def _admin_call(ledger: LedgerContract, who: LocalAccount, fn: Any) -> Any:
    return ledger._admin_tx(who, fn)


def test_role_grant_bypass_refused(env: ChainEnv) -> None:
    """grantRole, revokeRole and renounceRole cannot grant or take a role past the
    registration functions, not even for the admin; what registration grants is intact."""
    a = env.actors
    ledger, c = env.ledger, env.ledger.contract
    stranger = Account.create()
    for role in ("ORG", "COUNTY", "AUDITOR", "ADMIN"):
        with pytest.raises(RecordError) as info:
            _admin_call(ledger, a.admin, c.functions.grantRole(ledger.role(role), stranger.address))
        assert info.value.code == "RoleManagedByRegistration", role
        assert info.value.fields["args"] == ["0x" + ledger.role(role).hex()]
        assert not ledger.has_role(role, stranger.address)
    with pytest.raises(RecordError) as info:
        _admin_call(ledger, a.admin, c.functions.grantRole(bytes(32), stranger.address))
    assert info.value.code == "RoleManagedByRegistration"
    with pytest.raises(RecordError) as info:
        _admin_call(ledger, a.admin, c.functions.revokeRole(ledger.role("ORG"), a.org_a.address))
    assert info.value.code == "RoleManagedByRegistration"
    assert ledger.has_role("ORG", a.org_a.address)
    with pytest.raises(RecordError) as info:
        _admin_call(
            ledger, a.admin, c.functions.renounceRole(ledger.role("ADMIN"), a.admin.address)
        )
    assert info.value.code == "RoleManagedByRegistration"
    assert ledger.has_role("ADMIN", a.admin.address)
    # No organization without a credit code, no county with code 0, by any route.
    who = stranger.address
    for bad in (lambda: ledger.register_county(a.admin, who, 0, COUNTY_NAME_A),
                lambda: ledger.register_organization(a.admin, who, "", "测试组织", 1)):  # fmt: skip
        with pytest.raises(RecordError):
            bad()
    assert not ledger.has_role("COUNTY", stranger.address)
    assert not ledger.has_role("ORG", stranger.address)


def test_self_receipt_refused(env: ChainEnv, book: Book) -> None:
    """One address cannot be both an organization and a county office (or an auditor), so
    nobody confirms their own deliveries; a former organization re-registered as a county
    still cannot confirm what it delivered."""
    a = env.actors
    ledger = env.ledger
    dual: LocalAccount = Account.create()
    ledger.register_organization(a.admin, dual.address, "91110000MA01DUAL1X", "测试组织", 1)
    with pytest.raises(RecordError) as info:
        ledger.register_county(a.admin, dual.address, COUNTY_A, COUNTY_NAME_A)
    assert info.value.code == "RoleConflict"
    held = info.value.fields["args"][1]
    assert held == "0x" + ledger.role("ORG").hex()
    with pytest.raises(RecordError) as info:
        ledger.register_auditor(a.admin, dual.address, AUDITOR_NAME)
    assert info.value.code == "RoleConflict"
    org, name, adm = ORG_CODE_A, ORG_NAME_A, a.admin
    for register in (lambda: ledger.register_organization(adm, a.county_a.address, org, name, 3),
                     lambda: ledger.register_organization(adm, a.auditor.address, org, name, 3),
                     lambda: ledger.register_county(adm, a.auditor.address, COUNTY_A, "册亨县"),
                     lambda: ledger.register_auditor(adm, a.county_b.address, "审计")):  # fmt: skip
        with pytest.raises(RecordError) as info:
            register()
        assert info.value.code == "RoleConflict"
    assert not ledger.has_role("COUNTY", dual.address)
    ledger.register_organization(a.admin, dual.address, "91110000MA01DUAL2X", "测试", 1)  # fine
    # The organization delivers; its own receipt is refused, the county's lands.
    n = need(a.county_a)
    book.submit(n, a.county_a)
    c = commitment(dual, n.project_id, 50)
    book.submit(c, dual)
    d1, d2 = delivery(dual, c.id, 20), delivery(dual, c.id, 30)
    book.submit(d1, dual)
    book.submit(d2, dual)
    assert book.refused(receipt(dual, d1.id, 20), dual) == "MissingRole"
    book.submit(receipt(a.county_a, d1.id, 20), a.county_a)
    # Deregistered and registered again as the county office: still not its own receipt.
    s = supply(dual)
    book.submit(s, dual)
    ledger.deregister(a.admin, "ORG", dual.address)
    ledger.register_county(a.admin, dual.address, COUNTY_A, COUNTY_NAME_A)
    with pytest.raises(RecordError) as info:
        ledger.submit(book.sign(receipt(dual, d2.id, 30), dual), book.payer)
    assert info.value.code == "SelfReceipt"
    assert info.value.fields["args"][0] == "0x" + d2.id.hex()
    # ... nor turn its supply project into a need of its county
    as_need = dataclasses.replace(
        supply(dual, project_id=s.project_id, version=2), project_kind=ProjectKind.NEED
    )
    assert book.refused(as_need, dual) == "ProjectKindChanged"
    book.submit(receipt(a.county_a, d2.id, 30), a.county_a)
    assert ledger.commitment_totals(c.id) == (50, 50, 50)


def test_deregistration_and_renouncing(env: ChainEnv, book: Book) -> None:
    a = env.actors
    ledger, c = env.ledger, env.ledger.contract
    county: LocalAccount = Account.create()
    ledger.register_county(a.admin, county.address, COUNTY_B, COUNTY_NAME_B)
    book.submit(need(county, COUNTY_B), county)
    with pytest.raises(RecordError) as info:
        ledger.deregister(a.org_a, "COUNTY", county.address)
    assert info.value.code == "AccessControlUnauthorizedAccount"
    tx = ledger.deregister(a.admin, "COUNTY", county.address)
    (ev,) = c.events.CountyDeregistered().process_receipt(tx, errors=DISCARD)
    assert (ev["args"]["account"], ev["args"]["county"]) == (county.address, COUNTY_B)
    assert ledger.county_of(county.address) == 0 and not ledger.has_role("COUNTY", county.address)
    assert book.refused(need(county, COUNTY_B), county) == "MissingRole"
    with pytest.raises(RecordError) as info:
        ledger.deregister(a.admin, "COUNTY", county.address)
    assert info.value.code == "NotRegistered"
    # A key may give up its own role; that is a deregistration too, with the same event.
    org: LocalAccount = Account.create()
    ledger.register_organization(a.admin, org.address, "91110000MA01RENO1X", "测试组织", 1)
    send_transaction(env.w3, a.admin, {"to": org.address, "value": 10**17})
    renounce = c.functions.renounceRole(ledger.role("ORG"), org.address)
    with pytest.raises(RecordError) as info:  # only for oneself
        _admin_call(ledger, a.admin, renounce)
    assert info.value.code == "AccessControlBadConfirmation"
    tx = _admin_call(ledger, org, renounce)
    (ev,) = c.events.OrganizationDeregistered().process_receipt(tx, errors=DISCARD)
    assert ev["args"]["account"] == org.address
    assert not ledger.has_role("ORG", org.address) and ledger.org_code_of(org.address) == ""
    auditor: LocalAccount = Account.create()
    ledger.register_auditor(a.admin, auditor.address, AUDITOR_NAME)
    tx = ledger.deregister(a.admin, "AUDITOR", auditor.address)
    (ev,) = c.events.AuditorDeregistered().process_receipt(tx, errors=DISCARD)
    assert ev["args"]["account"] == auditor.address


# ---------------------------------------------------------------------------- the admin


def test_admin_transfer_takes_two_steps_and_the_delay(env: ChainEnv) -> None:
    a = env.actors
    ledger = fresh_ledger(env, admin_delay=600)
    assert ledger.admin_delay() == 600
    assert ledger.default_admin() == a.admin.address
    assert ledger.has_role("ADMIN", a.admin.address)
    new_admin = a.relayers[2]
    with pytest.raises(RecordError) as info:  # nobody but the admin starts a transfer
        ledger.begin_admin_transfer(new_admin, new_admin.address)
    assert info.value.code == "AccessControlUnauthorizedAccount"
    ledger.begin_admin_transfer(a.admin, new_admin.address)
    pending, schedule = ledger.pending_admin()
    assert pending == new_admin.address and schedule > 0
    with pytest.raises(RecordError) as info:  # step two, too early
        ledger.accept_admin_transfer(new_admin)
    assert info.value.code == "AccessControlEnforcedDefaultAdminDelay"
    with pytest.raises(RecordError) as info:  # only the named account accepts
        ledger.accept_admin_transfer(a.stranger)
    assert info.value.code == "AccessControlInvalidDefaultAdmin"
    env.w3.provider.make_request("evm_increaseTime", [601])  # type: ignore[arg-type]
    env.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    ledger.accept_admin_transfer(new_admin)
    assert ledger.default_admin() == new_admin.address
    assert ledger.has_role("ADMIN", new_admin.address)
    assert not ledger.has_role("ADMIN", a.admin.address)
    with pytest.raises(RecordError) as info:  # the old admin registers nobody any more
        ledger.register_auditor(a.admin, Account.create().address, AUDITOR_NAME)
    assert info.value.code == "AccessControlUnauthorizedAccount"
    newcomer = Account.create()
    ledger.register_auditor(new_admin, newcomer.address, AUDITOR_NAME)
    assert ledger.has_role("AUDITOR", newcomer.address)


# ---------------------------------------------------------------------------- batch bound


def test_batch_commitments_bounded(env: ChainEnv, book: Book) -> None:
    """MAX_BATCH_COMMITMENTS (256, as ledger/batches/files.py) commitments in one batch are
    accepted; one more is refused before any is touched."""
    a = env.actors
    ledger = env.ledger
    assert ledger.contract.functions.MAX_BATCH_COMMITMENTS().call() == MAX_BATCH_COMMITMENTS
    n = need(a.county_a)
    book.submit(n, a.county_a)
    commitments = [
        book.sign(commitment(a.org_a, n.project_id, 10), a.org_a)
        for _ in range(MAX_BATCH_COMMITMENTS)
    ]
    for start in range(0, len(commitments), 64):
        book.multicall(commitments[start : start + 64])
    ids = [s.id for s in commitments]
    over = batch(a.org_a, [*ids, new_id(a.org_a.address)], [1] * (MAX_BATCH_COMMITMENTS + 1))
    with pytest.raises(RecordError) as info:
        ledger.submit(book.sign(over, a.org_a), book.payer)
    assert info.value.code == "TooManyCommitments"
    assert info.value.fields["args"][1:] == [str(MAX_BATCH_COMMITMENTS + 1), "256"]
    full = batch(a.org_a, ids, [2] * MAX_BATCH_COMMITMENTS, line_count=10_000)
    tx = book.submit(full, a.org_a)
    assert int(tx["gasUsed"]) < 15_000_000
    assert ledger.commitment_totals(ids[0]) == (10, 2, 0)


# ---------------------------------------------------------------------------- references


def test_unknown_references_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    s = supply(a.org_a)
    book.submit(s, a.org_a)
    n, c = open_commitment(book, env)
    assert book.refused(commitment(a.org_a, new_id()), a.org_a) == "UnknownNeed"
    assert book.refused(commitment(a.org_a, s.project_id), a.org_a) == "UnknownNeed"  # not a need
    assert (
        book.refused(commitment(a.org_a, n.id), a.org_a) == "UnknownNeed"
    )  # anchor id ≠ project id
    assert book.refused(delivery(a.org_a, new_id(), 1), a.org_a) == "UnknownCommitment"
    assert book.refused(batch(a.org_a, [c.id, new_id()], [1, 1]), a.org_a) == "UnknownCommitment"
    assert book.refused(receipt(a.county_a, new_id(), 1), a.county_a) == "UnknownDelivery"
    assert (
        book.refused(receipt(a.county_a, c.id, 1), a.county_a) == "UnknownDelivery"
    )  # not a delivery
    assert book.refused(flag(a.auditor, new_id()), a.auditor) == "UnknownRecord"
    book.submit(flag(a.auditor, s.id), a.auditor)
    book.submit(flag(a.auditor, c.id), a.auditor)


def test_not_commitment_owner_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c = open_commitment(book, env)
    assert book.refused(delivery(a.org_b, c.id, 1), a.org_b) == "NotCommitmentOwner"
    assert book.refused(batch(a.org_b, [c.id], [1]), a.org_b) == "NotCommitmentOwner"


# ---------------------------------------------------------------------------- quantities


def test_over_delivery_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c = open_commitment(book, env, 100)
    book.submit(delivery(a.org_a, c.id, 60), a.org_a)
    assert book.refused(delivery(a.org_a, c.id, 41), a.org_a) == "OverDelivery"
    assert book.refused(batch(a.org_a, [c.id], [41]), a.org_a) == "OverDelivery"
    with pytest.raises(RecordError) as info:
        env.ledger.submit(book.sign(delivery(a.org_a, c.id, 41), a.org_a), book.payer)
    assert info.value.fields["args"] == ["0x" + c.id.hex(), "100", "101"]
    book.submit(batch(a.org_a, [c.id], [30]), a.org_a)
    book.submit(delivery(a.org_a, c.id, 10), a.org_a)
    assert book.refused(delivery(a.org_a, c.id, 1), a.org_a) == "OverDelivery"
    assert env.ledger.commitment_totals(c.id) == (100, 100, 0)


def test_over_delivery_in_multi_commitment_batch_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c1 = open_commitment(book, env, 100)
    _, c2 = open_commitment(book, env, 10)
    assert book.refused(batch(a.org_a, [c1.id, c2.id], [50, 11]), a.org_a) == "OverDelivery"
    assert env.ledger.commitment_totals(c1.id) == (100, 0, 0)  # nothing half-applied
    book.submit(batch(a.org_a, [c1.id, c2.id], [50, 10]), a.org_a)
    assert env.ledger.commitment_totals(c2.id) == (10, 10, 0)


def test_invalid_quantities_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n, c = open_commitment(book, env)
    max_quantity = (1 << 63) - 1
    assert book.refused(commitment(a.org_a, n.project_id, 0), a.org_a) == "InvalidQuantity"
    too_much = commitment(a.org_a, n.project_id, max_quantity + 1)
    with pytest.raises(RecordError) as info:
        env.ledger.submit(book.sign(too_much, a.org_a), book.payer)
    assert info.value.code == "InvalidQuantity"
    assert info.value.fields["args"] == ["0x" + too_much.id.hex(), str(max_quantity + 1)]
    for kind in (0, 4):
        refused = commitment(a.org_a, n.project_id, 5, resource_kind=kind)
        assert book.refused(refused, a.org_a) == "InvalidResourceKind"
    assert book.refused(delivery(a.org_a, c.id, 0), a.org_a) == "InvalidQuantity"
    assert book.refused(batch(a.org_a, [c.id], [0]), a.org_a) == "InvalidQuantity"
    book.submit(commitment(a.org_a, n.project_id, max_quantity), a.org_a)


def test_over_confirmation_and_already_receipted(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c, d = open_delivery(book, env, 20)
    assert book.refused(receipt(a.county_a, d.id, 21), a.county_a) == "OverConfirmation"
    book.submit(receipt(a.county_a, d.id, 20), a.county_a)
    assert book.refused(receipt(a.county_a, d.id, 20), a.county_a) == "AlreadyReceipted"
    assert book.refused(receipt(a.county_a, d.id, 0), a.county_a) == "AlreadyReceipted"
    b = batch(a.org_a, [c.id], [30])
    book.submit(b, a.org_a)
    assert book.refused(receipt(a.county_a, b.id, 31), a.county_a) == "OverConfirmation"
    book.submit(receipt(a.county_a, b.id, 25), a.county_a)
    assert book.refused(receipt(a.county_a, b.id, 1), a.county_a) == "AlreadyReceipted"
    assert env.ledger.commitment_totals(c.id) == (100, 50, 45)


def test_receipt_for_multi_commitment_batch_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c1 = open_commitment(book, env)
    _, c2 = open_commitment(book, env)
    b = batch(a.org_a, [c1.id, c2.id], [1, 2])
    book.submit(b, a.org_a)
    assert (
        book.refused(receipt(a.county_a, b.id, 1), a.county_a)
        == "BatchReceiptNeedsSingleCommitment"
    )


def test_malformed_batch_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    _, c1 = open_commitment(book, env)
    _, c2 = open_commitment(book, env)
    lo, hi = sorted([c1.id, c2.id])
    assert book.refused(batch(a.org_a, [], []), a.org_a) == "EmptyBatch"
    assert book.refused(batch(a.org_a, [], [], line_count=1), a.org_a) == "EmptyBatch"
    assert book.refused(batch(a.org_a, [c1.id], [1], line_count=0), a.org_a) == "EmptyBatch"
    assert book.refused(batch(a.org_a, [c1.id], [1, 2]), a.org_a) == "BatchLengthMismatch"
    assert book.refused(batch(a.org_a, [c1.id, c2.id], [1]), a.org_a) == "BatchLengthMismatch"
    # ids strictly increase: a repeat, or the right ids in the wrong order, is refused
    repeat = batch(a.org_a, [lo, hi, lo], [1, 1, 1], sort=False)
    assert book.refused(repeat, a.org_a) == "CommitmentsNotSorted"
    assert book.refused(batch(a.org_a, [lo, lo], [1, 1]), a.org_a) == "CommitmentsNotSorted"
    backwards = batch(a.org_a, [hi, lo], [1, 1], sort=False)
    with pytest.raises(RecordError) as info:
        env.ledger.submit(book.sign(backwards, a.org_a), book.payer)
    assert info.value.code == "CommitmentsNotSorted"
    assert info.value.fields["args"] == ["0x" + backwards.id.hex(), "1"]
    assert env.ledger.commitment_totals(c1.id) == (100, 0, 0)
    book.submit(batch(a.org_a, [lo, hi], [1, 2], sort=False), a.org_a)  # in order: accepted


# ---------------------------------------------------------------------------- projects


def test_project_versions(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n = need(a.county_a)
    assert book.refused(need(a.county_a, project_id=n.project_id, version=2), a.county_a) == (
        "WrongProjectVersion"
    )
    assert book.refused(need(a.county_a, project_id=n.project_id, version=0), a.county_a) == (
        "WrongProjectVersion"
    )
    book.submit(n, a.county_a)
    again = dataclasses.replace(
        need(a.county_a, project_id=n.project_id, version=1), id=new_id(a.county_a.address)
    )
    assert book.refused(again, a.county_a) == "WrongProjectVersion"
    assert book.refused(need(a.county_a, project_id=n.project_id, version=3), a.county_a) == (
        "WrongProjectVersion"
    )
    book.submit(need(a.county_a, project_id=n.project_id, version=2), a.county_a)
    with pytest.raises(RecordError) as info:
        env.ledger.submit(
            book.sign(need(a.county_a, project_id=n.project_id, version=2), a.county_a), book.payer
        )
    assert info.value.code == "RecordIdUsed"  # anchor ids are derived from project + version
    moved = dataclasses.replace(
        need(a.county_b, project_id=n.project_id, version=3), county=COUNTY_B
    )
    # the derived anchor id is the owner's; with an id of its own, the project still is not
    assert book.refused(moved, a.county_b) == "RecordIdNotScoped"
    assert book.refused(own_id(moved, a.county_b), a.county_b) == "NotProjectOwner"


def test_not_project_owner_refused(env: ChainEnv, book: Book) -> None:
    a = env.actors
    s = supply(a.org_a)
    book.submit(s, a.org_a)
    other = supply(a.org_b, project_id=s.project_id, version=2)
    assert book.refused(other, a.org_b) == "RecordIdNotScoped"
    assert book.refused(own_id(other, a.org_b), a.org_b) == "NotProjectOwner"
    book.submit(supply(a.org_a, project_id=s.project_id, version=2), a.org_a)
    n = need(a.county_a)
    book.submit(n, a.county_a)
    as_supply = own_id(supply(a.org_a, project_id=n.project_id, version=2), a.org_a)
    assert book.refused(as_supply, a.org_a) == "NotProjectOwner"


def test_invalid_project_refused_with_the_cause(env: ChainEnv, book: Book) -> None:
    """Each way a project anchor can be wrong has its own error, naming the cause."""
    a = env.actors
    assert book.refused(need(a.county_a, category=0), a.county_a) == "InvalidCategory"
    assert book.refused(need(a.county_a, category=11), a.county_a) == "InvalidCategory"
    assert book.refused(dataclasses.replace(need(a.county_a), project_kind=3), a.county_a) == (
        "InvalidProjectKind"
    )
    assert book.refused(dataclasses.replace(need(a.county_a), project_kind=0), a.county_a) == (
        "InvalidProjectKind"
    )
    bad_county = dataclasses.replace(supply(a.org_a), county=52232)
    assert book.refused(bad_county, a.org_a) == "InvalidCountyCode"
    book.submit(dataclasses.replace(supply(a.org_a), county=0), a.org_a)  # a supply may name none
    s = supply(a.org_a)
    book.submit(s, a.org_a)
    moved = dataclasses.replace(
        supply(a.org_a, project_id=s.project_id, version=2), county=COUNTY_B
    )
    with pytest.raises(RecordError) as info:
        env.ledger.submit(book.sign(moved, a.org_a), book.payer)
    assert info.value.code == "ProjectCountyChanged"
    assert info.value.fields["args"] == ["0x" + s.project_id.hex(), str(COUNTY_A), str(COUNTY_B)]
    n = need(a.county_a)
    book.submit(n, a.county_a)
    as_supply = dataclasses.replace(
        need(a.county_a, project_id=n.project_id, version=2), project_kind=ProjectKind.SUPPLY
    )
    # a county office cannot sign a supply project: the role is checked before the kind change
    assert book.refused(as_supply, a.county_a) == "MissingRole"
    book.submit(need(a.county_a, category=10), a.county_a)
    book.submit(supply(a.org_a, project_id=s.project_id, version=2), a.org_a)


# ---------------------------------------------------------------------------- multicall


def test_multicall_appends_all_in_one_transaction(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n = need(a.county_a)
    c = commitment(a.org_a, n.project_id, 100)
    d = delivery(a.org_a, c.id, 40)
    signed = [
        book.sign(n, a.county_a),
        book.sign(c, a.org_a),
        book.sign(d, a.org_a),
        book.sign(receipt(a.county_a, d.id, 40), a.county_a),
        book.sign(flag(a.auditor, d.id), a.auditor),
        book.sign(batch(a.org_a, [c.id], [60], line_count=600), a.org_a),
    ]
    size = env.ledger.log_size()
    tx_receipt = book.multicall(signed)
    events = appended(env.ledger, tx_receipt)
    assert [e["args"]["index"] for e in events] == list(range(size, size + len(signed)))
    assert [bytes(e["args"]["record"]) for e in events] == [s.canonical_bytes() for s in signed]
    assert {e["transactionHash"] for e in events} == {tx_receipt["transactionHash"]}
    assert env.ledger.log_size() == size + len(signed)
    assert env.ledger.commitment_totals(c.id) == (100, 100, 40)


def test_multicall_is_all_or_nothing(env: ChainEnv, book: Book) -> None:
    a = env.actors
    n = need(a.county_a)
    used = book.sign(need(a.county_a), a.county_a)
    book.submit(used)
    size = env.ledger.log_size()
    with pytest.raises(RecordError) as info:
        book.multicall([book.sign(n, a.county_a), used])
    assert info.value.code == "RecordIdUsed"
    assert env.ledger.log_size() == size
    assert env.ledger.record_kind(n.id) == 0


# ---------------------------------------------------------------------------- what a signer reads


def _raw_title_calldata(
    ledger: LedgerContract, anchor: ProjectAnchor, title: bytes, who: LocalAccount
) -> bytes:
    """submitProjectAnchor calldata whose title is `title` as raw bytes (maybe not UTF-8),
    signed over those bytes as EIP-712 hashes a string: keccak256 of its bytes."""
    domain = ledger.deployment.domain
    parts = [anchor.typehash()]
    for (name, typ), value in zip(anchor.SCHEMA, anchor.values(), strict=True):
        parts.append(keccak(title) if name == "title" else abi_encode([typ], [value]))
    digest = keccak(b"\x19\x01" + domain.separator() + keccak(b"".join(parts)))
    signed = Account.unsafe_sign_hash(digest, who.key)
    sig = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    raw_type = anchor.tuple_type().replace("string", "bytes")  # the same ABI encoding
    values = tuple(
        title if n == "title" else v
        for (n, _), v in zip(anchor.SCHEMA, anchor.values(), strict=True)
    )
    selector = keccak(text=f"submitProjectAnchor({anchor.tuple_type()},bytes)")[:4]
    return selector + abi_encode([raw_type, "bytes"], [values, sig])


def test_anchor_titles_budgets_and_dates(env: ChainEnv, book: Book) -> None:
    """The human-readable fields are signed and checked: a title of 1..200 bytes of UTF-8,
    a budget within 2^63-1 fen, an end date 0 or YYYYMMDD."""
    a = env.actors
    ledger = env.ledger

    def anchor(**fields: Any) -> ProjectAnchor:
        return dataclasses.replace(need(a.county_a), **fields)

    fits = "册" * 66 + "ok"  # 66 three-byte characters and two ASCII: exactly 200 bytes
    assert len(fits.encode()) == MAX_TITLE_BYTES
    for good in (anchor(title=fits), anchor(title="🌾 乡村 village"), anchor(title="x"),
                 anchor(budget=(1 << 63) - 1), anchor(end_date=0), anchor(end_date=20260229),
                 anchor(end_date=99991231)):  # fmt: skip
        tx = book.submit(good, a.county_a)
        (event,) = appended(ledger, tx)
        parsed = signed_from_bytes(bytes(event["args"]["record"])).record
        assert parsed == good
    for bad, code in ((anchor(title=""), "InvalidTitle"),
                      (anchor(title=fits + "k"), "InvalidTitle"),
                      (anchor(budget=1 << 63), "InvalidBudget"),
                      (anchor(end_date=20261301), "InvalidEndDate"),
                      (anchor(end_date=20260100), "InvalidEndDate"),
                      (anchor(end_date=20260132), "InvalidEndDate"),
                      (anchor(end_date=1231), "InvalidEndDate")):  # fmt: skip
        assert book.refused(bad, a.county_a) == code, (bad.title, bad.budget, bad.end_date)
    # Bytes that are not UTF-8 (a lone continuation byte, an overlong form, a surrogate,
    # a code point past U+10FFFF, a cut-off character) never reach the log.
    for raw in (b"\x80", b"ok\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe5\x86"):
        data = _raw_title_calldata(ledger, anchor(), raw, a.county_a)
        with pytest.raises((ContractCustomError, ContractLogicError)) as info:
            env.w3.eth.call({"to": ledger.contract.address, "data": data})
        assert revert_error(ledger.abi, info.value).code == "InvalidTitle", raw
    good = _raw_title_calldata(ledger, anchor(), "乡村".encode(), a.county_a)
    env.w3.eth.call({"to": ledger.contract.address, "data": good})  # the same path accepts UTF-8
