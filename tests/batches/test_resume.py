"""An interrupted upload resumes from what the server holds, without duplicate lines."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from ledger.batches.wire import iter_frames
from ledger.sdk.batch_client import BatchClient, sign_batch
from ledger.store.batch_models import BatchLine
from tests.factories import BatchEnv, LiveServer, make_lines


def _lines_held(benv: BatchEnv, batch_id: str) -> tuple[int, int]:
    with benv.service.db.read() as session:
        count = session.scalar(
            select(func.count()).select_from(BatchLine).where(BatchLine.batch_id == batch_id)
        )
        distinct = session.scalar(
            select(func.count(func.distinct(BatchLine.line_index))).where(
                BatchLine.batch_id == batch_id
            )
        )
    return int(count or 0), int(distinct or 0)


def test_partial_upload_then_overlapping_resume(benv: BatchEnv) -> None:
    env = benv.env
    cid = benv.commitment(100_000)
    lines = make_lines(cid, 1200, quantity=2)
    wire = [line.line_bytes() for line in lines]
    signed = sign_batch(lines, env.actors.org_a.key, env.domain)
    batch_id = "0x" + signed.id.hex()
    info = benv.client.open(signed)
    upload = info["upload_id"]

    # The body stops in the middle of line 700: the 700 whole lines are kept, the torn one not.
    body = b"".join(iter_frames(wire[:701]))[:-10]
    resp = benv.http.put(f"/api/v1/batches/uploads/{upload}/lines", content=body)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["lines_received"]) == ("receiving", 700)
    assert _lines_held(benv, batch_id) == (700, 700)

    # A gap is refused with the count to resume from.
    gap = benv.http.put(
        f"/api/v1/batches/uploads/{upload}/lines", params={"start": 900}, content=b""
    )
    assert gap.status_code == 409
    assert gap.json()["lines_received"] == 700

    # Reopening with the same signed record finds the same upload; resending from an
    # earlier index skips what is held.
    again = benv.client.open(signed)
    assert (again["upload_id"], again["lines_received"]) == (upload, 700)
    done = benv.client.send_lines(upload, wire, 500)
    assert (done["status"], done["lines_received"]) == ("accepted", 1200)
    assert _lines_held(benv, batch_id) == (1200, 1200)

    # The finished upload is idempotent too.
    assert benv.client.upload(signed, wire).status == "accepted"
    assert _lines_held(benv, batch_id) == (1200, 1200)


def test_connection_dropped_mid_stream_resumes(benv: BatchEnv, live: LiveServer) -> None:
    env = benv.env
    cid = benv.commitment(100_000)
    lines = make_lines(cid, 20_000)
    wire = [line.line_bytes() for line in lines]
    signed = sign_batch(lines, env.actors.org_a.key, env.domain)
    batch_id = "0x" + signed.id.hex()

    class Cut(Exception):
        pass

    with httpx.Client(base_url=live.url, timeout=30) as http:
        client = BatchClient(http)
        upload = client.open(signed)["upload_id"]

        def torn() -> Iterator[bytes]:
            for i, chunk in enumerate(iter_frames(wire, chunk=1 << 14)):
                if i == 150:
                    raise Cut  # the client dies mid-body; the server sees the connection drop
                yield chunk
                time.sleep(0.001)

        with pytest.raises((Cut, httpx.TransportError)):
            http.put(f"/api/v1/batches/uploads/{upload}/lines", content=torn())
        # The server goes on writing what it had received before it saw the drop.
        deadline = time.monotonic() + 30
        held = client.status(upload)["lines_received"]
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = client.status(upload)["lines_received"]
            if now == held:
                break
            held = now
        assert 0 < held < 20_000
        assert _lines_held(benv, batch_id) == (held, held)

        result = client.upload(signed, wire)
    assert (result.status, result.lines_received) == ("accepted", 20_000)
    assert _lines_held(benv, batch_id) == (20_000, 20_000)
