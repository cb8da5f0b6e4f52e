"""Settings: one pydantic-settings class read from the environment (BANGFU_*) and `.env`.

Paths are relative to the project root unless absolute. `BANGFU_RPC_URL` points everything
at another EVM JSON-RPC node instead of the local anvil.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.core import codes
from ledger.core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: What each chain profile sets (ledger.evm.profiles describes the chains and the methods
#: their nodes answer): the gas model, the confirmations to wait, the blocks one
#: eth_getLogs call spans, and the sender accounts the relayer should rotate through.
CHAIN_PROFILE_SETTINGS: dict[str, dict[str, Any]] = {
    "anvil": {"gas_model": "eip1559", "confirmations": 0, "indexer_range": 2000, "accounts": 3},
    "besu-qbft": {"gas_model": "zero", "confirmations": 0, "indexer_range": 1000, "accounts": 8},
    "geth-clique": {
        "gas_model": "eip1559",
        "confirmations": 12,
        "indexer_range": 1000,
        "accounts": 4,
    },
    "fisco-bcos-3.12": {
        "gas_model": "zero",
        "confirmations": 0,
        "indexer_range": 500,
        "accounts": 4,
    },
    "bsn-wuhan": {"gas_model": "legacy", "confirmations": 0, "indexer_range": 500, "accounts": 4},
}


class Settings(BaseSettings):
    """Every setting of the ledger, the relayer, the indexer and the API."""

    model_config = SettingsConfigDict(env_prefix="BANGFU_", env_file=".env", extra="ignore")

    home: Path = Field(default=PROJECT_ROOT, description="project root: contracts/, var/, build/")
    rpc_url: str | None = Field(default=None, description="JSON-RPC URL; unset = the local anvil")
    public_rpc_url: str | None = Field(
        default=None,
        description="the JSON-RPC URL that visitors' browsers read the chain from (the verify "
        "page); unset = the local anvil's when the ledger runs on it, else none (the ledger's "
        "own node URL may be private, so it is never shown)",
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; unset = SQLite")
    evm_version: Literal["shanghai", "cancun", "prague"] = Field(
        default="prague",
        description="the EVM version contracts are compiled for (solc evmVersion): prague, as "
        "localchain.toml's anvil runs; shanghai for chains that stop there (ganache 7, older "
        "consortium nodes). Deploy and audit must use the same value.",
    )
    localchain_file: Path = Path("localchain.toml")
    var: Path = Field(default=Path("var"), description="runtime files: database, pids, logs")
    confirmations: int = Field(default=0, ge=0, description="blocks a record needs on top of it")
    relayer_key: SecretStr | None = Field(
        default=None, description="hex key paying gas; dev: anvil #0"
    )
    relayer_batch_size: int = Field(default=200, ge=1, le=5000)
    relayer_gas_margin: float = Field(default=1.25, ge=1.0)
    relayer_stuck_after: float = Field(default=30.0, description="seconds before a fee bump")
    indexer_range: int = Field(default=2000, ge=1, description="blocks per eth_getLogs call")
    poll_interval: float = Field(default=0.5, gt=0)
    write_lock_trace: Path | None = Field(
        default=None,
        description="a diagnostic: append one line per write transaction to this file (the "
        "process, the code that wrote, how long it waited for the database's one write lock "
        "and how long it held it); scripts/bench_api.py sums it by writer",
    )
    checkpoint_interval: float = Field(
        default=60.0, gt=0, description="seconds between checkpoints"
    )
    max_body_bytes: int = Field(default=2_000_000, description="largest JSON body the API takes")
    public_version_max_age: float = Field(
        default=0.05,
        ge=0,
        description="seconds an API process may answer a public request from the read "
        "model's version it last read (a commit in that process ends it at once; the indexer "
        "in another process is seen within this); 0 reads it for every request",
    )
    custodial: bool = Field(default=False, description="server keeps org keys and signs for them")
    keystore_password: SecretStr | None = Field(
        default=None,
        description="encrypts the custodial keystore; also opens a keystore key file given "
        "to `bangfu batch`",
    )
    key_password: SecretStr | None = Field(
        default=None, description="password of the `bangfu` client's key file (else asked)"
    )
    library_admin_key: SecretStr | None = Field(
        default=None, description="the library admin's signing key for `bangfu library` writes"
    )
    library_export_key: SecretStr | None = Field(
        default=None, description="the signing key of `bangfu library export` bundles"
    )
    library_admins: str = Field(
        default="",
        description="comma-separated addresses that may sign key-county lists and bundle "
        "imports; empty = any holder of the ledger's ADMIN role on chain",
    )
    library_trusted_exporters: str = Field(
        default="",
        description="comma-separated addresses of the other instances whose signed library "
        "bundles may be imported; empty = none",
    )
    cjk_font: Path | None = Field(
        default=None, description="a .ttf/.ttc Chinese font for reports; unset = a system one"
    )
    # the publisher of reports and IATI files: the office that files them (填报单位)
    iati_reporting_org: str | None = Field(
        default=None,
        description="the IATI organisation identifier of the publisher, e.g. "
        "CN-USCI-<统一社会信用代码>; `bangfu export iati` refuses to run without one",
    )
    iati_reporting_org_name: str | None = Field(
        default=None,
        description="the publisher's registered name, e.g. 贵州省民政厅; also the report's "
        "填报单位 unless `bangfu report --unit` gives one",
    )
    iati_reporting_org_type: str = Field(
        default="10", description="IATI OrganisationType code of the publisher (10 government)"
    )
    debug: bool = Field(default=False, description="the CLI shows tracebacks of its bugs")
    api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the API that `bangfu` client commands and the SDK talk to (--api overrides)",
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    checkpoint_log_key: str | None = Field(
        default=None,
        description="the log's C2SP note verifier key (vkey) that signs checkpoints; unset = "
        "the key the server publishes at /api/v1/log/key, pinned on first use",
    )
    witness_keys: list[str] = Field(
        default_factory=list,
        description="verifier keys (vkeys) of the witnesses whose cosignatures count, as JSON",
    )
    witness_quorum: int = Field(
        default=0,
        ge=0,
        description="witness cosignatures a checkpoint needs beside the log's own signature "
        "(which is always required)",
    )

    # the workspaces: sign-in sessions and evidence files
    session_lifetime: int = Field(
        default=8 * 3600, ge=1, description="seconds a sign-in session stays valid"
    )
    evidence_dir: Path | None = Field(
        default=None, description="the content-addressed evidence files; unset = var/evidence"
    )
    evidence_max_bytes: int = Field(
        default=20_000_000, ge=1, description="largest evidence file one upload may carry"
    )

    # consortium chains (docs/consortium.md): a profile presets the settings below (an
    # explicitly given one wins); the relayer pays gas by `gas_model`, polling only
    chain_profile: str | None = Field(
        default=None,
        description="anvil, besu-qbft, geth-clique, fisco-bcos-3.12 or bsn-wuhan; unset = "
        "the settings as given",
    )
    gas_model: Literal["eip1559", "legacy", "zero"] = Field(
        default="eip1559",
        description="how the relayer prices gas: EIP-1559 fees, a legacy gas price, or 0",
    )

    @model_validator(mode="after")
    def _apply_chain_profile(self) -> Settings:
        if self.chain_profile is None:
            return self
        preset = CHAIN_PROFILE_SETTINGS.get(self.chain_profile)
        if preset is None:
            raise ConfigError(
                f"未知的链配置 unknown BANGFU_CHAIN_PROFILE={self.chain_profile!r}; known: "
                f"{', '.join(CHAIN_PROFILE_SETTINGS)}",
                code=codes.BAD_CHAIN_PROFILE,
            )
        given = self.model_fields_set
        for name in ("gas_model", "confirmations", "indexer_range"):
            if name not in given:
                setattr(self, name, preset[name])
        return self

    def path(self, p: Path) -> Path:
        """An absolute path, relative paths taken from the project home."""
        return p if p.is_absolute() else self.home / p

    def shown(self, p: Path) -> str:
        """A path as the operator knows it: relative to the project home when inside it."""
        try:
            return str(self.path(p).relative_to(self.home))
        except ValueError:
            return str(p)

    @property
    def library_admin_list(self) -> list[str]:
        return [a.strip() for a in self.library_admins.split(",") if a.strip()]

    @property
    def trusted_exporter_list(self) -> list[str]:
        return [a.strip() for a in self.library_trusted_exporters.split(",") if a.strip()]

    @property
    def var_dir(self) -> Path:
        return self.path(self.var)

    @property
    def evidence_path(self) -> Path:
        return self.path(self.evidence_dir) if self.evidence_dir else self.var_dir / "evidence"

    @property
    def deployment_path(self) -> Path:
        return self.var_dir / "deployment.json"

    @property
    def build_dir(self) -> Path:
        return self.home / "build"

    @property
    def contracts_dir(self) -> Path:
        return self.home / "contracts"

    @property
    def node_modules(self) -> Path:
        return self.home / "node_modules"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'ledger.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings`)."""
    return Settings()
