"""`bangfu run` as a user starts it: the installed command as a process group of its own, with
the settings a deployment gives it (BANGFU_* in its environment), waited on until /readyz
answers 200 and stopped as Ctrl-C would (SIGTERM, then SIGKILL). The end-to-end and the
consortium tests start it through here."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger.config import PROJECT_ROOT
from tests.factories import BANGFU, run_bangfu


def environment(var: Path, **settings: str) -> dict[str, str]:
    """This process's environment without its BANGFU_* settings, with the project as home,
    `var` as var/ and each of `settings` as BANGFU_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
    env.update(BANGFU_HOME=str(PROJECT_ROOT), BANGFU_VAR=str(var), PYTHONUNBUFFERED="1")
    env.update({f"BANGFU_{k.upper()}": v for k, v in settings.items()})
    return env


@dataclass
class Running:
    """A `bangfu run` process group and what a test needs to talk to it."""

    env: dict[str, str]
    var: Path
    base: str  # the API's URL
    rpc: str  # the node's JSON-RPC URL
    proc: subprocess.Popen[bytes]
    log: Path

    def bangfu(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Another `bangfu` command with the same settings."""
        return run_bangfu(args, env=self.env, timeout=timeout, cwd=PROJECT_ROOT)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float) -> None:
        """Until /readyz answers 200; fails the test if the process ends or it never does."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"bangfu run exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                resp = httpx.get(self.base + "/readyz", timeout=5)
                if resp.status_code == 200:
                    return
                last = resp.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.5)
        pytest.fail(f"/readyz not ready after {timeout:g} s: {last}\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM to the process group, as Ctrl-C would; SIGKILL if it is not gone in 30 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@contextmanager
def bangfu_run(
    env: dict[str, str], log: Path, *, rpc: str, ready_within: float
) -> Iterator[Running]:
    """`bangfu run` with `env` (see `environment`; its API port is BANGFU_API_PORT), its
    output to `log`, ready; stopped on leaving."""
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [BANGFU, "run"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopped as Ctrl-C would stop it
        )
    run = Running(
        env=env,
        var=Path(env["BANGFU_VAR"]),
        base=f"http://127.0.0.1:{env['BANGFU_API_PORT']}",
        rpc=rpc,
        proc=proc,
        log=log,
    )
    try:
        run.wait_ready(ready_within)
        yield run
    finally:
        run.stop()
