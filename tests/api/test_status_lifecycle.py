"""A project's status follows its records, on a real anvil and real databases: a need that
is matched, committed, then delivered and confirmed in full reads published → matched →
in progress → completed in the library API, its status filter and the public list, and a
supply project that a county orders (点单) reads matched, then in progress."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from ledger.app import LedgerService
from ledger.core.fields import ProjectKind
from ledger.core.lifecycle import Progress
from ledger.library import actions
from ledger.library.models import LibraryMatch, LibraryProject
from ledger.store.queries import status as project_status
from tests.factories import COUNTY_A, NEED_CONTENT, Chain, ChainEnv, Stack, posted
from tests.library.forms import supply

NEED = {**NEED_CONTENT, "county": COUNTY_A}


def _project(http: TestClient, pid: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/library/projects/{pid}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _listed(http: TestClient, pid: str, status: str, kind: str = "need") -> bool:
    r = http.get("/api/v1/library/projects", params={"status": status, "kind": kind, "limit": 200})
    assert r.status_code == 200, r.text
    return pid in {p["project_id"] for p in r.json()}


def _seen(http: TestClient, st: Stack, pid: str) -> str:
    """The status the detail, the search list, its status filter and the public list of
    anchors all give; fails unless they agree."""
    detail = _project(http, pid)
    status = str(detail["status"])
    listed = http.get("/api/v1/library/projects", params={"limit": 200}).json()
    assert {p["project_id"]: p["status"] for p in listed}[pid] == status
    assert _listed(http, pid, status, detail["kind"])
    for other in ("published", "matched", "in_progress", "completed"):
        if other != status:
            assert not _listed(http, pid, other, detail["kind"]), (pid, status, other)
    public = http.get("/api/v1/public/projects", params={"project": pid}).json()["items"]
    assert public and {i["project_status"] for i in public} == {status}
    return status


def test_a_need_moves_with_its_records(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a = env.actors
    nid = actions.create_and_publish(svc, ProjectKind.NEED, NEED, a.county_a.key)
    st.settle()
    assert _seen(http, st, nid) == "published"
    assert _project(http, nid)["status_label"] == "已发布 published"

    mid = actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, nid)
    assert _seen(http, st, nid) == "matched"

    flow = Chain(env.domain, a.county_a, a.org_a)
    c = flow.commit(nid, mid, 100)
    posted(http, st, c)
    assert _seen(http, st, nid) == "in_progress"
    assert _project(http, nid)["status_label"] == "执行中 in progress"

    # delivered in part and confirmed: still in progress
    d1 = flow.deliver(c, 60)
    posted(http, st, d1)
    posted(http, st, flow.confirm(d1, 60))
    assert _seen(http, st, nid) == "in_progress"
    # delivered in full but not yet confirmed in full: still in progress
    d2 = flow.deliver(c, 40)
    posted(http, st, d2)
    assert _seen(http, st, nid) == "in_progress"
    posted(http, st, flow.confirm(d2, 40))
    assert _seen(http, st, nid) == "completed"
    detail = _project(http, nid)
    # what the owner signed stands beside it, unchanged
    assert (detail["status_label"], detail["anchored_status"]) == ("已完成 completed", "published")
    assert detail["content"]["status"] == "published"


def test_a_supply_project_moves_with_the_orders_it_serves(
    env: ChainEnv, svc: LedgerService, st: Stack, http: TestClient
) -> None:
    a = env.actors
    sid = actions.create_and_publish(svc, ProjectKind.SUPPLY, supply(), a.org_a.key)
    nid = actions.create_and_publish(svc, ProjectKind.NEED, NEED, a.county_a.key)
    st.settle()
    assert _seen(http, st, sid) == "published"
    mid = actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, nid, supply_id=sid)
    assert _seen(http, st, sid) == "matched"
    assert _seen(http, st, nid) == "matched"
    flow = Chain(env.domain, a.county_a, a.org_a)
    c = flow.commit(nid, mid, 10)
    posted(http, st, c)
    assert _seen(http, st, sid) == "in_progress"
    d = flow.deliver(c, 10)
    posted(http, st, d)
    posted(http, st, flow.confirm(d, 10))
    # the need is done; the offer stays open until its owner closes it
    assert _seen(http, st, nid) == "completed"
    assert _seen(http, st, sid) == "in_progress"
    # and a county may still order it (the workspace's list asks for what is open)
    r = http.get("/api/v1/library/projects", params={"kind": "supply", "open": "true"})
    assert sid in {p["project_id"] for p in r.json()}


def test_the_query_reads_every_id_of_a_page_at_once(
    env: ChainEnv, svc: LedgerService, st: Stack
) -> None:
    a = env.actors
    nids = [
        actions.create_and_publish(svc, ProjectKind.NEED, NEED, a.county_a.key) for _ in range(3)
    ]
    st.settle()
    actions.create_and_accept_match(svc, a.county_a.key, a.org_a.key, nids[0])
    unknown = "0x" + "ab" * 32
    with svc.db.read() as s:
        got = project_status.progress(s, [*nids, unknown.upper().replace("0X", "0x")])
        assert got[nids[0]] == Progress(matched=True)
        assert got[nids[1]] == got[nids[2]] == got[unknown] == Progress()
        assert project_status.statuses(s, [*nids, unknown]) == {
            nids[0]: "matched",
            nids[1]: "published",
            nids[2]: "published",
        }
        # a closed project stays closed whatever its records say
        assert project_status.effective_statuses(s, {nids[0]: "closed"}) == {nids[0]: "closed"}
    # one statement for the whole page, however many projects are on it
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(svc.db.engine, "before_cursor_execute", count)
    try:
        with svc.db.read() as s:
            project_status.effective_statuses(s, dict.fromkeys(nids, "published"))
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", count)
    assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) == 1, seen


def test_the_light_tables_name_real_library_columns() -> None:
    """The store reads the library's tables by name (it may not import the library): the
    names must be the ORM models' own."""
    for light, model in (
        (project_status.PROJECTS, LibraryProject),
        (project_status.MATCHES, LibraryMatch),
    ):
        assert light.name == model.__tablename__
        assert {c.name for c in light.columns} <= {c.name for c in model.__table__.columns}


def test_status_filter_is_checked(http: TestClient) -> None:
    r = http.get("/api/v1/library/projects", params={"status": "finished"})
    assert r.status_code == 422
