"""Refused batches leave nothing behind, and the refusal names what to fix."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.batches.build import build_batch
from ledger.batches.wire import iter_frames
from ledger.core.errors import LedgerError
from ledger.core.lines import DeliveryLine
from ledger.sdk.batch_client import sign_batch
from ledger.store.batch_models import BatchLine, BatchUpload
from ledger.store.models import OutboxRecord
from tests.factories import BatchEnv, make_lines


def _stored_lines(benv: BatchEnv, batch_id: str) -> int:
    with benv.service.db.read() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(BatchLine).where(BatchLine.batch_id == batch_id)
            )
            or 0
        )


def _in_outbox(benv: BatchEnv, batch_id: str) -> bool:
    with benv.service.db.read() as session:
        return (
            session.scalar(select(OutboxRecord.id).where(OutboxRecord.record_id == batch_id))
            is not None
        )


def test_lines_that_do_not_match_the_signed_root_are_refused(benv: BatchEnv) -> None:
    env = benv.env
    cid = benv.commitment(1000)
    lines = make_lines(cid, 50)
    signed = sign_batch(lines, env.actors.org_a.key, env.domain)
    # Same count and totals, one beneficiary swapped: only the root can tell.
    forged = list(lines)
    forged[17] = DeliveryLine(**{**lines[17].__dict__, "beneficiary": b"\x42" * 32})
    with pytest.raises(LedgerError) as exc:
        benv.client.upload(signed, [line.line_bytes() for line in forged])
    assert exc.value.code == "batch_root_mismatch"
    batch_id = "0x" + signed.id.hex()
    assert _stored_lines(benv, batch_id) == 0
    assert not _in_outbox(benv, batch_id)
    status = benv.http.get(f"/api/v1/batches/uploads/{exc.value.fields.get('upload_id', '')}")
    assert status.status_code == 404  # the problem does not leak an upload id
    # The honest lines of the same signed batch are then accepted.
    result = benv.client.upload(signed, [line.line_bytes() for line in lines])
    assert result.status == "accepted"
    assert _stored_lines(benv, batch_id) == 50


def test_over_delivery_names_the_line_and_the_commitment(benv: BatchEnv) -> None:
    env = benv.env
    small, big = benv.commitment(100), benv.commitment(10_000)
    # 30 lines of 3 against `small` are fine (90); line 41 of the upload makes it 102.
    lines = make_lines(big, 10, quantity=5) + make_lines(small, 34, quantity=3)
    signed = sign_batch(lines, env.actors.org_a.key, env.domain)
    with pytest.raises(LedgerError) as exc:
        benv.client.upload(signed, [line.line_bytes() for line in lines])
    assert exc.value.code == "over_delivery"
    assert exc.value.fields["commitment_id"] == "0x" + small.hex()
    assert exc.value.fields["line_index"] == 10 + 33
    batch_id = "0x" + signed.id.hex()
    assert _stored_lines(benv, batch_id) == 0
    assert not _in_outbox(benv, batch_id)
    with benv.service.db.read() as session:
        row = session.scalars(select(BatchUpload).where(BatchUpload.batch_id == batch_id)).one()
        assert (row.status, row.error_code) == ("refused", "OverDelivery")


def test_a_malformed_line_on_the_wire_refuses_the_upload(benv: BatchEnv) -> None:
    env = benv.env
    cid, other = benv.commitment(1000), benv.commitment(1000)
    lines = make_lines(cid, 20)
    signed = sign_batch(lines, env.actors.org_a.key, env.domain)
    info = benv.client.open(signed)
    wire = [line.line_bytes() for line in lines]
    wire[5] = make_lines(other, 1)[0].line_bytes()  # a commitment the signed batch lacks
    resp = benv.http.put(
        f"/api/v1/batches/uploads/{info['upload_id']}/lines",
        params={"start": 0},
        content=b"".join(iter_frames(wire)),
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "line_commitment_not_in_batch"
    assert resp.json()["line_index"] == 5
    assert _stored_lines(benv, "0x" + signed.id.hex()) == 0

    garbage = benv.http.put(
        f"/api/v1/batches/uploads/{info['upload_id']}/lines", content=b"\xff\xff\xff\xff"
    )
    assert garbage.status_code == 409  # refused uploads take no more lines
    assert garbage.json()["code"] == "upload_refused"


def test_bad_frames_and_foreign_signers_are_clear_errors(benv: BatchEnv) -> None:
    env = benv.env
    cid = benv.commitment(1000)
    lines = make_lines(cid, 3)
    # Signed by a key without the ORG role: refused when the lines are complete.
    stranger = sign_batch(lines, env.actors.stranger.key, env.domain)
    with pytest.raises(LedgerError) as exc:
        benv.client.upload(stranger, [line.line_bytes() for line in lines])
    assert exc.value.code == "missing_role"

    record = build_batch(lines, env.actors.org_a.address)
    signed = record.sign(env.actors.org_a.key, env.domain)
    info = benv.client.open(signed)
    resp = benv.http.put(
        f"/api/v1/batches/uploads/{info['upload_id']}/lines", content=b"\x00\x10\x00\x00abc"
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "bad_frame"
    bad_sig = signed.to_json()
    bad_sig["signature"] = "0x" + "00" * 65
    resp = benv.http.post("/api/v1/batches", json=bad_sig)
    assert resp.status_code == 422
    assert resp.json()["code"] == "bad_signature"


def test_a_malformed_batch_record_gets_the_contract_s_code(benv: BatchEnv) -> None:
    """Opening an upload checks the signed record's shape as the contract will, and answers
    with the contract's error names; nothing is held. A well-formed batch of the same
    commitments is accepted."""
    import dataclasses

    from ledger.core.aid_kinds import DeliveryBatch
    from ledger.core.records import MAX_BATCH_COMMITMENTS

    env = benv.env
    key = env.actors.org_a.key
    one, two = sorted([benv.commitment(1000), benv.commitment(1000)])
    lines = make_lines(one, 3) + make_lines(two, 3)
    good = sign_batch(lines, key, env.domain)
    rec = good.record
    assert isinstance(rec, DeliveryBatch) and rec.commitment_ids == (one, two)
    many = tuple(bytes([i // 256, i % 256]) + bytes(30) for i in range(MAX_BATCH_COMMITMENTS + 1))
    for change, code in [
        ({"commitment_ids": (), "quantities": ()}, "empty_batch"),
        ({"line_count": 0}, "empty_batch"),
        ({"quantities": (3,)}, "batch_length_mismatch"),
        # refused before the shape check: no JSON list may be longer than the contract's bound
        ({"commitment_ids": many, "quantities": (1,) * len(many)}, "bad_type"),
        ({"commitment_ids": (two, one)}, "commitments_not_sorted"),
        ({"commitment_ids": (one, one)}, "commitments_not_sorted"),
    ]:
        bad = dataclasses.replace(rec, **change).sign(key, env.domain)
        with pytest.raises(LedgerError) as exc:
            benv.client.upload(bad, [line.line_bytes() for line in lines])
        assert exc.value.code == code, (change.keys(), exc.value.code)
        assert _stored_lines(benv, "0x" + bad.id.hex()) == 0
        assert not _in_outbox(benv, "0x" + bad.id.hex())
    result = benv.client.upload(good, [line.line_bytes() for line in lines])
    assert result.status == "accepted"
    # in Python, where no JSON bound applies, the batch service names the contract's error
    from ledger.batches.service import BatchService

    service = BatchService(benv.service.db, benv.service.relayer, env.domain)
    too_many = dataclasses.replace(rec, commitment_ids=many, quantities=(1,) * len(many))
    with pytest.raises(LedgerError) as exc:
        service.open(too_many.sign(key, env.domain))
    assert exc.value.code == "TooManyCommitments"
