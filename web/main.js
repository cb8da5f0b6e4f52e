// The verify page's glue: reads the bundle from the text area or an uploaded file, runs the
// checks in web/verifier.js and shows each result, Chinese first with English beside. It says
// "verified" only after the chain check (the trust anchor) passed: without a node URL the
// bundle is shown as well formed but not verified. Then it shows the record in words: the
// fields it decoded from the checked bytes, and the names the server put in the bundle's
// `display` section, marked as not verified.
import { verifyBundle, checkAgainstChain, describeError, verdict, recordWords } from "./verifier.js";

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

const DECODED_NOTE = {
  ok: "✔ 标记的字段由本浏览器从已验证的记录字节中解码；标注“服务器提供”的名称（签名者名称、项目标题等）来自服务器，不属于验证的内容。 / Fields marked ✔ were decoded by this browser from the verified record bytes; names marked “from the server” (the signer's name, project titles…) come from the server and are not part of what was verified.",
  unanchored: "⚠ 证明包尚未对照链上核验：以下内容可能是伪造的。 / ⚠ The bundle was not checked against the chain: what follows may be forged.",
  fail: "✘ 验证失败：以下是证明包中记录所写的内容，不可信。 / ✘ Verification failed: the following is what the bundle's record says, and it is not to be trusted.",
};

function words(result, bundle, status) {
  const section = document.getElementById("decoded");
  if (!section) return;
  if (!result.parsed) {
    section.hidden = true;
    return;
  }
  const fields = recordWords(result.parsed, bundle && bundle.display);
  section.dataset.status = status;
  document.getElementById("decoded-note").textContent = DECODED_NOTE[status] || DECODED_NOTE.fail;
  const list = document.getElementById("decoded-fields");
  const items = [];
  for (const f of fields) {
    const dt = document.createElement("dt");
    dt.textContent = `${f.label_zh} ${f.label_en}`;
    const dd = document.createElement("dd");
    dd.dataset.field = f.key;
    dd.dataset.source = f.source;
    const value = document.createElement(f.link ? "a" : "span");
    if (f.link) value.href = f.link;
    value.textContent = f.zh === f.en ? f.zh : `${f.zh} / ${f.en}`;
    const mark = document.createElement("span");
    mark.className = "note";
    if (f.source === "record") {
      // "verified" only when the whole bundle is; otherwise it is only what the bytes say
      mark.textContent =
        status === "ok" ? " ✔ 已验证 verified" : " （解码自记录字节 decoded from the record bytes）";
      if (f.differs) {
        dd.dataset.differs = "1";
        mark.textContent += " ⚠ 服务器的描述与此不同 the server described it otherwise";
      }
    } else if (f.mismatch) {
      dd.dataset.mismatch = "1";
      mark.textContent = " ✘ 服务器提供，且与记录不符 from the server, and it does not match the record";
    } else {
      mark.textContent = " （服务器提供，未验证 from the server, not verified）";
    }
    dd.append(value, mark);
    items.push(dt, dd);
  }
  list.replaceChildren(...items);
  section.hidden = false;
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
    words({}, null, "fail");
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
      detail: "未检查：未填写节点地址，未对照链上 logRoot()；证明包本身谁都能伪造，请填写节点地址 / not checked: no node URL given, so the root was not compared with the chain; anyone can make a bundle, so give a node URL",
    };
  }
  show(result, chainCheck);
  words(result, bundle, verdict(result, chainCheck).status);
  button.disabled = false;
}

document.getElementById("run").disabled = false;
document.getElementById("run").addEventListener("click", run);
document.getElementById("bundle-file").addEventListener("change", async (ev) => {
  const file = ev.target.files && ev.target.files[0];
  if (file) document.getElementById("bundle").value = await file.text();
});
document.documentElement.dataset.verifier = "ready";
