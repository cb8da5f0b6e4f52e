"""The accept path's in-memory state and the send loop's batching (issue 16).

A project's first version, once accepted, is checked from memory by the records after it,
and a refused submission leaves nothing of itself there; a part-full multicall goes at
once when nothing of ours is pending, and waits `linger` seconds for more records when one
is. Against a real anvil and real databases."""

from __future__ import annotations

import dataclasses
import time

import pytest

from ledger.app import LedgerService
from ledger.core.errors import LedgerError
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.core.records import ProjectAnchor
from ledger.relayer.lookups import hex0x
from tests.factories import COUNTY_A, COUNTY_B, ChainEnv, Stack, project_anchor


def _v2(v1: ProjectAnchor, signer: str, county: int) -> ProjectAnchor:
    return project_anchor(
        signer, ProjectKind.NEED, county=county, project_id=v1.project_id, version=2
    )


def test_a_first_version_accepted_is_held_and_checked_from_memory(
    env: ChainEnv, svc: LedgerService
) -> None:
    county = env.actors.county_a
    v1 = project_anchor(county.address, ProjectKind.NEED, county=COUNTY_A)
    svc.relayer.accept([v1.sign(county.key, env.domain)])
    pid = hex0x(v1.project_id)
    assert svc.relayer.cache.projects[pid][1] == (county.address, int(ProjectKind.NEED), COUNTY_A)
    moved = _v2(v1, county.address, COUNTY_B).sign(county.key, env.domain)
    with pytest.raises(LedgerError) as err:
        svc.relayer.accept([moved])
    assert err.value.code in ("ProjectCountyChanged", "WrongCounty")
    # The same answer without the cache: the outbox row says it too.
    svc.relayer.cache.forget()
    with pytest.raises(LedgerError) as again:
        svc.relayer.accept([moved])
    assert again.value.code == err.value.code


def test_a_refused_submission_leaves_nothing_in_memory(env: ChainEnv, svc: LedgerService) -> None:
    county = env.actors.county_a
    v1 = project_anchor(county.address, ProjectKind.NEED, county=COUNTY_A)
    bad = project_anchor(county.address, ProjectKind.NEED, county=COUNTY_A, category=99)
    with pytest.raises(LedgerError):
        svc.relayer.accept([v1.sign(county.key, env.domain), bad.sign(county.key, env.domain)])
    assert hex0x(v1.project_id) not in svc.relayer.cache.projects
    # Nothing of it was written, so the same project can start again.
    again = dataclasses.replace(v1, content_hash=new_id(county.address))
    accepted = svc.relayer.accept([again.sign(county.key, env.domain)])
    assert accepted[0].status == "queued" and not accepted[0].duplicate


def test_a_part_full_multicall_lingers_only_while_one_of_ours_is_pending(st: Stack) -> None:
    worker = st.worker
    worker.linger = 0.2
    assert worker._send_partial(0)  # nothing pending: a lone record goes at once
    assert not worker._send_partial(1)  # one pending: wait for more records
    assert not worker._send_partial(1)
    time.sleep(0.25)
    assert worker._send_partial(1)  # waited long enough
    assert not worker._send_partial(2)  # the next part-full batch waits afresh
