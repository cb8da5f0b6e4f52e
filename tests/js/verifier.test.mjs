// The browser verifier (web/verifier.js) against tests/vectors/verifier.json, the vectors the
// stdlib verifier reads too: each must give the same structure result (a failure code, or
// "ok" = well formed) and the same result against the trust anchor recorded with them, and
// no verdict may be OK without the chain check. Run: node --test tests/js/ (tests/tools/test_proofcheck.py
// runs it, so `make test` does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { anchorTo, fromHex, verdict, verifyBundle, describeError, CODE_ZH } from "../../web/verifier.js";

const doc = JSON.parse(readFileSync(new URL("../vectors/verifier.json", import.meta.url), "utf-8"));
const anchorRoot = fromHex(doc.anchor.root, "anchor.root", 32);

function anchored(result) {
  try {
    anchorTo(result, doc.anchor.size, anchorRoot);
    return "ok";
  } catch (e) {
    return e.code;
  }
}

for (const v of doc.vectors) {
  test(`vector ${v.name}: ${v.description}`, () => {
    const result = verifyBundle(v.bundle);
    const structure = result.ok ? "ok" : result.code;
    // the stdlib verifier does not check signatures; every vector's signature is genuine
    assert.equal(structure, v.structure, JSON.stringify(result.checks));
    assert.equal(result.ok ? anchored(result) : structure, v.anchored);
    // offline, nothing is ever "ok"
    const offline = verdict(result, null);
    assert.notEqual(offline.status, "ok");
    assert.equal(offline.status, result.ok ? "unanchored" : "fail");
    for (const c of result.checks.filter((c) => !c.ok)) {
      // Chinese first, English beside
      assert.match(c.detail, /^[\u4e00-\u9fff].* \/ [A-Za-z]/u, c.detail);
    }
  });
}

test("a passing chain check makes the verdict ok; a failed or skipped one does not", () => {
  const genuine = doc.vectors.find((v) => v.name === "genuine_batch_line");
  const result = verifyBundle(genuine.bundle);
  assert.ok(result.ok);
  assert.equal(verdict(result, { name: "chain", ok: true, detail: "" }).status, "ok");
  assert.equal(verdict(result, { name: "chain", ok: false, skip: true, detail: "" }).status, "unanchored");
  assert.equal(verdict(result, { name: "chain", ok: false, code: "root_mismatch", detail: "" }).status, "fail");
  assert.match(verdict(result, null).zh, /未核验/);
  assert.match(verdict(result, null).en, /Not verified/);
});

test("the batch line of the substring case is refused by field, not found by search", () => {
  const v = doc.vectors.find((x) => x.name === "substring");
  const result = verifyBundle(v.bundle);
  const batch = result.checks.find((c) => c.name === "batch");
  assert.equal(batch.ok, false);
  assert.equal(batch.code, "batch_root_mismatch");
  // the presented root does occur in the record's bytes (as its evidenceHash)
  assert.ok(v.bundle.record.bytes.includes(v.bundle.batch.batch_root.slice(2)));
  // the signature is genuine: the record is real, only the claim about the line is false
  assert.equal(result.checks.find((c) => c.name === "signature").ok, true);
});

test("the fabricated bundle is well formed and signed, and refused by the anchor", () => {
  const v = doc.vectors.find((x) => x.name === "fabricated");
  const result = verifyBundle(v.bundle);
  assert.ok(result.ok, JSON.stringify(result.checks));
  assert.equal(anchored(result), "root_mismatch");
  assert.equal(verdict(result, null).status, "unanchored");
});

test("every failure code has a Chinese name", () => {
  for (const v of doc.vectors) if (v.structure !== "ok") assert.ok(CODE_ZH[v.structure], v.structure);
  assert.equal(describeError(Object.assign(new Error("x"), { code: "unheard_of" })), "验证失败 / x");
  assert.equal(describeError(new Error("x")), "证明包格式错误 / x");
});
