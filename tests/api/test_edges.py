"""The API's edges, over a real uvicorn, a real anvil and a real database: a body limit that
holds for chunked bodies (200 MB never read, the route never reached, memory flat), the batch
upload's own larger limit, security headers on every answer, `Allow` on 405, and batch files
whose CSV fields pass the csv module's limit reported as line errors."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.middleware import BodyLimit
from ledger.app import LedgerService
from ledger.batches.files import MAX_BATCH_LINES
from ledger.batches.wire import MAX_FRAME, iter_frames
from ledger.sdk.batch_client import sign_batch
from tests.factories import (
    BANGFU,
    BatchEnv,
    ChainEnv,
    LiveServer,
    fresh_database_url,
    make_lines,
    refused,
    service_for,
)

MiB = 1 << 20


def rss_mib() -> float:
    """This process's resident memory (the server runs in a thread of it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@dataclass
class Served:
    url: str
    app: FastAPI
    reached: list[int] = field(default_factory=list)


@pytest.fixture
def served(env: ChainEnv, tmp_path: Path) -> Iterator[Served]:
    svc: LedgerService = service_for(env.settings, next(fresh_database_url("sqlite", tmp_path)))
    app = create_app(svc)
    out = Served("", app)

    # A JSON route that records whether it ran: a refused body must never reach it.
    @app.post("/api/v1/test-probe", include_in_schema=False)
    def probe(body: dict[str, Any]) -> dict[str, int]:
        out.reached.append(len(body))
        return {"ok": 1}

    @app.get("/api/v1/test-boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    with LiveServer(app) as server:
        out.url = server.url
        yield out
    svc.close()


def chunks(total_mib: int, sent: list[int]) -> Iterator[bytes]:
    """A chunked body (no Content-Length): `total_mib` of it, counting what was pulled."""
    piece = b"[" + b"1," * (MiB // 2 - 1) + b"1"
    for _ in range(total_mib):
        sent[0] += 1
        yield piece


def test_a_200_mb_chunked_body_is_refused_unread(served: Served) -> None:
    before = rss_mib()
    with httpx.Client(base_url=served.url, timeout=120) as http:
        for path in ("/api/v1/test-probe", "/api/v1/records", "/api/v1/library/needs"):
            sent = [0]
            started = time.monotonic()
            r = http.post(
                path, content=chunks(200, sent), headers={"content-type": "application/json"}
            )
            refused(r, 413, "body_too_large")
            print(
                f"{path}: 413 after the client pushed {sent[0]} of 200 MiB in "
                f"{time.monotonic() - started:.2f} s"
            )
            # The server stopped reading at the limit: the client could push only what the
            # socket buffers took before the connection closed, never the whole body.
            assert sent[0] < 200
        # A declared Content-Length over the limit is refused before a byte is read.
        r = http.post(
            "/api/v1/test-probe",
            content=b"x" * 2_000_001,
            headers={"content-type": "application/json"},
        )
        refused(r, 413, "body_too_large")
        # Under the limit, chunked or not, the route runs.
        small = b'{"a": "' + b"x" * 1_900_000 + b'"}'
        assert http.post("/api/v1/test-probe", content=small).status_code == 200
        assert http.post("/api/v1/test-probe", content=iter([small])).status_code == 200
    after = rss_mib()
    print(f"RSS of the test process (server inside): {before:.0f} MiB before, {after:.0f} after")
    assert served.reached == [1, 1], "a refused body reached the route"
    # Holding even one of the 200 MB bodies would show here.
    assert after - before < 100, (before, after)


def test_the_batch_line_upload_keeps_its_own_limit(benv: BatchEnv) -> None:
    """PUT …/lines streams and checks lines as they come: 16,000 lines (2.3 MB, past the
    JSON limit) in one chunked body are taken; JSON routes keep the 2 MB limit."""
    limiter = BodyLimit(benv.http.app, limit=2_000_000)
    assert limiter.limit_for("PUT", "/api/v1/batches/uploads/ab/lines") == 2_000_000
    app_limiter = _body_limit(benv.http.app)
    assert app_limiter.limit_for("PUT", "/api/v1/batches/uploads/" + "a" * 32 + "/lines") == (
        MAX_BATCH_LINES * (4 + MAX_FRAME)
    )
    assert app_limiter.limit_for("POST", "/api/v1/batches") == 2_000_000

    cid = benv.commitment(100_000)
    lines = make_lines(cid, 16_000)
    signed = sign_batch(lines, benv.env.actors.org_a.key, benv.env.domain)
    wire = [line.line_bytes() for line in lines]
    with LiveServer(benv.service) as server, httpx.Client(base_url=server.url, timeout=300) as http:
        opened = http.post("/api/v1/batches", json=signed.to_json())
        assert opened.status_code == 201, opened.text
        body = list(iter_frames(wire, 256 * 1024))
        assert sum(map(len, body)) > 2_000_000
        r = http.put(
            f"/api/v1/batches/uploads/{opened.json()['upload_id']}/lines",
            content=iter(body),
            headers={"content-type": "application/vnd.bangfu.lines"},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["lines_received"]) == ("accepted", 16_000)


def _body_limit(app: Any) -> BodyLimit:
    """The BodyLimit in the app's middleware stack (built on the first request)."""
    for mw in app.user_middleware:
        if mw.cls is BodyLimit:
            return BodyLimit(app, *mw.args, **mw.kwargs)
    raise AssertionError("no BodyLimit middleware")


def test_security_headers_and_allow(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        for path in ("/", "/needs", "/verify", "/healthz", "/api/v1/eip712", "/nowhere"):
            r = http.get(path)
            assert r.headers["x-frame-options"] == "DENY", path
            assert r.headers["x-content-type-options"] == "nosniff", path
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            assert "unsafe-inline" not in csp, path
        # The API docs page loads Swagger UI from local files only (tests/portal/test_docs.py).
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert "script-src 'self';" in docs.headers["content-security-policy"]
        assert "unsafe" not in docs.headers["content-security-policy"]
        assert docs.headers["x-frame-options"] == "DENY"
        # A bug's 500 (answered by the outermost middleware) and a refused body carry them too.
        # (its own connection: uvicorn closes a connection whose application raised)
        r = httpx.get(served.url + "/api/v1/test-boom", timeout=30)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert r.headers["x-frame-options"] == "DENY"
        r = http.post("/api/v1/records", content=b"x" * 2_000_001)
        assert r.status_code == 413 and r.headers["x-content-type-options"] == "nosniff"
        # 405 says what the path does take, for every route that shares the path.
        r = http.request("TRACE", "/api/v1/library/key-counties")
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
        assert r.headers["allow"] == "GET, PUT"
        r = http.delete("/api/v1/records")
        assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_openapi_documents_problems_and_media_types(served: Served) -> None:
    doc = httpx.get(served.url + "/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status in ("400", "404", "422", "500"):
                content = op["responses"][status]["content"]
                assert content["application/problem+json"]["schema"] == problem, (path, method)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    csv = doc["paths"]["/api/v1/exports/{kind}.csv"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in csv
    xml = doc["paths"]["/api/v1/exports/iati.xml"]["get"]["responses"]["200"]["content"]
    assert "application/xml" in xml
    # Records are typed per kind: a union on `kind`, each with its EIP-712 message.
    item = doc["components"]["schemas"]["SubmissionIn"]["properties"]["records"]["items"]
    assert item["discriminator"]["propertyName"] == "kind"
    delivery = doc["components"]["schemas"]["DeliveryMessage"]
    assert delivery["additionalProperties"] is False
    assert delivery["properties"]["commitmentId"]["pattern"] == "^0x[0-9a-fA-F]{64}$"


def test_csv_field_over_the_limit_is_a_line_error(tmp_path: Path) -> None:
    header = "commitment_id,item,quantity,unit,delivered_at,beneficiary"
    good = f"0x{'11' * 32},大米,1,斤,2026-01-01,0x{'22' * 32}"
    huge = f'0x{"11" * 32},"{"米" * 200_000}",1,斤,2026-01-01,0x{"22" * 32}'
    path = tmp_path / "big.csv"
    path.write_text("\n".join([header, good, huge, good.replace(",1,", ",2,")]) + "\n")
    result = subprocess.run(
        [BANGFU, "batch", "check", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "field_too_large" in result.stderr
    assert "[bad_batch_file]" in result.stderr
    # Only the one line is bad: the table has one problem, on line 3.
    assert "1 problem(s)" in result.stderr
    row = next(line for line in result.stderr.splitlines() if "field_too_large" in line)
    assert row.split("│")[1].strip() == "3", row
