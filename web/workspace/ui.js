// Small DOM helpers for the workspaces: text only (no innerHTML), bilingual status lines,
// inline field errors tied to their inputs (aria-invalid + aria-describedby).
import { api, explain } from "./api.js";

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "for") node.htmlFor = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** Shows `text` in the live region `id` (kind: ok | error | busy | ""). */
export function say(id, text, kind = "") {
  const node = typeof id === "string" ? $(id) : id;
  if (!node) return;
  node.textContent = text;
  node.dataset.kind = kind;
}

export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let p = document.getElementById(id);
  if (!p) {
    p = el("p", { id, class: "field-error", "aria-live": "polite" });
    input.closest(".field")?.append(p) ?? input.after(p);
  }
  p.textContent = message || "";
  if (message) {
    input.setAttribute("aria-invalid", "true");
    const described = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
    described.add(id);
    input.setAttribute("aria-describedby", [...described].join(" "));
  } else {
    input.removeAttribute("aria-invalid");
  }
}

/** Runs the `checks` ({inputId: (value, input) => message|null}) and shows each message at
 * its field; focuses the first bad field. True when all pass. */
export function validate(checks) {
  let first = null;
  for (const [id, check] of Object.entries(checks)) {
    const input = $(id);
    if (!input) continue;
    const msg = check(input.type === "checkbox" ? input.checked : input.value.trim(), input);
    fieldError(input, msg);
    if (msg && !first) first = input;
  }
  if (first) first.focus();
  return !first;
}

/** Busy state for a button while `fn` runs. */
/** Fills the list `listId` with the library projects of `kind` still open to 点单/接单
 * (published, whether or not already matched or served), `row(p)` making each item; `empty`
 * says there are none, and a failed read is explained in the list. */
export async function listPublished(listId, kind, empty, row) {
  const list = $(listId);
  try {
    const items = await api("GET", `/api/v1/library/projects?kind=${kind}&open=true&limit=50`);
    list.replaceChildren(...items.map(row));
    if (!items.length) list.replaceChildren(el("li", { text: empty }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

/** `busy`, and a failure of `fn` explained (code and bilingual text) in `messageId`. */
export function attempt(button, messageId, fn) {
  return busy(button, async () => {
    try {
      await fn();
    } catch (exc) {
      say(messageId, explain(exc), "error");
    }
  });
}

export async function busy(button, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } finally {
    if (button) button.disabled = false;
  }
}

/** "12.34" (元) → 1234 fen, or null when not a non-negative amount with ≤ 2 decimals. */
export function fenOf(text) {
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(String(text).replaceAll(",", "").trim());
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}

/** A quantity check for validate(): 元 above 0 for funds, else a whole number above 0 (with the
 * `whole` message when it is not). */
export function positiveAmount(funds, v, whole = "数量为正整数 / a whole number above 0") {
  if (funds) return fenOf(v) > 0 ? null : "金额以元填写，大于 0 / the amount in 元, above 0";
  return /^\d{1,15}$/.test(v) && Number(v) > 0 ? null : whole;
}

export const HEX32 = /^0x[0-9a-fA-F]{64}$/;
export const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
export const ORG_CODE = /^[0-9A-HJ-NP-RTUW-Y]{18}$/;

/** A check for `validate`: the field is an id of 0x and 64 hex digits; `zh` and `en` name it
 * ("需求编号", "a need id"). */
export function hex32Check(zh, en) {
  return (v) => (HEX32.test(v) ? null : `${zh}为 0x 加 64 位十六进制 / ${en} is 0x and 64 hex digits`);
}

/** Unix seconds of the end of a YYYY-MM-DD day in Beijing time (23:59:59 +08:00). */
export function endOfDayBeijing(iso) {
  return Math.floor(Date.parse(`${iso}T23:59:59+08:00`) / 1000);
}

/** Unix seconds of a datetime-local value read as Beijing time. */
export function beijingSeconds(local) {
  const full = local.length === 16 ? `${local}:00` : local;
  return Math.floor(Date.parse(`${full}+08:00`) / 1000);
}

/** Keeps every `table.stack` readable on a phone: each cell carries its column's header as
 * `data-label`, which the portal's CSS shows beside the value when the table stacks into one
 * card per row (below 720 px). Rows are added by the role pages at any time, so this watches
 * for them instead of each page labelling its own. */
export function labelStackedTables(root = document) {
  const label = (table) => {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => {
        if (heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i]);
      });
    }
  };
  const tables = [...root.querySelectorAll("table.stack")];
  tables.forEach(label);
  const seen = new MutationObserver((changes) => {
    for (const c of changes) {
      const table = c.target.closest?.("table.stack");
      if (table) label(table);
    }
  });
  tables.forEach((t) => seen.observe(t, { childList: true, subtree: true }));
}

