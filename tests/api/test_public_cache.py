"""The in-process cache of public answers (api/answer_cache.py): a repeated request is
served from the cache, with the same bytes a fresh computation gives, and never a stale
answer: after the indexer appends a record, and after a reorg rolls records back, the same
URL answers with the read model as it is now and a new ETag."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from api.answer_cache import Answer, AnswerCache, encode
from api.app import create_app
from ledger.app import LedgerService
from tests.factories import Chain, ChainEnv, Stack, body, committed_and_delivered, matched

# An anvil of this module's tests alone: a reorg must not disturb other tests.
pytestmark = pytest.mark.own_chain


def _cache(http: TestClient) -> AnswerCache:
    cache: AnswerCache = http.app.state.answer_cache  # type: ignore[attr-defined]
    return cache


def _fresh(svc: LedgerService, path: str) -> bytes:
    """The answer of a new application (an empty cache) to the same URL."""
    with TestClient(create_app(svc)) as other:
        answer = other.get(path)
        assert answer.status_code == 200
        return answer.content


def test_a_repeat_is_a_hit_and_the_indexer_advancing_is_never_served_stale(
    svc_env: ChainEnv, st: Stack, http: TestClient, svc: LedgerService
) -> None:
    env = svc_env
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    nid, mid = matched(st, env.actors.county_a, env.actors.org_a)
    first = flow.commit(nid, mid, 100)
    assert http.post("/api/v1/records", json=body(first)).status_code == 202
    st.settle(["0x" + first.id.hex()])

    path = f"/api/v1/public/commitments?project={nid}"
    a = http.get(path)
    assert a.status_code == 200
    assert [i["record_id"] for i in a.json()["items"]] == ["0x" + first.id.hex()]
    hits = _cache(http).hits
    b = http.get(path)
    assert _cache(http).hits == hits + 1, "the repeat was not served from the cache"
    assert b.content == a.content and b.headers["etag"] == a.headers["etag"]
    assert b.headers["content-type"] == "application/json"
    assert b.content == _fresh(svc, path)  # the cached bytes are the answer
    totals = http.get("/api/v1/public/totals/county")
    assert http.get("/api/v1/public/totals/county").content == totals.content

    second = flow.commit(nid, mid, 7)
    assert http.post("/api/v1/records", json=body(second)).status_code == 202
    st.settle(["0x" + second.id.hex()])
    c = http.get(path)
    assert c.status_code == 200
    assert [i["record_id"] for i in c.json()["items"]] == [
        "0x" + second.id.hex(),
        "0x" + first.id.hex(),
    ]
    assert c.headers["etag"] != a.headers["etag"]
    assert c.content == _fresh(svc, path)
    moved = http.get("/api/v1/public/totals/county")
    assert moved.headers["etag"] != totals.headers["etag"]
    assert moved.content == _fresh(svc, "/api/v1/public/totals/county")
    assert moved.content != totals.content
    # the old tag no longer matches: the new answer, not 304
    assert http.get(path, headers={"If-None-Match": a.headers["etag"]}).status_code == 200
    assert http.get(path, headers={"If-None-Match": c.headers["etag"]}).status_code == 304


def _reorg(env: ChainEnv, depth: int) -> None:
    env.w3.provider.make_request("anvil_reorg", [depth, []])  # type: ignore[arg-type]


def test_a_reorg_rollback_is_never_served_stale(
    own_chain: ChainEnv, svc: LedgerService, tmp_path: Path
) -> None:
    env = own_chain
    st, _flow, c, d = committed_and_delivered(env, svc)
    cid, did = "0x" + c.id.hex(), "0x" + d.id.hex()
    lst = f"/api/v1/public/deliveries?commitment={cid}"
    rec = f"/api/v1/public/record/{did}"
    with TestClient(create_app(svc)) as http:
        before = http.get(lst)
        assert [i["record_id"] for i in before.json()["items"]] == [did]
        assert http.get(lst).content == before.content  # cached
        one = http.get(rec)
        assert one.status_code == 200
        block_hash = one.json()["chain"]["block_hash"]
        assert http.get(rec).content == one.content  # cached
        totals = http.get("/api/v1/public/totals/county").json()
        assert sum(t["delivered"] for t in totals) == 40

        _reorg(env, 1)
        assert env.ledger.record_kind(d.id) == 0, "the reorg did not drop the delivery"
        st.indexer.run_once()  # the indexer rolls back to the fork point
        gone = http.get(lst)
        assert gone.status_code == 200
        assert gone.json()["items"] == []
        assert gone.headers["etag"] != before.headers["etag"]
        assert http.get(rec).status_code == 404
        assert sum(t["delivered"] for t in http.get("/api/v1/public/totals/county").json()) == 0

        st.settle(timeout=180)  # the relayer sends the delivery again
        again = http.get(rec)
        assert again.status_code == 200
        moved = again.json()["chain"]
        assert moved["block_hash"] != block_hash
        assert (
            moved["block_hash"] == env.w3.eth.get_block(moved["block_number"])["hash"].to_0x_hex()
        )
        assert [i["record_id"] for i in http.get(lst).json()["items"]] == [did]
        assert sum(t["delivered"] for t in http.get("/api/v1/public/totals/county").json()) == 40


def test_the_cache_is_bounded_in_bytes_least_recently_used_first() -> None:
    cache = AnswerCache(max_bytes=3 * (1000 + 200))
    for i in range(3):
        cache.put(("v1", str(i)), Answer('"v1"', b"x" * 1000))
    assert len(cache) == 3
    assert cache.get(("v1", "0")) is not None  # 0 is now the most recently used
    cache.put(("v1", "3"), Answer('"v1"', b"y" * 1000))
    assert len(cache) == 3 and cache.size <= cache.max_bytes
    assert cache.get(("v1", "1")) is None  # the least recently used went first
    assert cache.get(("v1", "0")) is not None and cache.get(("v1", "3")) is not None
    assert cache.get(("v2", "0")) is None  # another version is another answer
    cache.put(("v1", "big"), Answer('"v1"', b"z" * 10_000))  # larger than the bound: not kept
    assert cache.get(("v1", "big")) is None and cache.size <= cache.max_bytes


def test_amounts_past_64_bits_are_encoded_exactly() -> None:
    assert (
        encode({"committed": 2**70, "name": "县"})
        == ('{"committed":' + str(2**70) + ',"name":"县"}').encode()
    )


def test_the_openapi_document_keeps_the_public_shapes(http: TestClient) -> None:
    doc = http.get("/openapi.json").json()
    ok = doc["paths"]["/api/v1/public/{what}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PageOut"}
    assert "ETag" in ok["headers"]


def test_the_version_is_held_briefly_and_a_commit_here_ends_it(
    svc_env: ChainEnv, st: Stack, svc: LedgerService
) -> None:
    """An API process holds the read model's version for `public_version_max_age`: a hit
    then runs no statement at all. The indexer in another process (here `svc`, with its own
    engine on the same database) is seen once that age is up; a commit through the API
    process's own engine ends it at once."""
    env = svc_env
    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    nid, mid = matched(st, env.actors.county_a, env.actors.org_a)
    first = flow.commit(nid, mid, 100)
    svc.relayer.accept([first])
    st.settle()
    api_process = LedgerService(svc.settings.model_copy(update={"public_version_max_age": 3600}))
    statements: list[str] = []
    event.listen(api_process.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    path = f"/api/v1/public/commitments?project={nid}"
    try:
        with TestClient(create_app(api_process)) as http:
            a = http.get(path)
            assert [i["record_id"] for i in a.json()["items"]] == ["0x" + first.id.hex()]
            clock = _cache(http).clock
            reads, statements[:] = clock.reads, []
            assert http.get(path).content == a.content
            assert http.get(path, headers={"If-None-Match": a.headers["etag"]}).status_code == 304
            assert (clock.reads, statements) == (reads, []), "a hit ran a statement"

            second = flow.commit(nid, mid, 7)
            svc.relayer.accept([second])
            st.settle()  # the indexer of "another process": not seen while the version is held
            assert http.get(path).content == a.content
            clock.max_age = 0.2
            time.sleep(0.25)
            b = http.get(path)
            assert [i["record_id"] for i in b.json()["items"]] == [
                "0x" + second.id.hex(),
                "0x" + first.id.hex(),
            ]
            assert b.content == _fresh(svc, path) and b.headers["etag"] != a.headers["etag"]
            assert clock.reads == reads + 1

            clock.max_age = 3600
            http.get(path)
            held = clock.reads
            with api_process.db.write() as session:  # a commit through this process's engine
                session.execute(text("SELECT 1"))
            http.get(path)
            assert clock.reads == held + 1, "a commit here did not end the held version"
    finally:
        api_process.close()
