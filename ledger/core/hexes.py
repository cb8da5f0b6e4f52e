"""One formatter for bytes as 0x-prefixed lowercase hex, the form the chain, the API and the
audit all write (the package had this one-liner under `_hex` in many modules)."""

from __future__ import annotations

__all__ = ["hex0x"]


def hex0x(data: bytes | bytearray | memoryview) -> str:
    """`data` as "0x" + lowercase hex; accepts any bytes-like value (web3 hands back HexBytes)."""
    return "0x" + bytes(data).hex()
