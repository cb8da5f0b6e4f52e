"""The audit's finding codes: one list (ledger/audit/codes.py), every code used by the audit
is on it, every code on it has a test that makes the audit produce it, and the audit imports
nothing of the ledger it verifies."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

from ledger.audit import codes as audit_codes
from ledger.audit.codes import CODES
from ledger.config import PROJECT_ROOT

AUDIT_SOURCES = sorted((PROJECT_ROOT / "ledger" / "audit").glob("*.py"))
TESTS = sorted(Path(__file__).parent.glob("test_*.py"))
#: what the independent verifier may import of this repository: the encodings, the tree, the
#: compiler (and the two modules those import themselves: errors and settings)
ALLOWED = {"ledger.evm.compiler", "ledger.config"}  # and every ledger.core module


def _codes_used() -> dict[str, str]:
    """Codes the audit sources pass to `add(...)` / `_fail(leaf, ...)`, literal or named."""
    used: dict[str, str] = {}
    names = {n for n in dir(audit_codes) if n.isupper()}
    for path in AUDIT_SOURCES:
        src = path.read_text()
        for m in re.finditer(r'(?:\.add|_fail)\(\s*(?:leaf,\s*)?"([a-z_]+)"', src):
            used[m.group(1)] = path.name
        for m in re.finditer(r"(?:\.add|_fail)\(\s*(?:leaf,\s*)?([A-Z][A-Z_]+)\s*,", src):
            assert m.group(1) in names, f"{path.name}: {m.group(1)} is not in audit_codes"
            used[getattr(audit_codes, m.group(1))] = path.name
    return used


def _producing_tests() -> dict[str, list[str]]:
    """code → the tests marked `produces(code)` whose body asserts on that code."""
    out: dict[str, list[str]] = {}
    for path in TESTS:
        module = importlib.import_module(f"tests.audit.{path.stem}")
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn):
                continue
            for mark in getattr(fn, "pytestmark", []):
                if mark.name != "produces":
                    continue
                body = inspect.getsource(fn).split("def ", 1)[1]
                for code in mark.args:
                    constant = next(
                        (n for n in dir(audit_codes) if getattr(audit_codes, n) == code), code
                    )
                    assert code in body or constant in body, (
                        f"{path.name}::{name} is marked produces({code}) but never looks at it"
                    )
                    out.setdefault(code, []).append(f"{path.name}::{name}")
    return out


def test_every_code_the_audit_uses_is_listed() -> None:
    used = _codes_used()
    assert len(used) >= 40
    unlisted = {c: f for c, f in used.items() if c not in CODES}
    assert not unlisted, f"codes used but not in ledger/audit/codes.py: {unlisted}"
    unused = set(CODES) - set(used)
    assert not unused, f"codes listed but never produced by the audit: {unused}"


def test_every_code_has_a_test_that_produces_it() -> None:
    produced = _producing_tests()
    missing = sorted(set(CODES) - set(produced))
    assert not missing, f"finding codes no test produces: {missing}"
    assert not set(produced) - set(CODES)


def test_every_code_is_documented() -> None:
    doc = (PROJECT_ROOT / "docs" / "audit.md").read_text()
    missing = [c for c in CODES if f"`{c}`" not in doc]
    assert not missing, f"codes missing from docs/audit.md: {missing}"


def test_the_audit_imports_nothing_it_verifies() -> None:
    for path in AUDIT_SOURCES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for mod in mods:
                if mod == "ledger" or mod.startswith("ledger."):
                    assert (
                        mod in ALLOWED
                        or mod == "ledger.core"
                        or mod.startswith(("ledger.audit", "ledger.core."))
                    ), f"{path.name} imports {mod}: the audit must stand apart"
