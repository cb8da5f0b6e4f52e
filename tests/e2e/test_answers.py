"""Answers only after commit, over a real HTTP server and one kept-alive connection: a write
is visible to the very next request, a failed commit is an error answer (never a lost
"success"), and no error answer closes the connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from api.app import create_app
from api.deps import WriterDep
from ledger.app import LedgerService
from ledger.core.eip712 import Domain
from ledger.indexer.worker import Indexer
from ledger.library import key_counties, messages
from ledger.library.messages import KEY_COUNTY_LIST
from tests.factories import free_port


@dataclass
class Server:
    service: LedgerService
    base: str


def _bad_commit(db: WriterDep) -> dict[str, Any]:
    """Inserts a row whose deferred foreign key fails only when the transaction commits."""
    with db.write() as s:
        s.execute(text("INSERT INTO t_child (id, parent_id) VALUES (1, 99)"))
    return {"ok": True}


def _boom() -> None:
    raise RuntimeError("a bug in a route")


@pytest.fixture
def server(env: Any, database_url: str) -> Iterator[Server]:
    service = LedgerService(env.settings.model_copy(update={"database_url": database_url}))
    service.db.migrate()
    Indexer(service.db, service.ledger()).run_until_synced()  # the roles
    with service.db.write() as s:
        s.execute(text("CREATE TABLE t_parent (id INTEGER PRIMARY KEY)"))
        s.execute(
            text(
                "CREATE TABLE t_child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                "REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    app = create_app(service)
    app.add_api_route("/test/bad-commit", _bad_commit, methods=["POST"])
    app.add_api_route("/test/boom", _boom, methods=["GET"])
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        while not uv.started:
            if not thread.is_alive():
                pytest.fail("uvicorn did not start")
            thread.join(0.05)
        yield Server(service, f"http://127.0.0.1:{port}")
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        service.close()


def _local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def _key_counties_body(codes: list[str], version: int, key: Any, domain: Domain) -> dict[str, Any]:
    """The admin-signed KeyCountyList (EIP-712, versioned) that PUT /key-counties takes."""
    message = key_counties.key_county_message(
        version, "test", [int(c) for c in codes], int(time.time()) + 600
    )
    return {"message": message, "signature": messages.sign(KEY_COUNTY_LIST, message, domain, key)}


def test_a_write_is_seen_by_the_next_request_on_the_same_connection(server: Server, env):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.base, timeout=30) as http:
        first: int | None = None
        domain = server.service.domain
        for version, codes in enumerate(
            (["522327"], ["522326", "520121"], ["522327", "522326"]), start=1
        ):
            put = http.put(
                "/api/v1/library/key-counties",
                json=_key_counties_body(codes, version, env.actors.admin.key, domain),
            )
            assert put.status_code == 200, put.text
            got = http.get("/api/v1/library/key-counties")
            assert sorted(str(k["code"]) for k in got.json()) == sorted(codes)
            first = first or _local_port(put)
            assert _local_port(put) == _local_port(got) == first
        # a refusal (not the admin) is an answer on the same connection, and changes nothing
        bad = http.put(
            "/api/v1/library/key-counties",
            json=_key_counties_body(["522327"], 4, env.actors.stranger.key, domain),
        )
        assert bad.status_code == 403 and bad.json()["code"] == "not_admin"
        after = http.get("/api/v1/library/key-counties")
        assert sorted(str(k["code"]) for k in after.json()) == ["522326", "522327"]
        assert _local_port(bad) == _local_port(after) == first


def test_a_failed_commit_is_an_error_answer_and_the_connection_stays(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as http:
        failed = http.post("/test/bad-commit")
        assert failed.status_code == 500
        assert failed.headers["content-type"].startswith("application/problem+json")
        assert failed.json()["code"] == "internal_error"
        assert "Traceback" not in failed.text
        ok = http.get("/healthz")
        assert ok.status_code == 200
        assert _local_port(failed) == _local_port(ok)
    with server.service.db.read() as s:
        assert s.execute(text("SELECT count(*) FROM t_child")).scalar_one() == 0


def test_an_unexpected_error_keeps_the_connection(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as http:
        ports = []
        for _ in range(3):
            boom = http.get("/test/boom")
            assert boom.status_code == 500 and boom.json()["code"] == "internal_error"
            ports.append(_local_port(boom))
        ok = http.get("/healthz")
        assert ok.status_code == 200
        assert set(ports) == {_local_port(ok)}
