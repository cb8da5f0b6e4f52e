"""EIP-712 signing as the ledger uses it: the domain (one AidLedger deployment) that records
and off-chain messages are signed under, and the strict recovery of who signed a digest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coincurve import PublicKey
from eth_utils import keccak, to_checksum_address

from ledger.core.errors import RecordError

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_TYPES",
    "DOMAIN_VERSION",
    "SECP256K1_HALF_N",
    "SIGNATURE_LEN",
    "Domain",
    "checksum_address",
    "keccak256",
    "recover_signer",
]

DOMAIN_NAME = "BangfuLedger"
DOMAIN_VERSION = "1"
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
SIGNATURE_LEN = 65


def _raw_keccak256() -> Callable[[bytes], bytes] | None:
    """Keccak-256 straight from pycryptodome's C library (eth_utils' own backend), without
    the Python wrappers that make up two thirds of a short hash's cost; None when that
    library is not there in the expected shape, or does not give the reference digests."""
    try:
        from Crypto.Hash import keccak as pycryptodome_keccak
        from Crypto.Util._raw_api import ffi

        lib = getattr(pycryptodome_keccak, "_raw_keccak_lib")  # noqa: B009 - private
        init, absorb, digest, destroy = (
            lib.keccak_init,
            lib.keccak_absorb,
            lib.keccak_digest,
            lib.keccak_destroy,
        )
        new, buffer = ffi.new, ffi.buffer
    except (ImportError, AttributeError):
        return None

    def keccak256(data: bytes) -> bytes:
        state = new("void **")
        if init(state, 64, 24):  # capacity 512 bits, 24 rounds: Keccak-256
            raise RuntimeError("keccak_init failed")
        try:
            out = new("uint8_t[32]")
            if absorb(state[0], data, len(data)) or digest(state[0], out, 32, 0x01):
                raise RuntimeError("keccak failed")
        finally:
            destroy(state[0])
        return buffer(out)[:]

    try:
        for sample in (b"", b"abc", bytes(range(256)) * 3):
            if keccak256(sample) != keccak(sample):
                return None
    except Exception:  # noqa: BLE001 - any surprise in a private API: use the public one
        return None
    return keccak256


#: Keccak-256 of bytes, equal to `eth_utils.keccak(data)` (which it falls back to).
keccak256: Callable[[bytes], bytes] = _raw_keccak256() or keccak

_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


@lru_cache(maxsize=1 << 14)
def _checksum(address: str | bytes) -> str:
    return to_checksum_address(address)


def checksum_address(address: str | bytes) -> str:
    """`eth_utils.to_checksum_address`, remembered: a ledger has few signers and one
    contract, and each checksum costs a keccak (the audit and the indexer ask per record)."""
    if isinstance(address, str | bytes):
        return _checksum(address)
    return to_checksum_address(address)


@lru_cache(maxsize=256)
def _separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    return keccak(
        _DOMAIN_TYPEHASH
        + keccak(name.encode())
        + keccak(version.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(contract[2:])
    )


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain records are signed under: one deployment of AidLedger."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", checksum_address(self.verifying_contract))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def separator(self) -> bytes:
        """The domain separator (computed once per domain: every record's digest needs it)."""
        return _separator(self.name, self.version, self.chain_id, self.verifying_contract)


DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The address that signed `digest`, refusing malformed and high-s signatures."""
    if len(signature) != SIGNATURE_LEN:
        raise RecordError("signature must be 65 bytes (r, s, v)", code="bad_signature")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28) or s == 0 or r == 0 or s > SECP256K1_HALF_N:
        raise RecordError(
            "signature is malformed or malleable (v must be 27/28, s in the lower half)",
            code="bad_signature",
        )
    try:
        # libsecp256k1 through coincurve, as eth_keys' own coincurve backend does, without
        # its object layers: recovery is most of what checking a record costs
        key = PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), digest, hasher=None
        )
    except Exception:  # noqa: BLE001 - r or s out of range, no point, not a 32-byte digest
        raise RecordError("signature does not recover to a key", code="bad_signature") from None
    return checksum_address(keccak256(key.format(compressed=False)[1:])[-20:])
