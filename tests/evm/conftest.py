"""The contract tests' fixtures: a `Book` that signs and submits records on the session's
deployment, paid for by its first relayer."""

from __future__ import annotations

import pytest

from tests.evm.test_contract import Book
from tests.factories import ChainEnv


@pytest.fixture
def book(env: ChainEnv) -> Book:
    return Book(env.ledger, env.actors.relayers[0])
