"""The upload wire format: each delivery line as length u32 big-endian ‖ line bytes, so a
streamed body can be cut into lines without reading it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ledger.core.errors import BatchError

__all__ = ["MAX_FRAME", "FrameReader", "frame", "iter_frames"]

#: A framed line is at most this long (fixed 121 bytes plus item and unit).
MAX_FRAME = 1024


def frame(line_bytes: bytes) -> bytes:
    """One line on the wire: length u32 big-endian ‖ line bytes."""
    return len(line_bytes).to_bytes(4, "big") + line_bytes


def iter_frames(lines: Iterable[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """Framed lines grouped into chunks of about `chunk` bytes, for a streaming body."""
    buf = bytearray()
    for line in lines:
        buf += frame(line)
        if len(buf) >= chunk:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


class FrameReader:
    """Splits a byte stream into framed lines; keeps an incomplete tail for the next chunk."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            size = int.from_bytes(buf[pos : pos + 4], "big")
            if size > MAX_FRAME or size == 0:
                raise BatchError(
                    f"a framed line claims {size} bytes; lines are 1..{MAX_FRAME} bytes. "
                    "Send length u32 ‖ line bytes for each line",
                    code="bad_frame",
                )
            if n - pos - 4 < size:
                break
            out.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line at the end (dropped if the stream ends here)."""
        return len(self._buf)
