"""Supervision for `bangfu run`: each worker is a child process that is restarted with
backoff when it dies, one worker's death never stops the others, and every worker's state
is written to `var/workers.json` for `/readyz`.

Workers beat a heartbeat file (`var/workers/<name>.beat`, see `Heartbeat`) from inside their
loops; the supervisor beats for the API (it answers /healthz) and the chain (it answers
JSON-RPC). A worker is `running`, `restarting` (it died; the next start is due), `failed`
(it died FAILED_AFTER times in a row without running STABLE_AFTER seconds; still retried at
the longest backoff) or `stopped`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("bangfu.supervisor")

STATUS_FILE = "workers.json"
BEAT_DIR = "workers"
#: Seconds a worker must run before its next death counts as a first failure again.
STABLE_AFTER = 30.0
#: Consecutive quick deaths after which a worker is reported `failed`.
FAILED_AFTER = 5
#: Backoff between restarts: 0.5 s, doubling, at most this.
MAX_BACKOFF = 30.0
#: A running worker whose heartbeat is older than this is reported `stalled`.
STALE_AFTER = 60.0


def status_path(var_dir: Path) -> Path:
    return var_dir / STATUS_FILE


def beat_path(var_dir: Path, name: str) -> Path:
    return var_dir / BEAT_DIR / f"{name}.beat"


class Heartbeat(threading.Event):
    """A stop event that also beats a heartbeat file, at most once a second, whenever the
    worker's loop looks at it (`is_set`) or waits on it (`wait`, in slices of a second)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._last = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.beat(force=True)

    def beat(self, *, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last >= 1.0:
            self._last = now
            with contextlib.suppress(OSError):
                self.path.write_text(f"{now:.3f}")

    def is_set(self) -> bool:
        self.beat()
        return super().is_set()

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self.beat()
            left = 1.0 if end is None else min(1.0, end - time.monotonic())
            if left <= 0:
                return super().is_set()
            if super().wait(left):
                return True


@dataclass
class WorkerState:
    """One worker as /readyz shows it."""

    name: str
    pid: int | None = None
    state: str = "starting"
    restarts: int = 0
    last_error: str | None = None
    last_exit_at: float | None = None
    started_at: float | None = None
    last_heartbeat: float | None = None
    next_start_at: float | None = None


@dataclass
class _Child:
    name: str
    argv: list[str]
    state: WorkerState
    proc: subprocess.Popen[bytes] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    failures: int = 0
    due: float = 0.0  # monotonic time of the next start


def _describe_exit(code: int, tail: Sequence[str]) -> str:
    if code < 0:
        try:
            why = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            why = f"killed by signal {-code}"
    else:
        why = f"exited with code {code}"
    last = next((line for line in reversed(tail) if line.strip()), None)
    return f"{why}; last output: {last.strip()[:300]}" if last else why


class Supervisor:
    """Starts the workers, restarts each one that dies, and writes their states."""

    def __init__(
        self,
        var_dir: Path,
        workers: dict[str, list[str]],
        *,
        env: dict[str, str] | None = None,
        probes: dict[str, Callable[[], bool]] | None = None,
        restarters: dict[str, Callable[[], int]] | None = None,
        beats: dict[str, Callable[[], bool]] | None = None,
        out: IO[bytes] | None = None,
    ) -> None:
        self.var_dir = var_dir
        self.env = env
        self.out = out
        self.children = {n: _Child(n, argv, WorkerState(n)) for n, argv in workers.items()}
        # probed things (the chain): not children, restarted by a callable that returns a pid
        self.probes = probes or {}
        self.restarters = restarters or {}
        # children that beat no file (the API): the supervisor asks them instead
        self.beats = beats or {}
        self.probed = {n: WorkerState(n, state="running") for n in self.probes}
        self._probe_failures: dict[str, int] = dict.fromkeys(self.probes, 0)
        self._restarting: set[str] = set()
        self._lock = threading.Lock()
        self.started_at = time.time()

    # ---- children ------------------------------------------------------------------
    def _spawn(self, child: _Child) -> None:
        proc = subprocess.Popen(
            child.argv,
            stdin=subprocess.DEVNULL,
            stdout=None,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        child.proc = proc
        child.tail.clear()
        st = child.state
        st.pid, st.started_at, st.next_start_at = proc.pid, time.time(), None
        st.state = "running"
        threading.Thread(target=self._pump, args=(child, proc), daemon=True).start()
        log.info("%s started: pid %s", child.name, proc.pid)

    def _pump(self, child: _Child, proc: subprocess.Popen[bytes]) -> None:
        """Forwards a worker's stderr and keeps its last lines for `last_error`."""
        assert proc.stderr is not None
        sink = self.out or sys.stderr.buffer
        for raw in iter(proc.stderr.readline, b""):
            child.tail.append(raw.decode("utf-8", "replace"))
            with contextlib.suppress(OSError, ValueError):
                sink.write(raw)
                sink.flush()

    def _check_child(self, child: _Child, now: float) -> None:
        proc, st = child.proc, child.state
        if proc is not None and proc.poll() is not None:
            code = int(proc.returncode)
            time.sleep(0.05)  # let the pump read the last lines
            ran = time.time() - (st.started_at or time.time())
            child.failures = child.failures + 1 if ran < STABLE_AFTER else 1
            delay = min(MAX_BACKOFF, 0.5 * 2 ** (child.failures - 1))
            st.last_error = _describe_exit(code, list(child.tail))
            st.last_exit_at = time.time()
            st.pid = None
            st.state = "failed" if child.failures >= FAILED_AFTER else "restarting"
            st.next_start_at = time.time() + delay
            child.proc, child.due = None, now + delay
            log.error("%s %s; restarting in %.1f s", child.name, st.last_error, delay)
        if child.proc is None and now >= child.due:
            try:
                self._spawn(child)
                st.restarts += 1
            except OSError as exc:
                st.last_error = f"could not start: {exc}"
                child.due = now + MAX_BACKOFF

    # ---- probed (the chain) --------------------------------------------------------------
    def _check_probe(self, name: str) -> None:
        st = self.probed[name]
        if name in self._restarting:
            return
        if self.probes[name]():
            st.last_heartbeat = time.time()
            self._probe_failures[name] = 0
            if st.state != "running":
                st.state = "running"
            return
        self._probe_failures[name] += 1
        if self._probe_failures[name] < 3 or name not in self.restarters:
            return  # a slow answer is not a death
        st.state, st.last_error = "restarting", "does not answer"
        st.last_exit_at = time.time()
        self._restarting.add(name)
        threading.Thread(target=self._restart_probe, args=(name,), daemon=True).start()

    def _restart_probe(self, name: str) -> None:
        st = self.probed[name]
        failures = 0
        try:
            while True:
                try:
                    st.pid = self.restarters[name]()
                    st.restarts += 1
                    st.state, st.last_heartbeat = "running", time.time()
                    log.warning("%s restarted: pid %s", name, st.pid)
                    return
                except Exception as exc:  # noqa: BLE001 - logged, and retried with backoff
                    failures += 1
                    st.last_error = f"restart failed: {exc}"
                    st.state = "failed" if failures >= FAILED_AFTER else "restarting"
                    log.error("%s restart failed: %s", name, exc)
                    time.sleep(min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1)))
        finally:
            self._probe_failures[name] = 0
            self._restarting.discard(name)

    # ---- the loop --------------------------------------------------------------------
    def states(self) -> list[WorkerState]:
        return [c.state for c in self.children.values()] + list(self.probed.values())

    def write_status(self) -> None:
        path = status_path(self.var_dir)
        body = {
            "supervisor": {"pid": os.getpid(), "started_at": self.started_at, "at": time.time()},
            "workers": [asdict(s) for s in self.states()],
        }
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(body, indent=1))
            os.replace(tmp, path)

    def run(self, stop: threading.Event, *, tick: float = 0.25, probe_every: float = 2.0) -> None:
        (self.var_dir / BEAT_DIR).mkdir(parents=True, exist_ok=True)
        for child in self.children.values():
            self._spawn(child)
        next_probe = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                for child in self.children.values():
                    self._check_child(child, now)
                if now >= next_probe:
                    next_probe = now + probe_every
                    for name in self.probes:
                        self._check_probe(name)
                    for name, beat in self.beats.items():
                        child = self.children[name]
                        if child.proc is not None and beat():
                            child.state.last_heartbeat = time.time()
                self.write_status()
                stop.wait(tick)
        finally:
            self.stop_all()

    def stop_all(self, timeout: float = 10) -> None:
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.state.state, child.state.pid = "stopped", None
            log.info("%s stopped", child.name)
        # A clean stop leaves no status behind: an API started alone later is not judged by
        # workers that are gone on purpose (a kill -9 leaves it, naming a dead supervisor).
        status_path(self.var_dir).unlink(missing_ok=True)


# ---------------------------------------------------------------- what /readyz reads


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(var_dir: Path, *, now: float | None = None) -> dict[str, Any] | None:
    """The workers' states as `bangfu run` last wrote them, with heartbeats from the beat
    files, or None when no supervisor has written any (the API runs on its own)."""
    path = status_path(var_dir)
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    sup = body.get("supervisor") or {}
    pid = sup.get("pid")
    alive = isinstance(pid, int) and _alive(pid)
    workers: list[dict[str, Any]] = []
    ready = alive
    for w in body.get("workers") or []:
        try:
            mtime = float(beat_path(var_dir, w["name"]).read_text())
            w["last_heartbeat"] = max(mtime, w.get("last_heartbeat") or 0)
        except (OSError, ValueError):
            pass
        if not alive:
            w["state"] = "unknown"
        elif w.get("state") == "running" and w.get("last_heartbeat"):
            age = now - float(w["last_heartbeat"])
            w["heartbeat_age"] = round(age, 1)
            if age > STALE_AFTER:
                w["state"] = "stalled"
        ready = ready and w.get("state") == "running"
        workers.append(w)
    return {
        "supervisor": {"pid": pid, "alive": alive, "written_at": sup.get("at")},
        "workers": workers,
        "ready": ready,
    }
