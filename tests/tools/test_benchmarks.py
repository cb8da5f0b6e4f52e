"""Each benchmark under scripts/ runs as its README command does, at the smallest sizes: it
exits 0, prints its table, and leaves no folder behind in the temporary directory.

A benchmark that nobody runs rots: bench_portal had come to fail with a 503, and bench_api
left ~0.5 GB a run in /tmp, before this test. The sizes here measure nothing; the figures
come from the commands in README and docs/bench-api.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.config import PROJECT_ROOT

pytestmark = pytest.mark.chain

#: (script and its smallest arguments, a line its table prints)
RUNS = {
    "bench_api": (
        ["--records", "40", "--no-queries", "--clients", "4", "--naive", "5"],
        "| API → outbox → relayer multicall | 4 | 40 |",
    ),
    "bench_batch": (
        ["--sizes", "200", "--records", "5", "--memory-lines", "0"],
        "| batch of 200 lines |",
    ),
    "bench_portal": (
        ["--projects", "20", "--commitments", "60", "--requests", "2"],
        "| organization |",
    ),
    "bench_queries": (
        ["--query-database", "sqlite", "--query-leaves", "2000", "--query-seconds", "1"],
        "| sqlite | 2,000 |",
    ),
    "bench_reconcile": (["--records", "20"], "| 20 confirmed records |"),
    "bench_audit": (["--records", "100"], "| chain only | 102 |"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_benchmark_runs_and_cleans_up(name: str, tmp_path: Path) -> None:
    args, line = RUNS[name]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / f"{name}.py"), *args],
        cwd=PROJECT_ROOT,
        env={**_environ(), "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert line in result.stdout, result.stdout[-3000:]
    assert list(scratch.iterdir()) == [], "the run left its folder behind"


def _environ() -> dict[str, str]:
    """This process's environment without the test run's BANGFU_* settings, so that each
    benchmark starts from its own (as it does from a shell)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BANGFU_")}
