"""`bangfu demo`: fills a dev ledger through the real HTTP API with a synthetic province.

Everything goes through the API a county or organization would use (drafts, signed
publishing, 接单 matches, signed records, a CSV delivery batch); only role registration is
an admin transaction on chain. Keys come from anvil's public development mnemonic; names
are invented and no personal data is made: beneficiaries are pseudonyms of obviously
synthetic ID numbers.

The demo is idempotent: running it again, after a finished run or one that failed half-way,
neither duplicates nor fails. Record ids are derived from the deployment (its chain id and
contract address) and scoped to their signer, so a rerun finds each record by id and sends
only the missing ones; projects and matches are found again from a small state file under
var/ (and published projects by owner and title), and resumed where they stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ledger.batches.service import CST, parse_file
from ledger.cli.commands.core import admin_account
from ledger.config import get_settings
from ledger.core.eip712 import Domain
from ledger.core.errors import LedgerError
from ledger.core.fields import FlagReason, ResourceKind, text32
from ledger.core.lines import pseudonym, scoped_id
from ledger.core.merkle import leaf_hash
from ledger.core.merkle import root as merkle_root
from ledger.core.records import Commitment, Delivery, Flag, Receipt, Record, SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect
from ledger.evm.localchain import load_localchain
from ledger.library.regions import make_org_code
from ledger.sdk.batch_client import BatchClient, sign_batch
from ledger.sdk.client import ApiError, BangfuClient

NAME = ""
out = Console()
app = typer.Typer()

# Counties of Guizhou (52); 册亨县 and 望谟县 are in the sample key-county list.
COUNTIES = {522327: "册亨县", 522326: "望谟县", 520121: "开阳县"}
VILLAGES = {522327: "者楼村", 522326: "纳夜村", 520121: "南龙村"}
ORGS = [
    ("52", "黔南乡村发展促进会（示例）", "Qiannan Rural Development Association (demo)"),
    ("53", "山地农业技术服务中心（示例）", "Mountain Farming Technical Service Centre (demo)"),
    ("54", "贵州助学与健康基金会（示例）", "Guizhou Education and Health Foundation (demo)"),
]
NEEDS: list[dict[str, Any]] = [
    {
        "county": 522327,
        "title": "者楼村油茶产业帮扶",
        "category": "产业发展",
        "description": "需要油茶苗和种植技术培训，带动脱贫户增收",
        "mode": "capacity",
        "beneficiaries": 120,
        "budget_fen": 50_000_000,
        "resources": [{"kind": "goods", "quantity": 5000, "unit": "株", "item": "油茶苗"}],
    },
    {
        "county": 522326,
        "title": "纳夜村留守儿童课后托管",
        "category": "特殊群体关爱",
        "description": "为留守儿童提供课后辅导和营养午餐",
        "mode": "relief",
        "beneficiaries": 80,
        "budget_fen": 12_000_000,
        "resources": [{"kind": "funds", "quantity": 8_000_000}],
    },
    {
        "county": 520121,
        "title": "南龙村电商技能培训",
        "category": "人才培育",
        "description": "组织农产品网店运营与直播带货培训",
        "mode": "capacity",
        "beneficiaries": 60,
        "budget_fen": 6_000_000,
        "resources": [{"kind": "service", "quantity": 400, "unit": "小时"}],
    },
    {
        "county": 522327,
        "title": "者楼村卫生室设备更新",
        "category": "卫生健康",
        "description": "更新村卫生室基本诊疗设备",
        "mode": "relief",
        "beneficiaries": 900,
        "budget_fen": 9_000_000,
        "resources": [{"kind": "funds", "quantity": 9_000_000}],
    },
]
RESOURCE_KINDS = {
    "funds": ResourceKind.FUNDS,
    "goods": ResourceKind.GOODS,
    "service": ResourceKind.SERVICE,
}
#: The CSV batch: households of the first need, each given oil-tea seedlings.
BATCH_NEED = 0
BATCH_LINES = 8
BATCH_QUANTITY = 50
COUNTY_KEY = hashlib.sha256(b"demo county key - not a real key").digest()


@dataclass
class Actor:
    account: LocalAccount
    label: str

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class DemoState:
    """What a run made that the API cannot find by a derived id (draft and match ids),
    kept per deployment under var/ and rewritten atomically after every step."""

    path: Path
    items: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, var_dir: Path, domain: Domain) -> DemoState:
        name = f"demo-{domain.chain_id}-{domain.verifying_contract.lower()[2:]}.json"
        path = var_dir / name
        try:
            items = json.loads(path.read_text())
        except (OSError, ValueError):
            items = {}
        return cls(path, {str(k): str(v) for k, v in items.items()})

    def get(self, key: str) -> str | None:
        return self.items.get(key)

    def put(self, key: str, value: str) -> None:
        self.items[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump(self.items, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)


@dataclass
class Ids:
    """Deterministic record ids for one deployment, each scoped to its signer."""

    seed: bytes

    @classmethod
    def for_domain(cls, domain: Domain) -> Ids:
        text = f"bangfu demo/{domain.chain_id}/{domain.verifying_contract.lower()}"
        return cls(hashlib.sha256(text.encode()).digest())

    def __call__(self, signer: str, *label: object) -> bytes:
        digest = hashlib.sha256(self.seed + "/".join(map(str, label)).encode()).digest()
        return scoped_id(signer, digest)


def _demo_account(index: int) -> LocalAccount:
    # Unfunded keys from the dev mnemonic (index 20+): they sign, the relayer pays gas.
    cfg = load_localchain(get_settings())
    return Account.from_mnemonic(cfg.mnemonic, account_path=f"m/44'/60'/0'/0/{20 + index}")


def _register(
    ledger: LedgerContract,
    counties: dict[int, Actor],
    orgs: list[tuple[str, Actor]],
    auditor: Actor,
) -> None:
    admin = admin_account()
    for code, actor in counties.items():
        if not ledger.has_role("COUNTY", actor.address):
            ledger.register_county(admin, actor.address, code)
    for org_code, actor in orgs:
        if not ledger.has_role("ORG", actor.address):
            ledger.register_organization(admin, actor.address, org_code)
    if not ledger.has_role("AUDITOR", auditor.address):
        ledger.register_auditor(admin, auditor.address)


def _wait_indexed(client: BangfuClient, timeout: float = 60) -> None:
    """Waits until the indexer has caught up (roles must be indexed before records)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = client.http.get(client._url("/readyz")).json()
        lag = (ready.get("indexer") or {}).get("lag")
        if lag is not None and lag <= 1:
            return
        time.sleep(0.5)
    raise LedgerError(
        "the indexer did not catch up; is `bangfu run` running?", code="indexer_lagging"
    )


# ------------------------------------------------------------------ library calls


def _as(client: BangfuClient, actor: Actor | LocalAccount) -> BangfuClient:
    """The SDK acting as `actor` (it signs every library write), over the same connection."""
    account = actor.account if isinstance(actor, Actor) else actor
    return BangfuClient(client.base_url, account=account, http=client.http)


def _load_key_counties(client: BangfuClient) -> None:
    """The admin loads the sample key-county list once (signed and versioned: a list already
    loaded is kept, and an older version could not come back)."""
    admin = _as(client, admin_account())
    if not admin.request("GET", "/api/v1/library/key-counties/version")["version"]:
        admin.library_load_key_counties([522327, 522326], source="demo sample")


def _find_published(
    client: BangfuClient, path: str, content: dict[str, Any], org_code: str | None
) -> str | None:
    """A published project of ours with this title (for a run that lost its state file)."""
    params: dict[str, Any] = {"kind": "need" if path == "needs" else "supply"}
    params.update(q=content["title"], limit=200)
    if path == "needs":
        params["county"] = content["county"]
    for p in client.request("GET", "/api/v1/library/projects", params=params):
        same_owner = path == "needs" or p.get("org_code") == org_code
        if same_owner and p["content"].get("title") == content["title"]:
            return str(p["project_id"])
    return None


def _publish(
    client: BangfuClient,
    state: DemoState,
    key: str,
    path: str,
    owner: Actor,
    content: dict[str, Any],
    org_code: str | None = None,
) -> str:
    """The project `key` of this deployment, published once: made on the first run, and
    resumed (published) when a run stopped between its draft and its signature. The owner
    signs the draft and version 1; the SDK checks what it signs."""
    sdk = _as(client, owner)
    pid = state.get(key)
    project: dict[str, Any] | None = None
    if pid is not None:
        try:
            project = sdk.library_project(pid)
        except ApiError as exc:
            if exc.code != "unknown_project":
                raise
            pid = None
    if pid is None:
        pid = _find_published(client, path, content, org_code)
        if pid is not None:
            state.put(key, pid)
            return pid
        kind = "need" if path == "needs" else "supply"
        pid = str(sdk.library_create(kind, content, org_code=org_code)["project_id"])
        state.put(key, pid)
    elif project is not None and project["status"] != "draft":
        return pid
    sdk.library_publish(pid)
    return pid


def _take(
    client: BangfuClient,
    state: DemoState,
    key: str,
    need_id: str,
    org_code: str,
    org: Actor,
    county: Actor,
) -> str:
    """接单: the organization takes the need and the county accepts, each signing; a match
    left proposed by an earlier run is answered instead of made again."""
    match_id = state.get(key)
    status: str | None = None
    if match_id is not None:
        try:
            detail = client.request("GET", f"/api/v1/library/matches/{match_id}")
            status = str(detail["match"]["status"])
        except ApiError as exc:
            if exc.code != "unknown_match":
                raise
    if status == "accepted":
        assert match_id is not None
        return match_id
    if status != "proposed":
        proposed = _as(client, org).library_propose(
            need_id, direction="take", org_code=org_code, note="演示 demo"
        )
        match_id = str(proposed["match_id"])
        state.put(key, match_id)
    assert match_id is not None
    _as(client, county).library_answer(match_id)
    return match_id


# ------------------------------------------------------------------ signed records


@dataclass
class Sent:
    """Record ids this run stands for, and how many of them it had to send."""

    ids: list[str] = field(default_factory=list)
    new: int = 0


def _missing(client: BangfuClient, ids: list[bytes]) -> set[str]:
    return {s.record_id for s in client.status(ids) if s.status == "unknown"}


def _submit_missing(client: BangfuClient, signer: Actor, records: list[Record], sent: Sent) -> None:
    """Signs and submits, all or none, those of `records` the ledger does not know yet."""
    missing = _missing(client, [r.id for r in records])
    todo = [r for r in records if "0x" + r.id.hex() in missing]
    if todo:
        signed = [r.sign(signer.account.key, client.domain()) for r in todo]
        client.submit(signed)
    sent.ids += ["0x" + r.id.hex() for r in records]
    sent.new += len(todo)


def _commitment_and_deliveries(
    ids: Ids, i: int, need_id: str, match_id: str, org: Actor
) -> list[Record]:
    """Commitment i and its two deliveries (half, then a quarter), ids derived."""
    want = NEEDS[i]["resources"][0]
    kind = RESOURCE_KINDS[want["kind"]]
    commitment = Commitment(
        id=ids(org.address, "commitment", i),
        need_id=bytes.fromhex(need_id[2:]),
        match_id=bytes.fromhex(match_id[2:]),
        resource_kind=int(kind),
        quantity=want["quantity"],
        unit=text32(want.get("unit", "分" if kind == ResourceKind.FUNDS else "")),
        # one commitment is already overdue: an anomaly for the audit
        due_date=int(time.time()) + 86400 * (60 if i != 1 else -1),
        terms_hash=bytes(32),
    )
    records: list[Record] = [commitment]
    for part in (2, 4):
        people = [pseudonym(COUNTY_KEY, f"DEMO{i:02d}{part}{k:06d}") for k in range(5)]
        records.append(
            Delivery(
                id=ids(org.address, "delivery", i, part),
                commitment_id=commitment.id,
                quantity=want["quantity"] // part,
                delivered_at=int(time.time()),
                evidence_hash=hashlib.sha256(f"demo evidence {i}/{part}".encode()).digest(),
                beneficiary_count=len(people),
                beneficiary_root=merkle_root([leaf_hash(p) for p in people]),
            )
        )
    return records


def _submit_csv_batch(
    client: BangfuClient, org: Actor, commitment_id: bytes, day: date, unit: str
) -> str:
    """Delivers to households as a CSV file through the batch API (`bangfu batch submit`'s
    path). The file is the same on every run, so is its signed batch: a rerun resumes or
    finds the same upload."""
    header = "commitment_id,item,quantity,unit,delivered_at,beneficiary,evidence_hash"
    rows = [header]
    for k in range(BATCH_LINES):
        who = pseudonym(COUNTY_KEY, f"DEMOBATCH{k:06d}").hex()
        rows.append(
            f"0x{commitment_id.hex()},油茶苗 oil-tea seedlings,{BATCH_QUANTITY},{unit},"
            f"{day.isoformat()},0x{who},"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-deliveries.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        parsed = parse_file(path)
    if not parsed.ok:
        first = parsed.problems[0] if parsed.problems else None
        raise LedgerError(f"the demo's batch file is wrong: {first}", code="demo_batch")
    batches = BatchClient(client.http)
    signed: SignedRecord = sign_batch(parsed.lines, bytes(org.account.key), client.domain())
    batches.upload(signed, [line.line_bytes() for line in parsed.lines])
    return "0x" + signed.id.hex()


def _wait_confirmed(client: BangfuClient, ids: list[str], timeout: float, progress: Any) -> None:
    task = progress.add_task("上链确认 waiting for the chain", total=len(ids))
    deadline = time.monotonic() + timeout
    while True:
        statuses = client.status(ids)
        failed = [s for s in statuses if s.status == "failed"]
        if failed:
            raise LedgerError(
                f"record {failed[0].record_id} failed on chain: [{failed[0].error_code}] "
                f"{failed[0].error}",
                code="demo_record_failed",
            )
        done = sum(s.status == "confirmed" for s in statuses)
        progress.update(task, completed=done)
        if done == len(ids):
            return
        if time.monotonic() > deadline:
            raise LedgerError(
                f"{len(ids) - done} demo records are not on chain after {timeout:g} s; "
                "is the relayer running? Run `bangfu demo` again to resume",
                code="demo_timeout",
            )
        time.sleep(0.5)


def _indexed(client: BangfuClient, record_id: bytes, timeout: float) -> dict[str, Any]:
    """The indexed record: confirmed on chain can still be a block ahead of the indexer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer: dict[str, Any] = client.record(record_id)
            return answer
        except ApiError as exc:
            if exc.code != "record_not_found" or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


# ------------------------------------------------------------------ the command


@app.command("demo")
def demo(
    api: str = typer.Option("", help="接口地址 API base URL (default: this machine's API)"),
    timeout: float = typer.Option(120, help="等待上链秒数 seconds to wait for confirmation"),
) -> None:
    """演示数据 Fill the dev ledger through the API with a synthetic province (贵州, 52);
    rerun it safely: it adds only what is missing."""
    settings = get_settings()
    base = api or f"http://{settings.api_host}:{settings.api_port}"
    counties = {
        code: Actor(_demo_account(i), f"{name} 乡村振兴局")
        for i, (code, name) in enumerate(COUNTIES.items())
    }
    orgs = [
        (make_org_code(p, 520000, f"MA6DEM{i:03d}"), Actor(_demo_account(10 + i), zh))
        for i, (p, zh, _en) in enumerate(ORGS)
    ]
    auditor = Actor(_demo_account(19), "审计 auditor")
    deployment = Deployment.load(settings)
    ledger = LedgerContract(connect(settings), deployment)
    deployed = ledger.w3.eth.get_block(deployment.block)["timestamp"]
    deployed_day = datetime.fromtimestamp(int(deployed), CST).date()
    with (
        BangfuClient(base) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=out,
        ) as progress,
    ):
        domain = client.domain()
        ids = Ids.for_domain(domain)
        state = DemoState.load(settings.var_dir, domain)
        steps = progress.add_task("登记角色 registering roles", total=1)
        _register(ledger, counties, orgs, auditor)
        _wait_indexed(client)
        _load_key_counties(client)
        progress.advance(steps)

        task = progress.add_task("发布项目 publishing needs and supply", total=len(NEEDS) + 3)
        today = date.today()
        need_ids: list[str] = []
        for i, n in enumerate(NEEDS):
            content = {
                **n,
                "village": VILLAGES[n["county"]],
                "deadline": (today + timedelta(days=90)).isoformat(),
                "contact_role": "县乡村振兴局项目办",
            }
            need_ids.append(
                _publish(client, state, f"need/{i}", "needs", counties[n["county"]], content)
            )
            progress.advance(task)
        for j, ((org_code, org), (_p, zh, _en)) in enumerate(zip(orgs, ORGS, strict=True)):
            supply = {
                "title": f"{zh}帮扶项目",
                "description": "面向贵州脱贫地区的资金、物资与技术服务",
                "categories": ["产业发展", "人才培育", "特殊群体关爱", "卫生健康"],
                "regions": [52],
                "capacity": [
                    {"kind": "funds", "quantity": 50_000_000},
                    {"kind": "goods", "quantity": 20000, "unit": "株", "item": "油茶苗"},
                    {"kind": "service", "quantity": 2000, "unit": "小时"},
                ],
                "period_start": today.isoformat(),
                "period_end": (today + timedelta(days=365)).isoformat(),
            }
            _publish(client, state, f"supply/{j}", "supply", org, supply, org_code)
            progress.advance(task)

        sent = Sent()
        task = progress.add_task("承诺与交付 commitments, deliveries", total=len(NEEDS))
        delivered: list[tuple[bytes, int]] = []  # (first delivery id, need index)
        for i, need_id in enumerate(need_ids):
            org_code, org = orgs[i % len(orgs)]
            county = counties[NEEDS[i]["county"]]
            commitment_id = ids(org.address, "commitment", i)
            match_id = "0x" + bytes(32).hex()
            if _missing(client, [commitment_id]):  # the match is needed only to commit
                match_id = _take(client, state, f"match/{i}", need_id, org_code, org, county)
            records = _commitment_and_deliveries(ids, i, need_id, match_id, org)
            _submit_missing(client, org, records, sent)
            delivered.append((records[1].id, i))
            progress.advance(task)
        _wait_confirmed(client, sent.ids, timeout, progress)
        _wait_indexed(client)

        task = progress.add_task("批量交付 a CSV delivery batch", total=1)
        batch_org = orgs[BATCH_NEED % len(orgs)][1]
        batch_unit = NEEDS[BATCH_NEED]["resources"][0]["unit"]
        batch_commitment = ids(batch_org.address, "commitment", BATCH_NEED)
        batch_id = _submit_csv_batch(client, batch_org, batch_commitment, deployed_day, batch_unit)
        sent.ids.append(batch_id)
        progress.advance(task)

        task = progress.add_task("签收与审计 receipts and a flag", total=1)
        for j, (delivery_id, i) in enumerate(delivered):
            county = counties[NEEDS[i]["county"]]
            receipt_id = ids(county.address, "receipt", j)
            if not _missing(client, [receipt_id]):
                sent.ids.append("0x" + receipt_id.hex())
                continue
            qty = int(_indexed(client, delivery_id, timeout)["record"]["quantity"])
            receipt = Receipt(
                id=receipt_id,
                delivery_id=delivery_id,
                # one county confirms a little less than delivered: an anomaly for the audit
                confirmed_quantity=qty - (1 if j == 2 else 0),
                note_hash=bytes(32),
            )
            _submit_missing(client, county, [receipt], sent)
        flagged = ids(orgs[0][1].address, "delivery", 0, 4)  # need 0's second delivery
        flag = Flag(
            id=ids(auditor.address, "flag", 0),
            record_id=flagged,
            reason_code=int(FlagReason.EVIDENCE_MISMATCH),
            note_hash=bytes(32),
        )
        _submit_missing(client, auditor, [flag], sent)
        _wait_confirmed(client, sent.ids, timeout, progress)
        progress.advance(task)
    out.print(
        f"[green]演示数据已上链 demo data is on chain[/]: {len(sent.ids)} records "
        f"({sent.new} sent now, {len(sent.ids) - sent.new} already there). "
        f"Open {base}/ to browse it."
    )
