"""The error registry: every code is a snake_case constant of ledger.core.codes, every code the
sources raise is one of them, each has its HTTP status in api.problems, and the OpenAPI
document lists them all. No chain, no database."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import problems
from api.app import create_app
from api.middleware import PROBLEM
from ledger.config import Settings
from ledger.core import codes
from ledger.core.errors import (
    ConflictError,
    LedgerError,
    PermissionError_,
    RecordError,
    SignatureError,
)
from ledger.evm.contract import ERROR_MESSAGES
from ledger.store import alarms
from ledger.tools.proofcheck import CODE_ZH

ROOT = Path(__file__).resolve().parents[2]
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(codes).items()
        if name.isupper() and isinstance(value, str)
    }


def test_every_code_is_one_snake_case_constant() -> None:
    found = constants()
    assert found, "the registry is empty"
    for name, value in found.items():
        assert SNAKE.fullmatch(value), value
        assert name == value.upper(), (name, value)
    assert set(found.values()) == codes.ALL
    assert len(found) == len(codes.ALL), "two constants spell the same code"


def test_contract_errors_map_to_registry_codes() -> None:
    assert set(ERROR_MESSAGES) | {"Reverted"} <= set(codes.CONTRACT_ERRORS)
    for name, code in codes.CONTRACT_ERRORS.items():
        assert code in codes.ALL, name
        assert codes.canonical(name) == code
    assert codes.canonical(codes.BAD_SIGNATURE) == codes.BAD_SIGNATURE
    assert codes.canonical("RecordIdUsed") == codes.RECORD_ID_USED == "record_id_used"


def test_the_verifiers_codes_are_registered() -> None:
    # ledger.tools.proofcheck is stdlib-only and repeats its codes; they must stay the same.
    assert set(CODE_ZH) <= codes.ALL


def _codes_in_sources() -> dict[str, str]:
    """Every code the sources name: `code="…"` arguments, `code = "…"` class attributes and
    `codes.NAME` references, each with where it is."""
    found: dict[str, str] = {}
    for root in ("ledger", "api"):
        for path in sorted((ROOT / root).rglob("*.py")):
            if "tools" in path.parts:  # stdlib-only; checked against the registry above
                continue
            tree = ast.parse(path.read_text("utf-8"))
            for node in ast.walk(tree):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                if (isinstance(node, ast.keyword) and node.arg == "code") or (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "code"
                ):
                    value = node.value
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "codes"
                    and node.attr.isupper()
                ):
                    found[f"codes.{node.attr}"] = where
                    continue
                else:
                    continue
                for part in (
                    (value.body, value.orelse) if isinstance(value, ast.IfExp) else (value,)
                ):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found[part.value] = where
                    elif isinstance(part, ast.JoinedStr) and isinstance(
                        part.values[0], ast.Constant
                    ):
                        found[f"{part.values[0].value}*"] = where
    return found


# Codes made up where they are raised (f"upload_{status}"), with every code they can make.
MADE_UP = {
    "upload_*": {codes.UPLOAD_ACCEPTED, codes.UPLOAD_REFUSED},  # an upload no longer receiving
    "http_*": set(),  # a status the API has no code for, seen by a client; not an API code
}


def test_every_code_in_the_sources_is_registered() -> None:
    names = constants()
    missing = {}
    for code, where in _codes_in_sources().items():
        if code.startswith("codes."):
            if code.removeprefix("codes.") not in names:
                missing[code] = where
        elif code.endswith("*"):
            if code not in MADE_UP or not MADE_UP[code] <= codes.ALL:
                missing[code] = where
        elif codes.canonical(code) not in codes.ALL and where.split(":")[0] not in {
            # the IATI "recipient-country" element's ISO code, not an error code
            "ledger/export/iati.py",
        }:
            missing[code] = where
    assert not missing, missing


def test_alarm_codes_are_registered() -> None:
    # a halting alarm refuses a checkpoint with the alarm's own code
    alarm_codes = {v for k, v in vars(alarms).items() if k.isupper() and isinstance(v, str)}
    assert alarm_codes <= codes.ALL


def test_every_code_has_a_status() -> None:
    assert set(problems.STATUS) == codes.ALL
    assert all(400 <= status <= 599 for status in problems.STATUS.values())


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (RecordError("refused", code="MissingRole"), "missing_role", 422),
        (RecordError("reverted", code="RecordIdUsed"), "record_id_used", 422),
        (ConflictError("used", code="RecordIdUsed"), "record_id_used", 409),
        (SignatureError("bad", code=codes.BAD_SIGNATURE), "bad_signature", 401),
        (RecordError("bad", code=codes.BAD_SIGNATURE), "bad_signature", 422),
        (PermissionError_("no", code=codes.NOT_PROJECT_OWNER), "not_project_owner", 403),
        (RecordError("no", code="NotProjectOwner"), "not_project_owner", 422),
        (LedgerError("nobody knows this one", code="made_up"), "made_up", 400),
    ],
)
def test_problem_answers_give_registry_codes(exc: LedgerError, code: str, status: int) -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    answer = TestClient(app).get("/boom")
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == code
    assert problems.status_of(exc) == status


def test_openapi_lists_every_code(tmp_path: Path) -> None:
    app = create_app(settings=Settings(var=tmp_path))  # type: ignore[call-arg]
    doc = TestClient(app).get("/openapi.json").json()
    problem = doc["components"]["schemas"]["Problem"]
    table = problem["x-error-codes"]
    assert table == problems.STATUS
    assert "x-error-codes" in problem["properties"]["code"]["description"]
