"""Batch files: every bad line is reported with its number and reason before anything is
signed, ID numbers become pseudonyms on the client, and a bad file stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ledger.batches.files import parse_file, valid_id_number
from ledger.cli.main import app
from ledger.core.lines import pseudonym
from ledger.sdk.batch_client import api_problems
from ledger.store.batch_models import BatchLine, BatchUpload
from tests.factories import BatchEnv, LiveServer

CID = "0x" + "11" * 32
BEN = "0x" + "22" * 32
HEADER = (
    "承诺编号 commitment_id,物品或服务 item,数量 quantity,单位 unit,"
    "交付日期 delivered_at,受益人假名 beneficiary\n"
)
ID_A = "11010519491231002X"  # the GB 11643 standard's own example number


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_every_bad_line_is_reported_with_number_and_reason(tmp_path: Path) -> None:
    body = (
        HEADER
        + f"{CID},大米,50,斤,2026-11-20,{BEN}\n"  # 2 good
        + f"{CID},大米,5O,斤,2026-11-20,{BEN}\n"  # 3 letter O in the number
        + f"{CID},大米,-4,斤,2026-11-20,{BEN}\n"  # 4 negative
        + f"{CID},大米,99999999999999,斤,2026-11-20,{BEN}\n"  # 5 absurd
        + f"0x1234,大米,5,斤,2026-11-20,{BEN}\n"  # 6 short id
        + f"{CID},大米,5,斤,2026-02-30,{BEN}\n"  # 7 no such day
        + f"{CID},大米,5,斤\n"  # 8 missing cells
        + f"{CID},大米,50,斤,2026-11-20,{BEN}\n"  # 9 duplicate of 2
        + f"{CID},,5,斤,2026-11-20,{BEN}\n"  # 10 empty item
    ).encode() + "{CID},大米,5,斤,2026-11-20,{BEN}\n".encode("gbk")  # 11 not UTF-8
    parsed = parse_file(_write(tmp_path, "d.csv", body))
    got = {(p.line, p.code) for p in parsed.problems}
    assert got == {
        (3, "bad_type"),
        (4, "not_positive"),
        (5, "absurd_quantity"),
        (6, "bad_hex"),
        (7, "bad_date"),
        (8, "wrong_column_count"),
        (9, "duplicate_line"),
        (10, "missing_value"),
        (11, "bad_encoding"),
    }
    assert [n for n in parsed.line_numbers] == [2]


def test_missing_columns_and_bad_json(tmp_path: Path) -> None:
    no_qty = _write(
        tmp_path,
        "h.csv",
        f"commitment_id,item,unit,delivered_at,beneficiary\n{CID},米,斤,2026-11-20,{BEN}\n".encode(),
    )
    problems = parse_file(no_qty).problems
    assert [(p.line, p.code) for p in problems] == [(1, "bad_header")]
    assert "quantity" in problems[0].message

    good = {
        "commitment_id": CID,
        "item": "米",
        "quantity": 5,
        "unit": "斤",
        "delivered_at": "2026-11-20",
        "beneficiary": BEN,
    }
    rows = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "quantity": 1.5}),
        json.dumps({**good, "colour": "red"}),
        json.dumps([1, 2]),
    ]
    parsed = parse_file(_write(tmp_path, "d.jsonl", ("\n".join(rows) + "\n").encode()))
    assert [(p.line, p.code) for p in parsed.problems] == [
        (2, "bad_json"),
        (3, "bad_type"),
        (4, "unknown_field"),
        (5, "bad_json"),
    ]
    assert len(parsed.lines) == 1


def test_id_numbers_become_pseudonyms_on_the_client(tmp_path: Path) -> None:
    assert valid_id_number(ID_A) and not valid_id_number("110105194912310021")
    key = b"county-522327-secret-key"
    body = (
        "commitment_id,item,quantity,unit,delivered_at,id_number\n"
        f"{CID},米,5,斤,2026-11-20,{ID_A.lower()}\n"
        f"{CID},米,5,斤,2026-11-20,110105194912310021\n"
    ).encode()
    path = _write(tmp_path, "ids.csv", body)
    without_key = parse_file(path)
    assert [p.code for p in without_key.problems] == ["county_key_needed", "bad_id_number"]
    parsed = parse_file(path, key)
    assert parsed.lines[0].beneficiary == pseudonym(key, ID_A)
    assert ID_A.encode() not in parsed.lines[0].line_bytes()
    # Reports never echo an ID number.
    assert all("110105" not in p.message for p in parsed.problems)


def test_cli_check_reports_and_exits_nonzero(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.csv", (HEADER + f"{CID},米,-1,斤,2026-11-20,{BEN}\n").encode())
    result = CliRunner().invoke(app, ["batch", "check", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert getattr(result.exception, "code", None) == "bad_batch_file"
    good = _write(tmp_path, "good.csv", (HEADER + f"{CID},米,1,斤,2026-11-20,{BEN}\n").encode())
    ok = CliRunner().invoke(app, ["batch", "check", str(good)])
    assert ok.exit_code == 0, ok.output
    template = CliRunner().invoke(app, ["batch", "template"])
    assert template.exit_code == 0 and "commitment_id" in template.output


def test_api_check_names_unknown_commitment_and_over_delivery(
    benv: BatchEnv, tmp_path: Path
) -> None:
    cid = benv.commitment(10)
    known = "0x" + cid.hex()
    body = (
        HEADER
        + "".join(f"{known},米,4,斤,2026-11-2{i},{BEN}\n" for i in range(3))
        + f"{CID},米,1,斤,2026-11-20,{BEN}\n"
    )
    parsed = parse_file(_write(tmp_path, "api.csv", body.encode()))
    assert not parsed.problems
    ids = sorted({"0x" + line.commitment_id.hex() for line in parsed.lines})
    info = benv.client.commitments(ids)
    problems = api_problems(parsed, info, benv.env.actors.org_a.address)
    assert [(p.line, p.code) for p in problems] == [(4, "OverDelivery"), (5, "UnknownCommitment")]
    other = api_problems(parsed, info, benv.env.actors.org_b.address)
    assert (2, "NotCommitmentOwner") in [(p.line, p.code) for p in other]


@pytest.mark.parametrize("garbage", [b"", b"\x00\x00\x00\x05abc"])
def test_a_bad_file_stores_nothing(benv: BatchEnv, tmp_path: Path, garbage: bytes) -> None:
    bad = _write(tmp_path, "bad.csv", (HEADER + f"{CID},米,-1,斤,2026-11-20,{BEN}\n").encode())
    key = _write(tmp_path, "org.key", benv.env.actors.org_a.key.hex().encode())
    result = CliRunner().invoke(
        app, ["batch", "submit", str(bad), "--key", str(key), "--api", "http://127.0.0.1:9"]
    )
    assert getattr(result.exception, "code", None) == "bad_batch_file"
    with benv.service.db.read() as session:
        assert session.scalar(select(func.count()).select_from(BatchUpload)) == 0
        assert session.scalar(select(func.count()).select_from(BatchLine)) == 0
    # And a body of garbage for no upload at all is a clear 404, not a server error.
    resp = benv.http.put(f"/api/v1/batches/uploads/{'0' * 32}/lines", content=garbage)
    assert resp.status_code == 404
    assert resp.json()["code"] == "upload_not_found"
    # Ill-shaped ids and indexes are 422s before they reach the database.
    for url in (
        "/api/v1/batches/uploads/nope",
        f"/api/v1/batches/0x{'ab' * 32}/lines/{1 << 40}/proof",
        "/api/v1/batches/0x00/lines/1",
        "/api/v1/batches/commitments?ids=0xzz",
    ):
        bad = benv.http.get(url)
        assert bad.status_code == 422, (url, bad.text)


def _id_number(seventeen: str) -> str:
    total = sum(
        int(d) * w
        for d, w in zip(
            seventeen, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True
        )
    )
    return seventeen + "10X98765432"[total % 11]


def test_cli_submit_with_id_numbers_end_to_end(
    benv: BatchEnv, live: LiveServer, tmp_path: Path
) -> None:
    cid = "0x" + benv.commitment(1000).hex()
    county_key = b"\x07" * 32
    ids = [_id_number(f"5223271990010{i:04d}") for i in range(40)]
    body = "承诺编号 commitment_id,item,quantity,unit,delivered_at,身份证号 id_number\n" + "".join(
        f"{cid},大米 rice,{1 + i % 3},斤,2026-11-2{i % 9},{n}\n" for i, n in enumerate(ids)
    )
    data = _write(tmp_path, "deliveries.csv", body.encode())
    key = _write(tmp_path, "org.key", benv.env.actors.org_a.key.hex().encode())
    ck = _write(tmp_path, "county.key", county_key.hex().encode())
    result = CliRunner().invoke(
        app,
        [
            "batch",
            "submit",
            str(data),
            "--key",
            str(key),
            "--api",
            live.url,
            "--county-key",
            str(ck),
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    with benv.service.db.read() as session:
        upload = session.scalars(select(BatchUpload)).one()
        stored = list(session.scalars(select(BatchLine.beneficiary).order_by(BatchLine.line_index)))
        raw = b"".join(session.scalars(select(BatchLine.line_bytes)))
    assert upload.status == "accepted" and upload.line_count == 40
    assert stored == ["0x" + pseudonym(county_key, n).hex() for n in ids]
    assert all(n.encode() not in raw for n in ids)
