// The county office's workspace (县乡村振兴部门): publish a need through a form that checks
// every field in place, import a need list (需求表) checked cell by cell, 点单 on a supply
// project, the inbox (proposals, deliveries awaiting 签收, overdue commitments) and 签收.
import { api, explain } from "./api.js";
import { publishAll, propose, answer, needContent } from "./library.js";
import { submit, noteHash } from "./records.js";
import { domain } from "./records.js";
import { countyName, CATEGORIES, yuan, number } from "./sign.js";
import { $, el, say, validate, busy, attempt, listPublished, fenOf, positiveAmount, hex32Check } from "./ui.js";
import { track } from "./track.js";
import { inbox } from "./inbox.js";
import { followUp } from "./followup.js";

const utf8 = (s) => new TextEncoder().encode(s).length;

export function needChecks() {
  const kind = () => $("n-kind").value;
  return {
    "n-county": (v) => (/^\d{6}$/.test(v) ? (countyName(v) === v ? "未知的县代码（GB/T 2260） / unknown county code (GB/T 2260)" : null) : "县代码为 6 位数字 / the county code has 6 digits"),
    "n-title": (v) => (!v ? "请填写标题 / the title is required" : v.length > 100 || utf8(v) > 200 ? "标题过长（最多约 66 个汉字） / the title is too long (about 66 汉字 at most)" : null),
    "n-village": (v) => (v.length > 64 ? "村名最多 64 字 / at most 64 characters" : null),
    "n-desc": (v) => (v.length > 4000 ? "说明最多 4000 字 / at most 4,000 characters" : null),
    "n-category": (v) => (v ? null : "请选择领域 / choose a category"),
    "n-mode-relief": () => (document.querySelector("input[name=mode]:checked") ? null : "请选择输血或造血 / choose relief (输血) or capacity (造血)"),
    "n-beneficiaries": (v) => (/^\d{1,8}$/.test(v) && Number(v) <= 10_000_000 ? null : "受益人数为 0 到 10,000,000 的整数 / beneficiaries: a whole number from 0 to 10,000,000"),
    "n-budget": (v) => (v === "" || fenOf(v) !== null ? null : "预算以元填写，最多两位小数 / the budget in 元, at most 2 decimals"),
    "n-quantity": (v) => positiveAmount(kind() === "funds", v, "数量为正整数 / the quantity is a whole number above 0"),
    "n-unit": (v) => (kind() === "goods" && !v ? "物资请填写单位（如 斤、套） / goods need a unit (斤, 套…)" : v.length > 16 ? "单位最多 16 字 / at most 16 characters" : null),
    "n-item": (v) => (v.length > 64 ? "物品名称最多 64 字 / at most 64 characters" : null),
    "n-deadline": (v) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return "请选择截止日期 / choose a deadline";
      const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
      return v < today ? "截止日期已过 / the deadline is in the past" : null;
    },
    "n-contact": (v) => (!v ? "请填写联系岗位（不填个人姓名或手机号） / give a contact role (not a person's name or phone)" : v.length > 64 ? "最多 64 字 / at most 64 characters" : /\d{7,}/.test(v) ? "请勿填写电话号码：公开信息只写岗位 / no phone numbers: public data names a role only" : null),
  };
}

function needFromForm() {
  const kind = $("n-kind").value;
  const q = $("n-quantity").value.trim();
  return needContent({
    county: Number($("n-county").value.trim()),
    village: $("n-village").value.trim(),
    title: $("n-title").value.trim(),
    description: $("n-desc").value.trim(),
    category: $("n-category").value,
    mode: document.querySelector("input[name=mode]:checked").value,
    beneficiaries: Number($("n-beneficiaries").value.trim()),
    budget_fen: fenOf($("n-budget").value.trim() || "0"),
    resources: [{ kind, quantity: kind === "funds" ? fenOf(q) : Number(q), unit: $("n-unit").value.trim(), item: $("n-item").value.trim() }],
    deadline: $("n-deadline").value,
    contact_role: $("n-contact").value.trim(),
  });
}

function showPublished(out, target) {
  for (const p of out) {
    target.append(
      el("li", { "data-project": p.project_id }, el("a", { href: `/projects/${p.project_id}`, text: p.title || p.project_id })),
    );
    track(p.anchor_id, "需求上链 need anchor", p.record_status);
  }
}

function wireNeedForm() {
  const form = $("need-form");
  $("n-kind").addEventListener("change", () => {
    const funds = $("n-kind").value === "funds";
    $("n-quantity-label").textContent = funds ? "金额（元） Amount (元)" : $("n-kind").value === "service" ? "服务时长（小时） Service hours" : "数量 Quantity";
    $("n-unit").disabled = $("n-kind").value !== "goods";
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    say("need-message", "");
    if (!validate(needChecks())) {
      say("need-message", "请先改正标出的字段，未发送任何内容。 Fix the marked fields first; nothing was sent.", "error");
      return;
    }
    attempt(e.submitter, "need-message", async () => {
      const out = await publishAll("need", [needFromForm()], { domain: await domain() });
      say("need-message", "需求已发布，正在上链。 The need is published; its anchor is on its way to the chain.", "ok");
      showPublished(out, $("published"));
    });
  });
}

function wireNeedList() {
  let checked = null;
  const publish = $("list-publish");
  $("list-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("list-file");
    if (!file.files.length) {
      say("list-message", "请选择需求表文件 / choose a need list file", "error");
      return file.focus();
    }
    busy(e.submitter, async () => {
      checked = null;
      publish.disabled = true;
      const form = new FormData();
      form.append("file", file.files[0], file.files[0].name);
      if ($("n-county").value.trim()) form.append("county", $("n-county").value.trim());
      try {
        const answerDoc = await api("POST", "/api/v1/library/need-lists/check", { form });
        renderList(answerDoc);
        checked = answerDoc;
        const bad = answerDoc.errors.length;
        publish.disabled = bad > 0 || !answerDoc.needs.length;
        say(
          "list-message",
          bad
            ? `${bad} 处错误：改正文件后重新检查，改正前不能发布。 ${bad} error(s): fix the file and check again; publishing stays blocked until then.`
            : `${answerDoc.needs.length} 个需求全部通过检查。 All ${answerDoc.needs.length} needs pass the checks.`,
          bad ? "error" : "ok",
        );
      } catch (exc) {
        say("list-message", explain(exc), "error");
      }
    });
  });
  publish.addEventListener("click", (e) =>
    busy(e.currentTarget, async () => {
      if (!checked || checked.errors.length) return;
      try {
        const out = await publishAll("need", checked.needs.map(needContent), {
          domain: await domain(),
          onEach: (i) => say("list-message", `已发布 published ${i + 1} / ${checked.needs.length}`, "busy"),
        });
        say("list-message", `${out.length} 个需求已发布。 ${out.length} needs published.`, "ok");
        showPublished(out, $("published"));
        publish.disabled = true;
      } catch (exc) {
        say("list-message", explain(exc), "error");
      }
    }),
  );
}

function renderList(doc) {
  const table = $("list-errors");
  const rows = doc.errors.map((err) =>
    el("tr", { "data-row": err.row, "data-column": err.column }, el("td", { text: String(err.row) }), el("td", { text: err.column }), el("td", { text: `${err.message} [${err.code}]` })),
  );
  table.querySelector("tbody").replaceChildren(...rows);
  table.hidden = !rows.length;
  $("list-needs").replaceChildren(
    ...doc.needs.map((n) => el("li", { text: `${n.title} · ${countyName(n.county)} · ${n.deadline}` })),
  );
}

function supplyText(p) {
  const c = p.content;
  const cap = (c.capacity || []).map((r) => (r.kind === "funds" ? yuan(r.quantity) : `${number(r.quantity)} ${r.unit}`)).join("、");
  return `${c.title} · ${p.org_code || ""} · ${cap}`;
}

function loadSupply() {
  return listPublished("supply-list", "supply", "暂无已发布的供给项目 no published supply projects yet", (p) => {
    const b = el("button", { type: "button", class: "small", text: "点单 Order", "data-supply": p.project_id });
    b.addEventListener("click", () => {
      $("o-supply").value = p.project_id;
      $("o-need").focus();
    });
    return el("li", {}, el("span", { text: supplyText(p) + " " }), b);
  });
}

function wireOrder() {
  $("order-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "o-need": hex32Check("需求编号", "a need id"),
      "o-supply": hex32Check("供给编号", "a supply id"),
    });
    if (!ok) return;
    attempt(e.submitter, "order-message", async () => {
      const m = await propose({ direction: "order", needId: $("o-need").value.trim(), supplyId: $("o-supply").value.trim(), note: $("o-note").value.trim() });
      say("order-message", `点单已发出，等待社会组织答复。 Order sent; waiting for the organization. 对接编号 match ${m.match_id}`, "ok");
    });
  });
}

function wireReceipt() {
  $("receipt-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const funds = $("r-kind").value === "funds";
    const ok = validate({
      "r-delivery": hex32Check("交付编号", "a delivery id"),
      "r-quantity": (v) => positiveAmount(funds, v, "签收数量为正整数 / a whole number above 0"),
    });
    if (!ok) return;
    busy(e.submitter, async () => {
      const q = $("r-quantity").value.trim();
      try {
        const acc = await submit(
          "receipt",
          { deliveryId: $("r-delivery").value.trim().toLowerCase(), confirmedQuantity: funds ? fenOf(q) : Number(q), noteHash: noteHash($("r-note").value) },
          { heading: "签收 Confirm receipt", note: funds ? "数量以分计：100 分 = 1 元。 The quantity is in fen: 100 fen = 1 元." : "" },
        );
        say("receipt-message", "签收已提交。 Receipt submitted.", "ok");
        track(acc.record_id, "签收 receipt", acc.status);
      } catch (exc) {
        say("receipt-message", explain(exc), "error");
      }
    });
  });
}

export function county({ onUnlock, state }) {
  const cats = $("n-category");
  for (const [zh, en] of CATEGORIES) cats.append(el("option", { value: zh, text: `${zh} ${en}` }));
  wireNeedForm();
  wireNeedList();
  wireOrder();
  wireReceipt();
  loadSupply();
  $("supply-refresh").addEventListener("click", loadSupply);
  inbox({
    answer,
    receipt: (d) => {
      const funds = d.resource_kind === "funds" || Number(d.resource_kind) === 1;
      $("r-delivery").value = d.delivery_id;
      $("r-kind").value = funds ? "funds" : "other";
      $("r-quantity").value = String(funds ? Number(d.quantity) / 100 : d.quantity);
      $("r-quantity").focus();
    },
  });
  onUnlock(() => {
    const mine = (state.roles || []).find((r) => r.role === "COUNTY");
    if (mine && !$("n-county").value) $("n-county").value = String(mine.county);
  });
  followUp({ onUnlock, state });
}
