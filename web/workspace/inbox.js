// The inbox (GET /api/v1/inbox, SPEC14 sessions; needs sign-in): proposals waiting for this
// party's answer, deliveries waiting for 签收 with their evidence, overdue commitments. A
// match can also be answered by its id (what works before sign-in exists on a server).
import { api, explain } from "./api.js";
import { countyName, yuan, number, beijing } from "./sign.js";
import { $, el, say, busy, attempt, validate, hex32Check } from "./ui.js";

function qty(q, kind, unit) {
  return kind === "funds" || Number(kind) === 1 ? yuan(q) : `${number(q)} ${unit || ""}`.trim();
}

function answerButtons(matchId, answer, after) {
  const make = (action, text) => {
    const b = el("button", { type: "button", class: action === "accept" ? "small" : "small secondary", text, "data-action": action, "data-match": matchId });
    b.addEventListener("click", () =>
      busy(b, async () => {
        try {
          const m = await answer(matchId, action);
          await after();
          say("inbox-message", `${action === "accept" ? "已接受 accepted" : "已拒绝 declined"}: ${m.match_id}`, "ok");
        } catch (exc) {
          say("inbox-message", explain(exc), "error");
        }
      }),
    );
    return b;
  };
  return [make("accept", "接受 Accept"), make("decline", "拒绝 Decline")];
}

export function inbox({ answer, receipt }) {
  const load = async () => {
    let box;
    try {
      box = await api("GET", "/api/v1/inbox");
    } catch (exc) {
      for (const id of ["inbox-proposals", "inbox-receipts", "inbox-overdue"]) $(id)?.replaceChildren();
      say(
        "inbox-message",
        exc.code === "session_required" ? "请先在“工作台”页面登录以查看收件箱。 Sign in on the Workspace page to see your inbox." : explain(exc),
        "error",
      );
      return;
    }
    say("inbox-message", "");
    $("inbox-proposals").replaceChildren(
      ...box.proposals.map((p) =>
        el(
          "li",
          { "data-match": p.match_id },
          el("span", { text: `${p.direction === "order" ? "点单 order" : "接单 take"}：${p.need_title}${p.supply_title ? ` ← ${p.supply_title}` : ""} · ${p.org_name || p.org_code} · ${p.county_name || countyName(p.county)} ${p.note ? `· “${p.note}”` : ""} ` }),
          ...answerButtons(p.match_id, answer, load),
        ),
      ),
    );
    $("inbox-receipts") &&
      $("inbox-receipts").replaceChildren(
        ...box.awaiting_receipt.map((d) => {
          const b = el("button", { type: "button", class: "small", text: "签收 Confirm receipt", "data-delivery": d.delivery_id });
          b.addEventListener("click", () => receipt(d));
          const ev = d.evidence_url ? el("a", { href: d.evidence_url, text: "证据 evidence" }) : el("span", { text: `证据哈希 evidence ${String(d.evidence_hash).slice(0, 12)}…` });
          return el("li", {}, el("span", { text: `${d.need_title} · ${d.org_name || d.org_code} · ${qty(d.quantity, d.resource_kind, d.unit)} · ${beijing(d.delivered_at)} ` }), ev, el("span", { text: " " }), b);
        }),
      );
    $("inbox-overdue").replaceChildren(
      ...box.overdue.map((c) => el("li", { text: `${c.need_title} · ${c.org_name || ""} · ${number(c.delivered)} / ${number(c.quantity)} ${c.unit || ""} · 应于 due ${c.due_date}` })),
    );
    for (const id of ["inbox-proposals", "inbox-receipts", "inbox-overdue"]) {
      const list = $(id);
      if (list && !list.children.length) list.append(el("li", { class: "empty", text: "无 none" }));
    }
  };
  $("inbox-refresh")?.addEventListener("click", load);
  const form = $("answer-form");
  if (form && !form.dataset.wired) {
    form.dataset.wired = "1";
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!validate({ "a-match": hex32Check("对接编号", "a match id") })) return;
      const action = e.submitter && e.submitter.value === "decline" ? "decline" : "accept";
      attempt(e.submitter, "answer-message", async () => {
        const m = await answer($("a-match").value.trim(), action);
        say("answer-message", `${action === "accept" ? "已接受 accepted" : "已拒绝 declined"}：${m.match_id}`, "ok");
      });
    });
  }
  load();
}
