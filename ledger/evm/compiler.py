"""Compiles contracts/ with the pinned solc through py-solc-x, caches artifacts, and checks
that code on chain is what the pinned compiler makes from these sources.

Where no native solc of the pinned version is installed, `scripts/solc.js` (the npm `solc`
package, the same compiler built to WebAssembly) serves as the binary (DESIGN §5). Imports
are resolved here, in Python, and every source is passed in the standard-JSON input, so
native solc and solcjs see the same source units and produce the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx

from ledger.config import Settings, get_settings
from ledger.core.errors import ToolchainError

SOLC_VERSION = "0.8.30"
#: The default EVM version: localchain.toml's hardfork. A chain that stops at an older
#: hardfork (ganache 7 and many consortium nodes stop at shanghai) sets BANGFU_EVM_VERSION;
#: the audit reads the same setting, so it compares the chain's code with the same compile.
EVM_VERSION = "prague"
EVM_VERSIONS = ("shanghai", "cancun", "prague")
OPTIMIZER_RUNS = 200
MAIN_CONTRACT = "AidLedger"
MAIN_SOURCE = "contracts/AidLedger.sol"

_IMPORT_RE = re.compile(r'^\s*import\s+(?:[^"\']*from\s+)?["\']([^"\']+)["\']', re.MULTILINE)


@dataclass(frozen=True)
class Artifact:
    """What deployment and verification need of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    # (start, length) byte ranges of immutables inside the deployed bytecode
    immutable_ranges: tuple[tuple[int, int], ...]
    metadata: str
    source_hashes: dict[str, str]
    compiler_version: str
    input_hash: str


def _resolve(unit: str, importer: str) -> str:
    if unit.startswith("."):
        parts = importer.split("/")[:-1]
        for piece in unit.split("/"):
            if piece == "..":
                parts.pop()
            elif piece != ".":
                parts.append(piece)
        return "/".join(parts)
    return unit


def _source_path(unit: str, settings: Settings) -> Path:
    candidates = [settings.home / unit, settings.node_modules / unit]
    for path in candidates:
        if path.is_file():
            return path
    if unit.startswith("@"):
        raise ToolchainError(
            f"cannot find {unit} under node_modules/: run `npm ci` (or `make setup`) first",
            code="missing_node_modules",
        )
    raise ToolchainError(f"cannot find Solidity source {unit}", code="missing_source")


def collect_sources(settings: Settings | None = None) -> dict[str, str]:
    """Every contract under contracts/ and, transitively, every file it imports."""
    settings = settings or get_settings()
    roots = sorted(
        p.relative_to(settings.home).as_posix() for p in settings.contracts_dir.rglob("*.sol")
    )
    if not roots:
        raise ToolchainError(f"no Solidity sources under {settings.contracts_dir}")
    return with_imports(roots, settings)


def with_imports(
    roots: list[str], settings: Settings, known: dict[str, str] | None = None
) -> dict[str, str]:
    """The source units `roots` and, transitively, every file they import, sorted by name;
    `known` gives units already read (their text is used as is)."""
    sources: dict[str, str] = {}
    pending = list(roots)
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = (known or {}).get(unit) or _source_path(unit, settings).read_text(encoding="utf-8")
        sources[unit] = text
        pending.extend(_resolve(i, unit) for i in _IMPORT_RE.findall(text))
    return dict(sorted(sources.items()))


def standard_input(sources: dict[str, str], evm_version: str = EVM_VERSION) -> dict[str, Any]:
    """The solc standard-JSON input with the pinned settings, for `evm_version`."""
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": evm_version,
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "metadata",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                    ]
                }
            },
        },
    }


def solc_binary(settings: Settings | None = None) -> Path:
    """A native solc of the pinned version if there is one, otherwise scripts/solc.js."""
    settings = settings or get_settings()
    native = shutil.which("solc")
    if native:
        try:
            out = subprocess.run([native, "--version"], capture_output=True, text=True, timeout=20)
            if f"Version: {SOLC_VERSION}+" in out.stdout:
                return Path(native)
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        for installed in solcx.get_installed_solc_versions():
            if str(installed) == SOLC_VERSION:
                return Path(solcx.install.get_executable(installed))
    except Exception:  # noqa: BLE001 - py-solc-x's own folder may simply not exist
        pass
    shim = settings.home / "scripts" / "solc.js"
    if not (settings.node_modules / "solc").is_dir():
        raise ToolchainError(
            "node_modules/solc is missing: run `npm ci` (or `make setup`) in the project root",
            code="missing_node_modules",
        )
    if shutil.which("node") is None:
        raise ToolchainError("node is not on PATH; install Node.js 20+", code="missing_node")
    return shim


def _input_hash(std_input: dict[str, Any]) -> str:
    blob = json.dumps({"solc": SOLC_VERSION, "input": std_input}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _immutable_ranges(refs: dict[str, list[dict[str, int]]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((r["start"], r["length"]) for group in refs.values() for r in group))


def compile_contracts(settings: Settings | None = None, *, use_cache: bool = True) -> Artifact:
    """Compiles contracts/ (or reuses build/ when sources and settings are unchanged)."""
    settings = settings or get_settings()
    sources = collect_sources(settings)
    std_input = standard_input(sources, settings.evm_version)
    key = _input_hash(std_input)
    cache = settings.build_dir / f"{MAIN_CONTRACT}-{key[:16]}.json"
    if use_cache and cache.is_file():
        return _artifact_from_json(json.loads(cache.read_text()))
    binary = solc_binary(settings)
    try:
        output = solcx.compile_standard(std_input, solc_binary=binary, allow_empty=False)
    except solcx.exceptions.SolcError as exc:
        raise ToolchainError(f"solc failed: {exc}", code="compile_failed") from exc
    contract = output["contracts"][MAIN_SOURCE][MAIN_CONTRACT]
    data = {
        "name": MAIN_CONTRACT,
        "abi": contract["abi"],
        "bytecode": contract["evm"]["bytecode"]["object"],
        "deployed_bytecode": contract["evm"]["deployedBytecode"]["object"],
        "immutable_ranges": _immutable_ranges(
            contract["evm"]["deployedBytecode"].get("immutableReferences", {})
        ),
        "metadata": contract["metadata"],
        "source_hashes": {
            unit: hashlib.sha256(text.encode()).hexdigest() for unit, text in sources.items()
        },
        "compiler_version": SOLC_VERSION,
        "input_hash": key,
    }
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(cache)
    return _artifact_from_json(data)


def _artifact_from_json(data: dict[str, Any]) -> Artifact:
    return Artifact(
        name=data["name"],
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"]),
        deployed_bytecode=bytes.fromhex(data["deployed_bytecode"]),
        immutable_ranges=tuple((int(s), int(n)) for s, n in data["immutable_ranges"]),
        metadata=data["metadata"],
        source_hashes=data["source_hashes"],
        compiler_version=data["compiler_version"],
        input_hash=data["input_hash"],
    )


def mask_immutables(code: bytes, ranges: tuple[tuple[int, int], ...]) -> bytes:
    """Code with every immutable's bytes zeroed: they are set by the constructor."""
    buf = bytearray(code)
    for start, length in ranges:
        buf[start : start + length] = bytes(length)
    return bytes(buf)


def code_matches(onchain: bytes, artifact: Artifact) -> bool:
    """Whether runtime code read from a chain is the compiled deployed bytecode."""
    if len(onchain) != len(artifact.deployed_bytecode):
        return False
    return mask_immutables(onchain, artifact.immutable_ranges) == mask_immutables(
        artifact.deployed_bytecode, artifact.immutable_ranges
    )
