"""EIP-712 signing as the ledger uses it: the domain (one AidLedger deployment) that records
and off-chain messages are signed under, and the strict recovery of who signed a digest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

from ledger.core.errors import RecordError

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_TYPES",
    "DOMAIN_VERSION",
    "SECP256K1_HALF_N",
    "SIGNATURE_LEN",
    "Domain",
    "recover_signer",
]

DOMAIN_NAME = "BangfuLedger"
DOMAIN_VERSION = "1"
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
SIGNATURE_LEN = 65


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain records are signed under: one deployment of AidLedger."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", to_checksum_address(self.verifying_contract))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def separator(self) -> bytes:
        typehash = keccak(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        )
        return keccak(
            typehash
            + keccak(self.name.encode())
            + keccak(self.version.encode())
            + self.chain_id.to_bytes(32, "big")
            + bytes(12)
            + bytes.fromhex(self.verifying_contract[2:])
        )


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
        sig = eth_keys.Signature(vrs=(v - 27, r, s))
        return sig.recover_public_key_from_msg_hash(digest).to_checksum_address()
    except Exception:  # noqa: BLE001 - eth_keys raises several types for bad curves points
        raise RecordError("signature does not recover to a key", code="bad_signature") from None
