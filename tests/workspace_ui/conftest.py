"""The workspace browser tests' fixtures: the bundle built as `make setup` builds it, one
chromium per module, and the stage a story plays on."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.config import PROJECT_ROOT
from tests.browser import launch
from tests.factories import ChainEnv, LiveServer

from .browserkit import ARTIFACTS, Stage


@pytest.fixture(scope="module")
def bundle_built() -> None:
    """The workspace bundle, built from web/workspace/ as `make setup` does."""
    subprocess.run(["npm", "run", "--silent", "build:workspace"], cwd=PROJECT_ROOT, check=True)


@pytest.fixture(scope="module")
def browser(bundle_built: None) -> Iterator[Any]:
    yield from launch(ARTIFACTS)


@pytest.fixture
def stage(browser: Any, live: LiveServer, svc_env: ChainEnv, tmp_path: Path) -> Stage:
    """The module's chromium, the app of `svc` served by uvicorn, the actors of its chain and
    the test's folder: `stage.role(name, account)` makes each person of the story."""
    return Stage(browser, live.url, svc_env.actors, tmp_path)
