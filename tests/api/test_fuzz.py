"""schemathesis with every check against the real app: uvicorn on a free port, a real anvil
and a real SQLite database, the OpenAPI document the app serves. Seeded and derandomized, a
bounded number of examples per operation, and zero failures and zero errors asserted: no
tolerance, no floor.

What the run covers (tests/api/schemathesis.toml says why one setting differs from the
defaults, for the operations whose acceptance depends on a signature or a registry): server
errors, status codes, content types and response schemas against the document, schema-valid
requests accepted and schema-invalid ones refused, `Allow` on 405, missing headers, and the
custom check that nothing valid by the document is refused as `invalid_request`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import H11_MAX_INCOMPLETE_EVENT_SIZE
from ledger.app import LedgerService
from ledger.config import PROJECT_ROOT
from ledger.evm.deploy import deploy
from tests.factories import ChainEnv, LiveServer, fresh_database_url, service_for, stack

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20260
MAX_EXAMPLES = 10  # per operation and phase: about a minute on two cores


@pytest.fixture
def served(env: ChainEnv, tmp_path: Path) -> Iterator[str]:
    # A fresh AidLedger of its own: what the run sees does not depend on which tests ran
    # before it on the session's chain.
    settings = env.settings.model_copy(update={"var": tmp_path})
    deploy(env.w3, env.actors.admin, settings=settings).save(settings)
    svc: LedgerService = service_for(settings, next(fresh_database_url("sqlite", tmp_path)))
    # The indexer has caught up with the chain, so /readyz answers 200 (ready), not 503.
    stack(svc, env.actors.relayers)
    server = LiveServer(svc, h11_max_incomplete_event_size=H11_MAX_INCOMPLETE_EVENT_SIZE)
    try:
        with server:
            yield server.url
    finally:
        svc.close()


def test_schemathesis_all_checks_zero_failures(served: str, tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: schemathesis is a test dependency")
    report = tmp_path / "schemathesis.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "NO_COLOR": "1",
        "SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks",
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{served}/openapi.json",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--generation-deterministic",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        cwd=tmp_path,  # schemathesis keeps a .schemathesis cache in its working folder
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    out = result.stdout + result.stderr
    (tmp_path / "schemathesis.txt").write_text(out)
    summary = out[out.find("SUMMARY") :] if "SUMMARY" in out else out[-3000:]
    print(f"schemathesis ran in {elapsed:.0f} s\n{summary}")
    # The failures, each line cut short (a reproducing curl can be 70 kB long).
    details = "\n".join(line[:300] for line in out[out.find("FAILURES") :].splitlines()[:400])
    assert report.exists(), out[-5000:]
    doc = json.loads(report.read_text())
    assert doc["complete"] and doc["stop_reason"] == "completed", summary
    # Every operation of the document was selected and tested: none skipped or errored.
    ops = doc["operations"]
    assert ops["selected"] == ops["total"] == ops["tested"], ops
    assert ops["errored"] == 0 and ops["skipped"] == 0, ops
    for name, phase in doc["phases"].items():
        assert phase["status"] in ("success", "skipped"), (name, phase, details)
    assert doc["test_cases"]["generated"] > 0, doc["test_cases"]
    assert doc["failures"] == [] and doc["errors"] == [], details
    assert result.returncode == 0, details
