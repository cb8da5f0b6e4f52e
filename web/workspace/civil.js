// The civil-affairs office's workspace (民政部门): register county offices, organizations and
// auditors by name — the server prepares the call (SPEC14 names), the admin key signs the
// transaction here after the summary is shown — list and revoke registrations, and load the
// signed key-county list.
import { api, explain } from "./api.js";
import { confirmAndSign, requireWallet, countyName, signAdminTx } from "./sign.js";
import { domain } from "./records.js";
import { $, el, say, validate, busy, attempt, ADDRESS, ORG_CODE } from "./ui.js";
import { followUpRate } from "./followup.js";

// The server's summary is keyed in Chinese; each key is shown with its English beside it.
const SUMMARY_LABELS = {
  操作: "操作 action",
  角色: "角色 role",
  地址: "地址 address",
  名称: "名称 name",
  县: "县 county",
  信用代码: "信用代码 credit code",
  组织类型: "组织类型 organization type",
  登记管理机关: "登记管理机关 registering authority",
};

const ROLE = { COUNTY: "县 county", ORG: "社会组织 organization", AUDITOR: "审计 auditor" };

/** Prepares `body`, shows the summary, signs the transaction and sends it. */
async function registration(body) {
  const w = requireWallet();
  const prepared = await api("POST", "/api/v1/registrations/prepare", { json: { ...body, admin: w.address } });
  const rows = Object.entries(prepared.summary || {}).map(([k, v]) => [SUMMARY_LABELS[k] || k, String(v)]);
  const raw = await signAdminTx(w, "登记交易 Registration transaction", prepared.tx, rows);
  return api("POST", "/api/v1/registrations", { json: { raw_tx: raw } });
}

function showFields() {
  const action = $("g-action").value;
  for (const node of document.querySelectorAll("[data-for]")) node.hidden = !node.dataset.for.split(" ").includes(action);
}

function wireRegister() {
  $("g-action").addEventListener("change", showFields);
  showFields();
  $("register-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const action = $("g-action").value;
    const checks = { "g-account": (v) => (ADDRESS.test(v) ? null : "地址为 0x 加 40 位十六进制 / an address is 0x and 40 hex digits") };
    if (action === "register_county") checks["g-county"] = (v) => (/^\d{6}$/.test(v) && countyName(v) !== v ? null : "请填写已知的 6 位县代码 / a known 6-digit county code");
    if (action === "register_org") {
      checks["g-org"] = (v) => (ORG_CODE.test(v) ? null : "统一社会信用代码为 18 位 / the credit code has 18 characters");
      checks["g-authority"] = (v) => (v ? null : "请填写登记管理机关 / the registering authority is required");
    }
    if (action === "register_org" || action === "register_auditor") checks["g-name"] = (v) => (v && v.length <= 100 ? null : "请填写名称 / the name is required");
    if (!validate(checks)) return;
    const body = { action, account: $("g-account").value.trim() };
    if (action === "register_county") {
      body.county = Number($("g-county").value.trim());
      if ($("g-name").value.trim()) body.name = $("g-name").value.trim();
    }
    if (action === "register_org") Object.assign(body, { org_code: $("g-org").value.trim(), name: $("g-name").value.trim(), org_type: Number($("g-type").value), authority: $("g-authority").value.trim() });
    if (action === "register_auditor") body.name = $("g-name").value.trim();
    attempt(e.submitter, "register-message", async () => {
      const out = await registration(body);
      say("register-message", `已登记，区块 registered in block ${out.block_number}`, "ok");
      await untilListed(body.account, true);
    });
  });
}

/** Reloads the list until it shows `address` registered (or revoked): the list is read from
 * indexed chain events, which follow the confirmed transaction by a block or two. */
async function untilListed(address, active) {
  const want = address.toLowerCase();
  for (let i = 0; i < 30; i++) {
    const regs = await loadRegistrations();
    if (regs && regs.some((r) => r.address.toLowerCase() === want && (r.active !== false) === active)) return;
    await new Promise((done) => setTimeout(done, 1000));
  }
  say("registrations-message", "交易已确认，列表稍后更新。 The transaction is confirmed; the list will follow shortly.");
}

async function loadRegistrations() {
  const tbody = $("registrations").querySelector("tbody");
  try {
    const regs = await api("GET", "/api/v1/registrations");
    tbody.replaceChildren(
      ...regs.map((r) => {
        const cell = el("td");
        if (r.active !== false) {
          const b = el("button", { type: "button", class: "small secondary", text: "撤销 Revoke" });
          b.addEventListener("click", () =>
            busy(b, async () => {
              try {
                await registration({ action: `deregister_${r.role === "ORG" ? "org" : r.role.toLowerCase()}`, account: r.address });
                say("registrations-message", `已撤销 revoked ${r.address}`, "ok");
                await untilListed(r.address, false);
              } catch (exc) {
                say("registrations-message", explain(exc), "error");
              }
            }),
          );
          cell.append(b);
        } else {
          cell.textContent = "已撤销 revoked";
        }
        return el(
          "tr",
          {},
          el("td", { text: ROLE[r.role] || r.role }),
          el("td", { text: r.name || r.county_name || "" }),
          el("td", { text: r.county ? countyName(r.county) : r.org_code || "" }),
          el("td", {}, el("code", { class: "wrap", text: r.address })),
          cell,
        );
      }),
    );
    return regs;
  } catch (exc) {
    say("registrations-message", explain(exc));
    return null;
  }
}

async function loadKeyCounties() {
  try {
    const [list, v] = await Promise.all([api("GET", "/api/v1/library/key-counties"), api("GET", "/api/v1/library/key-counties/version")]);
    say("kc-current", `当前版本 version ${v.version}：${list.length} 个县 counties`);
    if (!$("kc-codes").value) $("kc-codes").value = list.map((c) => c.county ?? c.code ?? c).join(", ");
    return v.version;
  } catch (exc) {
    say("kc-current", explain(exc));
    return 0;
  }
}

function wireKeyCounties() {
  $("kc-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const codes = $("kc-codes").value.split(/[\s,，、]+/).filter(Boolean);
    const ok = validate({
      "kc-codes": () => (codes.length && codes.every((c) => /^\d{6}$/.test(c)) ? null : "填写 6 位县代码，用逗号分隔 / 6-digit county codes, comma separated"),
      "kc-source": (v) => (v ? null : "请填写名单来源（文件号） / give the list's source (document number)"),
    });
    if (!ok) return;
    attempt(e.submitter, "kc-message", async () => {
      const version = (await loadKeyCounties()) + 1;
      const message = { version, source: $("kc-source").value.trim(), counties: [...new Set(codes.map(Number))].sort((a, b) => a - b), expiry: Math.floor(Date.now() / 1000) + 600 };
      const typed = { domain: await domain(), types: { KeyCountyList: [{ name: "version", type: "uint32" }, { name: "source", type: "string" }, { name: "counties", type: "uint32[]" }, { name: "expiry", type: "uint64" }] }, primaryType: "KeyCountyList", message };
      const [signature] = await confirmAndSign("重点帮扶县名单 Key-county list", [typed]);
      await api("PUT", "/api/v1/library/key-counties", { json: { message, signature } });
      say("kc-message", `已载入第 ${version} 版 version ${version} loaded`, "ok");
      loadKeyCounties();
    });
  });
}

export function civil() {
  wireRegister();
  wireKeyCounties();
  loadRegistrations();
  loadKeyCounties();
  followUpRate();
}
