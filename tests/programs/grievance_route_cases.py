"""The auth cases of the grievance write routes, for tests/api/test_route_auth.py's table
(each takes that module's `World`: env, svc, st, client and `refused`)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select

from ledger.core.hexes import hex0x
from ledger.core.lines import new_id
from ledger.store.grievance_models import GrievanceAnswerText, GrievanceContact, GrievanceFiling
from tests.factories import body, grievance_answer, grievance_registration, need


def _rows(w: Any) -> tuple[int, int, int]:
    with w.svc.db.read() as s:
        return (
            int(s.scalar(select(func.count()).select_from(GrievanceFiling)) or 0),
            int(s.scalar(select(func.count()).select_from(GrievanceContact)) or 0),
            int(s.scalar(select(func.count()).select_from(GrievanceAnswerText)) or 0),
        )


def _need(w: Any) -> str:
    a = w.env.actors
    n = need(a.county_a.address).sign(a.county_a.key, w.env.domain)
    assert w.client.post("/api/v1/records", json=body(n)).status_code == 202
    w.st.settle()
    return hex0x(n.record.project_id)


def case_grievance_file(w: Any) -> None:
    """Anyone files a grievance, with no account. No signature, session or expiry case: the
    notice asks that villagers file without an account, so nothing here is trusted but the
    text itself. A text with a phone or ID number, an unknown project and a malformed body
    are refused and write nothing (no filing, no contact); accepted once; a resubmission is
    a second filing with its own number and hash, not a replay (rate-limited per address)."""
    url = "/api/v1/grievances"
    pid = _need(w)
    before = _rows(w)
    w.refused(
        "POST",
        url,
        422,
        "personal_data_in_text",
        [],
        json={"project_id": pid, "text": "打 13800138000"},
    )
    w.refused(
        "POST",
        url,
        422,
        "unknown_need",
        [],
        json={"project_id": hex0x(new_id()), "text": "物资没有发到。"},
    )
    w.refused("POST", url, 422, "invalid_request", [], json={"project_id": pid})
    assert _rows(w) == before
    first = w.client.post(
        url, json={"project_id": pid, "text": "物资没有发到。", "contact": "村委会"}
    )
    assert first.status_code == 201, first.text
    again = w.client.post(url, json={"project_id": pid, "text": "物资没有发到。"})
    assert again.status_code == 201
    assert again.json()["grievance_hash"] != first.json()["grievance_hash"]
    assert _rows(w) == (before[0] + 2, before[1] + 1, before[2])


def case_grievance_form(w: Any) -> None:
    """The portal's filing form: the same as POST /api/v1/grievances, answered as pages.
    No signature, session or expiry case (no account, by design). Personal data and a bad
    project id are refused on the form and write nothing; accepted once."""
    url = "/grievances/new"
    pid = _need(w)
    before = _rows(w)
    bad = w.client.post(url, data={"project_id": pid, "text": "身份证 52232719800101123X"})
    assert bad.status_code == 422 and "身份证号" in bad.text
    bad = w.client.post(url, data={"project_id": "0x12", "text": "物资没有发到。"})
    assert bad.status_code == 400 and "bad_project_id" in bad.text
    assert _rows(w) == before
    ok = w.client.post(url, data={"project_id": pid, "text": "物资没有发到。"})
    assert ok.status_code == 201 and "SS-" in ok.text
    assert _rows(w) == (before[0] + 1, before[1], before[2])


def case_grievance_answer(w: Any) -> None:
    """A county's signed GrievanceAnswer with its public text. Unsigned, a zero signature, a
    stranger, an organization, another county and a record altered after signing are
    refused and store neither the text nor the record; accepted once; the same record again
    is a duplicate (no second outbox row or leaf). No expiry case: a record is a permanent
    signed fact whose unique id makes a replay a duplicate."""
    a = w.env.actors
    url = "/api/v1/grievance-answers"
    pid = _need(w)
    filed = w.client.post(
        "/api/v1/grievances", json={"project_id": pid, "text": "物资没有发到。"}
    ).json()
    reg = grievance_registration(w.env, filed)
    assert w.client.post("/api/v1/records", json=body(reg)).status_code == 202
    w.st.settle()
    text = "已核实并补发。"

    def signed(who: Any) -> Any:
        return grievance_answer(w.env, reg.id, text, signer=who)

    good = signed(a.county_a)
    rid = hex0x(good.id)
    before = _rows(w)
    unsigned = good.to_json()
    del unsigned["signature"]
    w.refused("POST", url, 422, "invalid_request", [rid], json={"record": unsigned, "text": text})
    zero = {**good.to_json(), "signature": "0x" + "00" * 65}
    w.refused("POST", url, 422, "bad_signature", [rid], json={"record": zero, "text": text})
    for who, code in (
        (a.stranger, "missing_role"),
        (a.org_a, "missing_role"),
        (a.county_b, "wrong_county"),
    ):
        other = signed(who)
        w.refused(
            "POST",
            url,
            422,
            code,
            [hex0x(other.id)],
            json={"record": other.to_json(), "text": text},
        )
    tampered = copy.deepcopy(good.to_json())
    tampered["record"]["outcome"] = 3
    w.refused("POST", url, 422, "bad_signature", [rid], json={"record": tampered, "text": text})
    assert _rows(w)[2] <= before[2] + 1  # only a county key's answer stores its text
    ok = w.client.post(url, json={"record": good.to_json(), "text": text})
    assert ok.status_code == 202, ok.text
    assert ok.json()["duplicate"] is False
    w.st.settle([rid])
    again = w.client.post(url, json={"record": good.to_json(), "text": text})
    assert again.status_code == 202 and again.json()["duplicate"] is True
