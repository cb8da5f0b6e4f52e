"""`bangfu verify proof.json`: check a proof bundle offline, optionally against a root read
from the chain itself, and show who signed the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from eth_utils import keccak, to_checksum_address
from rich.console import Console

from ledger.errors import LedgerError, ProofError
from ledger.proofcheck import ProofCheckError, verify_bundle
from ledger.records import SignedRecord, from_text32

NAME = ""
app = typer.Typer()
out = Console()


def chain_root(rpc: str, contract: str, size: int, block: int | None) -> tuple[str, str]:
    """logRoot() from the chain for a log of `size` leaves: at `block` if the node keeps that
    state and the log had that size there, else at the latest block. Returns (root, where)."""
    from ledger.audit import Rpc

    client = Rpc(rpc)
    try:
        for tag in ([hex(block)] if block is not None else []) + ["latest"]:
            try:
                n = client.call(
                    "eth_call",
                    {"to": contract, "data": "0x" + keccak(text="logSize()")[:4].hex()},
                    tag,
                )
                r = client.call(
                    "eth_call",
                    {"to": contract, "data": "0x" + keccak(text="logRoot()")[:4].hex()},
                    tag,
                )
            except LedgerError:
                continue
            if int(n, 16) == size or tag == "latest":
                return "0x" + r[2:].rjust(64, "0"), f"block {tag} (log size {int(n, 16)})"
    finally:
        client.close()
    raise ProofError("the node answered neither logSize() nor logRoot()", code="chain_unreadable")


def verify_file(
    path: Path, root: str | None = None, rpc: str | None = None, contract: str | None = None
) -> dict[str, Any]:
    """Checks the bundle's proofs (stdlib verifier) and the record's EIP-712 signature."""
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProofError(f"cannot read {path}: {exc}", code="bad_bundle") from None
    where = None
    if rpc is not None:
        if contract is None:
            raise LedgerError("--rpc needs --contract (the AidLedger address)", code="bad_usage")
        log = bundle.get("log") if isinstance(bundle, dict) else None
        size = log.get("size") if isinstance(log, dict) else None
        chain = bundle.get("chain") if isinstance(bundle, dict) else None
        block = chain.get("block") if isinstance(chain, dict) else None
        if not isinstance(size, int):
            raise ProofError("the bundle has no log.size", code="bad_bundle")
        root, where = chain_root(
            rpc, to_checksum_address(contract), size, block if isinstance(block, int) else None
        )
    try:
        summary = verify_bundle(bundle, root)
    except ProofCheckError as exc:
        raise ProofError(f"the proof does not verify: {exc}", code="proof_rejected") from None
    signed = SignedRecord.from_bytes(bytes.fromhex(bundle["record"]["bytes"].removeprefix("0x")))
    signer = signed.verify()
    if contract is not None and signed.domain.verifying_contract != to_checksum_address(contract):
        raise ProofError(
            f"the record was signed for contract {signed.domain.verifying_contract}, not "
            f"{contract}",
            code="wrong_contract",
        )
    summary["record"] = {
        "kind": signed.kind.slug,
        "id": "0x" + signed.id.hex(),
        "signer": signer,
        "chain_id": signed.domain.chain_id,
        "contract": signed.domain.verifying_contract,
        "fields": signed.record.to_json(),
    }
    summary["root_source"] = where or ("--root" if root else None)
    return summary


@app.command("verify")
def verify(
    bundle: Path = typer.Argument(..., help="证明包 a bangfu-proof/1 JSON file"),
    root: str | None = typer.Option(None, "--root", help="日志根 a logRoot() you read yourself"),
    rpc: str | None = typer.Option(None, "--rpc", help="节点 read logRoot() from this node"),
    contract: str | None = typer.Option(None, "--contract", help="合约地址 AidLedger address"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """核验证明 Verify a proof bundle offline and show who signed the record."""
    summary = verify_file(bundle, root, rpc, contract)
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    rec = summary["record"]
    unit = rec["fields"].get("unit")
    if isinstance(unit, str) and unit.startswith("0x"):
        rec["fields"]["unit"] = from_text32(bytes.fromhex(unit[2:]))
    out.print(f"[bold green]通过 OK[/] {rec['kind']} {rec['id']}")
    out.print(f"  签名者 signed by {rec['signer']} (chain {rec['chain_id']}, {rec['contract']})")
    out.print(
        f"  日志 leaf {summary['index']} of {summary['log_size']}, root {summary['log_root']}"
    )
    if summary.get("root_checked"):
        out.print(f"  根已核对 root matches {summary['root_checked']} ({summary['root_source']})")
    else:
        out.print("  [yellow]根未核对 root not compared with the chain: pass --rpc/--contract[/]")
