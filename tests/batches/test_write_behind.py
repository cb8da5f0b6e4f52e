"""Lines are written behind the parsing, FLUSH_LINES per transaction on a thread of their
own: the held count still advances with the lines it counts, an error of that write is
raised by the next call, and a refused upload keeps no line written behind its back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.batches.receive import FLUSH_LINES
from ledger.batches.service import BatchService
from ledger.batches.wire import iter_frames
from ledger.core.errors import BatchError, ConflictError
from ledger.core.lines import DeliveryLine
from ledger.sdk.batch_client import sign_batch
from ledger.store.batch_models import BatchLine, BatchUpload
from tests.factories import BatchEnv, make_lines

N = 2 * FLUSH_LINES + 1234


def _open(benv: BatchEnv, lines: list[DeliveryLine]) -> tuple[BatchService, str, str]:
    signed = sign_batch(lines, benv.env.actors.org_a.key, benv.env.domain)
    service = BatchService(benv.service.db, benv.service.relayer, benv.env.domain)
    return service, service.open(signed).upload_id, "0x" + signed.id.hex()


def _held(service: BatchService, batch_id: str, upload_id: str) -> tuple[int, int]:
    with service.db.read() as session:
        rows = session.scalar(
            select(func.count()).select_from(BatchLine).where(BatchLine.batch_id == batch_id)
        )
        row = session.get(BatchUpload, upload_id)
        assert row is not None
        return int(rows or 0), row.lines_received


def test_lines_written_behind_count_exactly_and_finish(benv: BatchEnv) -> None:
    cid = benv.commitment(10 * N)
    lines = make_lines(cid, N, quantity=3)
    service, upload_id, batch_id = _open(benv, lines)
    rx = service.receiver(upload_id, 0)
    wire = b"".join(iter_frames(line.line_bytes() for line in lines))
    # Fed in odd pieces: frames are cut anywhere, and each FLUSH_LINES lines go to a write.
    for i in range(0, len(wire), 77_777):
        assert rx.feed(wire[i : i + 77_777]) < FLUSH_LINES
    rx._wait()  # the writes handed off so far are whole transactions: lines and count agree
    rows, held = _held(service, batch_id, upload_id)
    assert rows == held
    assert 2 * FLUSH_LINES <= held < N
    assert rx.flush() == N
    assert _held(service, batch_id, upload_id) == (N, N)
    info = service.finish(upload_id)
    assert (info.status, info.lines_received) == ("accepted", N)


def test_an_error_of_the_write_behind_is_raised_by_the_next_call(benv: BatchEnv) -> None:
    cid = benv.commitment(10 * N)
    lines = make_lines(cid, N)
    service, upload_id, batch_id = _open(benv, lines)
    wire = [line.line_bytes() for line in lines]
    first = service.receiver(upload_id, 0)
    second = service.receiver(upload_id, 0)  # a second request for the same upload
    first.feed(b"".join(iter_frames(wire[:FLUSH_LINES])))
    first._wait()
    # The second request's write finds the held count moved under it: its transaction
    # rolls back, and the conflict comes out of its next call, not out of a lost thread.
    second.feed(b"".join(iter_frames(wire[:FLUSH_LINES])))
    with pytest.raises(ConflictError):
        second.flush()
    assert _held(service, batch_id, upload_id) == (FLUSH_LINES, FLUSH_LINES)
    rx = service.receiver(upload_id, FLUSH_LINES)
    rx.feed(b"".join(iter_frames(wire[FLUSH_LINES:])))
    assert rx.flush() == N
    assert _held(service, batch_id, upload_id) == (N, N)


def test_a_bad_line_after_a_write_behind_leaves_nothing(benv: BatchEnv) -> None:
    cid = benv.commitment(10 * N)
    lines = make_lines(cid, N)
    service, upload_id, batch_id = _open(benv, lines)
    wire = [line.line_bytes() for line in lines]
    wire[FLUSH_LINES + 2000] = b"\x02" + wire[FLUSH_LINES + 2000][1:]  # not a line
    with pytest.raises(BatchError) as err:
        service.ingest(upload_id, 0, iter_frames(wire))
    assert err.value.code == "bad_line"
    assert err.value.fields["line_index"] == FLUSH_LINES + 2000
    # The write handed off before the bad line finished before the refusal deleted it.
    assert _held(service, batch_id, upload_id) == (0, 0)
    assert service.info(upload_id).status == "refused"
