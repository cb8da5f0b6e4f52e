"""The receiver's quick path (frames cut, lines checked and rows made in one loop) stores
exactly the rows and root the line checks would, refuses every bad line with the code of
those checks, and the level-by-level tree has `merkle.Frontier`'s root for every split.

No chain is needed: a real SQLite database holds an upload row of a really signed batch."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.batches.build import build_batch
from ledger.batches.receive import FLUSH_LINES, LineReceiver, _check_line, insert_lines_sql
from ledger.batches.tree import LevelFrontier, leaf_hashes, lines_root
from ledger.batches.wire import frame, iter_frames
from ledger.core.eip712 import Domain
from ledger.core.errors import BatchError
from ledger.core.lines import DeliveryLine
from ledger.core.merkle import Frontier, leaf_hash
from ledger.store.batch_models import BatchLine, BatchUpload
from ledger.store.db import Database

KEY = hashlib.sha256(b"bulk test key").digest()
DOMAIN = Domain(31337, "0x" + "11" * 20, "Bangfu Ledger", "1")
CID = hashlib.sha256(b"commitment").digest()
OTHER = hashlib.sha256(b"another commitment").digest()
WHEN = 1_764_547_200


def _line(i: int, *, item: str = "大米 rice", unit: str = "斤", qty: int = 1) -> DeliveryLine:
    return DeliveryLine(
        CID, item, qty, unit, WHEN + i, hashlib.sha256(b"b%d" % i).digest(), bytes(32)
    )


def _varied(n: int) -> list[DeliveryLine]:
    """Lines whose texts, quantities and evidence repeat and vary (the text cache's cases)."""
    texts = [
        ("大米 rice", "斤"),
        ("食用油 oil", "升"),
        ("x", "y"),
        ("助学金", "分"),
        ("a" * 100, "kg"),
    ]
    out = []
    for i in range(n):
        item, unit = texts[i % 7 % len(texts)] if i % 11 else (f"物品 {i}", "件")
        qty = (i % 13 + 1) if i % 97 else 10**12
        evidence = bytes(32) if i % 3 else hashlib.sha256(b"e%d" % (i % 5)).digest()
        ben = hashlib.sha256(b"b%d" % i).digest()
        out.append(DeliveryLine(CID, item, qty, unit, WHEN + i, ben, evidence))
    return out


def _open(tmp_path: Path, lines: list[DeliveryLine]) -> tuple[Database, BatchUpload, str]:
    db = Database(f"sqlite:///{tmp_path}/bulk.db")
    db.migrate()
    signed = build_batch(lines, _signer(), bytes(32)).sign(KEY, DOMAIN)
    with db.write() as session:
        session.add(
            BatchUpload(
                upload_id="ab" * 16,
                batch_id="0x" + signed.id.hex(),
                signer=signed.signer,
                record_bytes=signed.canonical_bytes(),
                line_count=len(lines),
                lines_received=0,
                status="receiving",
            )
        )
    return db, _row(db), "0x" + signed.record.batch_root.hex()  # type: ignore[attr-defined]


def _signer() -> str:
    from eth_account import Account

    return str(Account.from_key(KEY).address)


def _row(db: Database) -> BatchUpload:
    with db.read() as session:
        row = session.get(BatchUpload, "ab" * 16)
        assert row is not None
        session.expunge(row)
        return row


def _receiver(db: Database, start: int = 0) -> LineReceiver:
    return LineReceiver(db, insert_lines_sql(db), _row(db), start)


def _send(rx: LineReceiver, wire: bytes, piece: int) -> int:
    for i in range(0, len(wire), piece):
        if rx.feed(wire[i : i + piece]) >= FLUSH_LINES:
            rx.flush()
    return rx.flush()


@pytest.mark.parametrize("n", [*range(0, 40), 63, 64, 65, 1000, 4097])
def test_level_frontier_has_the_root_of_merkle_frontier_for_every_split(n: int) -> None:
    rng = random.Random(n)
    leaves = [rng.randbytes(32) for _ in range(n)]
    ref = Frontier(leaves)
    for _ in range(3):
        tree, i = LevelFrontier(leaves[: n // 2]), n // 2
        while i < n:
            k = rng.randint(1, max(1, n // 4))
            tree.extend(leaves[i : i + k])
            i += k
            assert tree.root() == Frontier(leaves[:i]).root()
        assert (tree.size, tree.root()) == (n, ref.root())
    assert (
        lines_root([b"l%d" % i for i in range(n)])
        == Frontier(leaf_hash(b"l%d" % i) for i in range(n)).root()
    )
    assert leaf_hashes([b"x"]) == [leaf_hash(b"x")]
    with pytest.raises(ValueError):
        LevelFrontier([b"short"])


def test_quick_path_stores_the_rows_and_root_of_the_line_checks(tmp_path: Path) -> None:
    lines = _varied(2 * FLUSH_LINES + 777)
    db, row, root = _open(tmp_path, lines)
    wire = b"".join(iter_frames(line.line_bytes() for line in lines))
    # Cut anywhere, in pieces smaller and larger than a line, the tail carried over.
    assert _send(_receiver(db), wire, 7_777) == len(lines)
    with db.read() as session:
        stored = session.scalars(
            select(BatchLine)
            .where(BatchLine.batch_id == row.batch_id)
            .order_by(BatchLine.line_index)
        ).all()
        upload = session.get(BatchUpload, row.upload_id)
        assert upload is not None
        assert upload.lines_root == root
    assert len(stored) == len(lines)
    for i, (got, line) in enumerate(zip(stored, lines, strict=True)):
        raw = line.line_bytes()
        assert (got.line_index, got.line_bytes) == (i, raw)
        assert got.leaf_hash == "0x" + leaf_hash(raw).hex()
        assert (got.commitment_id, got.beneficiary, got.evidence_hash) == (
            "0x" + line.commitment_id.hex(),
            "0x" + line.beneficiary.hex(),
            "0x" + line.evidence_hash.hex(),
        )
        assert (got.item, got.unit, got.quantity, got.delivered_at) == (
            line.item,
            line.unit,
            line.quantity,
            line.delivered_at,
        )


def test_a_resumed_upload_rebuilds_the_tree_and_skips_resent_lines(tmp_path: Path) -> None:
    lines = _varied(FLUSH_LINES + 3_210)
    db, _, root = _open(tmp_path, lines)
    raw = [line.line_bytes() for line in lines]
    first = _receiver(db)
    assert _send(first, b"".join(iter_frames(raw[: FLUSH_LINES + 1]))[:-10], 50_000) == (
        FLUSH_LINES
    )
    assert first.torn > 0  # the torn line is not held
    resumed = _receiver(db, 1_000)  # a resend of lines it already holds, then the rest
    assert _send(resumed, b"".join(iter_frames(raw[1_000:])), 65_536) == len(lines)
    assert _row(db).lines_root == root


def _corrupt(raw: bytes, at: int, value: bytes) -> bytes:
    return raw[:at] + value + raw[at + len(value) :]


BAD_LINES = {
    "version": lambda raw: b"\x02" + raw[1:],
    "unlisted commitment": lambda raw: _corrupt(raw, 1, OTHER),
    "quantity 0": lambda raw: _corrupt(raw, 1 + 32, bytes(16)),
    "quantity past 10^12": lambda raw: _corrupt(raw, 1 + 32, (10**12 + 1).to_bytes(16, "big")),
    "quantity's high half": lambda raw: _corrupt(raw, 1 + 32, (1 << 64 | 1).to_bytes(16, "big")),
    "trailing byte": lambda raw: raw + b"!",
    "one byte short": lambda raw: raw[:-1],
    "head only": lambda raw: raw[:122],
    "a few bytes": lambda raw: raw[:9],
    "not UTF-8": lambda raw: raw[:-3] + b"\xff\xfe\xfd",
    "empty item": lambda raw: _line(0, item="").line_bytes(),
    "item too long": lambda raw: _line(0, item="长" * 101).line_bytes(),
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_a_bad_line_gets_the_code_of_the_line_checks(tmp_path: Path, name: str) -> None:
    lines = [_line(i) for i in range(40)]
    db, _, _ = _open(tmp_path, lines)
    raw = [line.line_bytes() for line in lines]
    bad = BAD_LINES[name](raw[30])
    with pytest.raises(BatchError) as ref:
        _check_line(bad, 30, {CID})
    rx = _receiver(db)
    # The same texts came before it in the chunk, so the quick path has them cached.
    wire = b"".join(frame(b) for b in [*raw[:30], bad, *raw[31:]])
    with pytest.raises(BatchError) as exc:
        rx.feed(wire)
    assert (exc.value.code, exc.value.fields.get("line_index")) == (ref.value.code, 30)
    assert rx.pending[-1][1] == 29  # the lines before it were taken, it was not


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\x00\x00\x00\x00", "bad_frame"),
        ((2000).to_bytes(4, "big"), "bad_frame"),
        # a bad line, then a bad frame in the same chunk: the frames are checked first
        (frame(b"\x02" + bytes(130)) + (5000).to_bytes(4, "big") + b"xx", "bad_frame"),
        # one line more than signed, then a bad frame
        (frame(_line(0).line_bytes()) * 3 + b"\x00\x00\x00\x00", "bad_frame"),
        (frame(_line(0).line_bytes()) * 3, "too_many_lines"),
    ],
)
def test_frames_are_refused_as_before(tmp_path: Path, wire: bytes, code: str) -> None:
    db, _, _ = _open(tmp_path, [_line(0), _line(1)])
    with pytest.raises(BatchError) as exc:
        _receiver(db).feed(wire)
    assert exc.value.code == code


def test_a_random_body_is_refused_or_held_never_misread(tmp_path: Path) -> None:
    """Random bytes flipped in valid lines: whatever the receiver takes, it takes exactly the
    lines the reference parser accepts, with their exact bytes."""
    lines = [_line(i, qty=i + 1) for i in range(300)]
    db, _, _ = _open(tmp_path, lines)
    rng = random.Random(16)
    raw = [line.line_bytes() for line in lines]
    for _ in range(60):
        i = rng.randrange(1, len(raw))
        at = rng.randrange(len(raw[i]))
        bad = raw[i][:at] + bytes([rng.randrange(256)]) + raw[i][at + 1 :]
        rx = _receiver(db)
        try:
            _check_line(bad, i, {CID})
            expected = None
        except BatchError as err:
            expected = err.code
        try:
            rx.feed(b"".join(frame(b) for b in [*raw[:i], bad, *raw[i + 1 :]]))
            got = None
        except BatchError as err:
            got = err.code
        assert got == expected
        taken = [r[2] for r in rx.pending]
        assert taken == ([*raw[:i], bad, *raw[i + 1 :]] if expected is None else raw[:i])
