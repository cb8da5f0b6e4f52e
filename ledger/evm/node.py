"""The local anvil: starting and stopping it, and the keeper process that owns it.

`localchain.toml` configures anvil (from node_modules, never Hardhat; `ledger.evm.localchain`).
`BANGFU_RPC_URL` attaches to any other EVM JSON-RPC node instead; nothing else changes
(connecting and deploying are in `ledger.evm.deploy`).

The local anvil never writes its state file itself: anvil truncates and rewrites a
`--state` file in place, so a kill -9 during that write leaves a torn file. Instead a small
keeper process (`python -m ledger.evm.node keep`) owns anvil: every `state_interval` seconds
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
import ctypes
import gzip
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from ledger.config import Settings, get_settings
from ledger.core import codes
from ledger.core.errors import ChainError, ConfigError, LedgerError, ToolchainError
from ledger.evm.localchain import AnvilConfig, load_localchain
from ledger.evm.state import Recovery, StateFiles, check_dump

__all__ = ["LocalChain"]

log = logging.getLogger("bangfu.chain")

#: anvil's --state-interval: a year, so that anvil writes its dump only on a clean exit.
ANVIL_NO_INTERVAL = 31_536_000


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
    def _read_pid(pid_file: Path) -> int | None:
        try:
            return int(pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    @classmethod
    def forget(cls, pid_file: Path, pid: int) -> None:
        """Removes `pid_file` only if it still names `pid`: `bangfu run` restarts a chain that
        `bangfu chain down` stopped, and the new keeper's pid file must outlive the old one's
        clean-up (else `chain down` finds nothing to stop and the chain runs on, orphaned)."""
        if cls._read_pid(pid_file) == pid:
            pid_file.unlink(missing_ok=True)

    @classmethod
    def _alive(cls, pid_file: Path) -> int | None:
        pid = cls._read_pid(pid_file)
        if pid is None:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            cls.forget(pid_file, pid)
            return None
        except PermissionError:
            return pid
        # a zombie child (tests that started it) counts as gone
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                cls.forget(pid_file, pid)
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
                self.forget(self.pid_file, proc.pid)
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
        self.forget(self.pid_file, pid)
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
            raise ChainError("anvil_dumpState returned no JSON object", code=codes.BAD_DUMP)
        check_dump(data, "anvil_dumpState")  # one moment: accounts and blocks agree
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
        pause = self.cfg.dump_pause
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
                        if self.head() != head:
                            # A block mined while anvil dumped can leave its storage ahead of
                            # its blocks in a way `dump_mismatch` does not see (seen once in
                            # CI: 30 leaves with no event). Every such dump measured had the
                            # head move during it (docs/reliability.md): keep none that did.
                            raise ChainError(
                                "the chain's head moved during the dump",
                                code=codes.DUMP_MISMATCH,
                            )
                        files.save(data, block=head, pause=pause)
                        dumped_at = head
                    except (requests.RequestException, ChainError, OSError, ValueError) as exc:
                        if isinstance(exc, ChainError) and exc.code == codes.DUMP_MISMATCH:
                            # a block was mined while anvil dumped: the next tick dumps again
                            log.info("state dump discarded (%s); dumping again", exc.message)
                            next_dump = time.monotonic()
                        elif proc.poll() is None:
                            log.warning("state save failed (%s); the last good copy stays", exc)
            stop.wait(0.2)


def _die_with_parent() -> None:
    """In anvil's child process: die with the keeper (Linux), so anvil never outlives it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _keeper_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger.evm.node")
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


if __name__ == "__main__":
    sys.exit(_keeper_main(sys.argv[1:]))
