"""Household follow-up (回访) against a real anvil and real databases: a county opens a round
on a delivery batch, the sample is drawn from a future block's hash (anyone recomputes it
from the chain alone), and the county's signed results are accepted only for sampled lines,
with the stored line's leaf hash, by the round's county; the views show names, Beijing time
and the confirmation rate, and no personal data."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from ledger.core.fields import BEIJING, FollowUpOutcome
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine, new_id
from ledger.core.program_kinds import FollowUp, FollowUpRound
from ledger.core.records import SignedRecord
from ledger.core.sample import line_key, sample_indices, sample_size
from ledger.export import indicators
from ledger.export.report import build_report
from ledger.export.snapshot import load_snapshot, parse_period
from ledger.indexer.rebuild import digest, rebuild
from ledger.sdk.batch_client import sign_batch
from ledger.store.followup_models import FollowUpRoundRow, FollowUpRow
from tests.factories import (
    COUNTY_A,
    COUNTY_B,
    COUNTY_NAME_A,
    ORG_CODE_A,
    ORG_NAME_A,
    BatchEnv,
    body,
    make_lines,
)

RATE = 1_000  # 10 %


# ---------------------------------------------------------------- the pure sample function
def test_sample_size_is_ceil_with_at_least_one() -> None:
    assert sample_size(100, 1_000) == 10
    assert sample_size(101, 1_000) == 11  # ceil
    assert sample_size(3, 1) == 1  # at least one
    assert sample_size(7, 10_000) == 7  # everything
    assert sample_size(0, 1_000) == 0
    with pytest.raises(ValueError):
        sample_size(10, 10_001)


def test_sample_is_the_smallest_keys_and_reproducible() -> None:
    seed, batch = bytes(range(32)), bytes(range(32, 64))
    got = sample_indices(seed, batch, 100, 1_000)
    assert got == sample_indices(seed, batch, 100, 1_000)
    assert len(got) == 10 and got == sorted(set(got))
    keys = sorted(range(100), key=lambda i: line_key(seed, batch, i))
    assert got == sorted(keys[:10])
    # the key is SHA-256(seed ‖ batchId ‖ uint32-big-endian i)
    import hashlib

    assert line_key(seed, batch, 7) == hashlib.sha256(seed + batch + b"\0\0\0\x07").digest()
    # another seed draws another sample (the county cannot know it in advance)
    assert sample_indices(bytes(32), batch, 100, 1_000) != got


# ---------------------------------------------------------------- helpers on the chain
def _mine(benv: BatchEnv, blocks: int) -> None:
    benv.env.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


def _post(benv: BatchEnv, *signed: SignedRecord) -> Any:
    return benv.http.post("/api/v1/records", json=body(*signed))


def _code(resp: Any) -> str:
    assert resp.status_code >= 400, resp.text
    return str(resp.json()["code"])


def _batch(benv: BatchEnv, n: int = 100) -> tuple[str, list[DeliveryLine]]:
    cid = benv.commitment(n * 3)
    lines = make_lines(cid, n, quantity=3)
    signed = sign_batch(lines, benv.env.actors.org_a.key, benv.env.domain)
    benv.client.upload(signed, [line.line_bytes() for line in lines])
    batch_id = hex0x(signed.id)
    benv.relay_until_confirmed(batch_id)
    benv.index()
    return batch_id, lines


def _round(
    benv: BatchEnv, batch_id: str, key: LocalAccount, county: int = COUNTY_A, **fields: Any
) -> SignedRecord:
    values: dict[str, Any] = {
        "id": new_id(key.address),
        "batch_id": bytes.fromhex(batch_id[2:]),
        "county": county,
        "seed_block": int(benv.env.w3.eth.block_number) + 5,
        "rate_bps": RATE,
    }
    values.update(fields)
    return FollowUpRound(**values).sign(key.key, benv.env.domain)


def _result(
    benv: BatchEnv,
    round_id: bytes,
    index: int,
    line: DeliveryLine,
    key: LocalAccount,
    outcome: int = FollowUpOutcome.RECEIVED_IN_FULL,
    **fields: Any,
) -> SignedRecord:
    values: dict[str, Any] = {
        "id": new_id(key.address),
        "round_id": round_id,
        "line_index": index,
        "line_hash": line.leaf_hash(),
        "outcome": int(outcome),
        "quantity": 0,
    }
    values.update(fields)
    return FollowUp(**values).sign(key.key, benv.env.domain)


@pytest.fixture
def opened(benv: BatchEnv) -> tuple[BatchEnv, str, list[DeliveryLine], SignedRecord]:
    """A 100-line batch of county A on chain and indexed, and county A's round on it."""
    a = benv.env.actors
    benv.env.ledger.set_follow_up_rate(a.admin, RATE)
    batch_id, lines = _batch(benv)
    rnd = _round(benv, batch_id, a.county_a)
    resp = _post(benv, rnd)
    assert resp.status_code == 202, resp.text
    benv.relay_until_confirmed(hex0x(rnd.id))
    benv.index()
    return benv, batch_id, lines, rnd


# ---------------------------------------------------------------- rounds
def test_round_refusals_name_the_rule(benv: BatchEnv) -> None:
    a = benv.env.actors
    benv.env.ledger.set_follow_up_rate(a.admin, RATE)
    batch_id, _ = _batch(benv, 10)
    head = int(benv.env.w3.eth.block_number)
    cases = [
        (_round(benv, batch_id, a.county_a, rate_bps=RATE + 1), "wrong_follow_up_rate"),
        (_round(benv, batch_id, a.county_a, rate_bps=0), "wrong_follow_up_rate"),
        (_round(benv, batch_id, a.county_a, seed_block=head), "seed_block_not_future"),
        (_round(benv, batch_id, a.county_a, county=COUNTY_B), "wrong_county"),
        (_round(benv, batch_id, a.org_a), "missing_role"),
        (_round(benv, hex0x(new_id(a.org_a.address)), a.county_a), "unknown_batch"),
        # county B's own key, on county A's batch: the batch serves another county
        (_round(benv, batch_id, a.county_b, county=COUNTY_B), "batch_not_in_county"),
    ]
    for signed, code in cases:
        assert _code(_post(benv, signed)) == code, code
    # an id scoped to another signer, and a forged signature
    other = _round(benv, batch_id, a.county_a, id=new_id(a.county_b.address))
    assert _code(_post(benv, other)) == "record_id_not_scoped"
    good = _round(benv, batch_id, a.county_a)
    forged = dataclasses.replace(
        good, signature=good.signature[:-1] + bytes([good.signature[-1] ^ 1])
    )
    resp = benv.http.post(
        "/api/v1/records",
        json={"records": [{**forged.to_json(), "signer": a.county_a.address}]},
    )
    assert resp.status_code in (401, 422), resp.text
    # accepted once; a second round of the same county on the batch is refused, even while
    # the first is still pending in the outbox
    assert _post(benv, good).status_code == 202
    assert _code(_post(benv, _round(benv, batch_id, a.county_a))) == "follow_up_round_exists"
    benv.relay_until_confirmed(hex0x(good.id))
    benv.index()
    assert _code(_post(benv, _round(benv, batch_id, a.county_a))) == "follow_up_round_exists"
    # a replay of the same signed record is the same record, not a second round
    again = _post(benv, good)
    assert again.status_code == 202 and again.json()["accepted"][0]["duplicate"] is True


# ---------------------------------------------------------------- results
def test_sample_is_reproducible_from_the_chain_alone_and_binds_the_county(
    opened: tuple[BatchEnv, str, list[DeliveryLine], SignedRecord], tmp_path: Path
) -> None:
    benv, batch_id, lines, rnd = opened
    a = benv.env.actors
    round_id = rnd.id
    seed_block = rnd.record.seed_block  # type: ignore[attr-defined]

    # Before the seed block is mined nobody knows the sample: a result is refused.
    assert int(benv.env.w3.eth.block_number) < seed_block
    early = _result(benv, round_id, 0, lines[0], a.county_a)
    assert _code(_post(benv, early)) == "seed_not_yet_known"
    view = benv.http.get(f"/api/v1/follow-up/rounds/{hex0x(round_id)}").json()
    assert view["seed_known"] is False and view["sample"] is None

    _mine(benv, 6)
    # Anyone with the chain: the seed block's hash, the batch id and its line count (both
    # in the round's and the batch's records) give the sample.
    seed = bytes(benv.env.w3.eth.get_block(seed_block)["hash"])
    expected = sample_indices(seed, bytes.fromhex(batch_id[2:]), 100, RATE)
    assert len(expected) == 10
    view = benv.http.get(f"/api/v1/follow-up/rounds/{hex0x(round_id)}").json()
    assert view["seed_known"] is True and view["seed_hash"] == hex0x(seed)
    assert [s["line_index"] for s in view["sample"]] == expected
    assert view["county_name"] == COUNTY_NAME_A and view["org_name"] == ORG_NAME_A
    first = view["sample"][0]
    assert first["pseudonym"] == hex0x(lines[expected[0]].beneficiary)
    assert first["line_hash"] == hex0x(lines[expected[0]].leaf_hash())
    assert first["quantity_text"] == "3 斤"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", first["delivered_at"])

    outside = next(i for i in range(100) if i not in expected)
    inside, second = expected[0], expected[1]
    refusals = [
        (_result(benv, round_id, outside, lines[outside], a.county_a), "line_not_in_sample"),
        (
            _result(benv, round_id, inside, lines[inside], a.county_a, line_hash=bytes(32)),
            "line_hash_mismatch",
        ),
        (
            _result(benv, round_id, inside, lines[second], a.county_a),
            "line_hash_mismatch",
        ),
        (_result(benv, round_id, inside, lines[inside], a.county_b), "wrong_county"),
        (_result(benv, round_id, inside, lines[inside], a.org_a), "missing_role"),
        (_result(benv, round_id, 100, lines[0], a.county_a), "line_out_of_range"),
        (_result(benv, round_id, inside, lines[inside], a.county_a, outcome=5), "invalid_outcome"),
        (
            _result(benv, round_id, inside, lines[inside], a.county_a, outcome=1, quantity=2),
            "invalid_outcome",
        ),
        (_result(benv, round_id, inside, lines[inside], a.county_a, outcome=2), "invalid_outcome"),
        (
            _result(benv, round_id, inside, lines[inside], a.county_a, outcome=2, quantity=3),
            "invalid_quantity",
        ),
        (
            _result(benv, new_id(a.county_a.address), inside, lines[inside], a.county_a),
            "unknown_follow_up_round",
        ),
    ]
    for signed, code in refusals:
        assert _code(_post(benv, signed)) == code, code

    # Accepted: one "not received", one "received in part", the rest received in full.
    results = [
        _result(benv, round_id, inside, lines[inside], a.county_a, FollowUpOutcome.NOT_RECEIVED),
        _result(
            benv,
            round_id,
            second,
            lines[second],
            a.county_a,
            FollowUpOutcome.RECEIVED_IN_PART,
            quantity=1,
        ),
        *(_result(benv, round_id, i, lines[i], a.county_a) for i in expected[2:]),
    ]
    resp = _post(benv, *results)
    assert resp.status_code == 202, resp.text
    # a second result for a line, pending or on chain, is refused
    repeat = _result(benv, round_id, inside, lines[inside], a.county_a)
    assert _code(_post(benv, repeat)) == "follow_up_repeated"
    for r in results:
        benv.relay_until_confirmed(hex0x(r.id))
    benv.index()
    assert _code(_post(benv, repeat)) == "follow_up_repeated"

    with benv.service.db.read() as s:
        row = s.get(FollowUpRoundRow, hex0x(round_id))
        assert row is not None and (row.line_count, row.sample_size) == (100, 10)
        outcomes = dict(
            s.execute(
                select(FollowUpRow.line_index, FollowUpRow.outcome).where(
                    FollowUpRow.round_id == hex0x(round_id)
                )
            )
            .tuples()
            .all()
        )
    assert outcomes[inside] == 3 and outcomes[second] == 2 and len(outcomes) == 10

    view = benv.http.get(f"/api/v1/follow-up/rounds/{hex0x(round_id)}").json()
    by_index = {s["line_index"]: s for s in view["sample"]}
    assert by_index[inside]["result"]["outcome_text"] == "未收到 not received"
    assert by_index[second]["result"]["quantity_text"] == "1 斤"
    assert view["results"]["not_received"] == 1 and view["results"]["followed_up"] == 10

    rates = benv.http.get("/api/v1/follow-up/confirmation").json()
    mine = next(o for o in rates["orgs"] if o["org"] == a.org_a.address)
    assert mine["org_name"] == ORG_NAME_A
    assert mine["received_in_full"] >= 8 and "÷" in rates["formula"]

    # the findings: the report's anomalies name the "not received" and the partial result,
    # and the organization's indicators give the follow-up confirmation rate
    # the month of the chain's clock, which other tests of this session may have moved on
    chain_now = int(benv.env.w3.eth.get_block("latest")["timestamp"])
    period = parse_period(datetime.fromtimestamp(chain_now, BEIJING).strftime("%Y-%m"))
    with benv.service.db.read() as s:
        snap = load_snapshot(s, period.end)
    # generated at the chain's time too: a report made "now" by the wall clock counts
    # nothing after it, and the chain's clock may be ahead of it (CI ran this after a test
    # that had moved the chain on, and the follow-ups were after the wall clock's now)
    generated = datetime.fromtimestamp(chain_now + 1, UTC)
    report = build_report(snap, period, with_charts=False, generated=generated)
    found = {r.key: r.cells for r in report.tables["anomalies"].rows}
    missing = found[f"anomaly/follow-up/{hex0x(results[0].id)}"]
    assert missing["kind"] == "回访：未收到 follow-up: not received"
    assert ORG_NAME_A in missing["what"] and f"第 {inside} 行" in missing["what"]
    assert f"anomaly/follow-up/{hex0x(results[1].id)}" in found
    assert not any(f"anomaly/follow-up/{hex0x(r.id)}" in found for r in results[2:])
    ind = indicators.compute(snap, ORG_CODE_A, period)
    assert ind.followed_up >= 10
    mine_here = [f for f in snap.follow_ups if f.round_id == hex0x(round_id)]
    assert len(mine_here) == 10
    assert ind.follow_up_confirmation_rate is not None
    assert {hex0x(r.id) for r in results} <= set(ind.records["follow_up_confirmation_rate"])

    # the portal's page: names, Beijing time, the counts and the formula
    page = benv.http.get("/follow-up")
    assert page.status_code == 200, page.text
    assert ORG_NAME_A in page.text and COUNTY_NAME_A in page.text and "÷" in page.text
    assert "回访确认率" in page.text and "北京时间" in page.text
    english = benv.http.get("/follow-up?lang=en")
    assert "Follow-up confirmation rate" in english.text and ORG_NAME_A in english.text

    # the read model is a cache: rebuilt from the chain alone, the follow-up rows are equal
    benv.index()
    fresh, _ = rebuild(benv.service.ledger(), f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}")
    try:
        live, again = digest(benv.service.db), digest(fresh)
        assert live.counts["follow_ups"] >= 10 and live.counts["follow_up_rounds"] >= 1
        assert live == again, live.differences(again)
    finally:
        fresh.dispose()

    # no personal data in any public answer: pseudonyms and hashes only
    for path in (
        f"/api/v1/follow-up/rounds/{hex0x(round_id)}",
        f"/api/v1/follow-up/rounds?county={COUNTY_A}",
        "/api/v1/follow-up/confirmation",
        "/follow-up",
        "/follow-up?lang=en",
    ):
        text = benv.http.get(path).text
        assert not re.search(r"(?<![0-9a-fA-Fx])\d{17}[\dXx](?![0-9a-fA-F])", text), path
        assert not re.search(r"(?<![0-9a-fA-F])1[3-9]\d{9}(?![0-9a-fA-F])", text), path


def test_a_round_may_cite_a_batch_still_in_the_outbox(benv: BatchEnv) -> None:
    """The relayer counts what it accepted but has not sent: a round on a batch still
    pending in the outbox is accepted, and both land on chain in order."""
    a = benv.env.actors
    benv.env.ledger.set_follow_up_rate(a.admin, RATE)
    cid = benv.commitment(30)
    lines = make_lines(cid, 10, quantity=3)
    signed = sign_batch(lines, a.org_a.key, benv.env.domain)
    benv.client.upload(signed, [line.line_bytes() for line in lines])
    batch_id = hex0x(signed.id)
    with benv.service.db.read() as s:
        assert s.get(FollowUpRoundRow, batch_id) is None
    rnd = _round(benv, batch_id, a.county_a, seed_block=int(benv.env.w3.eth.block_number) + 20)
    resp = _post(benv, rnd)
    assert resp.status_code == 202, resp.text
    # county B may not follow up county A's pending batch either
    other = _round(benv, batch_id, a.county_b, county=COUNTY_B)
    assert _code(_post(benv, other)) == "batch_not_in_county"
    benv.relay_until_confirmed(batch_id)
    benv.relay_until_confirmed(hex0x(rnd.id))
    benv.index()
    with benv.service.db.read() as s:
        row = s.get(FollowUpRoundRow, hex0x(rnd.id))
    assert row is not None and row.batch_id == batch_id and row.sample_size == 1
    assert row.org == a.org_a.address and row.county == COUNTY_A
