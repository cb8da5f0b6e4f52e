"""The demo's synthetic province (贵州, 52): its counties, organizations and needs, the
actors' development keys, and what makes a rerun find its own records and projects again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.config import get_settings
from ledger.core.eip712 import Domain
from ledger.core.fields import ResourceKind
from ledger.core.lines import scoped_id
from ledger.evm.localchain import load_localchain
from ledger.library.regions import county_name

# Counties of Guizhou (52), named from the shipped GB/T 2260 data; 册亨县 and 望谟县 are in
# the sample key-county list.
COUNTIES = {code: county_name(code) for code in (522327, 522326, 520121)}
VILLAGES = {522327: "者楼村", 522326: "纳夜村", 520121: "南龙村"}
# The demo's organizations: (credit code prefix, name, English name). The prefix is 民政's
# 5 and the type (51 社会团体, 52 民办非企业单位, 53 基金会), so each code names its type;
# `make_org_code` gives a code with a valid GB 32100 check character. Synthetic codes.
ORGS = [
    ("51", "黔西南州乡村振兴促进会", "Qianxinan Rural Revitalization Association"),
    ("52", "贵州山地农业技术服务中心", "Guizhou Mountain Farming Technical Service Centre"),
    ("53", "贵州助学与健康基金会", "Guizhou Education and Health Foundation"),
]
#: The division code in the demo's credit codes (贵州省) and the authority that registers them.
ORG_DIVISION = 520000
ORG_AUTHORITY = "贵州省民政厅"
AUDITOR_NAME = "贵州省审计厅乡村振兴审计组"
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


def demo_account(index: int) -> LocalAccount:
    # Unfunded keys from the dev mnemonic (index 20+): they sign, the relayer pays gas.
    cfg = load_localchain(get_settings())
    return Account.from_mnemonic(cfg.mnemonic, account_path=f"m/44'/60'/0'/0/{20 + index}")
