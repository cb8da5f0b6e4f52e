"""The workspace makes a Fund's sponsorHash and purposeHash and a CommitmentSource's derived
id in the browser (web/workspace/fund.js): they must be exactly the ledger's
(ledger.workspace.funds, CommitmentSource.source_id) for any text a person may type, or the
server refuses the fund's details."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ledger.config import PROJECT_ROOT
from ledger.core.hexes import hex0x
from ledger.core.records import CommitmentSource
from ledger.workspace import funds

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

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
    done = subprocess.run(
        [str(NODE), "--input-type=module", "-e", SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=60,
    )
    for case, got in zip(cases, json.loads(done.stdout), strict=True):
        salt = bytes.fromhex(case["salt"][2:])
        assert got["sponsor"] == hex0x(funds.sponsor_hash(salt, case["name"]))
        assert got["purpose"] == hex0x(funds.purpose_hash(case["purpose"]))
        cid = bytes.fromhex(case["cid"][2:])
        assert got["source"] == hex0x(CommitmentSource.source_id(cid))
