"""The probe contract (ledger/evm/sol/ChainProbe.sol, compiled with the ledger's pinned solc,
EVM version and OpenZeppelin) and the checks made through it once deployed: EIP-712 recovery,
the SHA-256 precompile, block.chainid and block.timestamp's unit, the CREATE address rule,
eth_getLogs's limits and the per-sender pending limit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import solcx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from ledger.config import PROJECT_ROOT, Settings, get_settings
from ledger.core.errors import ToolchainError
from ledger.evm.compiler import SOLC_VERSION, solc_binary, standard_input, with_imports
from ledger.evm.probe_session import ProbeSession, RpcFailure

__all__ = ["CONTRACT_CHECKS", "ProbeArtifact", "compile_probe", "create_address"]

PROBE_SOURCE = "ledger/evm/sol/ChainProbe.sol"
PROBE_CONTRACT = "ChainProbe"
#: Block ranges tried for eth_getLogs, widest first.
LOG_RANGES = (10_000, 5_000, 2_000, 1_000, 500, 100, 10)
#: Events emitted in one transaction to see a result-count limit.
LOG_RESULTS = 1_000


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


def check_eip712(probe: ProbeSession) -> None:
    verdict = probe.reporter("eip712", "EIP-712 签名恢复", "EIP-712 recovery")
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
            "chainId": probe.report.chain_id,
            "verifyingContract": probe.address,
        },
        "message": {"payload": payload, "nonce": nonce},
    }
    signer = Account.create()
    sig = signer.sign_message(encode_typed_data(full_message=typed)).signature
    recovered, err = probe.call(probe.contract.functions.recoverPing(payload, nonce, sig))
    if err == 0 and to_checksum_address(recovered) == signer.address:
        verdict("pass", "OpenZeppelin ECDSA.tryRecover returns the signer (secp256k1 ecrecover)")
    else:
        verdict(
            "fail",
            f"ecrecover gave {recovered} (error {err}), not {signer.address}: signatures "
            "cannot be checked on chain (国密 SM mode?)",
        )


def check_sha256(probe: ProbeSession) -> None:
    verdict = probe.reporter("sha256", "SHA-256 预编译", "SHA-256 precompile")
    data = os.urandom(65)
    got = bytes(probe.call(probe.contract.functions.sha(data)))
    if got == hashlib.sha256(data).digest():
        verdict("pass", "matches hashlib")
    else:
        verdict("fail", f"sha256 gave {got.hex()}: the Merkle log's roots would differ")


def check_timestamp(probe: ProbeSession) -> None:
    block_chainid_verdict = probe.reporter("block_chainid", "EVM 内链标识", "block.chainid")
    timestamp_verdict = probe.reporter("timestamp", "区块时间单位", "block.timestamp unit")
    ts, _number, chainid = probe.call(probe.contract.functions.clock())
    now = time.time()
    if chainid != probe.report.chain_id:
        block_chainid_verdict(
            "fail",
            f"block.chainid {chainid} ≠ eth_chainId {probe.report.chain_id}: EIP-712 "
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


def check_create(probe: ProbeSession) -> None:
    verdict = probe.reporter("create", "CREATE 地址规则", "CREATE address rule")
    expected = create_address(probe.funder.address, probe.deploy_nonce)
    receipt = probe.send(probe.funder, probe.contract.functions.spawn()._encode_transaction_data())
    spawned = [
        to_checksum_address("0x" + log["data"][-40:])
        for log in receipt["logs"]
        if log["address"].lower() == str(probe.address).lower()
    ]
    child_expected = create_address(str(probe.address), 1)
    if expected == probe.address and spawned == [child_expected]:
        verdict("pass", "keccak(rlp(sender, nonce)), for a deployment and inside the EVM")
    else:
        verdict(
            "fail",
            f"deployed at {probe.address} (Ethereum's rule: {expected}); child "
            f"{spawned} (rule: {child_expected}): FISCO BCOS follows the rule only from 3.12",
        )


def check_logs(probe: ProbeSession) -> None:
    logs_results_verdict = probe.reporter(
        "logs_results", "eth_getLogs 结果数", "eth_getLogs result limit"
    )
    logs_range_verdict = probe.reporter("logs_range", "eth_getLogs 区块范围", "eth_getLogs range")
    fn = probe.contract.functions.ticks(1, LOG_RESULTS)
    receipt = probe.send(probe.funder, fn._encode_transaction_data(), gas=8_000_000)
    block = int(receipt["blockNumber"], 16)
    head = int(probe.rpc.call("eth_blockNumber"), 16)
    flt = {"address": probe.address, "fromBlock": hex(block), "toBlock": hex(block)}
    try:
        got = len(probe.rpc.call("eth_getLogs", flt))
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
            probe.rpc.call(
                "eth_getLogs",
                {"address": probe.address, "fromBlock": hex(start), "toBlock": hex(head)},
            )
        except RpcFailure as exc:
            last_error = exc.message
            continue
        best = span
        break
    if best is None:
        logs_range_verdict("fail", f"even 10 blocks refused ({last_error})")
        return
    probe.report.indexer_range = min(best, probe.settings.indexer_range)
    tested = min(best, head + 1)
    logs_range_verdict(
        "pass" if best >= 500 else "warn",
        f"{best}-block ranges answer ({tested} blocks exist to test on)"
        + (f"; wider refused: {last_error}" if last_error else ""),
    )


def check_pending(probe: ProbeSession) -> None:
    verdict = probe.reporter("pending", "单账户待处理上限", "per-sender pending limit")
    accounts = [Account.create() for _ in range(probe.n_senders)]
    data = probe.contract.functions.ticks(2, 1)._encode_transaction_data()
    gas = 60_000
    if probe.gas_price > 0 or probe.report.gas_model == "eip1559":
        price = probe.fees().get("maxFeePerGas", probe.gas_price)
        need = price * gas * (probe.burst + 2)
        nonce = probe.pending_nonce(probe.funder.address)
        hashes = []
        for i, acct in enumerate(accounts):
            tx: dict[str, Any] = {
                "nonce": nonce + i, "to": acct.address, "value": need, "gas": 21_000,
                "chainId": probe.report.chain_id, **probe.fees(),
            }  # fmt: skip
            signed = probe.funder.sign_transaction(tx)
            hashes.append(
                probe.rpc.call("eth_sendRawTransaction", signed.raw_transaction.to_0x_hex())
            )
        for h in hashes:
            probe.receipt(h)
    accepted: list[int] = []
    refusal = ""
    sent: list[str] = []
    assert probe.address is not None
    for acct in accounts:
        count = 0
        for nonce in range(probe.burst):
            try:
                sent.append(probe.tx(acct, nonce, probe.address, data, gas))
                count += 1
            except RpcFailure as exc:
                refusal = exc.message
                break
        accepted.append(count)
    for h in sent:
        probe.receipt(h, timeout=120)
    limit = min(accepted)
    if limit < probe.burst:
        probe.report.sender_limit = limit
        need = max(2, math.ceil(64 / max(limit, 1)))
        verdict(
            "warn",
            f"a sender is refused after {limit} pending transactions ({refusal}); "
            f"rotate at least {need} relayer accounts",
        )
    else:
        verdict(
            "pass",
            f"{len(accounts)} senders × {probe.burst} pending transactions accepted and mined",
        )


#: The checks that call the deployed probe contract, in no particular order: each is
#: skipped when the contract could not be deployed.
CONTRACT_CHECKS = (
    check_eip712,
    check_sha256,
    check_timestamp,
    check_create,
    check_logs,
    check_pending,
)
