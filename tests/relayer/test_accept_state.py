"""The accept path's in-memory state and the send loop's batching (issue 16).

A project's first version, once accepted, is checked from memory by the records after it,
and a refused submission leaves nothing of itself there; a part-full multicall goes at
once when nothing of ours is pending, and waits `linger` seconds for more records when one
is; two writers on one database see each other's deliveries. Against a real anvil and
real databases."""

from __future__ import annotations

import dataclasses
import time

import pytest

from ledger.app import LedgerService
from ledger.core.aid_kinds import ProjectAnchor
from ledger.core.errors import LedgerError
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.indexer.worker import Indexer
from ledger.relayer.lookups import hex0x
from ledger.relayer.outbox import Relayer
from tests.factories import (
    COUNTY_A,
    COUNTY_B,
    ChainEnv,
    Stack,
    delivery,
    on_chain_commitment,
    project_anchor,
    service_for,
)


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


def test_a_second_writer_s_deliveries_count_in_the_first_one_s_check(
    svc_env: ChainEnv, svc: LedgerService, database_url: str
) -> None:
    """Two API processes on one database (each its own Relayer and cache): a delivery the
    second accepted counts in the first one's over-delivery check at once, not after the
    first one's cached total expires."""
    org = svc_env.actors.org_a
    cid = on_chain_commitment(svc_env, 20)
    Indexer(svc.db, svc.ledger()).run_until_synced()
    second = service_for(svc_env.settings, database_url)
    try:

        def deliver(relayer: Relayer, quantity: int) -> None:
            relayer.accept([delivery(org.address, cid, quantity).sign(org.key, svc_env.domain)])

        def held() -> int | None:
            hit = svc.relayer.cache.commitments.get(hex0x(cid))
            return None if hit is None else hit[1].delivered

        deliver(svc.relayer, 6)
        deliver(svc.relayer, 2)  # nobody else wrote: the first writer keeps its total
        assert held() == 8
        deliver(second.relayer, 12)  # 20 of 20, written by the other process
        with pytest.raises(LedgerError) as err:
            deliver(svc.relayer, 1)
        assert err.value.code == "OverDelivery"
    finally:
        second.close()
