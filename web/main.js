// The verify page's glue: reads the bundle from the text area or an uploaded file, runs the
// checks in web/verifier.js and shows each result, Chinese first with English beside. It says
// "verified" only after the chain check (the trust anchor) passed: without a node URL the
// bundle is shown as well formed but not verified.
import { verifyBundle, checkAgainstChain, describeError, verdict } from "./verifier.js";

const NAMES = {
  format: "格式 Format",
  leaf: "叶子哈希 Leaf hash SHA-256(0x00‖record)",
  record: "记录 Record",
  inclusion: "包含证明 RFC 9162 inclusion proof",
  batch: "批量行证明 Batch line proof",
  consistency: "一致性证明 Consistency proof",
  signature: "作者签名 EIP-712 author signature",
  chain: "信任锚：链上 logRoot() 与签名者角色 Trust anchor: logRoot() and the signer's role on chain",
};

function show(result, chainCheck) {
  const checks = [...result.checks, ...(chainCheck ? [chainCheck] : [])];
  const list = document.getElementById("checks");
  list.replaceChildren(
    ...checks.map((c) => {
      const li = document.createElement("li");
      li.className = c.skip ? "skip" : c.ok ? "ok" : "fail";
      li.dataset.check = c.name;
      if (c.code) li.dataset.code = c.code;
      const mark = c.skip ? "–" : c.ok ? "✔" : "✘";
      li.textContent = `${mark} ${NAMES[c.name] || c.name}: ${c.detail}`;
      return li;
    }),
  );
  const v = verdict(result, chainCheck);
  const el = document.getElementById("verdict");
  el.dataset.status = v.status;
  el.textContent = `${v.zh} ${v.en}`;
}

async function run() {
  const button = document.getElementById("run");
  button.disabled = true;
  const el = document.getElementById("verdict");
  el.dataset.status = "busy";
  el.textContent = "正在验证… Verifying…";
  let bundle;
  try {
    bundle = JSON.parse(document.getElementById("bundle").value);
  } catch (e) {
    const checks = [{ name: "format", ok: false, code: "bad_bundle", detail: "不是有效的 JSON / not valid JSON" }];
    show({ checks, ok: false }, null);
    button.disabled = false;
    return;
  }
  const result = verifyBundle(bundle);
  const rpc = document.getElementById("rpc").value.trim();
  let chainCheck = null;
  if (result.ok && rpc) {
    try {
      chainCheck = { name: "chain", ok: true, detail: await checkAgainstChain(rpc, result, bundle) };
    } catch (e) {
      chainCheck = { name: "chain", ok: false, code: (e && e.code) || "chain_unreachable", detail: describeError(e) };
    }
  } else if (result.ok) {
    chainCheck = {
      name: "chain",
      ok: false,
      skip: true,
      detail: "未检查：未填写节点地址，未对照链上 logRoot() / not checked: no node URL given, so the root was not compared with the chain",
    };
  }
  show(result, chainCheck);
  button.disabled = false;
}

document.getElementById("run").disabled = false;
document.getElementById("run").addEventListener("click", run);
document.getElementById("bundle-file").addEventListener("change", async (ev) => {
  const file = ev.target.files && ev.target.files[0];
  if (file) document.getElementById("bundle").value = await file.text();
});
document.documentElement.dataset.verifier = "ready";
