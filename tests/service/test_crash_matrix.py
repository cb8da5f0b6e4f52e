"""The crash matrix: `bangfu run` as a real process group under a load of signed records
(≥ 1,000 in all), kill -9 of the API, the relayer, the indexer, the checkpointer, the whole
group, and anvil (at an arbitrary moment and during a state write, alone and with its
keeper). After each: restart, resubmit what was not acknowledged, drain, and check that
every acknowledged record id is on chain exactly once, counted by leaves, and that the read
model equals a rebuild from the chain. `pytest -m crash` selects it; SQLite always,
PostgreSQL with BANGFU_TEST_POSTGRES_URL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.factories import fresh_database_url, fresh_database_urls
from tests.service.crashkit import SCENARIOS, Ledger, RunGroup, run_scenario

pytestmark = pytest.mark.crash

RECORDS = 150  # per scenario: 9 scenarios, 1,350 signed records in all


class Matrix:
    def __init__(self, group: RunGroup, ledger: Ledger, fresh: Iterator[str]) -> None:
        self.group, self.ledger, self.fresh = group, ledger, fresh
        self.acked: set[str] = set()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    tmp = tmp_path_factory.mktemp(f"crash-{request.param}")
    urls = fresh_database_url(request.param, tmp)
    group = RunGroup(tmp, next(urls), dump_pause=0.3)
    rebuilds = fresh_database_urls(request.param, tmp / "rebuilds")
    try:
        group.start()
        yield Matrix(group, Ledger(group), rebuilds)
    finally:
        group.stop()
        rebuilds.close()
        urls.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kill9_loses_and_duplicates_nothing(matrix: Matrix, scenario: str) -> None:
    outcome, matrix.acked = run_scenario(
        matrix.group, matrix.ledger, scenario, matrix.acked, matrix.fresh, records=RECORDS
    )
    print(outcome)
    assert outcome.lost == 0, outcome
    assert outcome.duplicated == 0, outcome
    # the killed worker was restarted (the group: started again) and is running
    status = matrix.group.status()
    assert all(w["state"] == "running" for w in status.values()), status
    if scenario in ("anvil", "chain-during-write"):
        assert re.search(r"blocks? \S+ (was|were) lost", outcome.note), (
            f"the chain lost nothing; this proves little: {outcome}"
        )
    if scenario in ("api", "relayer", "indexer", "checkpointer"):
        assert status[scenario]["restarts"] >= 1
        assert "SIGKILL" in (status[scenario]["last_error"] or "")
