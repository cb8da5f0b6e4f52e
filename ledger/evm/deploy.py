"""Reaching and deploying AidLedger on any EVM node: connecting web3, the dev chain's
accounts, `var/deployment.json`, deploying, checking a deployment, sending a transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from ledger.config import Settings, get_settings
from ledger.core import codes
from ledger.core.eip712 import Domain
from ledger.core.errors import ChainError, ConfigError, DeploymentError
from ledger.evm.compiler import Artifact, code_matches, compile_contracts
from ledger.evm.localchain import AnvilConfig, rpc_url
from ledger.evm.profiles import GasModel, node_gas_model

__all__ = [
    "ADMIN_DELAY",
    "DEV_ADMIN_DELAY",
    "Deployment",
    "check_chain",
    "check_deployed",
    "connect",
    "deploy",
    "dev_accounts",
    "fee_fields",
    "ledger_contract",
    "matches_deployed",
    "send_transaction",
]

Account.enable_unaudited_hdwallet_features()


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


def matches_deployed(address: str, settings: Settings | None = None) -> bool:
    """Whether the code at `address` equals the pinned compile of contracts/."""
    settings = settings or get_settings()
    w3 = connect(settings)
    onchain = bytes(w3.eth.get_code(w3.to_checksum_address(address)))
    return code_matches(onchain, compile_contracts(settings))


def check_chain(
    w3: Web3,
    deployment: Deployment,
    *,
    path: str,
    advice: str = "redeploy with `bangfu deploy`",
) -> None:
    """Raises DeploymentError (wrong_chain) unless the node is the deployment's chain."""
    node = int(w3.eth.chain_id)
    if node != deployment.chain_id:
        raise DeploymentError(
            f"部署文件不属于此链 / {path} is for chain {deployment.chain_id}, but the node is "
            f"chain {node}; {advice}",
            code=codes.WRONG_CHAIN,
        )


def check_deployed(w3: Web3, deployment: Deployment, settings: Settings) -> None:
    """Raises DeploymentError unless a contract is at the deployment's address on this chain
    (the deployment file named as `settings` has it)."""
    check_chain(w3, deployment, path=settings.shown(settings.deployment_path))
    if not w3.eth.get_code(Web3.to_checksum_address(deployment.address)):
        raise DeploymentError(
            f"no contract at {deployment.address} (the chain was reset?); redeploy with "
            "`bangfu deploy`",
            code="no_contract",
        )


#: The priority fee (tip) of EIP-1559 transactions the ledger sends.
TIP = 1_000_000_000


def fee_fields(w3: Web3, gas_model: GasModel | None = None) -> dict[str, int]:
    """The fee fields of a transaction: EIP-1559 fees where blocks carry a base fee, else a
    legacy gas price (0 on a chain that charges nothing). `gas_model` forces one."""
    if gas_model is None:
        fee = w3.eth.get_block("latest").get("baseFeePerGas")
        gas_model = node_gas_model(int(w3.eth.gas_price), None if fee is None else int(fee))
    if gas_model == "zero":
        return {"gasPrice": 0}
    if gas_model == "legacy":
        return {"gasPrice": int(w3.eth.gas_price)}
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    return {"maxFeePerGas": 2 * base + TIP, "maxPriorityFeePerGas": TIP, "type": 2}


def send_transaction(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> Any:
    """Signs and sends one transaction and waits for its receipt (deploy and admin use)."""
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + 10_000  # type: ignore[arg-type]
    fees = fee_fields(w3)
    if "gasPrice" in fees:  # build_transaction may have filled EIP-1559 fields: replace them
        for name in ("maxFeePerGas", "maxPriorityFeePerGas", "type"):
            tx.pop(name, None)
        tx["gasPrice"] = fees["gasPrice"]
    elif "maxFeePerGas" not in tx and "gasPrice" not in tx:
        tx.update(fees)
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
            **fee_fields(w3),  # web3 would assume EIP-1559 and read a base fee
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
