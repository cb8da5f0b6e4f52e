"""Chain profiles: settings presets for the EVM chains a province may run the ledger on.

A profile says how the relayer pays for gas (EIP-1559, legacy gas price, or a price of 0),
how many blocks a record waits on top of it, how many blocks one `eth_getLogs` call spans,
how many sender accounts the relayer should rotate through (a per-sender pending limit caps
one account's throughput: besu#5757), and which JSON-RPC methods the node answers. Every
profile is polling only: nothing in the ledger subscribes (`eth_subscribe`), so a node
without websockets serves it.

`BANGFU_CHAIN_PROFILE` selects one; a setting given explicitly (`BANGFU_CONFIRMATIONS` …)
overrides the profile's value. `check_node` compares the profile with the live node at
start-up and refuses, in one line naming the setting, a profile that disagrees with it.
`bangfu chain probe` measures a node and recommends a profile (docs/consortium.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ledger.config import CHAIN_PROFILE_SETTINGS
from ledger.core import codes
from ledger.core.errors import ConfigError

__all__ = [
    "FISCO_WEB3_METHODS",
    "GAS_MODELS",
    "LEDGER_METHODS",
    "PROFILES",
    "ChainProfile",
    "GasModel",
    "check_node",
    "get_profile",
    "node_gas_model",
]

GasModel = Literal["eip1559", "legacy", "zero"]
GAS_MODELS: tuple[GasModel, ...] = ("eip1559", "legacy", "zero")

#: Every JSON-RPC method the relayer, the indexer, deployment and the audit call. None of
#: them is `eth_feeHistory`, `eth_maxPriorityFeePerGas` or `eth_subscribe`.
LEDGER_METHODS: frozenset[str] = frozenset(
    {
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getTransactionCount",
        "eth_sendRawTransaction",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_call",
        "eth_estimateGas",
        "eth_getLogs",
        "eth_getCode",
        "eth_gasPrice",
    }
)

#: The methods FISCO BCOS 3.x's web3 RPC answers (`[web3_rpc] enable = true`; the EthMethod
#: enum of bcos-rpc/web3jsonrpc/endpoints/EthMethods.h). No eth_feeHistory, no
#: eth_subscribe, no debug_/trace_, no EIP-1559 fee market.
FISCO_WEB3_METHODS: frozenset[str] = frozenset(
    {
        "web3_clientVersion",
        "web3_sha3",
        "net_version",
        "net_listening",
        "net_peerCount",
        "eth_protocolVersion",
        "eth_syncing",
        "eth_coinbase",
        "eth_chainId",
        "eth_mining",
        "eth_hashrate",
        "eth_gasPrice",
        "eth_accounts",
        "eth_blockNumber",
        "eth_getBalance",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_getBlockTransactionCountByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getUncleCountByBlockHash",
        "eth_getUncleCountByBlockNumber",
        "eth_getCode",
        "eth_sign",
        "eth_sendTransaction",
        "eth_signTransaction",
        "eth_sendRawTransaction",
        "eth_call",
        "eth_estimateGas",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionReceipt",
        "eth_getUncleByBlockHashAndIndex",
        "eth_getUncleByBlockNumberAndIndex",
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_newPendingTransactionFilter",
        "eth_uninstallFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_getLogs",
        "eth_maxPriorityFeePerGas",
    }
)

#: Ethereum clients (geth, besu, anvil) answer the whole standard set; these are the extra
#: methods a profile may be asked about beside LEDGER_METHODS.
_ETHEREUM_EXTRAS = frozenset(
    {"eth_feeHistory", "eth_maxPriorityFeePerGas", "eth_subscribe", "eth_getBlockByHash"}
)


@dataclass(frozen=True)
class ChainProfile:
    """One chain's settings preset (see the module's docstring)."""

    name: str
    label: str
    gas_model: GasModel
    confirmations: int
    indexer_range: int
    sender_accounts: int
    methods: frozenset[str]
    chain_id: int | None = None
    instant_finality: bool = False
    polling_only: bool = True
    note: str = ""

    def settings(self) -> dict[str, Any]:
        """The BANGFU_* settings this profile stands for (what `bangfu chain probe` prints)."""
        return {
            "chain_profile": self.name,
            "gas_model": self.gas_model,
            "confirmations": self.confirmations,
            "indexer_range": self.indexer_range,
            "relayer_accounts": self.sender_accounts,
        }

    def lacks(self, method: str) -> bool:
        return method not in self.methods


_STANDARD = LEDGER_METHODS | _ETHEREUM_EXTRAS


def _profile(name: str, label: str, methods: frozenset[str], **kw: Any) -> ChainProfile:
    preset = CHAIN_PROFILE_SETTINGS[name]
    return ChainProfile(
        name,
        label,
        preset["gas_model"],
        confirmations=preset["confirmations"],
        indexer_range=preset["indexer_range"],
        sender_accounts=preset["accounts"],
        methods=methods,
        **kw,
    )


PROFILES: Mapping[str, ChainProfile] = {
    p.name: p
    for p in (
        _profile(
            "anvil",
            "本地开发链 anvil (development)",
            _STANDARD,
            chain_id=31337,
            instant_finality=True,
            note="one node, automine or fixed block time; the development chain only",
        ),
        _profile(
            "besu-qbft",
            "Hyperledger Besu QBFT 联盟链",
            _STANDARD,
            instant_finality=True,
            note="QBFT blocks are final once sealed; a per-sender pending limit "
            "(tx-pool-limit-by-account-percentage) caps one account: rotate 8 senders",
        ),
        _profile(
            "geth-clique",
            "Geth Clique (PoA) 联盟链",
            _STANDARD,
            note="Clique has no finality: a block can be reorganized; wait 12 blocks",
        ),
        _profile(
            "fisco-bcos-3.12",
            "FISCO BCOS ≥ 3.12 (web3 RPC)",
            FISCO_WEB3_METHODS,
            chain_id=20200,
            instant_finality=True,
            note="needs [web3_rpc] enable = true and a non-国密 (SM) chain; PBFT blocks "
            "are final; no eth_feeHistory, no eth_subscribe, legacy transactions only; "
            "the chain id is fixed at genesis (default 20200)",
        ),
        _profile(
            "bsn-wuhan",
            "BSN 开放联盟链 武汉链 (Ethereum-based)",
            LEDGER_METHODS | {"eth_getBlockByHash"},
            instant_finality=True,
            note="reached through a BSN gateway: assume only the core methods and a small "
            "eth_getLogs range; probe the gateway before use",
        ),
    )
}


def get_profile(name: str) -> ChainProfile:
    """The named profile, or a one-line ConfigError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"未知的链配置 unknown BANGFU_CHAIN_PROFILE={name!r}; known: {', '.join(PROFILES)}",
            code=codes.BAD_CHAIN_PROFILE,
        ) from None


def node_gas_model(gas_price: int, base_fee: int | None) -> GasModel:
    """How a node prices gas, from eth_gasPrice and the latest block's baseFeePerGas."""
    if base_fee is None:
        return "zero" if gas_price == 0 else "legacy"
    if base_fee == 0 and gas_price == 0:
        return "zero"
    return "eip1559"


def check_node(w3: Any, gas_model: GasModel, chain_id: int | None = None) -> None:
    """Refuses, in one line naming the setting, a gas model (or a profile's chain id) the
    node at `w3` cannot serve: EIP-1559 on a chain whose blocks carry no base fee."""
    block = w3.eth.get_block("latest")
    base = block.get("baseFeePerGas")
    node = node_gas_model(int(w3.eth.gas_price), None if base is None else int(base))
    if gas_model == "eip1559" and node != "eip1559":
        raise ConfigError(
            f"BANGFU_GAS_MODEL=eip1559 但节点不支持 EIP-1559 / the node's blocks carry no base "
            f"fee ({node} gas): set BANGFU_GAS_MODEL={node} or choose its BANGFU_CHAIN_PROFILE",
            code=codes.PROFILE_MISMATCH,
        )
    if gas_model == "zero" and node not in ("zero",) and int(w3.eth.gas_price) > 0:
        raise ConfigError(
            f"BANGFU_GAS_MODEL=zero 但节点收取 gas / the node asks a gas price of "
            f"{int(w3.eth.gas_price)} wei: set BANGFU_GAS_MODEL={node}",
            code=codes.PROFILE_MISMATCH,
        )
    if chain_id is not None:
        actual = int(w3.eth.chain_id)
        if actual != chain_id:
            raise ConfigError(
                f"BANGFU_CHAIN_PROFILE expects chain id {chain_id} but the node's is {actual}: "
                "check BANGFU_RPC_URL or BANGFU_CHAIN_PROFILE",
                code=codes.PROFILE_MISMATCH,
            )
