"""`bangfu demo`: fills a dev ledger through the real HTTP API with a synthetic province.

Everything goes through the API a county or organization would use (drafts, signed
publishing, 接单 matches, signed records); only role registration is an admin transaction
on chain. Keys come from anvil's public development mnemonic; names are invented and no
personal data is made: beneficiaries are pseudonyms of obviously synthetic ID numbers.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ledger.chain import Deployment, connect, load_localchain
from ledger.client import BangfuClient
from ledger.commands.core import admin_account
from ledger.config import get_settings
from ledger.errors import LedgerError
from ledger.library.regions import make_org_code
from ledger.merkle import root as merkle_root
from ledger.onchain import LedgerContract
from ledger.records import FlagReason, ResourceKind, SignedRecord, leaf_hash, pseudonym

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


@dataclass
class Actor:
    account: LocalAccount
    label: str

    @property
    def address(self) -> str:
        return str(self.account.address)


def _demo_account(index: int) -> LocalAccount:
    # Unfunded keys from the dev mnemonic (index 20+): they sign, the relayer pays gas.
    cfg = load_localchain(get_settings())
    return Account.from_mnemonic(cfg.mnemonic, account_path=f"m/44'/60'/0'/0/{20 + index}")


def _register(counties: dict[int, Actor], orgs: list[tuple[str, Actor]], auditor: Actor) -> None:
    settings = get_settings()
    ledger = LedgerContract(connect(settings), Deployment.load(settings))
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


def _publish(
    base: str,
    client: BangfuClient,
    owner: Actor,
    kind: str,
    content: dict[str, Any],
    org: str | None = None,
) -> str:
    """The owner signs the draft and version 1 (the SDK checks what it signs)."""
    sdk = BangfuClient(base, account=owner.account, http=client.http)
    pid = str(sdk.library_create(kind, content, org_code=org)["project_id"])
    sdk.library_publish(pid)
    return pid


def _take(
    base: str, client: BangfuClient, need_id: str, org_code: str, org: Actor, county: Actor
) -> str:
    """接单: the organization takes the need and the county accepts, each signing."""
    org_sdk = BangfuClient(base, account=org.account, http=client.http)
    proposed = org_sdk.library_propose(
        need_id, direction="take", org_code=org_code, note="演示 demo"
    )
    BangfuClient(base, account=county.account, http=client.http).library_answer(
        str(proposed["match_id"])
    )
    return str(proposed["match_id"])


@app.command("demo")
def demo(
    api: str = typer.Option("", help="接口地址 API base URL (default: this machine's API)"),
    timeout: float = typer.Option(120, help="等待上链秒数 seconds to wait for confirmation"),
) -> None:
    """演示数据 Fill the dev ledger through the API with a synthetic province (贵州, 52)."""
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
        steps = progress.add_task("登记角色 registering roles", total=1)
        _register(counties, orgs, auditor)
        _wait_indexed(client)
        progress.advance(steps)

        admin_sdk = BangfuClient(base, account=admin_account(), http=client.http)
        if not admin_sdk.request("GET", "/api/v1/library/key-counties/version")["version"]:
            admin_sdk.library_load_key_counties([522327, 522326], source="demo sample")

        task = progress.add_task("发布项目 publishing needs and supply", total=len(NEEDS) + 3)
        today = date.today()
        need_ids: list[tuple[str, dict[str, Any]]] = []
        for n in NEEDS:
            content = {
                **n,
                "village": VILLAGES[n["county"]],
                "deadline": (today + timedelta(days=90)).isoformat(),
                "contact_role": "县乡村振兴局项目办",
            }
            need_ids.append((_publish(base, client, counties[n["county"]], "need", content), n))
            progress.advance(task)
        for (org_code, org), (_p, zh, _en) in zip(orgs, ORGS, strict=True):
            _publish(
                base,
                client,
                org,
                "supply",
                {
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
                },
                org_code,
            )
            progress.advance(task)

        records: list[SignedRecord] = []
        task = progress.add_task("承诺与交付 commitments, deliveries, receipts", total=len(NEEDS))
        county_key = hashlib.sha256(b"demo county key - not a real key").digest()
        delivered_ids: list[str] = []
        for i, (need_id, n) in enumerate(need_ids):
            org_code, org = orgs[i % len(orgs)]
            county = counties[n["county"]]
            match_id = _take(base, client, need_id, org_code, org, county)
            want = n["resources"][0]
            kind = {
                "funds": ResourceKind.FUNDS,
                "goods": ResourceKind.GOODS,
                "service": ResourceKind.SERVICE,
            }[want["kind"]]
            org_client = BangfuClient(base, account=org.account, http=client.http)
            commitment = org_client.commitment(
                need_id,
                quantity=want["quantity"],
                resource_kind=kind,
                unit=want.get("unit", "分" if kind == ResourceKind.FUNDS else ""),
                due_date=int(time.time()) + 86400 * (60 if i != 1 else -1),
                match_id=match_id,
            )
            batch = [commitment]
            for part in (2, 4):  # two deliveries: half, then a quarter
                people = [pseudonym(county_key, f"DEMO{i:02d}{part}{k:06d}") for k in range(5)]
                batch.append(
                    org_client.delivery(
                        commitment.id,
                        quantity=want["quantity"] // part,
                        evidence_hash=hashlib.sha256(f"demo evidence {i}/{part}".encode()).digest(),
                        beneficiary_count=len(people),
                        beneficiary_root=merkle_root([leaf_hash(p) for p in people]),
                    )
                )
            records += batch
            client.submit(batch)
            delivered_ids += ["0x" + r.id.hex() for r in batch[1:]]
            progress.advance(task)

        task = progress.add_task("上链确认 waiting for the chain", total=len(records))
        deadline = time.monotonic() + timeout
        ids = ["0x" + r.id.hex() for r in records]
        while time.monotonic() < deadline:
            done = sum(s.status == "confirmed" for s in client.status(ids))
            progress.update(task, completed=done)
            if done == len(ids):
                break
            time.sleep(0.5)
        _wait_indexed(client)

        task = progress.add_task("签收与审计 receipts and a flag", total=1)
        follow: list[SignedRecord] = []
        for j, delivery_id in enumerate(delivered_ids[::2]):  # the first delivery of each
            n = need_ids[j][1]
            county_client = BangfuClient(
                base, account=counties[n["county"]].account, http=client.http
            )
            qty = int(client.record(delivery_id)["record"]["quantity"])
            # one county confirms a little less than delivered: an anomaly for the audit
            follow.append(
                county_client.receipt(delivery_id, confirmed_quantity=qty - (1 if j == 2 else 0))
            )
        auditor_client = BangfuClient(base, account=auditor.account, http=client.http)
        follow.append(auditor_client.flag(delivered_ids[1], reason=FlagReason.EVIDENCE_MISMATCH))
        client.submit(follow)
        client.wait_confirmed(["0x" + r.id.hex() for r in follow], timeout=timeout)
        progress.advance(task)
    out.print(
        f"[green]演示数据已上链 demo data is on chain[/]: {len(records) + len(follow)} "
        f"records. Open {base}/ to browse it."
    )
