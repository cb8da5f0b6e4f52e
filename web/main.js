// The verify page's glue: reads the bundle from the text area or an uploaded file, runs the
// checks in web/verifier.js and shows each result, in the page's language.
import { verifyBundle, checkAgainstChain } from "./verifier.js";

const zh = document.documentElement.lang.startsWith("zh");
const T = (a, b) => (zh ? a : b);
const NAMES = {
  format: T("格式", "Format"),
  leaf: T("叶子哈希 SHA-256(0x00‖记录)", "Leaf hash SHA-256(0x00‖record)"),
  inclusion: T("RFC 9162 包含证明", "RFC 9162 inclusion proof"),
  batch: T("批量行证明", "Batch line proof"),
  signature: T("EIP-712 作者签名", "EIP-712 author signature"),
  chain: T("链上 logRoot()", "On-chain logRoot()"),
};

function show(checks) {
  const list = document.getElementById("checks");
  list.replaceChildren(
    ...checks.map((c) => {
      const li = document.createElement("li");
      li.className = c.skip ? "skip" : c.ok ? "ok" : "fail";
      li.dataset.check = c.name;
      const mark = c.skip ? "–" : c.ok ? "✔" : "✘";
      li.textContent = `${mark} ${NAMES[c.name] || c.name}: ${c.detail}`;
      return li;
    }),
  );
  const verdict = document.getElementById("verdict");
  const failed = checks.some((c) => !c.ok && !c.skip);
  verdict.dataset.status = failed ? "fail" : "ok";
  const onChain = checks.some((c) => c.name === "chain" && c.ok && !c.skip);
  verdict.textContent = failed
    ? T("✘ 验证失败：此证明包被拒绝。", "✘ Verification failed: this proof bundle is rejected.")
    : T("✔ 验证通过：记录在日志中，且由所述作者签名", "✔ Verified: the record is in the log and signed by its stated author") +
      (onChain ? T("；日志根与链上 logRoot() 一致。", "; the log root equals logRoot() on chain.") : T("。", "."));
}

async function run() {
  const button = document.getElementById("run");
  button.disabled = true;
  const verdict = document.getElementById("verdict");
  verdict.dataset.status = "busy";
  verdict.textContent = T("正在验证…", "Verifying…");
  let bundle;
  try {
    bundle = JSON.parse(document.getElementById("bundle").value);
  } catch (e) {
    show([{ name: "format", ok: false, detail: T("不是有效的 JSON", "not valid JSON") }]);
    button.disabled = false;
    return;
  }
  const result = verifyBundle(bundle);
  const checks = result.checks;
  const rpc = document.getElementById("rpc").value.trim();
  if (rpc && checks.every((c) => c.ok)) {
    try {
      checks.push({ name: "chain", ok: true, detail: await checkAgainstChain(rpc, result, bundle) });
    } catch (e) {
      checks.push({ name: "chain", ok: false, detail: e.message || String(e) });
    }
  } else if (!rpc) {
    checks.push({ name: "chain", ok: true, skip: true, detail: T("未填写节点地址，未对照链上", "no node URL given; not compared with the chain") });
  }
  show(checks);
  button.disabled = false;
}

document.getElementById("run").disabled = false;
document.getElementById("run").addEventListener("click", run);
document.getElementById("bundle-file").addEventListener("change", async (ev) => {
  const file = ev.target.files && ev.target.files[0];
  if (file) document.getElementById("bundle").value = await file.text();
});
document.documentElement.dataset.verifier = "ready";
