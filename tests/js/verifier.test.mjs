// The browser verifier (web/verifier.js) against tests/vectors/verifier.json, the vectors the
// stdlib verifier reads too: each must give the same structure result (a failure code, or
// "ok" = well formed) and the same result against the trust anchor recorded with them, and
// no verdict may be OK without the chain check. Run: node --test tests/js/ (tests/tools/test_proofcheck.py
// runs it, so `make test` does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  anchorTo,
  fromHex,
  verdict,
  verifyBundle,
  describeError,
  CODE_ZH,
  VerifyError,
  amount,
  beijingDate,
  beijingTime,
  group,
  recordWords,
  yuan,
} from "../../web/verifier.js";

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

test("every failure detail is Chinese first, with its own Chinese detail, and English beside", () => {
  for (const v of doc.vectors) {
    for (const c of verifyBundle(v.bundle).checks.filter((c) => !c.ok)) {
      // "<name of the code>：<Chinese detail> / <English detail>"
      assert.match(c.detail, /^[\u4e00-\u9fff][^：]*：.*[\u4e00-\u9fff].* \/ [A-Za-z]/u, `${v.name}: ${c.detail}`);
    }
  }
  const e = new VerifyError("the inclusion proof is too short", "bad_inclusion", "包含证明的哈希过少");
  assert.equal(describeError(e), "包含证明不成立：包含证明的哈希过少 / the inclusion proof is too short");
  // a code without a Chinese detail still leads with its Chinese name
  assert.equal(describeError(new VerifyError("x", "root_mismatch")), "日志根与信任锚不符 / x");
});

test("amounts and times read as ledger/core/display.py writes them", () => {
  assert.equal(yuan(12_000_000n), "¥120,000.00");
  assert.equal(yuan("5"), "¥0.05");
  assert.equal(yuan(-123456789n), "-¥1,234,567.89");
  assert.equal(amount("200", 2, "箱"), "200 箱");
  assert.equal(amount("4000", 3, ""), "4,000 小时");
  assert.equal(amount("90000", 1, "fen"), "¥900.00");
  assert.equal(group("340282366920938463463374607431768211455"), "340,282,366,920,938,463,463,374,607,431,768,211,455");
  // 2027-03-31 23:59:59 in Beijing is 15:59:59 UTC: the date reads as entered
  assert.equal(beijingDate(1806508799), "2027-03-31");
  assert.equal(beijingTime(1806508799), "2027-03-31 23:59");
  assert.equal(beijingTime("1806508799", true), "2027-03-31 23:59:59");
  assert.equal(beijingDate(0), "—");
});

test("the record's own fields are decoded here; the server's names are marked and checked", () => {
  const genuine = doc.vectors.find((v) => v.name === "genuine_batch_line");
  const result = verifyBundle(genuine.bundle);
  const plain = recordWords(result.parsed, undefined);
  const kind = plain.find((f) => f.key === "kind");
  assert.equal(kind.source, "record");
  assert.equal(kind.zh, "批量交付");
  assert.equal(plain.find((f) => f.key === "signer").source, "record");
  assert.ok(plain.every((f) => f.source === "record"));
  const display = {
    fields: [
      { key: "kind", zh: "承诺", en: "commitment", signed: true },
      { key: "signer", zh: "社会组织 某基金会", en: "organization 某基金会", signed: false, raw: "0x" + "11".repeat(20), link: "javascript:alert(1)" },
      { key: "share_0", zh: "某项目：¥1.00", en: "x", signed: false, raw: result.parsed.values.quantities[0], link: "//evil.example/" },
      { key: "need", zh: "某项目", en: "x", signed: false, link: "/projects/0x12" },
    ],
  };
  const words = Object.fromEntries(recordWords(result.parsed, display).map((f) => [f.key, f]));
  assert.equal(words.kind.source, "record");
  assert.equal(words.kind.zh, "批量交付"); // the bytes' words, not the server's
  assert.equal(words.kind.differs, true);
  assert.equal(words.signer.source, "server");
  assert.equal(words.signer.mismatch, true); // not the record's signer
  assert.equal(words.signer.link, null); // never a javascript: link
  assert.equal(words.share_0.mismatch, false);
  assert.equal(words.share_0.link, null); // nor one to another host
  assert.equal(words.need.link, "/projects/0x12");
  assert.equal(words.line_count.source, "record");
});
