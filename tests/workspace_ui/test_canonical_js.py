"""The workspace builds a project's LibraryProject message in the browser: its canonical JSON
and SHA-256 (web/workspace/library.js) must be exactly the ledger's
(ledger.library.content.project_message) for any text a person may type — decomposed accents,
emoji, quotes, backslashes, control characters, U+2028 — or the server refuses the draft."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ledger.batches.build import build_batch
from ledger.batches.files import parse_file
from ledger.core.fields import ProjectKind
from ledger.library import content as project_content
from tests.conftest import COUNTY_A, ORG_CODE_A
from tests.node import needs_node, run_module

pytestmark = needs_node

SCRIPT = """
import { readFileSync } from "node:fs";
import { needContent, supplyContent, draftMessage } from "./web/workspace/library.js";
const cases = JSON.parse(readFileSync(0, "utf-8"));
const out = cases.map((c) => {
  const content = c.kind === "need" ? needContent(c.content) : supplyContent(c.content);
  return { content, message: draftMessage(c.kind, c.project_id, content, c.org_code) };
});
process.stdout.write(JSON.stringify(out));
"""

TEXTS = [
    "大米帮扶 rice",
    "Cafe\u0301 decomposed é",
    'quotes " and \\ backslash',
    "tab\tnew\nline \u0001 control",
    "line\u2028separator \u2029 para",
    "emoji 🌾 and 𠀀 (astral)",
]
PID = "0x" + "ab" * 20 + "01" * 12


def _need(title: str) -> dict[str, Any]:
    return {
        "county": COUNTY_A,
        "village": "",
        "title": title,
        "description": title + " 说明",
        "category": "民生保障",
        "mode": "capacity",
        "beneficiaries": 12,
        "budget_fen": 123456,
        "resources": [
            {"kind": "goods", "quantity": 10, "unit": "斤", "item": title[:20]},
            {"kind": "funds", "quantity": 5000, "unit": "", "item": ""},
        ],
        "deadline": "2030-06-30",
        "contact_role": "县乡村振兴局",
    }


def _supply(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "",
        "categories": ["民生保障", "人才培育", "民生保障"],
        "regions": [COUNTY_A, 52],
        "capacity": [{"kind": "funds", "quantity": 700, "unit": "", "item": ""}],
        "period_start": "2030-01-01",
        "period_end": "2030-12-31",
    }


def _message(
    kind: ProjectKind, content: dict[str, Any], case: dict[str, Any], signed: dict[str, Any]
) -> dict[str, Any]:
    """The ledger's draft message for `content`, with the browser's nonce and expiry."""
    return project_content.project_message(
        kind,
        PID,
        project_content.parse_content(kind, content),
        action="draft",
        status="published",
        version=1,
        org_code=case.get("org_code"),
        nonce=signed["nonce"],
        expiry=signed["expiry"],
    )


def test_js_messages_equal_the_ledgers() -> None:
    cases = [{"kind": "need", "content": _need(t), "project_id": PID} for t in TEXTS] + [
        {"kind": "supply", "content": _supply(t), "project_id": PID, "org_code": ORG_CODE_A}
        for t in TEXTS
    ]
    results = run_module(SCRIPT, cases)
    assert len(results) == len(cases)
    for case, got in zip(cases, results, strict=True):
        kind = ProjectKind.NEED if case["kind"] == "need" else ProjectKind.SUPPLY
        signed = got["message"]

        # the browser posts its content NFC-normalized: the server derives exactly the
        # message the browser signed from it, and the hash is that of the text as typed
        assert signed == _message(kind, got["content"], case, signed), case["content"]["title"]
        assert signed["contentHash"] == _message(kind, case["content"], case, signed)["contentHash"]


BATCH_SCRIPT = """
import { readFileSync } from "node:fs";
import { batchRecord, lineBytes, parseCsv } from "./web/workspace/batch.js";
const { csv, signer } = JSON.parse(readFileSync(0, "utf-8"));
const parsed = parseCsv(csv);
process.stdout.write(JSON.stringify({
  problems: parsed.problems,
  lines: parsed.lines.map((l) => Buffer.from(lineBytes(l)).toString("hex")),
  record: parsed.lines.length ? batchRecord(parsed.lines, signer) : null,
}));
"""


def test_js_batch_equals_the_ledgers(tmp_path: Path) -> None:
    """The browser's CSV lines, line bytes and DeliveryBatch record (web/workspace/batch.js)
    are the ledger's (ledger.batches.files + build), and its line errors name the same rows
    and columns."""
    signer = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    cids = ["0x" + "0c" * 32, "0x" + "0a" * 32]
    rows = [
        f"{cids[i % 2]},大米 rice「五常」,{i + 1},斤,2025-0{1 + i % 9}-1{i % 10},"
        f"0x{os.urandom(32).hex()}"
        for i in range(37)
    ]
    header = "承诺编号 commitment_id,item,数量,单位 unit,交付日期 delivered_at,beneficiary"
    text = "\ufeff" + "\r\n".join([header, *rows]) + "\n"
    got = run_module(BATCH_SCRIPT, {"csv": text, "signer": signer})
    path = tmp_path / "batch.csv"
    path.write_text(text, encoding="utf-8")
    parsed = parse_file(path)
    assert got["problems"] == [] and parsed.problems == []
    assert got["lines"] == [line.line_bytes().hex() for line in parsed.lines]
    want = build_batch(parsed.lines, signer).to_json()
    # uint128 totals travel as decimal strings from the browser (past 2**53); same values
    got["record"]["quantities"] = [int(q) for q in got["record"]["quantities"]]
    assert got["record"] == want

    # a bad cell: the same row and column as the ledger's checker
    bad = text.replace(rows[5], rows[5].replace("斤,2025", "斤,2025-13-45x"), 1)
    (problem,) = run_module(BATCH_SCRIPT, {"csv": bad, "signer": signer})["problems"]
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text(bad, encoding="utf-8")
    (theirs,) = parse_file(bad_path).problems
    assert (
        (problem["line"], problem["column"]) == (theirs.line, theirs.column) == (7, "delivered_at")
    )
