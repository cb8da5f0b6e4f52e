"""The audit's code check: the runtime code at the contract must be a fresh compile, with the
pinned solc and settings, of the contract sources the auditor was given (no cached artifact)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from ledger.audit.codes import INTEGRITY
from ledger.audit.report import AuditReport
from ledger.audit.rpc import Rpc
from ledger.config import PROJECT_ROOT, Settings
from ledger.core.errors import LedgerError
from ledger.evm.compiler import code_matches, compile_contracts

__all__ = ["check_bytecode"]


def _compile_home(sources: Path) -> Path:
    """A throw-away project home whose contracts/ are `sources` (the compiler reads home)."""
    home = Path(tempfile.mkdtemp(prefix="bangfu-audit-"))
    shutil.copytree(sources, home / "contracts")
    (home / "scripts").mkdir()
    shutil.copy(PROJECT_ROOT / "scripts" / "solc.js", home / "scripts" / "solc.js")
    (home / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return home


def check_bytecode(rpc: Rpc, contract: str, sources: Path, report: AuditReport) -> None:
    """Deployed runtime code must equal a fresh pinned compile of `sources` (no cache)."""
    if not (sources / "AidLedger.sol").is_file():
        raise LedgerError(
            f"{sources} has no AidLedger.sol; pass --sources pointing at the contracts/ folder",
            code="bad_sources",
        )
    home = _compile_home(sources)
    try:
        artifact = compile_contracts(Settings(home=home), use_cache=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    code = bytes.fromhex(rpc.call("eth_getCode", contract, "latest")[2:])
    report.stats["source_input_hash"] = artifact.input_hash
    artifact_evm = Settings().evm_version
    if not code:
        report.add("no_contract", INTEGRITY, f"no contract code at {contract}", contract=contract)
    elif not code_matches(code, artifact):
        report.add(
            "bytecode_mismatch",
            INTEGRITY,
            f"the code at {contract} is not what solc {artifact.compiler_version} makes from "
            f"{sources} with the pinned settings (evmVersion {artifact_evm}): the contract was "
            "built from other sources or for another EVM version (BANGFU_EVM_VERSION)",
            onchain_sha256=hashlib.sha256(code).hexdigest(),
            compiled_sha256=hashlib.sha256(artifact.deployed_bytecode).hexdigest(),
        )
    report.checks["bytecode"] = "checked"
