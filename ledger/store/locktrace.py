"""The write-lock trace (`Settings.write_lock_trace`, `BANGFU_WRITE_LOCK_TRACE`): a
diagnostic of who holds the database's one write lock (`Database.write`) and for how long.

Each process that writes appends one line per committed transaction to the same file, in
one `write()` of an `O_APPEND` descriptor, so lines from several processes never interleave:
the pid, the function that opened the transaction, then the milliseconds it waited for the
lock, held it (to the end of the commit) and, of those, spent in the commit. This module
owns that line: `Database` writes it, `scripts/bench_api.py` reads and sums it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LockUse", "TraceEntry", "open_trace", "read_trace", "sum_by_writer"]


@dataclass(frozen=True)
class TraceEntry:
    """One committed write transaction."""

    pid: int
    writer: str  # the function that opened it (its qualified name)
    waited_ms: float
    held_ms: float
    commit_ms: float

    def line(self) -> bytes:
        return (
            f"{self.pid} {self.writer} {self.waited_ms:.3f} {self.held_ms:.3f} "
            f"{self.commit_ms:.3f}\n"
        ).encode()

    @classmethod
    def parse(cls, line: str) -> TraceEntry:
        pid, writer, waited, held, commit = line.split()
        return cls(int(pid), writer, float(waited), float(held), float(commit))


def open_trace(path: Path) -> int:
    """A descriptor that appends to the trace at `path` (created if missing)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def read_trace(path: Path, offset: int = 0) -> list[TraceEntry]:
    """The entries after byte `offset` (none if there is no trace yet)."""
    if not path.exists():
        return []
    with path.open("rb") as f:
        f.seek(offset)
        return [TraceEntry.parse(line) for line in f.read().decode().splitlines()]


@dataclass
class LockUse:
    """One writer's transactions, and what they add up to (seconds)."""

    entries: list[TraceEntry] = field(default_factory=list)

    @property
    def transactions(self) -> int:
        return len(self.entries)

    @property
    def waited(self) -> float:
        return sum(e.waited_ms for e in self.entries) / 1000

    @property
    def held(self) -> float:
        return sum(e.held_ms for e in self.entries) / 1000

    @property
    def longest(self) -> float:
        return max((e.held_ms for e in self.entries), default=0.0) / 1000


def sum_by_writer(
    entries: Iterable[TraceEntry], process_of: Callable[[int], str]
) -> dict[tuple[str, str], LockUse]:
    """The entries grouped by (process, writer); `process_of` names a pid."""
    use: dict[tuple[str, str], LockUse] = {}
    for e in entries:
        use.setdefault((process_of(e.pid), e.writer), LockUse()).entries.append(e)
    return use
