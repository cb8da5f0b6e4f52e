// Grievances (申诉) in the county workspace: the grievances the public filed about this
// county's need projects, each registered on chain (a signed Grievance record carrying the
// filing's hash and time) and later answered (a signed GrievanceAnswer: outcome and the
// SHA-256 of the public answer text, which is sent with it and shown on the portal).
import { sha256, toUtf8Bytes } from "ethers";
import { api, eip712, explain } from "./api.js";
import { confirmAndSign, requireWallet, beijing, countyName } from "./sign.js";
import { scopedId } from "./library.js";
import { $, el, say, attempt } from "./ui.js";
import { track } from "./track.js";

const ZERO = `0x${"00".repeat(32)}`;
export const OUTCOMES = { 1: "成立 upheld", 2: "部分成立 partly upheld", 3: "不成立 not upheld" };
const STATUS = {
  filed: "未登记 not registered",
  registered: "已登记，待答复 registered, not answered",
  answered: "已答复 answered",
};

/** The answer text as ledger.core.grievances.normalize makes it (its hash is signed). */
export function normalize(text) {
  return text.normalize("NFC").replace(/\r\n/g, "\n").replace(/\r/g, "\n").replace(/^[ \t\n]+|[ \t\n]+$/g, "");
}

export function answerHash(text) {
  return sha256(toUtf8Bytes(normalize(text)));
}

async function typed(kind, message) {
  const t = await eip712();
  const primaryType = t.kinds[kind];
  return { domain: t.domain, types: { [primaryType]: t.types[primaryType] }, primaryType, message };
}

function what(g) {
  return {
    heading: "申诉 the grievance",
    rows: [
      ["申诉编号 filing number", g.filing_no || "—"],
      ["项目 project", g.project_title || g.project_id],
      ["县 county", countyName(g.county)],
      ["提交时间 filed", beijing(g.filed_at)],
      ["申诉内容 text", g.text || "—"],
    ],
  };
}

async function register(g) {
  const w = requireWallet();
  const message = {
    id: scopedId(w.address),
    projectId: g.project_id,
    recordId: g.record_id || ZERO,
    grievanceHash: g.grievance_hash,
    filedAt: g.filed_at,
  };
  const doc = await typed("grievance", message);
  const [signature] = await confirmAndSign("登记申诉 Register a grievance", [doc], {
    extra: [what(g)],
    note: "登记上链后，公众可以看到县已收到这件申诉。 Once registered on chain, the public sees that the county has it.",
  });
  const out = await api("POST", "/api/v1/records", {
    json: { records: [{ kind: "grievance", record: message, signature, signer: w.address }] },
  });
  return out.accepted[0];
}

async function answer(g, outcome, text) {
  const w = requireWallet();
  const message = {
    id: scopedId(w.address),
    grievanceId: g.registration.record_id,
    outcome: Number(outcome),
    answerHash: answerHash(text),
  };
  const doc = await typed("grievance_answer", message);
  const [signature] = await confirmAndSign("答复申诉 Answer a grievance", [doc], {
    extra: [what(g), { heading: "答复 the answer", rows: [["结果 outcome", OUTCOMES[outcome]], ["答复内容（公开） text (public)", normalize(text)]] }],
    note: "答复全文会公开，请勿写入身份证号、手机号等个人信息。 The answer is public: no ID or phone numbers.",
  });
  return api("POST", "/api/v1/grievance-answers", {
    json: { record: { kind: "grievance_answer", record: message, signature, signer: w.address }, text },
  });
}

function answerForm(g, li) {
  const n = g.filing_no || g.grievance_hash.slice(2, 10);
  const select = el("select", { id: `ga-outcome-${n}` }, ...Object.entries(OUTCOMES).map(([v, t]) => el("option", { value: v, text: t })));
  const text = el("textarea", { id: `ga-text-${n}`, rows: 3, maxLength: 4000 });
  const msg = el("p", { id: `ga-msg-${n}`, class: "message", "aria-live": "polite" });
  const button = el("button", { type: "submit", text: "签名并答复 Sign and answer" });
  const form = el(
    "form",
    { class: "panel inner", "data-answer": n, novalidate: true },
    el("div", { class: "field" }, el("label", { for: select.id, text: "结果 Outcome" }), select),
    el("div", { class: "field" }, el("label", { for: text.id, text: "答复内容（公开，不写个人信息） Answer (public, no personal data)" }), text),
    el("div", { class: "actions" }, button),
    msg,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (normalize(text.value).length < 2) {
      say(msg, "请填写答复内容 / write the answer", "error");
      text.focus();
      return;
    }
    attempt(button, msg.id, async () => {
      const acc = await answer(g, select.value, text.value);
      say(msg, "答复已提交。 Answer submitted.", "ok");
      track(acc.record_id, "申诉答复 grievance answer", acc.status);
    });
  });
  li.append(form);
}

function row(g) {
  const n = g.filing_no || g.grievance_hash.slice(2, 10);
  const li = el(
    "li",
    { "data-filing": n, "data-status": g.status },
    el("strong", { text: g.filing_no || g.grievance_hash.slice(0, 14) }),
    el("span", { text: ` · ${g.project_title || g.project_id} · ${beijing(g.filed_at)} · ` }),
    el("span", { class: "status", text: STATUS[g.status] }),
    el("p", { class: "wrap", text: g.text || "（本站没有原文 no text here）" }),
  );
  if (g.answer) li.append(el("p", { text: `${OUTCOMES[g.answer.outcome]}：${g.answer.text || ""}` }));
  if (g.filing_no) {
    // the filer's contact details: a private read of the signed-in county office, shown
    // only on request and never kept in the page
    const shown = el("p", { class: "note", "data-contact": n, "aria-live": "polite" });
    const ask = el("button", { type: "button", class: "secondary small", "data-show-contact": n, text: "查看联系方式 Show contact" });
    ask.addEventListener("click", async () => {
      try {
        const c = await api("GET", `/api/v1/grievances/${g.filing_no}/contact`);
        shown.textContent = c.contact ? `联系方式 contact: ${c.contact}` : "申诉人未留联系方式 no contact details left";
      } catch (exc) {
        shown.textContent = explain(exc);
      }
    });
    li.append(el("div", { class: "actions" }, ask), shown);
  }
  if (g.status === "filed" && g.filing_no) {
    const msg = el("p", { id: `gr-msg-${n}`, class: "message", "aria-live": "polite" });
    const button = el("button", { type: "button", "data-register": n, text: "签名并登记 Sign and register" });
    button.addEventListener("click", () =>
      attempt(button, msg.id, async () => {
        const acc = await register(g);
        say(msg, "登记已提交；上链后可答复。 Registration submitted; answer it once it is on chain.", "ok");
        track(acc.record_id, "申诉登记 grievance registration", acc.status);
      }),
    );
    li.append(el("div", { class: "actions" }, button), msg);
  } else if (g.status === "registered") {
    answerForm(g, li);
  }
  return li;
}

async function load(county) {
  const list = $("grievance-list");
  if (!list || !county) return;
  try {
    const out = await api("GET", `/api/v1/grievances?county=${county}`);
    const c = out.counts;
    say("grievance-counts", `共 ${c.filed} 件：未登记 ${c.not_registered}，未答复 ${c.open}，已答复 ${c.answered}（成立 ${c.upheld}）。 ${c.filed} in all: ${c.not_registered} not registered, ${c.open} open, ${c.answered} answered (${c.upheld} upheld).`);
    list.replaceChildren(...out.items.map(row));
    if (!out.items.length) list.replaceChildren(el("li", { class: "empty", text: "本县暂无申诉 no grievances for this county" }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

export function grievances({ onUnlock, state }) {
  if (!$("grievance-list")) return;
  let county = null;
  $("grievance-refresh")?.addEventListener("click", () => load(county));
  onUnlock(() => {
    const mine = (state.roles || []).find((r) => r.role === "COUNTY");
    county = mine ? mine.county : null;
    load(county);
  });
}
