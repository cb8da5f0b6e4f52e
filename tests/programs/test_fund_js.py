"""The workspace makes a Fund's sponsorHash and purposeHash and a CommitmentSource's derived
id in the browser (web/workspace/fund.js): they must be exactly the ledger's
(ledger.workspace.funds, CommitmentSource.source_id) for any text a person may type, or the
server refuses the fund's details."""

from __future__ import annotations

import os

from ledger.core.hexes import hex0x
from ledger.core.program_kinds import CommitmentSource
from ledger.workspace import funds
from tests.node import needs_node, run_module

pytestmark = needs_node

SCRIPT = """
import { readFileSync } from "node:fs";
import { sponsorHash, purposeHash, sourceId } from "./web/workspace/fund.js";
const cases = JSON.parse(readFileSync(0, "utf-8"));
process.stdout.write(JSON.stringify(cases.map((c) => ({
  sponsor: sponsorHash(c.salt, c.name), purpose: purposeHash(c.purpose), source: sourceId(c.cid),
}))));
"""

TEXTS = ["张三丰", "Cafe\u0301 decomposed", "贵州茅台酒股份有限公司", "emoji 🌾 𠀀", "a\tb\nc"]


def test_js_hashes_equal_the_ledgers() -> None:
    cases = [
        {
            "salt": hex0x(os.urandom(32)),
            "name": t,
            "purpose": f"用途 {t}",
            "cid": hex0x(os.urandom(32)),
        }
        for t in TEXTS
    ]
    for case, got in zip(cases, run_module(SCRIPT, cases), strict=True):
        salt = bytes.fromhex(case["salt"][2:])
        assert got["sponsor"] == hex0x(funds.sponsor_hash(salt, case["name"]))
        assert got["purpose"] == hex0x(funds.purpose_hash(case["purpose"]))
        cid = bytes.fromhex(case["cid"][2:])
        assert got["source"] == hex0x(CommitmentSource.source_id(cid))
