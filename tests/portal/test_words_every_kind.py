"""Every record kind of the vectors (tests/vectors/records.json) in words: what the browser
verifier decodes from the bytes (web/verifier.js) is word for word what ledger.core.words
says, for each signed field; the fields only names can fill are the server's, and their raw
values agree with the bytes."""

from __future__ import annotations

import json

from ledger.config import PROJECT_ROOT
from ledger.core.record_types import signed_from_bytes
from ledger.core.records import Kind
from ledger.core.word_fields import Names
from ledger.core.words import bundle_display, describe
from tests.node import run_module

VECTORS = json.loads((PROJECT_ROOT / "tests" / "vectors" / "records.json").read_text())

JS = """
import { readFileSync } from "node:fs";
import { parseRecord, recordWords } from "./web/verifier.js";
const cases = JSON.parse(readFileSync(0, "utf-8"));
console.log(JSON.stringify(cases.map((c) => {
  const parsed = parseRecord(Uint8Array.from(Buffer.from(c.bytes.slice(2), "hex")));
  return recordWords(parsed, c.display);
})));
"""


def test_every_kind_reads_the_same_in_the_browser() -> None:
    cases = []
    for v in VECTORS["records"]:
        signed = signed_from_bytes(bytes.fromhex(v["canonical_bytes"][2:]))
        words = describe(signed, Names())
        cases.append({"bytes": v["canonical_bytes"], "display": bundle_display(words)})
    assert {int(signed_from_bytes(bytes.fromhex(c["bytes"][2:])).kind) for c in cases} == {
        int(k) for k in Kind
    }
    results = run_module(JS, cases)
    for case, result in zip(cases, results, strict=True):
        kind = case["display"]["kind"]
        js = {f["key"]: f for f in result}
        fields = case["display"]["fields"]
        assert len(fields) >= 2, kind  # more than the kind and the signer
        for f in fields:
            mine = js[f["key"]]
            if f["signed"]:
                assert mine["source"] == "record", (kind, f["key"])
                assert (mine["zh"], mine["en"]) == (f["zh"], f["en"]), (kind, f, mine)
                assert not mine["differs"], (kind, f, mine)
            else:
                assert mine["source"] == "server", (kind, f["key"])
                assert not mine["mismatch"], (kind, f, mine)
        # a summary that says what happened, not only the kind's name
        assert case["display"]["summary_zh"] != case["display"]["kind_zh"], kind


def test_a_lying_server_is_caught_on_a_program_record() -> None:
    """A server that names another pairing than the acceptance signed is shown as a mismatch."""
    v = next(r for r in VECTORS["records"] if r["kind_number"] == int(Kind.PAIRING_ACCEPTANCE))
    signed = signed_from_bytes(bytes.fromhex(v["canonical_bytes"][2:]))
    display = bundle_display(describe(signed, Names()))
    for f in display["fields"]:
        if f["key"] == "pairing":
            f["raw"] = "0x" + "ab" * 32
    (result,) = run_module(JS, [{"bytes": v["canonical_bytes"], "display": display}])
    assert next(f for f in result if f["key"] == "pairing")["mismatch"]
