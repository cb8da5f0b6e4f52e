"""Public answers carry an ETag keyed by the indexed log: the same tag answers 304 with no
body until the indexer advances, then the answer (and its tag) is new."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Chain, ChainEnv, Stack, body

PATHS = (
    "/api/v1/public/deliveries",
    "/api/v1/public/commitments?county=522327",
    "/api/v1/public/totals/county",
    "/api/v1/public/totals/org",
)


def test_if_none_match_is_304_until_the_indexer_advances(
    env: ChainEnv, st: Stack, http: TestClient
) -> None:
    tags = {}
    for path in PATHS:
        first = http.get(path)
        assert first.status_code == 200
        tag = first.headers["etag"]
        assert tag.startswith('"') and tag.endswith('"')
        again = http.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert http.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200
        tags[path] = tag
    # projects carry off-chain status: no tag
    assert "etag" not in http.get("/api/v1/public/projects").headers

    flow = Chain(env.domain, env.actors.county_a, env.actors.org_a)
    need = flow.need()
    assert http.post("/api/v1/records", json=body(need)).status_code == 202
    st.settle(["0x" + need.id.hex()])
    for path, tag in tags.items():
        fresh = http.get(path, headers={"If-None-Match": tag})
        assert fresh.status_code == 200, path
        assert fresh.headers["etag"] != tag
    rid = "0x" + need.id.hex()
    record = http.get(f"/api/v1/public/record/{rid}")
    assert record.status_code == 200
    again = http.get(
        f"/api/v1/public/record/{rid}", headers={"If-None-Match": record.headers["etag"]}
    )
    assert again.status_code == 304
