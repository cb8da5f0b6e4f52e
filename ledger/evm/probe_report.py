"""What `bangfu chain probe` found: a verdict per check (pass / warn / fail), what it measured
of the node, and the recommended profile (`ledger.evm.profiles`) and settings chosen from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ledger.evm.profiles import PROFILES, ChainProfile, GasModel

__all__ = ["Check", "ProbeReport", "Verdict", "choose_profile", "recommend"]

Verdict = Literal["pass", "warn", "fail"]


@dataclass
class Check:
    """One requirement's verdict."""

    key: str
    zh: str
    en: str
    verdict: Verdict
    detail: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ProbeReport:
    url: str
    chain_id: int | None = None
    client: str = ""
    checks: list[Check] = field(default_factory=list)
    missing_methods: list[str] = field(default_factory=list)
    gas_model: GasModel | None = None
    confirmations: int | None = None
    indexer_range: int | None = None
    sender_limit: int | None = None
    profile: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "fail"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "chain_id": self.chain_id,
            "client": self.client,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
            "missing_methods": self.missing_methods,
            "profile": self.profile,
            "settings": self.settings,
        }


def recommend(r: ProbeReport) -> None:
    """Fills in the report's recommended profile and settings from what was measured."""
    profile = choose_profile(r)
    r.profile = profile.name if profile else None
    settings: dict[str, Any] = dict(profile.settings()) if profile else {}
    if r.gas_model:
        settings["gas_model"] = r.gas_model
    if r.confirmations is not None:
        settings["confirmations"] = r.confirmations
    if r.indexer_range is not None:
        settings["indexer_range"] = min(r.indexer_range, settings.get("indexer_range", 2000))
    if r.sender_limit is not None:
        settings["relayer_accounts"] = max(
            settings.get("relayer_accounts", 1), math.ceil(64 / max(r.sender_limit, 1))
        )
    r.settings = settings


def choose_profile(r: ProbeReport) -> ChainProfile | None:
    """The profile that fits what was measured: the client's name first, then what it lacks."""
    client = r.client.lower()
    missing = set(r.missing_methods)
    if "fisco" in client or ("eth_feeHistory" in missing and "eth_subscribe" in missing):
        return PROFILES["fisco-bcos-3.12"]
    if "anvil" in client:
        return PROFILES["anvil"]
    if "besu" in client:
        return PROFILES["besu-qbft"]
    if "geth" in client:
        return PROFILES["geth-clique"] if r.gas_model == "eip1559" else PROFILES["bsn-wuhan"]
    missing.discard("eth_subscribe")  # never over HTTP; the ledger polls
    for p in PROFILES.values():
        if p.gas_model == r.gas_model and not (missing & p.methods):
            return p
    return None
