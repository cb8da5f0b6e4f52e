"""Library test builders: need and supply content as the library forms take it, and a sync
that relays and indexes what a test queued (the `svc` fixture is tests/conftest.py's)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ledger.app import LedgerService
from ledger.indexer.worker import Indexer
from ledger.relayer.worker import RelayWorker
from tests.factories import ChainEnv


def sync(service: LedgerService, env: ChainEnv) -> None:
    """Sends queued records and indexes them (the env anvil automines)."""
    worker = RelayWorker(service.db, service.ledger(), env.actors.relayers, confirmations=0)
    for _ in range(5):
        worker.run_once()
    Indexer(service.db, service.ledger()).run_until_synced()


def need(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "county": 522327,
        "village": "者楼村",
        "title": "册亨县者楼村油茶产业帮扶",
        "description": "需要油茶苗和种植技术培训，带动脱贫户增收",
        "category": "产业发展",
        "mode": "capacity",
        "beneficiaries": 120,
        "budget_fen": 50_000_000,
        "resources": [
            {"kind": "funds", "quantity": 20_000_000},
            {"kind": "goods", "quantity": 5000, "unit": "株", "item": "油茶苗"},
        ],
        "deadline": (date.today() + timedelta(days=120)).isoformat(),
        "contact_role": "县乡村振兴局项目办",
    }
    body.update(over)
    return body


def supply(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "油茶种植技术与资金支持",
        "description": "为贵州脱贫县提供油茶苗与技术员服务",
        "categories": ["产业发展", "科技助农"],
        "regions": [52],
        "capacity": [
            {"kind": "funds", "quantity": 30_000_000},
            {"kind": "goods", "quantity": 10000, "unit": "株", "item": "油茶苗"},
        ],
        "period_start": date.today().isoformat(),
        "period_end": (date.today() + timedelta(days=365)).isoformat(),
    }
    body.update(over)
    return body
