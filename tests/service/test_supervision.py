"""Supervision: a worker that dies is restarted with backoff and its reason logged, one
dead worker never stops the others or the API, and /readyz names every worker's state."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ledger.supervisor import FAILED_AFTER, Supervisor, read_status
from tests.factories import fresh_database_url
from tests.service.crashkit import Ledger, Load, RunGroup, wait_until

# ---------------------------------------------------------------- the supervisor alone


def test_a_crashing_worker_is_restarted_with_backoff_and_the_others_run_on(
    tmp_path: Path,
) -> None:
    code = "import sys; print('boom: no database', file=sys.stderr); sys.exit(3)"
    crash = [sys.executable, "-c", code]
    steady = [sys.executable, "-c", "import time; time.sleep(120)"]
    sup = Supervisor(tmp_path, {"flaky": crash, "steady": steady})
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,), kwargs={"tick": 0.05})
    started = time.monotonic()
    thread.start()
    try:
        wait_until(
            lambda: (read_status(tmp_path) or {}).get("workers", [{}])[0].get("state") == "failed",
            60,
            "the flaky worker to be reported failed",
        )
        took = time.monotonic() - started
        status = read_status(tmp_path)
        assert status is not None and status["supervisor"]["alive"]
        flaky, steady_w = status["workers"]
        assert flaky["restarts"] >= FAILED_AFTER - 1
        assert flaky["last_error"] == "exited with code 3; last output: boom: no database"
        # backoff: 0.5 + 1 + 2 + 4 s between the first five deaths
        assert took >= 7.0
        assert steady_w["state"] == "running" and steady_w["restarts"] == 0
        assert status["ready"] is False
    finally:
        stop.set()
        thread.join(30)
    assert read_status(tmp_path) is None, "a clean stop leaves no status behind"


def test_read_status_without_a_supervisor(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    (tmp_path / "workers.json").write_text('{"supervisor": {"pid": 999999999}, "workers": []}')
    status = read_status(tmp_path)
    assert status is not None and status["supervisor"]["alive"] is False
    assert status["ready"] is False


# ---------------------------------------------------------------- a real `bangfu run`


@pytest.fixture
def group(tmp_path: Path) -> Iterator[RunGroup]:
    urls = fresh_database_url("sqlite", tmp_path)
    g = RunGroup(tmp_path, next(urls))
    try:
        g.start()
        yield g
    finally:
        g.stop()
        urls.close()  # type: ignore[attr-defined]


def _readyz(group: RunGroup) -> dict[str, object]:
    r = requests.get(f"{group.base}/readyz", timeout=10)
    body: dict[str, object] = r.json()
    assert r.status_code == (200 if body["status"] == "ready" else 503)
    return body


def test_killed_worker_is_restarted_and_the_api_keeps_answering(group: RunGroup) -> None:
    ledger = Ledger(group)
    wait_until(lambda: _readyz(group)["status"] == "ready", 120, "ready", group.log)
    body = _readyz(group)
    workers = body["workers"]
    assert isinstance(workers, dict) and workers["supervised"] is True
    names = {w["name"]: w for w in workers["workers"]}
    assert set(names) == {"relayer", "indexer", "checkpointer", "api", "chain"}
    assert all(w["state"] == "running" and w["pid"] for w in names.values())
    assert all(w["last_heartbeat"] for w in names.values())

    for victim in ("relayer", "checkpointer", "indexer"):
        old = group.pid(victim)
        os.kill(old, signal.SIGKILL)
        answered = 0
        deadline = time.monotonic() + 60
        while True:
            # the API answers throughout: /healthz always, /readyz with 200 or 503
            assert requests.get(f"{group.base}/healthz", timeout=5).status_code == 200
            answered += 1
            w = group.status()[victim]
            if w["state"] == "running" and w["pid"] not in (None, old):
                break
            assert time.monotonic() < deadline, f"{victim} was not restarted: {w}"
            time.sleep(0.05)
        assert answered >= 1
        assert w["restarts"] == 1
        assert "killed by SIGKILL" in w["last_error"]
        others = {n: s for n, s in group.status().items() if n != victim}
        assert all(s["state"] == "running" for s in others.values()), others

    # and the restarted workers do their work: records are relayed and indexed
    load = Load(group.base, ledger.sign(10))
    load.finish()
    wait_until(lambda: ledger.settled(load.acked), 120, "records settled after restarts")
    wait_until(lambda: _readyz(group)["status"] == "ready", 60, "ready again", group.log)
    log = group.log.read_text()
    assert "relayer killed by SIGKILL" in log and "restarting in" in log
