"""The pinned compile is reproducible, equals the code on chain, and tells a changed source
from the deployed one; the artifact cache is used only when the input is unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import solcx
from eth_utils import keccak

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.errors import ToolchainError
from ledger.evm.compiler import (
    MAIN_SOURCE,
    Artifact,
    code_matches,
    collect_sources,
    compile_contracts,
    standard_input,
)
from ledger.evm.deploy import deploy, matches_deployed
from tests.factories import ChainEnv


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(home=PROJECT_ROOT)


@pytest.fixture(scope="module")
def fresh(settings: Settings) -> Artifact:
    """A compile that really ran solc (and refreshed the cache file)."""
    return compile_contracts(settings, use_cache=False)


def copy_home(tmp: Path, *, with_node_modules: bool = True) -> Path:
    """A project home with a copy of contracts/ and the solc shim, sharing node_modules."""
    home = tmp / "home"
    shutil.copytree(PROJECT_ROOT / "contracts", home / "contracts")
    (home / "scripts").mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "scripts" / "solc.js", home / "scripts" / "solc.js")
    if with_node_modules:
        (home / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return home


def edit(home: Path, old: str, new: str) -> None:
    path = home / MAIN_SOURCE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def onchain_code(env: ChainEnv, address: str) -> bytes:
    return bytes(env.w3.eth.get_code(env.w3.to_checksum_address(address)))


def test_two_compiles_are_identical(settings: Settings, fresh: Artifact) -> None:
    again = compile_contracts(settings, use_cache=False)
    assert again.bytecode == fresh.bytecode
    assert again.deployed_bytecode == fresh.deployed_bytecode
    assert again.metadata == fresh.metadata
    assert again.abi == fresh.abi
    assert again.immutable_ranges == fresh.immutable_ranges
    assert again.input_hash == fresh.input_hash
    assert fresh.compiler_version == "0.8.30"
    assert len(fresh.deployed_bytecode) > 1000


def test_standard_input_is_deterministic(settings: Settings) -> None:
    first = standard_input(collect_sources(settings))
    assert first == standard_input(collect_sources(settings))
    assert MAIN_SOURCE in first["sources"]
    assert any(unit.startswith("@openzeppelin/") for unit in first["sources"])
    assert first["settings"]["optimizer"] == {"enabled": True, "runs": 200}


def test_compile_matches_deployed_code(env: ChainEnv, fresh: Artifact) -> None:
    address = env.deployment.address
    code = onchain_code(env, address)
    assert code_matches(code, fresh)
    assert matches_deployed(address, env.settings)
    # Immutables (the EIP-712 domain cache) are set by the constructor, so the raw bytes
    # differ from the compiler's in exactly those places.
    assert code != fresh.deployed_bytecode
    # Another deployment of the same compile (other address, other immutables) matches too.
    other = deploy(env.w3, env.actors.admin, settings=env.settings)
    assert onchain_code(env, other.address) != code
    assert matches_deployed(other.address, env.settings)


def test_other_code_does_not_match(env: ChainEnv, fresh: Artifact) -> None:
    code = onchain_code(env, env.deployment.address)
    masked = {i for start, length in fresh.immutable_ranges for i in range(start, start + length)}
    outside = next(i for i in range(len(code) // 2, len(code)) if i not in masked)
    flipped = bytearray(code)
    flipped[outside] ^= 0x01
    assert not code_matches(bytes(flipped), fresh)
    assert not code_matches(code[:-1], fresh)
    assert not code_matches(code + b"\x00", fresh)
    assert not code_matches(b"", fresh)
    assert not matches_deployed(env.actors.stranger.address, env.settings)  # no code there


def test_changed_source_does_not_match(tmp_path: Path, env: ChainEnv, fresh: Artifact) -> None:
    """A real code change (one more category allowed) compiles to code that does not match
    what is deployed, and gets its own cache key."""
    home = copy_home(tmp_path)
    edit(home, "CATEGORY_COUNT = 10;", "CATEGORY_COUNT = 11;")
    changed_settings = Settings(home=home, rpc_url=env.settings.rpc_url)
    changed = compile_contracts(changed_settings, use_cache=False)
    assert changed.input_hash != fresh.input_hash
    assert changed.deployed_bytecode != fresh.deployed_bytecode
    code = onchain_code(env, env.deployment.address)
    assert not code_matches(code, changed)
    assert not matches_deployed(env.deployment.address, changed_settings)
    assert matches_deployed(env.deployment.address, env.settings)


def test_metadata_pins_every_source(settings: Settings, fresh: Artifact) -> None:
    """The metadata (whose hash ends the runtime code) names each source by the keccak256 of
    its text, comments included: the check says "not these sources", not merely "not this
    behaviour". (Asserted here from the metadata rather than by a further compile.)"""
    metadata = json.loads(fresh.metadata)
    sources = collect_sources(settings)
    assert set(metadata["sources"]) == set(sources)
    for unit, text in sources.items():
        assert metadata["sources"][unit]["keccak256"] == "0x" + keccak(text=text).hex()
    assert metadata["settings"]["evmVersion"] == "prague"
    assert metadata["compiler"]["version"].startswith("0.8.30+")
    # the runtime code ends with the CBOR metadata block: its length in the last 2 bytes
    cbor_len = int.from_bytes(fresh.deployed_bytecode[-2:], "big")
    assert b"ipfs" in fresh.deployed_bytecode[-2 - cbor_len : -2]


def test_cache_is_reused_without_solc(
    settings: Settings, fresh: Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = settings.build_dir / f"AidLedger-{fresh.input_hash[:16]}.json"
    assert cache.is_file()
    before = cache.stat().st_mtime_ns

    def no_solc(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("solc ran although the cached artifact was current")

    monkeypatch.setattr(solcx, "compile_standard", no_solc)
    cached = compile_contracts(settings)
    assert cached == fresh
    assert cache.stat().st_mtime_ns == before
    # use_cache=False really compiles, whatever the cache holds.
    with pytest.raises(AssertionError, match="solc ran"):
        compile_contracts(settings, use_cache=False)


def test_missing_node_modules(tmp_path: Path) -> None:
    home = copy_home(tmp_path, with_node_modules=False)
    with pytest.raises(ToolchainError) as info:
        compile_contracts(Settings(home=home), use_cache=False)
    assert info.value.code == "missing_node_modules"
    assert "npm ci" in info.value.message


def test_compile_error_is_reported(tmp_path: Path) -> None:
    home = copy_home(tmp_path)
    edit(home, "CATEGORY_COUNT = 10;", "CATEGORY_COUNT = 10")
    with pytest.raises(ToolchainError) as info:
        compile_contracts(Settings(home=home), use_cache=False)
    assert info.value.code == "compile_failed"
