"""`bangfu chain probe --rpc URL`: checks, on a live node, everything the ledger relies on.

It deploys a throwaway contract (ledger/evm/sol/ChainProbe.sol, compiled with the ledger's
pinned solc, EVM version and OpenZeppelin) and measures:

- the chain id (eth_chainId, and block.chainid inside the EVM: EIP-712 domains bind it);
- EIP-712 recovery through ecrecover with OpenZeppelin's ECDSA (国密 chains differ);
- the SHA-256 precompile (the Merkle log's hash);
- block.timestamp's unit (FISCO BCOS before 3.12 counts milliseconds);
- the CREATE address rule (keccak(rlp(sender, nonce)), FISCO BCOS only from 3.12);
- eth_getLogs's block-range and result-count limits;
- the gas model: EIP-1559 (a base fee), legacy gas price, or a price of 0; eth_feeHistory;
- the per-sender pending limit, by sending bursts from several accounts;
- finality: the `finalized` block tag, instant (BFT) or confirmations to wait;
- which of the JSON-RPC methods the ledger calls the node answers, and which it lacks.

Every check gets a verdict (pass / warn / fail). A failed check means the chain cannot hold
one of the ledger's guarantees; `bangfu chain probe` then exits non-zero naming it. The
report ends with the recommended profile (`ledger.evm.profiles`) and settings.

This module runs the checks in order and makes those that need no probe contract; the
contract and the checks through it are `ledger.evm.probe_contract`, the state and helpers
they share `ledger.evm.probe_session`, the report `ledger.evm.probe_report`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_utils import keccak, to_checksum_address

from ledger.evm.compiler import SOLC_VERSION, code_matches, compile_contracts
from ledger.evm.probe_contract import (
    CONTRACT_CHECKS,
    check_create,
    check_eip712,
    check_logs,
    check_pending,
    check_sha256,
    check_timestamp,
    compile_probe,
)
from ledger.evm.probe_report import ProbeReport, recommend
from ledger.evm.probe_session import ProbeSession, RpcFailure
from ledger.evm.profiles import LEDGER_METHODS, node_gas_model

__all__ = ["Prober"]


class Prober(ProbeSession):
    """Runs every check against one node, paying with `funder` (and `senders` for bursts)."""

    def run(self) -> ProbeReport:
        steps: list[tuple[str, Callable[[Prober], None]]] = [
            ("方法 RPC methods", Prober.check_methods),
            ("链标识 chain id", Prober.check_chain_id),
            ("燃料模型 gas model", Prober.check_gas),
            ("部署探针合约 deploying the probe contract", Prober.check_deploy),
            ("部署账本合约 deploying AidLedger itself", Prober.check_ledger_code),
            ("EIP-712 签名恢复 recovery", check_eip712),
            ("SHA-256", check_sha256),
            ("区块时间单位 block.timestamp", check_timestamp),
            ("CREATE 地址规则 address rule", check_create),
            # the bursts first: they leave blocks for the range check to span
            ("单账户待处理上限 per-sender pending limit", check_pending),
            ("eth_getLogs 限制 limits", check_logs),
            ("最终性 finality", Prober.check_finality),
        ]
        self.rpc.call("eth_chainId")  # an unreachable node raises here, not per check
        for label, fn in steps:
            self.step(label)
            if self.address is None and fn in CONTRACT_CHECKS:
                continue
            try:
                fn(self)
            except Exception as exc:  # noqa: BLE001 - a node's odd answer is that check's failure
                detail = f"{type(exc).__name__}: {exc}"[:300]
                self.add(fn.__name__.removeprefix("check_"), label, label, "fail", detail)
        recommend(self.report)
        return self.report

    def check_methods(self) -> None:
        methods_verdict = self.reporter("methods", "所需方法", "RPC methods")
        polling_verdict = self.reporter("polling", "仅轮询", "polling only")
        try:
            self.report.client = str(self.rpc.call("web3_clientVersion"))
        except RpcFailure:
            self.report.client = "?"
        zero = "0x" + "00" * 20
        params: dict[str, list[Any]] = {
            "eth_chainId": [],
            "eth_blockNumber": [],
            "eth_getBlockByNumber": ["latest", False],
            "eth_getTransactionCount": [zero, "latest"],
            "eth_sendRawTransaction": ["0x00"],
            "eth_getTransactionReceipt": ["0x" + "00" * 32],
            "eth_getTransactionByHash": ["0x" + "00" * 32],
            "eth_call": [{"to": zero, "data": "0x"}, "latest"],
            "eth_estimateGas": [{"to": zero, "data": "0x"}],
            "eth_getLogs": [{"fromBlock": "latest", "toBlock": "latest"}],
            "eth_getCode": [zero, "latest"],
            "eth_gasPrice": [],
            "eth_feeHistory": ["0x1", "latest", []],
            "eth_maxPriorityFeePerGas": [],
            "eth_subscribe": ["newHeads"],
        }
        missing: list[str] = []
        for method, args in params.items():
            try:
                self.rpc.call(method, *args)
            except RpcFailure as exc:
                if exc.missing:
                    missing.append(method)
        self.report.missing_methods = missing
        lacking = [m for m in missing if m in LEDGER_METHODS]
        optional = [m for m in missing if m not in LEDGER_METHODS]
        if lacking:
            methods_verdict("fail", f"the node lacks {', '.join(lacking)}, which the ledger calls")
        else:
            detail = "every method the ledger calls answers"
            if optional:
                detail += f"; not offered (the ledger does without): {', '.join(optional)}"
            methods_verdict("pass", detail)
        polling_verdict(
            "pass", "the relayer and the indexer poll over HTTP; no eth_subscribe needed"
        )

    def check_chain_id(self) -> None:
        verdict = self.reporter("chain_id", "链标识", "chain id")
        chain_id = int(self.rpc.call("eth_chainId"), 16)
        self.report.chain_id = chain_id
        public = {1: "Ethereum mainnet", 11155111: "Sepolia", 17000: "Holesky", 56: "BSC"}
        if chain_id in public:
            verdict(
                "fail", f"{chain_id} is {public[chain_id]}, a public chain, not a consortium chain"
            )
        else:
            verdict("pass", f"eth_chainId = {chain_id}")

    def check_gas(self) -> None:
        verdict = self.reporter("gas_model", "燃料模型", "gas model")
        self.gas_price = int(self.rpc.call("eth_gasPrice"), 16)
        block = self.rpc.call("eth_getBlockByNumber", "latest", False)
        base_hex = block.get("baseFeePerGas")
        base = None if base_hex is None else int(base_hex, 16)
        model = node_gas_model(self.gas_price, base)
        self.report.gas_model = model
        fee_history = "eth_feeHistory" not in self.report.missing_methods
        detail = (
            f"{model}: eth_gasPrice {self.gas_price} wei, base fee "
            f"{'none' if base is None else base}, eth_feeHistory "
            f"{'answers' if fee_history else 'missing'}"
        )
        verdict("pass", detail)

    def check_deploy(self) -> None:
        verdict = self.reporter("deploy", "部署", "deploy")
        artifact = compile_probe(self.settings)
        balance = int(self.rpc.call("eth_getBalance", self.funder.address, "latest"), 16)
        if self.gas_price > 0 and balance == 0:
            verdict("fail", f"{self.funder.address} has no balance to pay gas: pass a funded --key")
            return
        nonce = self.pending_nonce(self.funder.address)
        tx_hash = self.tx(self.funder, nonce, None, artifact.bytecode, 3_000_000)
        receipt = self.receipt(tx_hash)
        if int(receipt["status"], 16) != 1:
            verdict(
                "fail",
                "the probe contract's deployment reverted: the node's EVM may lack the "
                "opcodes of the ledger's EVM version (prague: PUSH0, MCOPY …)",
            )
            return
        self.address = to_checksum_address(receipt["contractAddress"])
        self.contract = self.w3.eth.contract(address=self.address, abi=artifact.abi)
        self.deploy_nonce = nonce
        verdict("pass", f"ChainProbe at {self.address}")

    def check_ledger_code(self) -> None:
        """A throwaway AidLedger from the pinned compile: its constructor runs, and the code
        the node stores is the code solc made (every opcode of the ledger's EVM version)."""
        verdict = self.reporter("ledger_code", "账本合约", "AidLedger runs")
        artifact = compile_contracts(self.settings)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(self.funder.address, 0).data_in_transaction
        receipt = self.receipt(
            self.tx(
                self.funder,
                self.pending_nonce(self.funder.address),
                None,
                bytes.fromhex(data[2:]),
                12_000_000,
            )
        )
        if int(receipt["status"], 16) != 1 or not receipt.get("contractAddress"):
            verdict(
                "fail",
                f"deploying AidLedger ({self.settings.evm_version}, solc {SOLC_VERSION}) "
                "reverted: the node's EVM lacks opcodes the ledger uses (PUSH0, MCOPY, TSTORE …)",
            )
            return
        code = bytes.fromhex(
            str(self.rpc.call("eth_getCode", receipt["contractAddress"], "latest"))[2:]
        )
        if not code_matches(code, artifact):
            verdict(
                "fail", "AidLedger deployed, but the code the node stores is not what solc made"
            )
            return
        # the relayer's and the indexer's path: a multicall of logSize() and logRoot(), which
        # copies return data through memory (MCOPY under cancun and later)
        address = to_checksum_address(receipt["contractAddress"])
        ledger = self.w3.eth.contract(address=address, abi=artifact.abi)
        calls = [keccak(text="logSize()")[:4], keccak(text="logRoot()")[:4]]
        data = ledger.functions.multicall(calls)._encode_transaction_data()
        try:
            self.rpc.call("eth_call", {"to": address, "data": data}, "latest")
        except RpcFailure as exc:
            verdict(
                "fail",
                f"AidLedger deploys, but its multicall fails ({exc.message[:80]}): the node's "
                f"EVM lacks opcodes of {self.settings.evm_version} (MCOPY is cancun's; "
                "BANGFU_EVM_VERSION=shanghai compiles without it)",
            )
            return
        verdict(
            "pass",
            f"deployed from the pinned compile ({self.settings.evm_version}); its code on "
            "chain matches and its multicall answers",
        )

    def check_finality(self) -> None:
        verdict = self.reporter("finality", "最终性", "finality")
        head = int(self.rpc.call("eth_blockNumber"), 16)
        try:
            fin = self.rpc.call("eth_getBlockByNumber", "finalized", False)
        except RpcFailure as exc:
            fin = None
            why = exc.message
        else:
            why = "no finalized block"
        client = self.report.client.lower()
        if fin is not None:
            lag = head - int(fin["number"], 16)
            if lag <= 0 or "anvil" in client:
                self.report.confirmations = 0
                verdict(
                    "pass",
                    "instant: the latest block is final"
                    if lag <= 0
                    else "a single development node: nothing else can reorganize it",
                )
            else:
                self.report.confirmations = lag
                verdict("warn", f"the finalized block lags {lag} blocks: wait {lag} confirmations")
            return
        self.report.confirmations = None
        verdict(
            "warn",
            f"the node has no `finalized` tag ({why}): take confirmations from the chain's "
            "consensus (BFT: 0; Clique/PoW: 12 or more)",
        )
