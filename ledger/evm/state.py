"""The local anvil's state files, as its keeper writes them: validated dumps, good copies
renamed into place, anvil's own clean-exit dump, and recovery from the newest good copy.

anvil truncates and rewrites a `--state` file in place, so a kill -9 during that write
leaves a torn file; these files are written so that a crash never leaves one (see
`ledger.evm.node` for the keeper that drives them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.core import codes
from ledger.core.errors import ConfigError, StateFileError

__all__ = [
    "STATE_KEYS",
    "Recovery",
    "StateFiles",
    "StateInfo",
    "check_dump",
    "dump_mismatch",
    "read_state",
]

log = logging.getLogger("bangfu.chain")

#: Keys every anvil state dump has (anvil's SerializableState).
STATE_KEYS = ("block", "accounts", "blocks")


@dataclass(frozen=True)
class StateInfo:
    """A state file that anvil can load: where, at which block, how large."""

    path: Path
    block: int
    size: int


@dataclass(frozen=True)
class Recovery:
    """What `LocalChain.prepare_state` decided before anvil starts."""

    source: Path | None  # the file anvil loads; None for a new chain
    block: int | None  # the block it holds
    message: str | None  # one line when anything was recovered or lost


def read_state(path: Path) -> StateInfo:
    """Validates an anvil state file (JSON with a block, accounts and blocks) or raises
    StateFileError naming what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StateFileError(f"{path} is missing", path=str(path)) from None
    except OSError as exc:
        raise StateFileError(f"{path} is unreadable ({exc.strerror})", path=str(path)) from None
    return StateInfo(path, _parse(raw, str(path))[1], len(raw))


def check_dump(raw: bytes, where: str) -> int:
    """Validates a dump anvil just made (`anvil_dumpState`, or its exit dump) before it may
    replace a good copy: the shape `read_state` checks, and accounts that agree with the
    blocks (`dump_mismatch`). Returns its block; raises StateFileError otherwise."""
    state, block = _parse(raw, where)
    mismatch = dump_mismatch(state)
    if mismatch is not None:
        raise StateFileError(
            f"{where} is not one moment of the chain: {mismatch}",
            code=codes.DUMP_MISMATCH,
            path=where,
            block=block,
        )
    return block


def dump_mismatch(state: Mapping[str, Any]) -> str | None:
    """Why a dump's accounts and blocks are not the same moment, or None when they are.

    anvil (1.7) reads its blocks, then its accounts, without holding the chain still: a
    block mined in between leaves a dump whose contract storage holds that block's effects
    (our log's leaves) while its blocks, transactions and logs do not. Loaded, such a chain
    has leaves no event will ever describe. Measured: 6 dumps in 4,000 under load
    (docs/reliability.md). Every externally owned account's nonce must then be one past its
    newest transaction in the dump; contracts are skipped, since their nonces count
    CREATEs, not transactions."""
    newest: dict[str, int] = {}
    for tx in state.get("transactions") or ():
        info = tx.get("info") if isinstance(tx, Mapping) else None
        sender = info.get("from") if isinstance(info, Mapping) else None
        nonce = _number(info.get("nonce")) if isinstance(info, Mapping) else None
        if isinstance(sender, str) and nonce is not None:
            key = sender.lower()
            newest[key] = max(newest.get(key, -1), nonce)
    accounts = state.get("accounts")
    for address, account in accounts.items() if isinstance(accounts, Mapping) else ():
        if not isinstance(account, Mapping) or account.get("code") not in (None, "", "0x"):
            continue
        sent = newest.get(str(address).lower())
        nonce = _number(account.get("nonce"))
        if sent is not None and nonce is not None and nonce != sent + 1:
            return (
                f"account {address} has nonce {nonce} while its newest transaction in the "
                f"dump has nonce {sent} (a block mined during the dump)"
            )
    return None


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value, 16) if value.startswith("0x") else int(value)
    return None


def _parse(raw: bytes, where: str) -> tuple[dict[str, Any], int]:
    """An anvil state's JSON and its block, or StateFileError saying what is wrong."""
    if not raw.strip():
        raise StateFileError(f"{where} is empty (a write was cut off)", path=where)
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise StateFileError(
            f"{where} is not JSON ({str(exc)[:80]}): torn by a crash, or not anvil's",
            path=where,
        ) from None
    blocks = data.get("blocks") if isinstance(data, dict) else None
    if not isinstance(data, dict) or any(k not in data for k in STATE_KEYS) or not blocks:
        raise StateFileError(
            f"{where} is JSON but not an anvil state (it needs {', '.join(STATE_KEYS)})",
            path=where,
        )
    best = data.get("best_block_number")
    if best is None and isinstance(data["block"], dict):
        best = data["block"].get("number")
    block = _number(best)
    if block is None:
        raise StateFileError(f"{where} has no block number", path=where)
    return data, block


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class StateFiles:
    """The state file, its good copies (`<name>.1` … older), the temporary file a copy is
    written to, anvil's own dump on a clean exit, and the last head the keeper saw."""

    path: Path
    copies: int

    def _side(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name + suffix)

    @property
    def tmp(self) -> Path:
        return self._side(".tmp")

    @property
    def exit_dump(self) -> Path:
        return self._side(".exit")

    @property
    def head_file(self) -> Path:
        return self._side(".head")

    @property
    def saved_file(self) -> Path:
        return self._side(".saved")

    def copy(self, i: int) -> Path:
        return self.path if i == 0 else self._side(f".{i}")

    def check_writable(self) -> None:
        """Raises ConfigError (state_dir_not_writable) unless files can be made beside the
        state file: found before anvil starts, not after the first interval is lost."""
        where = self.path.parent
        probe = self._side(".probe")
        try:
            where.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"状态目录不可写 / the state directory {where} is not writable "
                f"({exc.strerror}): make it writable, or set `state_file` in localchain.toml "
                "to a path in a writable directory",
                code="state_dir_not_writable",
                path=str(where),
            ) from None

    def save(self, data: bytes, *, block: int, pause: float = 0.0) -> None:
        """Writes one complete dump as the new state file: temp file, fsync, then the older
        copies shift by one (hard link, so the state file never goes missing) and the temp
        file is renamed over the state file. `block` is a block the dump holds (a lower
        bound of its head): it is noted as saved once the rename is durable."""
        half = len(data) // 2
        with self.tmp.open("wb") as f:
            f.write(data[:half])
            if pause:
                f.flush()
                time.sleep(pause)
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        if self.copies > 1 and self.path.exists():
            for i in range(self.copies - 1, 1, -1):
                if self.copy(i - 1).exists():
                    os.replace(self.copy(i - 1), self.copy(i))
            self.copy(1).unlink(missing_ok=True)
            os.link(self.path, self.copy(1))
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)
        self.note_saved(block)

    def saved_block(self) -> int | None:
        """The newest block the state file is known to hold: a kill -9 of the chain cannot
        lose it or any block below it. None before the first save."""
        try:
            return int(json.loads(self.saved_file.read_text())["block"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def note_saved(self, block: int | None) -> None:
        if block is None:
            self.saved_file.unlink(missing_ok=True)
            return
        tmp = self._side(".saved.tmp")
        tmp.write_text(json.dumps({"block": block}))
        os.replace(tmp, self.saved_file)

    def last_head(self) -> int | None:
        try:
            return int(json.loads(self.head_file.read_text())["head"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def note_head(self, head: int) -> None:
        tmp = self._side(".head.tmp")
        tmp.write_text(json.dumps({"head": head}))
        os.replace(tmp, self.head_file)

    def promote_exit_dump(self) -> StateInfo | None:
        """anvil's dump at a clean exit becomes the state file if it is whole and not older
        than the state file; a torn one is set aside. Returns what was promoted."""
        if not self.exit_dump.exists():
            return None
        try:
            raw = self.exit_dump.read_bytes()
            block = check_dump(raw, str(self.exit_dump))
        except OSError as exc:
            log.warning("anvil's exit dump is unreadable, left in place: %s", exc)
            return None
        except StateFileError as exc:
            log.warning("anvil's exit dump is unusable, kept aside: %s", exc.message)
            os.replace(self.exit_dump, self._side(f".exit-bad-{int(time.time())}"))
            return None
        try:
            current: int | None = read_state(self.path).block
        except StateFileError:
            current = None
        if current is not None and block < current:
            self.exit_dump.unlink()
            return None
        self.save(raw, block=block)
        self.exit_dump.unlink()
        return StateInfo(self.path, block, len(raw))

    def prepare(self) -> Recovery:
        """Decides what anvil loads. A valid state file is used as it is (after promoting a
        newer clean-exit dump). A torn or missing one is replaced by the newest good copy,
        with a one-line message saying which blocks were lost. Raises StateFileError only
        when the state file is not loadable and there is no good copy to fall back on."""
        self.tmp.unlink(missing_ok=True)  # an unfinished copy: the state file is older
        self.promote_exit_dump()
        seen = self.last_head()
        try:
            info = read_state(self.path)
            self.note_saved(info.block)
            return Recovery(self.path, info.block, self._lost(None, info.block, seen))
        except StateFileError as exc:
            primary_error = exc if self.path.exists() else None
        for i in range(1, self.copies):
            try:
                info = read_state(self.copy(i))
            except StateFileError:
                continue
            if primary_error is not None:
                aside = self._side(f".bad-{int(time.time())}")
                os.replace(self.path, aside)
                why = f"{primary_error.message}, kept as {aside.name}"
            else:
                why = f"{self.path} was missing"
            os.link(info.path, self.tmp)
            os.replace(self.tmp, self.path)
            _fsync_dir(self.path.parent)
            self.note_saved(info.block)
            return Recovery(self.path, info.block, self._lost(why + ";", info.block, seen))
        self.note_saved(None)
        if primary_error is not None:
            raise StateFileError(
                f"本地链状态文件不可用 / {primary_error.message}; no good copy to recover from: "
                f"move it away to start a new, empty chain, or restore a backup to {self.path}",
                path=str(self.path),
            )
        if seen is not None:
            return Recovery(
                None,
                None,
                f"本地链状态已丢失 / {self.path} and its copies are missing: starting a new, "
                f"empty chain; blocks 0–{seen} were lost (redeploy with `bangfu deploy`)",
            )
        return Recovery(None, None, None)

    @staticmethod
    def _lost(why: str | None, block: int, seen: int | None) -> str | None:
        if seen is not None and seen > block + 1:
            lost = f"blocks {block + 1}–{seen} were lost"
        elif seen is not None and seen == block + 1:
            lost = f"block {seen} was lost"
        elif why is not None:
            lost = "no block seen since was lost"
        else:
            return None
        prefix = f"{why} " if why else ""
        return (
            f"本地链已恢复 / chain recovered: {prefix}anvil resumes at block {block}; {lost} "
            "(the relayer re-sends their acknowledged records)"
        )
