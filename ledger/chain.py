"""The chain: starting and stopping the local anvil, connecting web3, deploying AidLedger.

`localchain.toml` configures anvil (from node_modules, never Hardhat). `BANGFU_RPC_URL`
attaches to any other EVM JSON-RPC node instead; nothing else changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, Field, ValidationError
from web3 import Web3
from web3.contract import Contract

from ledger.compiler import Artifact, compile_contracts
from ledger.config import Settings, get_settings
from ledger.errors import ChainError, ConfigError, DeploymentError, ToolchainError
from ledger.records import Domain

Account.enable_unaudited_hdwallet_features()


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
    start_timeout: float = Field(30, gt=0)

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


def connect(
    settings: Settings | None = None, *, url: str | None = None, timeout: float = 30
) -> Web3:
    """A Web3 connected to the configured node, or a ChainError naming the URL."""
    settings = settings or get_settings()
    url = url or rpc_url(settings)
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - one round trip proves the node answers
    except Exception as exc:  # noqa: BLE001 - requests/aiohttp raise many types
        raise ChainError(
            f"the chain at {url} does not answer ({type(exc).__name__}); start it with "
            "`bangfu chain up` or set BANGFU_RPC_URL",
            url=url,
        ) from None
    return w3


def dev_accounts(cfg: AnvilConfig) -> list[LocalAccount]:
    """The dev chain's accounts, derived from its public mnemonic (never for real chains)."""
    return list(_derive_accounts(cfg.mnemonic, cfg.accounts))


@lru_cache(maxsize=8)
def _derive_accounts(mnemonic: str, count: int) -> tuple[LocalAccount, ...]:
    # BIP-32 derivation in pure Python is slow (~0.5 s a key): derive once per process.
    return tuple(
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    )


# ------------------------------------------------------------------ local anvil


@dataclass(frozen=True)
class LocalChain:
    """The local anvil's files: binary, pid, log and state, all from localchain.toml."""

    cfg: AnvilConfig
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LocalChain:
        settings = settings or get_settings()
        return cls(load_localchain(settings), settings)

    @property
    def binary(self) -> Path:
        """The platform's anvil binary that @foundry-rs/anvil installed; its node wrapper in
        .bin/ only as a fallback (signals sent to the wrapper need not reach anvil)."""
        platform = sorted((self.settings.node_modules / "@foundry-rs").glob("anvil-*/bin/anvil"))
        return platform[0] if platform else self.settings.node_modules / ".bin" / "anvil"

    @property
    def pid_file(self) -> Path:
        return self.settings.var_dir / "anvil.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.var_dir / "anvil.log"

    @property
    def state_file(self) -> Path:
        return self.settings.path(self.cfg.state_file)

    def command(self) -> list[str]:
        c = self.cfg
        cmd = [
            str(self.binary),
            "--host", c.host,
            "--port", str(c.port),
            "--chain-id", str(c.chain_id),
            "--mnemonic", c.mnemonic,
            "--accounts", str(c.accounts),
            "--hardfork", c.hardfork,
            "--gas-limit", str(c.gas_limit),
            "--state", str(self.state_file),
            "--state-interval", str(c.state_interval),
            "--preserve-historical-states",
        ]  # fmt: skip
        if c.block_time > 0:
            cmd += ["--block-time", str(c.block_time)]
        return cmd

    def pid(self) -> int | None:
        """The running anvil's pid from the pid file, or None (stale files are removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return None
        except PermissionError:
            return pid
        return pid

    def answers(self) -> bool:
        try:
            w3 = Web3(Web3.HTTPProvider(self.cfg.rpc_url, request_kwargs={"timeout": 2}))
            return int(w3.eth.chain_id) == self.cfg.chain_id
        except Exception:  # noqa: BLE001
            return False

    def _port_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.cfg.host, self.cfg.port))
            except OSError:
                return False
        return True

    def up(self) -> int:
        """Starts anvil in the background and waits until its RPC answers; returns its pid."""
        running = self.pid()
        if running is not None and self.answers():
            return running
        if not self.binary.exists():
            raise ToolchainError(
                f"{self.binary} is missing: run `npm ci` (or `make setup`) in the project root",
                code="missing_node_modules",
            )
        if not self._port_free():
            raise ChainError(
                f"port {self.cfg.port} on {self.cfg.host} is already in use by another program; "
                "stop it or change `port` in localchain.toml",
                code="port_in_use",
            )
        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the CLI that started it
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + self.cfg.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ChainError(
                    f"anvil exited with code {proc.returncode}; see {self.log_file}",
                    code="chain_start_failed",
                )
            if self.answers():
                return proc.pid
            time.sleep(0.1)
        raise ChainError(
            f"anvil did not answer on {self.cfg.rpc_url} within {self.cfg.start_timeout:g} s; "
            f"see {self.log_file}",
            code="chain_start_timeout",
        )

    def down(self, *, timeout: float = 30, sig: int = signal.SIGTERM) -> bool:
        """Stops anvil by its pid (SIGTERM lets it write its state). False if not running."""
        pid = self.pid()
        if pid is None:
            return False
        # anvil runs in its own session (start_new_session): signal the whole group, so
        # nothing it started outlives it and keeps the port.
        _signal_group(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                # reap it if it is our child (tests); otherwise just wait
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            _signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> dict[str, Any]:
        pid = self.pid()
        info: dict[str, Any] = {"pid": pid, "rpc_url": self.cfg.rpc_url, "running": pid is not None}
        if pid is not None and self.answers():
            w3 = Web3(Web3.HTTPProvider(self.cfg.rpc_url))
            info.update(answering=True, block=w3.eth.block_number, chain_id=w3.eth.chain_id)
        else:
            info["answering"] = False
        info["state_file"] = str(self.state_file)
        return info


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# ------------------------------------------------------------------ deployment


@dataclass(frozen=True)
class Deployment:
    """Where AidLedger lives: written to var/deployment.json by `bangfu deploy`."""

    chain_id: int
    address: str
    block: int
    tx_hash: str
    compiler_version: str
    admin: str
    input_hash: str

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, self.address)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def load(cls, settings: Settings | None = None) -> Deployment:
        settings = settings or get_settings()
        path = settings.deployment_path
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise DeploymentError(
                f"{path} not found: deploy first with `bangfu deploy`", code="no_deployment"
            ) from None
        except (ValueError, TypeError) as exc:
            raise DeploymentError(
                f"{path} is malformed ({exc}); redeploy", code="bad_deployment"
            ) from None

    def save(self, settings: Settings | None = None) -> Path:
        settings = settings or get_settings()
        path = settings.deployment_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(path)
        return path


def ledger_contract(w3: Web3, address: str, artifact: Artifact | None = None) -> Contract:
    artifact = artifact or compile_contracts()
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)


def check_deployed(w3: Web3, deployment: Deployment) -> None:
    """Raises DeploymentError unless a contract is at the deployment's address on this chain."""
    if int(w3.eth.chain_id) != deployment.chain_id:
        raise DeploymentError(
            f"var/deployment.json is for chain {deployment.chain_id}, but the node is chain "
            f"{w3.eth.chain_id}; redeploy with `bangfu deploy`",
            code="wrong_chain",
        )
    if not w3.eth.get_code(Web3.to_checksum_address(deployment.address)):
        raise DeploymentError(
            f"no contract at {deployment.address} (the chain was reset?); redeploy with "
            "`bangfu deploy`",
            code="no_contract",
        )


def send_transaction(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> Any:
    """Signs and sends one transaction and waits for its receipt (deploy and admin use)."""
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + 10_000  # type: ignore[arg-type]
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        base = w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
        tip = 1_000_000_000
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = 2 * int(base) + tip
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.1)
    if receipt["status"] != 1:
        raise ChainError(f"transaction {tx_hash.to_0x_hex()} reverted", code="tx_reverted")
    return receipt


#: Seconds a transfer of the admin role waits between its two steps on a real chain.
ADMIN_DELAY = 2 * 24 * 3600
#: ... and on the local anvil (no BANGFU_RPC_URL), short enough to show both steps.
DEV_ADMIN_DELAY = 60


def deploy(
    w3: Web3,
    deployer: LocalAccount,
    *,
    admin: str | None = None,
    admin_delay: int | None = None,
    settings: Settings | None = None,
) -> Deployment:
    """Deploys AidLedger with `admin` (default: the deployer) as the civil-affairs office.

    The admin role moves only in two steps (OpenZeppelin AccessControlDefaultAdminRules):
    the admin names a successor, who accepts after `admin_delay` seconds (default: 2 days,
    or DEV_ADMIN_DELAY on the local anvil)."""
    settings = settings or get_settings()
    artifact = compile_contracts(settings)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    admin = admin or deployer.address
    if admin_delay is None:
        admin_delay = DEV_ADMIN_DELAY if settings.rpc_url is None else ADMIN_DELAY
    if not 0 <= admin_delay < 1 << 48:
        raise ConfigError(
            f"管理员移交延迟无效 / admin delay {admin_delay} must be 0..2^48-1 seconds",
            code="bad_admin_delay",
        )
    tx = factory.constructor(Web3.to_checksum_address(admin), admin_delay).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
        }
    )
    receipt = send_transaction(w3, deployer, dict(tx))
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        address=str(receipt["contractAddress"]),
        block=int(receipt["blockNumber"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        compiler_version=artifact.compiler_version,
        admin=Web3.to_checksum_address(admin),
        input_hash=artifact.input_hash,
    )
