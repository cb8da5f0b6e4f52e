"""Independent audit: re-derive the ledger from chain events alone and name every difference.

The audit trusts nothing of ours but the encodings in `ledger.records` and `ledger.merkle`:
it talks JSON-RPC itself (no web3 contract objects, no read-model code), recompiles the
contract from the given sources, checks every signature, role, id, root and total, and diffs
the SQL read model with plain SELECTs on table names. Findings are integrity findings (the
ledger or its cache is wrong) or anomalies (the ledger is consistent but something looks
off, e.g. a delivery nobody signed for); `AuditReport.exit_code` says how each counts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ledger.audit.codes import CHECK_FAILED
from ledger.core.errors import ChainError, LedgerError, RecordError
from ledger.core.fields import ProjectKind
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import MerkleTree
from ledger.core.records import (
    Commitment,
    Delivery,
    DeliveryBatch,
    Flag,
    Kind,
    ProjectAnchor,
    Receipt,
    SignedRecord,
)

__all__ = [
    "AuditOptions",
    "AuditReport",
    "Finding",
    "run_audit",
]

INTEGRITY = "integrity"
ANOMALY = "anomaly"
REPORT_FORMAT = "bangfu-audit/1"

TOPIC_RECORD = keccak(text="RecordAppended(uint256,bytes32,uint8,bytes32,bytes)")
TOPIC_GRANTED = keccak(text="RoleGranted(bytes32,address,address)")
TOPIC_REVOKED = keccak(text="RoleRevoked(bytes32,address,address)")
TOPIC_COUNTY = keccak(text="CountyRegistered(address,uint32)")
TOPIC_ORG = keccak(text="OrganizationRegistered(address,bytes32)")
ROLE_NAMES = {keccak(text=n): n for n in ("ADMIN", "COUNTY", "ORG", "AUDITOR")}
ROLE_NAMES[bytes(32)] = "DEFAULT_ADMIN"

_SEL_LOG_ROOT = keccak(text="logRoot()")[:4]
_SEL_LOG_SIZE = keccak(text="logSize()")[:4]
_SEL_TOTALS = keccak(text="commitmentTotals(bytes32)")[:4]
_SEL_MULTICALL = keccak(text="multicall(bytes[])")[:4]
_ZERO32 = bytes(32)
_DAY = 86_400
#: Signature checks are sent to the pool in chunks this size (pickling cost vs. balance).
_CHUNK = 2_000
#: Findings of one code listed in full in the report; the rest are counted.
MAX_LISTED = 200

Progress = Callable[[str, int, int | None], None]


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


# ------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class Finding:
    """One thing the audit found: a stable code, its class, a message and where."""

    code: str
    severity: str
    message: str
    where: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            **({"where": self.where} if self.where else {}),
        }


@dataclass
class AuditReport:
    """The findings of one audit, the checks that ran and what they covered."""

    chain_id: int = 0
    contract: str = ""
    from_block: int = 0
    to_block: int = 0
    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, code: str, severity: str, message: str, **where: Any) -> None:
        self.findings.append(Finding(code, severity, message, where))

    @property
    def integrity(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == INTEGRITY]

    @property
    def anomalies(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ANOMALY]

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def exit_code(self, *, strict: bool = False) -> int:
        """0 clean; 1 on any integrity finding; 2 on anomalies only, when `strict`."""
        if self.integrity:
            return 1
        if strict and self.anomalies:
            return 2
        return 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.code] += 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        listed: dict[str, int] = defaultdict(int)
        findings = []
        for f in self.findings:
            listed[f.code] += 1
            if listed[f.code] <= MAX_LISTED:
                findings.append(f.to_json())
        return {
            "format": REPORT_FORMAT,
            "verdict": "fail" if self.integrity else "pass",
            "chain": {"chain_id": self.chain_id, "contract": self.contract},
            "blocks": {"from": self.from_block, "to": self.to_block},
            "checks": self.checks,
            "stats": self.stats,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "counts": self.counts(),
            "integrity_findings": len(self.integrity),
            "anomalies": len(self.anomalies),
            "findings": findings,
        }


@dataclass
class AuditOptions:
    """What to audit and where to find it (the `bangfu audit` options)."""

    rpc_url: str
    contract: str
    from_block: int | None = None
    to_block: int | None = None
    sources: Path | None = None
    database_url: str | None = None
    evidence_dir: Path | None = None
    receipt_days: int = 30
    block_range: int = 5_000
    workers: int = 0  # 0: one per core
    compare_totals: bool = True
    historical_roots: bool = True


# ------------------------------------------------------------------------------ JSON-RPC


class Rpc:
    """A minimal JSON-RPC client (batched), so the audit shares no chain code with the app."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout)
        self._id = 0

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        body = []
        for method, params in calls:
            self._id += 1
            body.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        try:
            resp = self.client.post(self.url, json=body)
            resp.raise_for_status()
            answers = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainError(
                f"the node at {self.url} did not answer ({exc}); check --rpc",
                code="chain_unreachable",
            ) from None
        if isinstance(answers, dict):  # some nodes answer a batch error as one object
            answers = [answers]
        by_id = {a.get("id"): a for a in answers}
        out = []
        for item in body:
            answer = by_id.get(item["id"], {})
            if "error" in answer or "result" not in answer:
                raise ChainError(
                    f"{item['method']} failed: {answer.get('error')}", code="rpc_error"
                )
            out.append(answer["result"])
        return out

    def eth_call(self, to: str, data: bytes, block: int) -> bytes:
        result = self.call("eth_call", {"to": to, "data": _hex(data)}, hex(block))
        return bytes.fromhex(result[2:])


def _block_tag(n: int) -> str:
    return hex(n)


# ------------------------------------------------------------------------------ bytecode


def _compile_home(sources: Path) -> Path:
    """A throw-away project home whose contracts/ are `sources` (the compiler reads home)."""
    from ledger.config import PROJECT_ROOT

    home = Path(tempfile.mkdtemp(prefix="bangfu-audit-"))
    shutil.copytree(sources, home / "contracts")
    (home / "scripts").mkdir()
    shutil.copy(PROJECT_ROOT / "scripts" / "solc.js", home / "scripts" / "solc.js")
    (home / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return home


def check_bytecode(rpc: Rpc, contract: str, sources: Path, report: AuditReport) -> None:
    """Deployed runtime code must equal a fresh pinned compile of `sources` (no cache)."""
    from ledger.config import Settings
    from ledger.evm.compiler import code_matches, compile_contracts

    if not (sources / "AidLedger.sol").is_file():
        raise LedgerError(
            f"{sources} has no AidLedger.sol; pass --sources pointing at the contracts/ folder",
            code="bad_sources",
        )
    home = _compile_home(sources)
    try:
        artifact = compile_contracts(Settings(home=home), use_cache=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    code = bytes.fromhex(rpc.call("eth_getCode", contract, "latest")[2:])
    report.stats["source_input_hash"] = artifact.input_hash
    if not code:
        report.add("no_contract", INTEGRITY, f"no contract code at {contract}", contract=contract)
    elif not code_matches(code, artifact):
        report.add(
            "bytecode_mismatch",
            INTEGRITY,
            f"the code at {contract} is not what solc {artifact.compiler_version} makes from "
            f"{sources} with the pinned settings: the contract was built from other sources",
            onchain_sha256=hashlib.sha256(code).hexdigest(),
            compiled_sha256=hashlib.sha256(artifact.deployed_bytecode).hexdigest(),
        )
    report.checks["bytecode"] = "checked"


# ------------------------------------------------------------------------------ signatures

#: A parsed record, or None with the parse error; then the signature error, if any.
Parsed = tuple[SignedRecord | None, str | None, str | None]


def _parse_verify_chunk(datas: Sequence[bytes]) -> list[Parsed]:
    """Parses and signature-checks records (in a worker): parsing and the EIP-712 digest cost
    as much as the recovery, so both are done once, here, off the main process."""
    out: list[Parsed] = []
    for data in datas:
        try:
            signed = SignedRecord.from_bytes(data)
        except RecordError as exc:
            out.append((None, exc.code, exc.message))
            continue
        try:
            signed.verify()
        except RecordError as exc:
            out.append((signed, exc.code, exc.message))
            continue
        out.append((signed, None, None))
    return out


@dataclass
class _Boundary:
    """The end of one eth_getLogs range (historical roots are checked at these blocks)."""

    block: int


def _decode_record_event(data: bytes) -> tuple[bytes, bytes]:
    """RecordAppended's non-indexed (bytes32 leafHash, bytes record), sliced directly when
    the encoding is the canonical one (eth_abi per event costs more than the rest)."""
    if len(data) >= 96 and int.from_bytes(data[32:64], "big") == 64:
        n = int.from_bytes(data[64:96], "big")
        padded = 96 + (n + 31) // 32 * 32
        if len(data) == padded and not any(data[96 + n :]):
            return data[:32], data[96 : 96 + n]
    leaf, record = abi_decode(["bytes32", "bytes"], data)
    return bytes(leaf), bytes(record)


@dataclass
class _RawRecord:
    """A RecordAppended event before its bytes are parsed."""

    index: int
    data: bytes
    event_leaf_hash: bytes
    event_id: bytes
    pos: tuple[int, str, str, int]


class _Pipeline:
    """Events in chain order; records are parsed and verified in chunks on a process pool
    (one worker per core) while the main process fetches the next logs and applies the
    finished chunks in order."""

    def __init__(self, workers: int, apply: Callable[[list[Any], list[Parsed]], None]) -> None:
        self.workers = workers or (os.cpu_count() or 1)
        self.pool = ProcessPoolExecutor(self.workers) if self.workers > 1 else None
        self.apply = apply
        self.events: list[Any] = []  # _RawRecord | RoleChange, in order
        self.datas: list[bytes] = []
        self.inflight: deque[tuple[Future[list[Parsed]], list[Any]]] = deque()

    def add(self, event: Any) -> None:
        self.events.append(event)
        if isinstance(event, _RawRecord):
            self.datas.append(event.data)
            if len(self.datas) >= _CHUNK:
                self._submit()

    def _submit(self) -> None:
        events, datas, self.events, self.datas = self.events, self.datas, [], []
        if self.pool is None:
            self.apply(events, _parse_verify_chunk(datas))
            return
        self.inflight.append((self.pool.submit(_parse_verify_chunk, datas), events))
        # bounded: enough chunks queued to keep every worker busy, not the whole log in memory
        while len(self.inflight) > 3 * self.workers:
            self._drain_one()

    def _drain_one(self) -> None:
        fut, events = self.inflight.popleft()
        self.apply(events, fut.result())

    def finish(self) -> None:
        try:
            if self.events:
                self._submit()
            while self.inflight:
                self._drain_one()
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)


# ------------------------------------------------------------------------------ replay


@dataclass
class Leaf:
    """A RecordAppended event, parsed."""

    index: int
    record: SignedRecord
    data: bytes
    leaf_hash: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    block_time: int = 0

    @property
    def id_hex(self) -> str:
        return _hex(self.record.id)


@dataclass
class RoleChange:
    address: str
    role: str
    granted: bool
    county: int | None
    org_code: str | None
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass
class _Need:
    owner: str
    county: int
    kind: int
    version: int
    category: int


@dataclass
class _CommitState:
    org: str
    county: int
    quantity: int
    delivered: int = 0
    confirmed: int = 0


@dataclass
class _DeliveryState:
    commitment_id: bytes  # zero for a batch over several commitments
    quantity: int
    receipted: bool = False


class Replay:
    """Applies the log and role events in chain order, checking the contract's rules."""

    def __init__(self, report: AuditReport, chain_id: int, contract: str) -> None:
        self.report = report
        self.chain_id = chain_id
        self.contract = to_checksum_address(contract)
        self.tree = MerkleTree()
        self.leaves: list[Leaf] = []
        self.roles: list[RoleChange] = []
        self.has: dict[tuple[str, str], bool] = {}
        self.county_of: dict[str, int] = {}
        self.ids: dict[bytes, int] = {}
        self.projects: dict[bytes, _Need] = {}
        self.commitments: dict[bytes, _CommitState] = {}
        self.deliveries: dict[bytes, _DeliveryState] = {}

    def role(self, change: RoleChange) -> None:
        self.roles.append(change)
        self.has[(change.address, change.role)] = change.granted
        if change.county is not None:
            self.county_of[change.address] = change.county

    def _fail(self, leaf: Leaf, code: str, message: str) -> None:
        self.report.add(
            code,
            INTEGRITY,
            f"leaf {leaf.index}: {message}",
            index=leaf.index,
            record_id=leaf.id_hex,
            block=leaf.block_number,
        )

    def _need_role(self, leaf: Leaf, role: str) -> bool:
        signer = leaf.record.signer
        if not self.has.get((signer, role), False):
            self._fail(
                leaf,
                "signer_lacks_role",
                f"{signer} did not hold the {role} role at block {leaf.block_number}",
            )
            return False
        return True

    def append(self, leaf: Leaf) -> None:
        signed = leaf.record
        if leaf.index != self.tree.size:
            self._fail(leaf, "log_index_gap", f"expected index {self.tree.size}")
        if signed.domain.chain_id != self.chain_id or signed.domain.verifying_contract != (
            self.contract
        ):
            self._fail(leaf, "wrong_domain", "the record names another chain or contract")
        first = self.ids.get(signed.id)
        if first is not None:
            self._fail(leaf, "record_id_reused", f"the id was first used at leaf {first}")
        else:
            self.ids[signed.id] = leaf.index
        self.tree.append(leaf.leaf_hash)
        self.leaves.append(leaf)
        self._rules(leaf)

    def _rules(self, leaf: Leaf) -> None:
        signed = leaf.record
        r: Any = signed.record
        signer = signed.signer
        if isinstance(r, ProjectAnchor):
            role = "COUNTY" if r.project_kind == ProjectKind.NEED else "ORG"
            self._need_role(leaf, role)
            if role == "COUNTY" and self.county_of.get(signer) != r.county:
                self._fail(leaf, "wrong_county", f"{signer} is not the office of {r.county}")
            p = self.projects.get(r.project_id)
            if p is None:
                self.projects[r.project_id] = _Need(
                    signer, r.county, r.project_kind, r.version, r.category
                )
            else:
                if p.owner != signer or r.version != p.version + 1:
                    self._fail(leaf, "project_rule_broken", "wrong owner or version")
                p.version, p.category = r.version, r.category
        elif isinstance(r, Commitment):
            self._need_role(leaf, "ORG")
            need = self.projects.get(r.need_id)
            if need is None or need.kind != ProjectKind.NEED:
                self._fail(leaf, "unknown_need", f"need {_hex(r.need_id)} is not anchored")
            self.commitments[r.id] = _CommitState(signer, need.county if need else 0, r.quantity)
        elif isinstance(r, Delivery):
            self._need_role(leaf, "ORG")
            self._deliver(leaf, r.commitment_id, r.quantity)
            self.deliveries[r.id] = _DeliveryState(r.commitment_id, r.quantity)
        elif isinstance(r, DeliveryBatch):
            self._need_role(leaf, "ORG")
            for cid, qty in zip(r.commitment_ids, r.quantities, strict=False):
                self._deliver(leaf, cid, qty)
            single = r.commitment_ids[0] if len(r.commitment_ids) == 1 else _ZERO32
            self.deliveries[r.id] = _DeliveryState(single, sum(r.quantities))
        elif isinstance(r, Receipt):
            self._need_role(leaf, "COUNTY")
            d = self.deliveries.get(r.delivery_id)
            if d is None or d.receipted or d.commitment_id == _ZERO32:
                self._fail(leaf, "receipt_rule_broken", "unknown, batch or already receipted")
                return
            if r.confirmed_quantity > d.quantity:
                self._fail(leaf, "over_confirmation", "confirms more than was delivered")
            d.receipted = True
            c = self.commitments.get(d.commitment_id)
            if c is not None:
                if self.county_of.get(signer) != c.county:
                    self._fail(leaf, "wrong_county", f"{signer} is not the office of {c.county}")
                c.confirmed += r.confirmed_quantity
        elif isinstance(r, Flag):
            self._need_role(leaf, "AUDITOR")
            if r.record_id not in self.ids:
                self._fail(leaf, "unknown_record", "the flagged record is not in the log")

    def _deliver(self, leaf: Leaf, cid: bytes, qty: int) -> None:
        c = self.commitments.get(cid)
        if c is None:
            self._fail(leaf, "unknown_commitment", f"commitment {_hex(cid)} is not recorded")
            return
        if c.org != leaf.record.signer:
            self._fail(leaf, "not_commitment_owner", "delivered by another organization")
        c.delivered += qty
        if c.delivered > c.quantity:
            self._fail(leaf, "over_delivery", f"commitment {_hex(cid)} is over-delivered")


def _topic_address(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])


def fetch_events(
    rpc: Rpc,
    contract: str,
    start: int,
    end: int,
    block_range: int,
    progress: Progress | None = None,
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """eth_getLogs over [start, end] in ranges (halved when a node refuses a big one)."""
    topics = [
        [_hex(t) for t in (TOPIC_RECORD, TOPIC_GRANTED, TOPIC_REVOKED, TOPIC_COUNTY, TOPIC_ORG)]
    ]
    step = max(1, block_range)
    block = start
    while block <= end:
        last = min(end, block + step - 1)
        try:
            logs = rpc.call(
                "eth_getLogs",
                {
                    "address": contract,
                    "fromBlock": hex(block),
                    "toBlock": hex(last),
                    "topics": topics,
                },
            )
        except ChainError:
            if step == 1:
                raise
            step = max(1, step // 2)
            continue
        yield last, logs
        if progress:
            progress("events", last - start + 1, end - start + 1)
        block = last + 1


# ------------------------------------------------------------------------------ audit


class Auditor:
    """One audit run; `run()` returns the report."""

    def __init__(self, opts: AuditOptions, progress: Progress | None = None) -> None:
        self.opts = opts
        self.progress = progress
        try:
            self.contract = to_checksum_address(opts.contract)
        except ValueError:
            raise LedgerError(
                f"--contract {opts.contract!r} is not an address (0x and 40 hex digits)",
                code="bad_address",
            ) from None
        self.rpc = Rpc(opts.rpc_url)
        self.report = AuditReport(contract=self.contract)
        self.engine: Engine | None = None
        self.block_times: dict[int, int] = {}
        self.boundaries: list[tuple[int, int]] = []  # (block, log size after it)

    def _tick(self, phase: str, done: int, total: int | None) -> None:
        if self.progress:
            self.progress(phase, done, total)

    def _timed(self, name: str, t0: float) -> None:
        self.report.timings[name] = time.perf_counter() - t0

    def run(self) -> AuditReport:
        try:
            return self._run()
        finally:
            self.rpc.close()
            if self.engine is not None:
                self.engine.dispose()

    def _run(self) -> AuditReport:
        opts, report = self.opts, self.report
        t_all = time.perf_counter()
        if opts.evidence_dir is not None and not opts.evidence_dir.is_dir():
            raise LedgerError(
                f"{opts.evidence_dir} is not a folder of evidence files", code="bad_evidence"
            )
        report.chain_id = int(self.rpc.call("eth_chainId"), 16)
        head = int(self.rpc.call("eth_blockNumber"), 16)
        to_block = head if opts.to_block is None else min(head, opts.to_block)
        report.to_block = to_block
        if opts.sources is not None:
            t0 = time.perf_counter()
            self._tick("bytecode", 0, 1)
            check_bytecode(self.rpc, self.contract, opts.sources, report)
            self._timed("bytecode", t0)
        start = opts.from_block if opts.from_block is not None else self._deployment_block(head)
        report.from_block = start

        t0 = time.perf_counter()
        replay = Replay(report, report.chain_id, self.contract)
        pipeline = _Pipeline(opts.workers, lambda ev, parsed: self._apply_chunk(replay, ev, parsed))
        try:
            for last, logs in fetch_events(
                self.rpc, self.contract, start, to_block, opts.block_range, self.progress
            ):
                for entry in logs:
                    event = self._event(entry)
                    if event is not None:
                        pipeline.add(event)
                # the log size at `last` is known once every event up to it is applied
                pipeline.add(_Boundary(last))
        finally:
            pipeline.finish()
        self._timed("replay", t0)
        report.checks["signatures"] = "checked"
        report.checks["roles_and_rules"] = "checked"
        report.stats.update(
            records=replay.tree.size,
            role_events=len(replay.roles),
            commitments=len(replay.commitments),
            by_kind={k.slug: 0 for k in Kind},
        )
        for leaf in replay.leaves:
            report.stats["by_kind"][leaf.record.kind.slug] += 1

        t0 = time.perf_counter()
        self._check_roots(replay, to_block)
        self._timed("roots", t0)
        if opts.compare_totals:
            t0 = time.perf_counter()
            self._check_totals(replay, to_block)
            self._timed("totals", t0)
        self._load_block_times(replay)
        batch_lines: dict[str, list[DeliveryLine]] | None = None
        if opts.database_url:
            t0 = time.perf_counter()
            self.engine = _engine(opts.database_url)
            batch_lines = self._guarded("database", self._diff_database, replay, to_block)
            self._guarded("checkpoints", self._check_checkpoints, replay)
            self._guarded("outbox", self._check_outbox, replay, to_block)
            self._guarded("match_rule", self._check_matches, replay)
            self._guarded("library", self._check_library, replay)
            self._timed("database", t0)
        else:
            report.checks["database"] = "skipped (no --database)"
        if opts.evidence_dir:
            t0 = time.perf_counter()
            self._guarded("evidence", self._check_evidence, replay, opts.evidence_dir)
            self._timed("evidence", t0)
        else:
            report.checks["evidence"] = "skipped (no --evidence)"
        t0 = time.perf_counter()
        now = self.block_times.get(to_block) or self._block_time(to_block)
        self._guarded("anomalies", self._anomalies, replay, now, batch_lines)
        self._timed("anomalies", t0)
        self._timed("total", t_all)
        return report

    # ---- events -----------------------------------------------------------------
    def _event(self, entry: dict[str, Any]) -> _RawRecord | RoleChange | None:
        """One log entry, decoded as far as the main process needs (record bytes wait)."""
        topics: list[str] = entry["topics"]
        t0 = bytes.fromhex(topics[0][2:])
        pos = (
            int(entry["blockNumber"], 16),
            entry["blockHash"],
            entry["transactionHash"],
            int(entry["logIndex"], 16),
        )
        if t0 == TOPIC_RECORD:
            leaf_hash, data = _decode_record_event(bytes.fromhex(entry["data"][2:]))
            return _RawRecord(
                int(topics[1], 16), data, leaf_hash, bytes.fromhex(topics[2][2:]), pos
            )
        if t0 in (TOPIC_GRANTED, TOPIC_REVOKED):
            role = ROLE_NAMES.get(bytes.fromhex(topics[1][2:]), topics[1][:16])
            return RoleChange(
                _topic_address(topics[2]), role, t0 == TOPIC_GRANTED, None, None, *pos
            )
        if t0 == TOPIC_COUNTY:
            return RoleChange(
                _topic_address(topics[1]), "COUNTY", True, int(topics[2], 16), None, *pos
            )
        if t0 == TOPIC_ORG:
            code = bytes.fromhex(topics[2][2:]).rstrip(b"\0").decode("ascii", "replace")
            return RoleChange(_topic_address(topics[1]), "ORG", True, None, code, *pos)
        return None

    def _apply_chunk(self, replay: Replay, events: list[Any], parsed: list[Parsed]) -> None:
        """Applies events in chain order; `parsed` answers the chunk's records in order."""
        report = self.report
        results = iter(parsed)
        for event in events:
            if isinstance(event, RoleChange):
                replay.role(event)
                continue
            if isinstance(event, _Boundary):
                self.boundaries.append((event.block, replay.tree.size))
                continue
            signed, code, message = next(results)
            index, data, pos = event.index, event.data, event.pos
            computed = hashlib.sha256(b"\x00" + data).digest()
            if signed is None:
                report.add(
                    "malformed_record",
                    INTEGRITY,
                    f"leaf {index}: {message}",
                    index=index,
                    block=pos[0],
                )
                replay.tree.append(computed)
                continue
            if computed != event.event_leaf_hash:
                report.add(
                    "leaf_hash_mismatch",
                    INTEGRITY,
                    f"leaf {index}: the event's leaf hash is not the hash of its bytes",
                    index=index,
                )
            if event.event_id != signed.id:
                report.add(
                    "event_id_mismatch",
                    INTEGRITY,
                    f"leaf {index}: the event's recordId is not the record's id",
                    index=index,
                )
            if code is not None:
                report.add(
                    "bad_signature",
                    INTEGRITY,
                    f"leaf {index}: {message} ({code})",
                    index=index,
                    record_id=_hex(signed.id),
                )
            replay.append(Leaf(index, signed, data, computed, *pos))
        self._tick("records", replay.tree.size, None)

    def _deployment_block(self, head: int) -> int:
        """The first block with code at the contract (binary search over historical state)."""
        try:
            lo, hi = 0, head
            while lo < hi:
                mid = (lo + hi) // 2
                if self.rpc.call("eth_getCode", self.contract, hex(mid)) not in ("0x", ""):
                    hi = mid
                else:
                    lo = mid + 1
            return lo
        except ChainError:
            return 0  # no historical state: scan from genesis

    # ---- roots ------------------------------------------------------------------
    def _check_roots(self, replay: Replay, to_block: int) -> None:
        report, tree = self.report, replay.tree
        size = int.from_bytes(self.rpc.eth_call(self.contract, _SEL_LOG_SIZE, to_block), "big")
        root = self.rpc.eth_call(self.contract, _SEL_LOG_ROOT, to_block)
        report.stats["log_size"] = size
        report.stats["log_root"] = _hex(root)
        if size != tree.size or root != tree.root():
            report.add(
                "root_mismatch",
                INTEGRITY,
                f"at block {to_block} logRoot() is {_hex(root)} over {size} leaves, but "
                f"the replayed events give {_hex(tree.root())} over {tree.size}",
                block=to_block,
            )
        checked = 0
        if self.opts.historical_roots:
            # One eth_call pair per getLogs range: a node without history answers an error,
            # which only means these extra checks are skipped.
            seen = set()
            calls: list[tuple[str, list[Any]]] = []
            points: list[tuple[int, int]] = []
            for block, n in self.boundaries:
                if block == to_block or n in seen:
                    continue
                seen.add(n)
                points.append((block, n))
            for i in range(0, len(points), 200):
                part = points[i : i + 200]
                calls = [
                    ("eth_call", [{"to": self.contract, "data": _hex(_SEL_LOG_ROOT)}, hex(b)])
                    for b, _ in part
                ]
                try:
                    roots = self.rpc.batch(calls)
                except ChainError:
                    report.checks["historical_roots"] = "skipped (the node keeps no history)"
                    break
                for (block, n), r in zip(part, roots, strict=True):
                    if bytes.fromhex(r[2:]) != tree.root(n):
                        report.add(
                            "historical_root_mismatch",
                            INTEGRITY,
                            f"at block {block} logRoot() differs from the replayed log of "
                            f"{n} leaves",
                            block=block,
                            size=n,
                        )
                    checked += 1
        report.checks.setdefault("historical_roots", f"checked at {checked} blocks")
        report.checks["log_root"] = "checked"

    def _check_totals(self, replay: Replay, to_block: int) -> None:
        """commitmentTotals() on chain vs. the replay, many per eth_call through multicall."""
        ids = list(replay.commitments)
        step = 400
        for i in range(0, len(ids), step):
            part = ids[i : i + step]
            inner = [_SEL_TOTALS + cid for cid in part]
            data = _SEL_MULTICALL + abi_encode(["bytes[]"], [inner])
            (results,) = abi_decode(["bytes[]"], self.rpc.eth_call(self.contract, data, to_block))
            for cid, raw in zip(part, results, strict=True):
                committed, delivered, confirmed = abi_decode(["uint128"] * 3, raw)
                c = replay.commitments[cid]
                if (committed, delivered, confirmed) != (c.quantity, c.delivered, c.confirmed):
                    self.report.add(
                        "totals_mismatch",
                        INTEGRITY,
                        f"commitment {_hex(cid)}: the contract says committed/delivered/"
                        f"confirmed {committed}/{delivered}/{confirmed}, the replay "
                        f"{c.quantity}/{c.delivered}/{c.confirmed}",
                        commitment=_hex(cid),
                    )
            self._tick("totals", min(len(ids), i + step), len(ids))
        self.report.checks["commitment_totals"] = f"checked {len(ids)} commitments"

    # ---- block times --------------------------------------------------------------
    def _load_block_times(self, replay: Replay) -> None:
        numbers = sorted({leaf.block_number for leaf in replay.leaves} - set(self.block_times))
        for i in range(0, len(numbers), 500):
            part = numbers[i : i + 500]
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for n, b in zip(part, blocks, strict=True):
                self.block_times[n] = int(b["timestamp"], 16)
        for leaf in replay.leaves:
            leaf.block_time = self.block_times[leaf.block_number]

    def _block_time(self, n: int) -> int:
        b = self.rpc.call("eth_getBlockByNumber", hex(n), False)
        self.block_times[n] = int(b["timestamp"], 16)
        return self.block_times[n]

    # ---- database -------------------------------------------------------------------
    def _diff_database(self, replay: Replay, to_block: int) -> dict[str, list[DeliveryLine]] | None:
        from ledger.audit.database import diff_database

        assert self.engine is not None
        return diff_database(self.engine, replay, self.report, to_block, self._tick)

    def _check_checkpoints(self, replay: Replay) -> None:
        """Operator checkpoints stored in the database: roots of the replayed log, their
        notes, and none deleted (`ledger.audit_db.check_checkpoints`)."""
        from ledger.audit.database import check_checkpoints

        assert self.engine is not None
        check_checkpoints(self.engine, replay, self.report)

    def _check_outbox(self, replay: Replay, to_block: int) -> None:
        from ledger.audit.database import check_outbox

        assert self.engine is not None
        check_outbox(self.engine, replay, self.report, to_block)

    def _check_matches(self, replay: Replay) -> None:
        from ledger.audit.library import check_matches

        assert self.engine is not None
        check_matches(self.engine, replay, self.report)

    def _check_library(self, replay: Replay) -> None:
        from ledger.audit.library import check_library

        assert self.engine is not None
        check_library(self.engine, replay, self.report)

    def _guarded(self, name: str, check: Callable[..., Any], *args: Any) -> Any:
        """Runs one check over off-chain data; an error it did not foresee (a database that
        is not the read model's shape, a driver error) becomes a `check_failed` finding
        naming the check and the error, and the other checks still run."""
        try:
            return check(*args)
        except (ChainError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - a report is always written
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            self.report.add(
                CHECK_FAILED,
                INTEGRITY,
                f"the {name} check could not finish: {type(exc).__name__}: {message}",
                check=name,
                error=type(exc).__name__,
            )
            self.report.checks[name] = f"failed ({type(exc).__name__})"
            return None

    # ---- evidence ---------------------------------------------------------------------
    def _check_evidence(self, replay: Replay, folder: Path) -> None:
        """Evidence files are named by their SHA-256 (`<64 hex>` or `0x<64 hex>`, any suffix)."""
        referenced: dict[str, list[str]] = defaultdict(list)
        for leaf in replay.leaves:
            r: Any = leaf.record.record
            if isinstance(r, Delivery | DeliveryBatch) and r.evidence_hash != _ZERO32:
                referenced[r.evidence_hash.hex()].append(leaf.id_hex)
        if not folder.is_dir():
            raise LedgerError(f"{folder} is not a folder of evidence files", code="bad_evidence")
        found: set[str] = set()
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        for i, path in enumerate(files):
            stem = path.name.split(".", 1)[0].lower().removeprefix("0x")
            if len(stem) != 64 or any(c not in "0123456789abcdef" for c in stem):
                self.report.add(
                    "evidence_unnamed",
                    ANOMALY,
                    f"{path.name} is not named by its SHA-256; it was not checked",
                    file=str(path),
                )
                continue
            digest = _file_sha256(path)
            found.add(stem)
            if digest != stem:
                self.report.add(
                    "evidence_altered",
                    INTEGRITY,
                    f"{path.name}: its SHA-256 is {digest}, not the hash it is filed "
                    "under (and that the records commit to)",
                    file=str(path),
                    records=referenced.get(stem, []),
                )
            elif stem not in referenced:
                self.report.add(
                    "evidence_unreferenced",
                    ANOMALY,
                    f"{path.name} is not referenced by any delivery",
                    file=str(path),
                )
            self._tick("evidence", i + 1, len(files))
        for h, rids in referenced.items():
            if h not in found:
                self.report.add(
                    "evidence_missing",
                    ANOMALY,
                    f"no evidence file for hash 0x{h} ({len(rids)} record(s))",
                    evidence_hash="0x" + h,
                    records=rids[:10],
                )
        self.report.checks["evidence"] = f"checked {len(files)} files"

    # ---- anomalies ----------------------------------------------------------------------
    def _anomalies(
        self, replay: Replay, now: int, batch_lines: dict[str, list[DeliveryLine]] | None
    ) -> None:
        from ledger.audit.anomalies import find_anomalies

        find_anomalies(replay, self.report, now, self.opts.receipt_days * _DAY, batch_lines)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalize_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _engine(url: str) -> Engine:
    """The read model's engine; a URL SQLAlchemy cannot use is one clear error."""
    try:
        return create_engine(_normalize_url(url))
    except Exception as exc:  # noqa: BLE001 - ArgumentError, NoSuchModuleError, ValueError
        raise LedgerError(
            f"--database {url!r} is not a database URL SQLAlchemy can open ({exc}); use e.g. "
            "sqlite:///var/ledger.sqlite3 or postgresql://user@host:5432/db",
            code="bad_database_url",
        ) from None


def run_audit(opts: AuditOptions, progress: Progress | None = None) -> AuditReport:
    """Runs every check `opts` asks for and returns the report (never raises on a finding)."""
    return Auditor(opts, progress).run()


def iter_leaf_subjects(leaf: Leaf, replay: Replay) -> Iterable[bytes]:
    """The commitment or project ids a record is about (for "answered flag" matching)."""
    r: Any = leaf.record.record
    if isinstance(r, ProjectAnchor):
        yield r.project_id
    elif isinstance(r, Commitment):
        yield r.id
        yield r.need_id
    elif isinstance(r, Delivery):
        yield r.commitment_id
    elif isinstance(r, DeliveryBatch):
        yield from r.commitment_ids
    elif isinstance(r, Receipt):
        d = replay.deliveries.get(r.delivery_id)
        if d is not None and d.commitment_id != _ZERO32:
            yield d.commitment_id
