"""localchain.toml: the local anvil's settings, and which JSON-RPC URL the ledger talks to
(`BANGFU_RPC_URL` when set, else the local anvil's)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ledger.config import Settings, get_settings
from ledger.core.errors import ConfigError

__all__ = ["AnvilConfig", "load_localchain", "public_rpc_url", "rpc_url"]


class AnvilConfig(BaseModel):
    """The [anvil] table of localchain.toml."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(8545, ge=1, le=65535)
    chain_id: int = Field(31337, ge=1)
    mnemonic: str
    accounts: int = Field(10, ge=1, le=1000)
    block_time: float = Field(1, ge=0)
    hardfork: str = "prague"
    gas_limit: int = Field(300_000_000, ge=1_000_000)
    state_file: Path = Path("var/anvil-state.json")
    state_interval: int = Field(5, ge=1)
    state_copies: int = Field(3, ge=1, le=20)
    start_timeout: float = Field(30, gt=0)
    #: Seconds the keeper pauses halfway through writing a state copy. Only the crash tests
    #: set it (in the localchain.toml they write), to kill -9 anvil or the keeper *during*
    #: the write; 0, the default, never pauses.
    dump_pause: float = Field(0, ge=0)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_localchain(settings: Settings | None = None, path: Path | None = None) -> AnvilConfig:
    """Reads and validates localchain.toml, with a one-line error for any mistake."""
    settings = settings or get_settings()
    path = path or settings.path(settings.localchain_file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found: copy it from the repository", code="no_localchain"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", code="bad_localchain") from None
    if "anvil" not in data:
        raise ConfigError(f"{path} has no [anvil] table", code="bad_localchain")
    try:
        return AnvilConfig.model_validate(data["anvil"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: [anvil] {where}: {first['msg']}", code="bad_localchain"
        ) from None


def rpc_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.rpc_url or load_localchain(settings).rpc_url


def public_rpc_url(settings: Settings | None = None) -> str | None:
    """The JSON-RPC URL a visitor's browser may read the chain from: BANGFU_PUBLIC_RPC_URL when
    set; else, when the ledger runs on the local anvil (BANGFU_RPC_URL unset, or the URL of
    localchain.toml's anvil), that anvil's URL; else None. The ledger's own node URL is never
    offered otherwise: it may be an intranet address or carry an access key."""
    settings = settings or get_settings()
    if settings.public_rpc_url:
        return settings.public_rpc_url
    try:
        local = load_localchain(settings).rpc_url
    except ConfigError:
        return None
    if settings.rpc_url is None or settings.rpc_url.rstrip("/") == local:
        return local
    return None
