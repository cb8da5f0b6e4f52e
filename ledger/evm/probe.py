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
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
import solcx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from ledger.config import PROJECT_ROOT, Settings, get_settings
from ledger.core.errors import ToolchainError
from ledger.evm.compiler import (
    SOLC_VERSION,
    code_matches,
    compile_contracts,
    solc_binary,
    standard_input,
    with_imports,
)
from ledger.evm.deploy import fee_fields
from ledger.evm.profiles import (
    LEDGER_METHODS,
    PROFILES,
    ChainProfile,
    GasModel,
    node_gas_model,
)

__all__ = ["Check", "ProbeReport", "Prober", "compile_probe"]

Verdict = Literal["pass", "warn", "fail"]

PROBE_SOURCE = "ledger/evm/sol/ChainProbe.sol"
PROBE_CONTRACT = "ChainProbe"
#: Block ranges tried for eth_getLogs, widest first.
LOG_RANGES = (10_000, 5_000, 2_000, 1_000, 500, 100, 10)
#: Events emitted in one transaction to see a result-count limit.
LOG_RESULTS = 1_000
#: The methods that are optional: the ledger works without them.
OPTIONAL_METHODS = ("eth_feeHistory", "eth_maxPriorityFeePerGas", "eth_subscribe")

_NOT_FOUND_WORDS = ("not found", "not supported", "does not exist", "unsupported", "not exist")


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def missing(self) -> bool:
        low = self.message.lower()
        return self.code == -32601 or any(w in low for w in _NOT_FOUND_WORDS)


class Rpc:
    """Bare JSON-RPC over HTTP: the probe must see the node's own error codes."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        r = self.session.post(
            self.url,
            json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)},
            timeout=self.timeout,
        )
        try:
            body = r.json()
        except ValueError:
            raise RpcFailure(r.status_code, r.text[:200]) from None
        if not isinstance(body, dict):
            raise RpcFailure(-32603, f"unexpected answer {str(body)[:200]}")
        if "error" in body:
            err = body["error"] or {}
            raise RpcFailure(int(err.get("code", -32603)), str(err.get("message", "")))
        return body.get("result")


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


# ------------------------------------------------------------------ the probe contract


@dataclass(frozen=True)
class ProbeArtifact:
    abi: list[dict[str, Any]]
    bytecode: bytes


def compile_probe(settings: Settings | None = None) -> ProbeArtifact:
    """ChainProbe compiled with the ledger's pinned compiler settings (cached in build/)."""
    settings = settings or get_settings()
    text = (PROJECT_ROOT / PROBE_SOURCE).read_text(encoding="utf-8")
    sources = with_imports([PROBE_SOURCE], settings, {PROBE_SOURCE: text})
    std = standard_input(sources, settings.evm_version)
    key = hashlib.sha256(json.dumps({"solc": SOLC_VERSION, "i": std}, sort_keys=True).encode())
    cache = settings.build_dir / f"{PROBE_CONTRACT}-{key.hexdigest()[:16]}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
    else:
        try:
            output = solcx.compile_standard(std, solc_binary=solc_binary(settings))
        except solcx.exceptions.SolcError as exc:
            raise ToolchainError(f"solc failed on the probe: {exc}", code="compile_failed") from exc
        c = output["contracts"][PROBE_SOURCE][PROBE_CONTRACT]
        data = {"abi": c["abi"], "bytecode": c["evm"]["bytecode"]["object"]}
        settings.build_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cache)
    return ProbeArtifact(data["abi"], bytes.fromhex(data["bytecode"]))


def create_address(sender: str, nonce: int) -> str:
    """Ethereum's CREATE rule: the last 20 bytes of keccak(rlp([sender, nonce]))."""
    import rlp  # eth-account's dependency

    raw = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))
    return to_checksum_address(raw[-20:])


# ------------------------------------------------------------------ the prober

Step = Callable[[str], None]


class Prober:
    """Runs every check against one node, paying with `funder` (and `senders` for bursts)."""

    def __init__(
        self,
        url: str,
        funder: LocalAccount,
        *,
        senders: int = 4,
        burst: int = 16,
        settings: Settings | None = None,
        step: Step | None = None,
    ) -> None:
        self.url = url
        self.rpc = Rpc(url)
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        self.funder = funder
        self.n_senders = senders
        self.burst = burst
        self.settings = settings or get_settings()
        self.step = step or (lambda _msg: None)
        self.report = ProbeReport(url)
        self.gas_price = 0
        self.address: str | None = None
        self.contract: Any = None

    # -- helpers
    def add(self, key: str, zh: str, en: str, verdict: Verdict, detail: str) -> Check:
        check = Check(key, zh, en, verdict, detail)
        self.report.checks.append(check)
        return check

    def reporter(self, key: str, zh: str, en: str) -> Callable[[Verdict, str], Check]:
        """`add` for one check, named once: each verdict then gives only itself and why."""
        return functools.partial(self.add, key, zh, en)

    def _fees(self) -> dict[str, int]:
        """The fee fields the relayer would use under the measured gas model."""
        return fee_fields(self.w3, self.report.gas_model)

    def _tx(self, sender: LocalAccount, nonce: int, to: str | None, data: bytes, gas: int) -> str:
        tx: dict[str, Any] = {
            "nonce": nonce,
            "gas": gas,
            "value": 0,
            "data": data,
            "chainId": self.report.chain_id,
            **self._fees(),
        }
        if to is not None:
            tx["to"] = to
        signed = sender.sign_transaction(tx)
        return str(self.rpc.call("eth_sendRawTransaction", signed.raw_transaction.to_0x_hex()))

    def _receipt(self, tx_hash: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt:
                return dict(receipt)
            time.sleep(0.1)
        raise TimeoutError(f"no receipt for {tx_hash} within {timeout:.0f} s")

    def _nonce(self, address: str) -> int:
        return int(self.rpc.call("eth_getTransactionCount", address, "pending"), 16)

    def _call(self, fn: Any) -> Any:
        return fn.call({"from": self.funder.address})

    def _send(self, sender: LocalAccount, data: bytes, gas: int = 3_000_000) -> dict[str, Any]:
        assert self.address is not None
        receipt = self._receipt(
            self._tx(sender, self._nonce(sender.address), self.address, data, gas)
        )
        return receipt

    # -- the checks, in order
    def run(self) -> ProbeReport:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("方法 RPC methods", self.check_methods),
            ("链标识 chain id", self.check_chain_id),
            ("燃料模型 gas model", self.check_gas),
            ("部署探针合约 deploying the probe contract", self.check_deploy),
            ("部署账本合约 deploying AidLedger itself", self.check_ledger_code),
            ("EIP-712 签名恢复 recovery", self.check_eip712),
            ("SHA-256", self.check_sha256),
            ("区块时间单位 block.timestamp", self.check_timestamp),
            ("CREATE 地址规则 address rule", self.check_create),
            # the bursts first: they leave blocks for the range check to span
            ("单账户待处理上限 per-sender pending limit", self.check_pending),
            ("eth_getLogs 限制 limits", self.check_logs),
            ("最终性 finality", self.check_finality),
        ]
        self.rpc.call("eth_chainId")  # an unreachable node raises here, not per check
        for label, fn in steps:
            self.step(label)
            if self.address is None and fn in (
                self.check_eip712,
                self.check_sha256,
                self.check_timestamp,
                self.check_create,
                self.check_logs,
                self.check_pending,
            ):
                continue
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - a node's odd answer is that check's failure
                detail = f"{type(exc).__name__}: {exc}"[:300]
                self.add(fn.__name__.removeprefix("check_"), label, label, "fail", detail)
        self.recommend()
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
        nonce = self._nonce(self.funder.address)
        tx_hash = self._tx(self.funder, nonce, None, artifact.bytecode, 3_000_000)
        receipt = self._receipt(tx_hash)
        if int(receipt["status"], 16) != 1:
            verdict(
                "fail",
                "the probe contract's deployment reverted: the node's EVM may lack the "
                "opcodes of the ledger's EVM version (prague: PUSH0, MCOPY …)",
            )
            return
        self.address = to_checksum_address(receipt["contractAddress"])
        self.contract = self.w3.eth.contract(address=self.address, abi=artifact.abi)
        self._deploy_nonce = nonce
        verdict("pass", f"ChainProbe at {self.address}")

    def check_ledger_code(self) -> None:
        """A throwaway AidLedger from the pinned compile: its constructor runs, and the code
        the node stores is the code solc made (every opcode of the ledger's EVM version)."""
        verdict = self.reporter("ledger_code", "账本合约", "AidLedger runs")
        artifact = compile_contracts(self.settings)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(self.funder.address, 0).data_in_transaction
        receipt = self._receipt(
            self._tx(
                self.funder,
                self._nonce(self.funder.address),
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

    def check_eip712(self) -> None:
        verdict = self.reporter("eip712", "EIP-712 签名恢复", "EIP-712 recovery")
        payload = os.urandom(32)
        nonce = 7
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Ping": [
                    {"name": "payload", "type": "bytes32"},
                    {"name": "nonce", "type": "uint256"},
                ],
            },
            "primaryType": "Ping",
            "domain": {
                "name": "BangfuProbe",
                "version": "1",
                "chainId": self.report.chain_id,
                "verifyingContract": self.address,
            },
            "message": {"payload": payload, "nonce": nonce},
        }
        signer = Account.create()
        sig = signer.sign_message(encode_typed_data(full_message=typed)).signature
        recovered, err = self._call(self.contract.functions.recoverPing(payload, nonce, sig))
        if err == 0 and to_checksum_address(recovered) == signer.address:
            verdict(
                "pass", "OpenZeppelin ECDSA.tryRecover returns the signer (secp256k1 ecrecover)"
            )
        else:
            verdict(
                "fail",
                f"ecrecover gave {recovered} (error {err}), not {signer.address}: signatures "
                "cannot be checked on chain (国密 SM mode?)",
            )

    def check_sha256(self) -> None:
        verdict = self.reporter("sha256", "SHA-256 预编译", "SHA-256 precompile")
        data = os.urandom(65)
        got = bytes(self._call(self.contract.functions.sha(data)))
        if got == hashlib.sha256(data).digest():
            verdict("pass", "matches hashlib")
        else:
            verdict("fail", f"sha256 gave {got.hex()}: the Merkle log's roots would differ")

    def check_timestamp(self) -> None:
        block_chainid_verdict = self.reporter("block_chainid", "EVM 内链标识", "block.chainid")
        timestamp_verdict = self.reporter("timestamp", "区块时间单位", "block.timestamp unit")
        ts, _number, chainid = self._call(self.contract.functions.clock())
        now = time.time()
        if chainid != self.report.chain_id:
            block_chainid_verdict(
                "fail",
                f"block.chainid {chainid} ≠ eth_chainId {self.report.chain_id}: EIP-712 "
                "signatures would not verify",
            )
        else:
            block_chainid_verdict("pass", f"block.chainid = eth_chainId = {chainid}")
        if ts > 100_000_000_000:
            timestamp_verdict(
                "fail",
                f"block.timestamp {ts} is in milliseconds (FISCO BCOS < 3.12): the ledger's "
                "times and the admin-transfer delay count seconds",
            )
        elif abs(ts - now) > 600:
            timestamp_verdict("warn", f"seconds, but {ts - now:+.0f} s from this machine's clock")
        else:
            timestamp_verdict("pass", "seconds")

    def check_create(self) -> None:
        verdict = self.reporter("create", "CREATE 地址规则", "CREATE address rule")
        expected = create_address(self.funder.address, self._deploy_nonce)
        receipt = self._send(
            self.funder, self.contract.functions.spawn()._encode_transaction_data()
        )
        spawned = [
            to_checksum_address("0x" + log["data"][-40:])
            for log in receipt["logs"]
            if log["address"].lower() == str(self.address).lower()
        ]
        child_expected = create_address(str(self.address), 1)
        if expected == self.address and spawned == [child_expected]:
            verdict("pass", "keccak(rlp(sender, nonce)), for a deployment and inside the EVM")
        else:
            verdict(
                "fail",
                f"deployed at {self.address} (Ethereum's rule: {expected}); child "
                f"{spawned} (rule: {child_expected}): FISCO BCOS follows the rule only from 3.12",
            )

    def check_logs(self) -> None:
        logs_results_verdict = self.reporter(
            "logs_results", "eth_getLogs 结果数", "eth_getLogs result limit"
        )
        logs_range_verdict = self.reporter(
            "logs_range", "eth_getLogs 区块范围", "eth_getLogs range"
        )
        fn = self.contract.functions.ticks(1, LOG_RESULTS)
        receipt = self._send(self.funder, fn._encode_transaction_data(), gas=8_000_000)
        block = int(receipt["blockNumber"], 16)
        head = int(self.rpc.call("eth_blockNumber"), 16)
        flt = {"address": self.address, "fromBlock": hex(block), "toBlock": hex(block)}
        try:
            got = len(self.rpc.call("eth_getLogs", flt))
        except RpcFailure as exc:
            got = -1
            result_detail = f"refused {LOG_RESULTS} logs of one block ({exc.message})"
        if got >= LOG_RESULTS + 0:
            logs_results_verdict("pass", f"{got} logs of one block returned whole")
        else:
            if got >= 0:
                result_detail = f"returned {got} of {LOG_RESULTS} logs: results are truncated"
            logs_results_verdict(
                "fail", f"{result_detail}; a multicall's records could be missed by the indexer"
            )
        best: int | None = None
        last_error = ""
        for span in LOG_RANGES:
            start = max(0, head - span + 1)
            try:
                self.rpc.call(
                    "eth_getLogs",
                    {"address": self.address, "fromBlock": hex(start), "toBlock": hex(head)},
                )
            except RpcFailure as exc:
                last_error = exc.message
                continue
            best = span
            break
        if best is None:
            logs_range_verdict("fail", f"even 10 blocks refused ({last_error})")
            return
        self.report.indexer_range = min(best, self.settings.indexer_range)
        tested = min(best, head + 1)
        logs_range_verdict(
            "pass" if best >= 500 else "warn",
            f"{best}-block ranges answer ({tested} blocks exist to test on)"
            + (f"; wider refused: {last_error}" if last_error else ""),
        )

    def check_pending(self) -> None:
        verdict = self.reporter("pending", "单账户待处理上限", "per-sender pending limit")
        accounts = [Account.create() for _ in range(self.n_senders)]
        data = self.contract.functions.ticks(2, 1)._encode_transaction_data()
        gas = 60_000
        if self.gas_price > 0 or self.report.gas_model == "eip1559":
            price = self._fees().get("maxFeePerGas", self.gas_price)
            need = price * gas * (self.burst + 2)
            nonce = self._nonce(self.funder.address)
            hashes = []
            for i, acct in enumerate(accounts):
                tx: dict[str, Any] = {
                    "nonce": nonce + i, "to": acct.address, "value": need, "gas": 21_000,
                    "chainId": self.report.chain_id, **self._fees(),
                }  # fmt: skip
                signed = self.funder.sign_transaction(tx)
                hashes.append(
                    self.rpc.call("eth_sendRawTransaction", signed.raw_transaction.to_0x_hex())
                )
            for h in hashes:
                self._receipt(h)
        accepted: list[int] = []
        refusal = ""
        sent: list[str] = []
        assert self.address is not None
        for acct in accounts:
            count = 0
            for nonce in range(self.burst):
                try:
                    sent.append(self._tx(acct, nonce, self.address, data, gas))
                    count += 1
                except RpcFailure as exc:
                    refusal = exc.message
                    break
            accepted.append(count)
        for h in sent:
            self._receipt(h, timeout=120)
        limit = min(accepted)
        if limit < self.burst:
            self.report.sender_limit = limit
            need = max(2, math.ceil(64 / max(limit, 1)))
            verdict(
                "warn",
                f"a sender is refused after {limit} pending transactions ({refusal}); "
                f"rotate at least {need} relayer accounts",
            )
        else:
            verdict(
                "pass",
                f"{len(accounts)} senders × {self.burst} pending transactions accepted and mined",
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

    # -- the recommendation
    def recommend(self) -> None:
        r = self.report
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
