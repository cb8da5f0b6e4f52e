"""The workspace browser tests' fixtures: the bundle built as `make setup` builds it, and one
chromium per module."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.config import PROJECT_ROOT
from tests.browser import launch

from .browserkit import ARTIFACTS


@pytest.fixture(scope="module")
def bundle_built() -> None:
    """The workspace bundle, built from web/workspace/ as `make setup` does."""
    subprocess.run(["npm", "run", "--silent", "build:workspace"], cwd=PROJECT_ROOT, check=True)


@pytest.fixture(scope="module")
def browser(bundle_built: None) -> Iterator[Any]:
    yield from launch(ARTIFACTS)
