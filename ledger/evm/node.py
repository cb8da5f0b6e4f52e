"""The chain: starting and stopping the local anvil, connecting web3, deploying AidLedger.

`localchain.toml` configures anvil (from node_modules, never Hardhat). `BANGFU_RPC_URL`
attaches to any other EVM JSON-RPC node instead; nothing else changes.

The local anvil never writes its state file itself: anvil truncates and rewrites a
`--state` file in place, so a kill -9 during that write leaves a torn file. Instead a small
keeper process (`python -m ledger.chain keep`) owns anvil: every `state_interval` seconds
it asks anvil for its state (`anvil_dumpState`), writes it to a temporary file, fsyncs it
and renames it over the state file, keeping the previous `state_copies - 1` good copies.
anvil itself dumps only on a clean exit, to a side file the keeper promotes once it has
checked it. On start, the state file is validated; a torn or missing one is recovered from
the newest good copy, with one line that says which blocks were lost. The keeper restarts
anvil if it dies, and anvil dies with the keeper (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, Field, ValidationError
from web3 import Web3
from web3.contract import Contract

from ledger.config import Settings, get_settings
from ledger.core.eip712 import Domain
from ledger.core.errors import (
    ChainError,
    ConfigError,
    DeploymentError,
    LedgerError,
    ToolchainError,
)
from ledger.evm.compiler import Artifact, code_matches, compile_contracts

Account.enable_unaudited_hdwallet_features()
log = logging.getLogger("bangfu.chain")


class AnvilConfig(BaseModel):
    """The [anvil] table of localchain.toml."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(8545, ge=1, le=65535)
    chain_id: int = Field(31337, ge=1)
    mnemonic: str
    accounts: int = Field(10, ge=1, le=1000)
    block_time: float = Field(1, ge=0)
    hardfork: str = "prague"
    gas_limit: int = Field(300_000_000, ge=1_000_000)
    state_file: Path = Path("var/anvil-state.json")
    state_interval: int = Field(5, ge=1)
    state_copies: int = Field(3, ge=1, le=20)
    start_timeout: float = Field(30, gt=0)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_localchain(settings: Settings | None = None, path: Path | None = None) -> AnvilConfig:
    """Reads and validates localchain.toml, with a one-line error for any mistake."""
    settings = settings or get_settings()
    path = path or settings.path(settings.localchain_file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found: copy it from the repository", code="no_localchain"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", code="bad_localchain") from None
    if "anvil" not in data:
        raise ConfigError(f"{path} has no [anvil] table", code="bad_localchain")
    try:
        return AnvilConfig.model_validate(data["anvil"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: [anvil] {where}: {first['msg']}", code="bad_localchain"
        ) from None


def rpc_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.rpc_url or load_localchain(settings).rpc_url


def connect(
    settings: Settings | None = None, *, url: str | None = None, timeout: float = 30
) -> Web3:
    """A Web3 connected to the configured node, or a ChainError naming the URL."""
    settings = settings or get_settings()
    url = url or rpc_url(settings)
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - one round trip proves the node answers
    except Exception as exc:  # noqa: BLE001 - requests/aiohttp raise many types
        raise ChainError(
            f"the chain at {url} does not answer ({type(exc).__name__}); start it with "
            "`bangfu chain up` or set BANGFU_RPC_URL",
            url=url,
        ) from None
    return w3


def dev_accounts(cfg: AnvilConfig) -> list[LocalAccount]:
    """The dev chain's accounts, derived from its public mnemonic (never for real chains)."""
    return list(_derive_accounts(cfg.mnemonic, cfg.accounts))


@lru_cache(maxsize=8)
def _derive_accounts(mnemonic: str, count: int) -> tuple[LocalAccount, ...]:
    # BIP-32 derivation in pure Python is slow (~0.5 s a key): derive once per process.
    return tuple(
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    )


# ------------------------------------------------------------------ the state file

#: Keys every anvil state dump has (anvil's SerializableState).
STATE_KEYS = ("block", "accounts", "blocks")
#: Test hook: seconds the keeper pauses halfway through writing a state copy, so that a
#: test can kill -9 anvil or the keeper *during* the write.
DUMP_PAUSE_ENV = "BANGFU_CHAIN_DUMP_PAUSE"
#: anvil's --state-interval: a year, so that anvil writes its dump only on a clean exit.
ANVIL_NO_INTERVAL = 31_536_000


class StateFileError(ChainError):
    """A state file is torn, empty or not anvil's."""

    code = "bad_state_file"


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
    if not raw.strip():
        raise StateFileError(f"{path} is empty (a write was cut off)", path=str(path))
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise StateFileError(
            f"{path} is not JSON ({str(exc)[:80]}): torn by a crash, or not anvil's",
            path=str(path),
        ) from None
    blocks = data.get("blocks") if isinstance(data, dict) else None
    if not isinstance(data, dict) or any(k not in data for k in STATE_KEYS) or not blocks:
        raise StateFileError(
            f"{path} is JSON but not an anvil state (it needs {', '.join(STATE_KEYS)})",
            path=str(path),
        )
    best = data.get("best_block_number")
    if best is None and isinstance(data["block"], dict):
        best = data["block"].get("number")
    try:
        block = int(best, 16) if isinstance(best, str) else int(best)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StateFileError(f"{path} has no block number", path=str(path)) from None
    return StateInfo(path, block, len(raw))


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
            info = read_state(self.exit_dump)
        except StateFileError as exc:
            log.warning("anvil's exit dump is unusable, kept aside: %s", exc.message)
            os.replace(self.exit_dump, self._side(f".exit-bad-{int(time.time())}"))
            return None
        try:
            current: int | None = read_state(self.path).block
        except StateFileError:
            current = None
        if current is not None and info.block < current:
            self.exit_dump.unlink()
            return None
        self.save(self.exit_dump.read_bytes(), block=info.block)
        self.exit_dump.unlink()
        return StateInfo(self.path, info.block, info.size)

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


# ------------------------------------------------------------------ local anvil


@dataclass(frozen=True)
class LocalChain:
    """The local anvil and its keeper: binary, pid, log and state, all from localchain.toml."""

    cfg: AnvilConfig
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LocalChain:
        settings = settings or get_settings()
        return cls(load_localchain(settings), settings)

    @property
    def binary(self) -> Path:
        """The platform's anvil binary that @foundry-rs/anvil installed; its node wrapper in
        .bin/ only as a fallback (signals sent to the wrapper need not reach anvil)."""
        platform = sorted((self.settings.node_modules / "@foundry-rs").glob("anvil-*/bin/anvil"))
        return platform[0] if platform else self.settings.node_modules / ".bin" / "anvil"

    @property
    def pid_file(self) -> Path:
        """The keeper's pid (the process that owns anvil)."""
        return self.settings.var_dir / "anvil.pid"

    @property
    def node_pid_file(self) -> Path:
        """anvil's own pid, written by the keeper."""
        return self.settings.var_dir / "anvil-node.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.var_dir / "anvil.log"

    @property
    def state_file(self) -> Path:
        return self.settings.path(self.cfg.state_file)

    @property
    def files(self) -> StateFiles:
        return StateFiles(self.state_file, self.cfg.state_copies)

    def command(self, load: Path | None = None) -> list[str]:
        """anvil's command line: it loads `load` (if any) and dumps only on a clean exit,
        to a side file; the keeper writes the state file itself. No historical states are
        kept (see docs/reliability.md)."""
        c = self.cfg
        cmd = [
            str(self.binary),
            "--host", c.host,
            "--port", str(c.port),
            "--chain-id", str(c.chain_id),
            "--mnemonic", c.mnemonic,
            "--accounts", str(c.accounts),
            "--hardfork", c.hardfork,
            "--gas-limit", str(c.gas_limit),
            "--dump-state", str(self.files.exit_dump),
            # without an interval anvil would also rewrite the exit dump in place every 60 s
            "--state-interval", str(ANVIL_NO_INTERVAL),
        ]  # fmt: skip
        if load is not None:
            cmd += ["--load-state", str(load)]
        if c.block_time > 0:
            cmd += ["--block-time", str(c.block_time)]
        return cmd

    def keeper_command(self, *, prepared: bool = False) -> list[str]:
        s = self.settings
        cmd = [
            sys.executable, "-m", "ledger.evm.node", "keep",
            "--home", str(s.home),
            "--var", str(s.var_dir),
            "--localchain", str(s.path(s.localchain_file)),
        ]  # fmt: skip
        return [*cmd, "--prepared"] if prepared else cmd

    @staticmethod
    def _alive(pid_file: Path) -> int | None:
        try:
            pid = int(pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return None
        except PermissionError:
            return pid
        # a zombie child (tests that started it) counts as gone
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                pid_file.unlink(missing_ok=True)
                return None
        return pid

    def pid(self) -> int | None:
        """The running keeper's pid from the pid file, or None (stale files are removed)."""
        return self._alive(self.pid_file)

    def node_pid(self) -> int | None:
        """anvil's own pid, or None."""
        return self._alive(self.node_pid_file)

    def answers(self) -> bool:
        try:
            w3 = Web3(Web3.HTTPProvider(self.cfg.rpc_url, request_kwargs={"timeout": 2}))
            return int(w3.eth.chain_id) == self.cfg.chain_id
        except Exception:  # noqa: BLE001
            return False

    def _port_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.cfg.host, self.cfg.port))
            except OSError:
                return False
        return True

    def prepare_state(self) -> Recovery:
        """Checks that the state directory is writable and decides which state anvil loads
        (see StateFiles.prepare); raises a one-line error for bad input."""
        self.files.check_writable()
        return self.files.prepare()

    def up(self) -> int:
        """Starts anvil (under its keeper) in the background and waits until its RPC
        answers; returns the keeper's pid."""
        return self.start()[0]

    def start(self) -> tuple[int, Recovery | None]:
        """`up`, also returning what was recovered from the state files (None if anvil was
        already running)."""
        running = self.pid()
        if running is not None:
            # a keeper runs; it may be restarting anvil: wait for it rather than start another
            if self._wait_answering(None):
                return running, None
            if self.pid() is not None:
                raise ChainError(
                    f"the local chain (keeper pid {running}) runs but anvil does not answer on "
                    f"{self.cfg.rpc_url}; see {self.log_file}, or `bangfu chain down` and up",
                    code="chain_start_timeout",
                )
        if not self.binary.exists():
            raise ToolchainError(
                f"{self.binary} is missing: run `npm ci` (or `make setup`) in the project root",
                code="missing_node_modules",
            )
        if not self._port_free():
            raise ChainError(
                f"port {self.cfg.port} on {self.cfg.host} is already in use by another program; "
                "stop it or change `port` in localchain.toml",
                code="port_in_use",
            )
        try:
            self.settings.var_dir.mkdir(parents=True, exist_ok=True)
            self.log_file.touch()
        except OSError as exc:
            raise ConfigError(
                f"运行目录不可写 / {self.settings.var_dir} is not writable ({exc.strerror}): "
                "make it writable or set BANGFU_VAR to a writable directory",
                code="var_not_writable",
            ) from None
        recovery = self.prepare_state()
        if recovery.message:
            log.warning("%s", recovery.message)
        with self.log_file.open("ab") as out:
            if recovery.message:
                out.write(f"{time.strftime('%F %T')} {recovery.message}\n".encode())
            proc = subprocess.Popen(
                self.keeper_command(prepared=True),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the CLI that started it
                cwd=self.settings.home,
            )
        self.pid_file.write_text(str(proc.pid))
        if not self._wait_answering(proc):
            raise ChainError(
                f"anvil did not answer on {self.cfg.rpc_url} within "
                f"{self.cfg.start_timeout:g} s; see {self.log_file}",
                code="chain_start_timeout",
            )
        return proc.pid, recovery

    def _wait_answering(self, proc: subprocess.Popen[bytes] | None) -> bool:
        deadline = time.monotonic() + self.cfg.start_timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ChainError(
                    f"anvil exited with code {proc.returncode}; see {self.log_file}",
                    code="chain_start_failed",
                )
            if proc is None and self.pid() is None:
                return False
            if self.answers():
                return True
            time.sleep(0.1)
        return False

    def down(self, *, timeout: float = 30, sig: int = signal.SIGTERM) -> bool:
        """Stops the keeper and anvil by the keeper's pid (SIGTERM: anvil writes its state
        and the keeper keeps it). False if not running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                # reap it if it is our child (tests); otherwise just wait
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            _signal_group(pid, signal.SIGKILL)
            node = self.node_pid()
            if node is not None:
                _signal_group(node, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> dict[str, Any]:
        pid = self.pid()
        info: dict[str, Any] = {
            "pid": pid,
            "node_pid": self.node_pid(),
            "rpc_url": self.cfg.rpc_url,
            "running": pid is not None,
        }
        if pid is not None and self.answers():
            w3 = Web3(Web3.HTTPProvider(self.cfg.rpc_url))
            info.update(answering=True, block=w3.eth.block_number, chain_id=w3.eth.chain_id)
        else:
            info["answering"] = False
        info["state_file"] = str(self.state_file)
        with contextlib.suppress(OSError):
            st = self.state_file.stat()
            info["state_bytes"] = st.st_size
            info["state_saved_at"] = st.st_mtime
        return info

    # ---------------------------------------------------------------- the keeper

    def dump(self) -> bytes:
        """anvil's whole state (no historical states) as the JSON it loads."""
        r = requests.post(
            self.cfg.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "anvil_dumpState", "params": []},
            timeout=120,
        )
        r.raise_for_status()
        result = r.json()["result"]
        data = gzip.decompress(bytes.fromhex(result[2:]))  # gzip's CRC: the dump is whole
        if not (data.startswith(b"{") and data.rstrip().endswith(b"}")):
            raise ChainError("anvil_dumpState returned no JSON object", code="bad_dump")
        return data

    def head(self) -> int | None:
        try:
            r = requests.post(
                self.cfg.rpc_url,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                timeout=2,
            )
            return int(r.json()["result"], 16)
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return None

    def keep(self, stop: threading.Event, *, prepared: bool = False) -> None:
        """The keeper's loop: runs anvil, saves its state every `state_interval` seconds,
        restarts it (from the last good state, with backoff) if it dies, and on `stop`
        lets it write its final state and keeps that."""
        files = self.files
        pause = float(os.environ.get(DUMP_PAUSE_ENV) or 0)
        failures = 0
        while not stop.is_set():
            if prepared:
                prepared = False
                recovery = Recovery(
                    self.state_file if self.state_file.exists() else None, None, None
                )
            else:
                recovery = self.prepare_state()
                if recovery.message:
                    log.warning("%s", recovery.message)
            started = time.monotonic()
            proc = subprocess.Popen(
                self.command(recovery.source),
                stdin=subprocess.DEVNULL,
                process_group=0,  # group signals to the keeper do not reach anvil twice
                preexec_fn=_die_with_parent,
            )
            self.node_pid_file.write_text(str(proc.pid))
            log.info("anvil started: pid %s, %s", proc.pid, self.cfg.rpc_url)
            self._serve(proc, stop, files, pause)
            if stop.is_set():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)  # anvil writes its exit dump
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                promoted = files.promote_exit_dump()
                log.info(
                    "anvil stopped; state %s",
                    f"saved at block {promoted.block}" if promoted else "kept from the last save",
                )
                break
            code = proc.returncode
            promoted = files.promote_exit_dump()
            failures = failures + 1 if time.monotonic() - started < 30 else 1
            delay = min(30.0, 0.5 * 2 ** (failures - 1))
            log.error(
                "anvil exited with code %s; restarting it in %.1f s from its last good state",
                code,
                delay,
            )
            stop.wait(delay)
        self.node_pid_file.unlink(missing_ok=True)

    def _serve(
        self, proc: subprocess.Popen[bytes], stop: threading.Event, files: StateFiles, pause: float
    ) -> None:
        interval = float(self.cfg.state_interval)
        next_dump = time.monotonic() + interval
        dumped_at: int | None = None
        seen = files.last_head()
        while not stop.is_set() and proc.poll() is None:
            head = self.head()
            if head is not None and head != seen:
                seen = head
                with contextlib.suppress(OSError):
                    files.note_head(head)
            if head is not None and time.monotonic() >= next_dump:
                next_dump = time.monotonic() + interval
                if head != dumped_at:
                    try:
                        data = self.dump()  # holds `head` at least: it was mined before
                        files.save(data, block=head, pause=pause)
                        dumped_at = head
                    except (requests.RequestException, ChainError, OSError, ValueError) as exc:
                        if proc.poll() is None:
                            log.warning("state save failed (%s); the last good copy stays", exc)
            stop.wait(0.2)


def _die_with_parent() -> None:
    """In anvil's child process: die with the keeper (Linux), so anvil never outlives it."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _keeper_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger.chain")
    parser.add_argument("command", choices=["keep"])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--var", type=Path, required=True)
    parser.add_argument("--localchain", type=Path, required=True)
    parser.add_argument("--prepared", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s keeper %(levelname)s %(message)s", force=True
    )
    settings = Settings(home=args.home, var=args.var, localchain_file=args.localchain)
    chain = LocalChain(load_localchain(settings), settings)
    stop = threading.Event()

    def handler(_sig: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        chain.keep(stop, prepared=args.prepared)
    except LedgerError as exc:
        log.error("[%s] %s", exc.code, exc.message)
        return 1
    return 0


# ------------------------------------------------------------------ deployment


@dataclass(frozen=True)
class Deployment:
    """Where AidLedger lives: written to var/deployment.json by `bangfu deploy`."""

    chain_id: int
    address: str
    block: int
    tx_hash: str
    compiler_version: str
    admin: str
    input_hash: str

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, self.address)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def load(cls, settings: Settings | None = None) -> Deployment:
        settings = settings or get_settings()
        path = settings.deployment_path
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise DeploymentError(
                f"{path} not found: deploy first with `bangfu deploy`", code="no_deployment"
            ) from None
        except (ValueError, TypeError) as exc:
            raise DeploymentError(
                f"{path} is malformed ({exc}); redeploy", code="bad_deployment"
            ) from None

    def save(self, settings: Settings | None = None) -> Path:
        settings = settings or get_settings()
        path = settings.deployment_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(path)
        return path


def ledger_contract(w3: Web3, address: str, artifact: Artifact | None = None) -> Contract:
    artifact = artifact or compile_contracts()
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)


def matches_deployed(address: str, settings: Settings | None = None) -> bool:
    """Whether the code at `address` equals the pinned compile of contracts/."""
    settings = settings or get_settings()
    w3 = connect(settings)
    onchain = bytes(w3.eth.get_code(w3.to_checksum_address(address)))
    return code_matches(onchain, compile_contracts(settings))


def check_deployed(w3: Web3, deployment: Deployment) -> None:
    """Raises DeploymentError unless a contract is at the deployment's address on this chain."""
    if int(w3.eth.chain_id) != deployment.chain_id:
        raise DeploymentError(
            f"var/deployment.json is for chain {deployment.chain_id}, but the node is chain "
            f"{w3.eth.chain_id}; redeploy with `bangfu deploy`",
            code="wrong_chain",
        )
    if not w3.eth.get_code(Web3.to_checksum_address(deployment.address)):
        raise DeploymentError(
            f"no contract at {deployment.address} (the chain was reset?); redeploy with "
            "`bangfu deploy`",
            code="no_contract",
        )


def send_transaction(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> Any:
    """Signs and sends one transaction and waits for its receipt (deploy and admin use)."""
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + 10_000  # type: ignore[arg-type]
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        base = w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
        tip = 1_000_000_000
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = 2 * int(base) + tip
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.1)
    if receipt["status"] != 1:
        raise ChainError(f"transaction {tx_hash.to_0x_hex()} reverted", code="tx_reverted")
    return receipt


#: Seconds a transfer of the admin role waits between its two steps on a real chain.
ADMIN_DELAY = 2 * 24 * 3600
#: ... and on the local anvil (no BANGFU_RPC_URL), short enough to show both steps.
DEV_ADMIN_DELAY = 60


def deploy(
    w3: Web3,
    deployer: LocalAccount,
    *,
    admin: str | None = None,
    admin_delay: int | None = None,
    settings: Settings | None = None,
) -> Deployment:
    """Deploys AidLedger with `admin` (default: the deployer) as the civil-affairs office.

    The admin role moves only in two steps (OpenZeppelin AccessControlDefaultAdminRules):
    the admin names a successor, who accepts after `admin_delay` seconds (default: 2 days,
    or DEV_ADMIN_DELAY on the local anvil)."""
    settings = settings or get_settings()
    artifact = compile_contracts(settings)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    admin = admin or deployer.address
    if admin_delay is None:
        admin_delay = DEV_ADMIN_DELAY if settings.rpc_url is None else ADMIN_DELAY
    if not 0 <= admin_delay < 1 << 48:
        raise ConfigError(
            f"管理员移交延迟无效 / admin delay {admin_delay} must be 0..2^48-1 seconds",
            code="bad_admin_delay",
        )
    tx = factory.constructor(Web3.to_checksum_address(admin), admin_delay).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
        }
    )
    receipt = send_transaction(w3, deployer, dict(tx))
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        address=str(receipt["contractAddress"]),
        block=int(receipt["blockNumber"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        compiler_version=artifact.compiler_version,
        admin=Web3.to_checksum_address(admin),
        input_hash=artifact.input_hash,
    )


if __name__ == "__main__":
    sys.exit(_keeper_main(sys.argv[1:]))
