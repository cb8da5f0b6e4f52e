// The pairing program (结对帮扶, docs/programs.md) in the workspaces. An organization
// proposes a pairing with a county (Pairing: period, focus categories, funds/projects/hours
// targets, designated assistance, the terms' SHA-256) and, in the commitment form, may cite
// one of its accepted pairings (a CommitmentSource signed right after the commitment). The
// county office sees the proposals for its county and accepts one (PairingAcceptance). The
// civil-affairs office sees the key counties nobody is paired with, or that fall behind.
import { keccak256, concat, toUtf8Bytes, getBytes, zeroPadValue, toBeHex, ZeroHash } from "ethers";
import { api, explain } from "./api.js";
import { submit, noteHash } from "./records.js";
import { CATEGORIES, countyName } from "./sign.js";
import { $, el, say, validate, attempt, fenOf } from "./ui.js";
import { track } from "./track.js";

const ymd = (iso) => Number(iso.replaceAll("-", ""));
const prefixed = (bytes) => concat([zeroPadValue(toBeHex(bytes.length), 4), bytes]);

/** The id of a commitment's one CommitmentSource, as ledger.core.records.CommitmentSource
 * .source_id: the commitment's signer address, then 12 bytes of keccak256 over the
 * length-prefixed parts ("CommitmentSource", the commitment id). */
export function sourceId(commitmentId) {
  const digest = keccak256(concat([prefixed(toUtf8Bytes("CommitmentSource")), prefixed(getBytes(commitmentId))]));
  return (commitmentId.slice(0, 42) + digest.slice(2, 26)).toLowerCase();
}

function pairingText(p) {
  const t = p.targets;
  const g = p.progress;
  return `${p.org_name} → ${p.county_name} · ${p.start_date}–${p.end_date}${p.designated ? " · 定点帮扶 designated" : ""} · 资金 funds ${g.funds_delivered} / ${t.funds} · 项目 projects ${g.projects} / ${t.projects} · 服务 hours ${g.hours_delivered} / ${t.hours}`;
}

// ---------------------------------------------------------------- organization

function wirePropose() {
  const box = $("pg-categories");
  CATEGORIES.forEach(([zh, en], i) => {
    const id = `pg-cat-${i + 1}`;
    box.append(el("span", { class: "check" }, el("input", { type: "checkbox", id, value: String(i + 1) }), el("label", { for: id, text: `${zh} ${en}` })));
  });
  $("pairing-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const cats = [...box.querySelectorAll("input:checked")].map((i) => Number(i.value));
    const whole = (v) => (v === "" || /^\d{1,9}$/.test(v) ? null : "请填写整数 / a whole number");
    const ok = validate({
      "pg-county": (v) => (/^\d{6}$/.test(v) && countyName(v) !== v ? null : "县代码为 6 位数字（GB/T 2260） / a 6-digit county code (GB/T 2260)"),
      "pg-start": (v) => (v ? null : "请选择开始日期 / choose the first day"),
      "pg-end": (v) => (!v ? "请选择结束日期 / choose the last day" : v < $("pg-start").value ? "结束日期早于开始日期 / the end is before the start" : null),
      "pg-cat-1": () => (cats.length ? null : "至少选择一个帮扶领域 / choose at least one focus category"),
      "pg-funds": (v) => (v === "" || fenOf(v) !== null ? null : "资金目标以元填写，最多两位小数 / the funds target in 元, at most 2 decimals"),
      "pg-projects": whole,
      "pg-hours": whole,
    });
    if (!ok) {
      say("pairing-message", "请先改正标出的字段，未发送任何内容。 Fix the marked fields first; nothing was sent.", "error");
      return;
    }
    attempt(e.submitter, "pairing-message", async () => {
      const acc = await submit(
        "pairing",
        {
          county: Number($("pg-county").value.trim()),
          startDate: ymd($("pg-start").value),
          endDate: ymd($("pg-end").value),
          categories: cats.reduce((m, c) => m | (1 << (c - 1)), 0),
          fundsTarget: $("pg-funds").value.trim() ? fenOf($("pg-funds").value.trim()) : 0,
          projectsTarget: Number($("pg-projects").value.trim() || 0),
          hoursTarget: Number($("pg-hours").value.trim() || 0),
          designated: $("pg-designated").checked,
          termsHash: noteHash($("pg-terms").value),
        },
        { heading: "提出结对 Propose a pairing", note: "县里接受后生效；协议文本只以哈希上链，请双方各自保存。 It takes effect once the county accepts; only the terms' hash goes on chain: both sides keep the text." },
      );
      say("pairing-message", `结对已提交，等待县里接受。 Pairing submitted; waiting for the county: ${acc.record_id}`, "ok");
      track(acc.record_id, "结对 pairing", acc.status);
    });
  });
}

/** Fills the commitment form's pairing choice with the organization's accepted pairings. */
export async function loadPairingChoice(orgCode) {
  const select = $("c-pairing");
  if (!select || !orgCode) return;
  try {
    const mine = await api("GET", `/api/v1/pairings?org=${encodeURIComponent(orgCode)}&accepted=true`);
    select.replaceChildren(
      el("option", { value: "", text: "不归入结对 not part of a pairing" }),
      ...mine.map((p) => el("option", { value: p.pairing_id, text: pairingText(p) })),
    );
  } catch (exc) {
    say("c-pairing-note", explain(exc), "error");
  }
}

/** After a commitment is accepted: when the form names a pairing, signs the commitment's
 * CommitmentSource citing it (fundId zero: the fund part of the same source is the fund
 * program's). Returns the accepted source, or null when no pairing was chosen. */
/** The accepted pairing chosen in the commitment form, or null: fund.js signs it into the
 * commitment's one CommitmentSource, beside the fund drawn on if any. */
export function chosenPairing() {
  const select = $("c-pairing");
  if (!select || !select.value) return null;
  return { id: select.value, label: select.options[select.selectedIndex].textContent };
}

export function orgPairing({ onUnlock, state }) {
  if (!$("pairing-form")) return;
  wirePropose();
  $("c-pairing-refresh")?.addEventListener("click", () => {
    const mine = (state.roles || []).find((r) => r.role === "ORG");
    loadPairingChoice(mine && mine.org_code);
  });
  onUnlock(() => {
    const mine = (state.roles || []).find((r) => r.role === "ORG");
    if (mine && mine.org_code) loadPairingChoice(mine.org_code);
  });
}

// ---------------------------------------------------------------- county office

async function loadProposals(county) {
  const list = $("pairing-proposals");
  if (!list || !county) return;
  try {
    const waiting = await api("GET", `/api/v1/pairings?county=${county}&accepted=false`);
    list.replaceChildren(
      ...waiting.map((p) => {
        const b = el("button", { type: "button", class: "small", text: "签名接受 Sign and accept", "data-pairing": p.pairing_id });
        b.addEventListener("click", () =>
          attempt(b, "pairing-accept-message", async () => {
            const acc = await submit("pairing_acceptance", { pairingId: p.pairing_id, county: Number(county) }, { heading: "接受结对 Accept the pairing" });
            say("pairing-accept-message", `已接受结对 Pairing accepted: ${acc.record_id}`, "ok");
            track(acc.record_id, "接受结对 pairing acceptance", acc.status);
            b.disabled = true;
          }),
        );
        const cats = p.categories.map((c) => c.name).join("、");
        return el("li", { "data-pairing": p.pairing_id }, el("span", { text: `${pairingText(p)} · 领域 ${cats} ` }), b);
      }),
    );
    if (!waiting.length) list.replaceChildren(el("li", { text: "暂无待接受的结对 no pairing awaits your acceptance" }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

export function countyPairing({ onUnlock, state }) {
  if (!$("pairing-proposals")) return;
  const mine = () => (state.roles || []).find((r) => r.role === "COUNTY");
  $("pairing-refresh").addEventListener("click", () => loadProposals(mine() && mine().county));
  onUnlock(() => loadProposals(mine() && mine().county));
}

// ---------------------------------------------------------------- civil-affairs office

async function loadOversight() {
  const box = $("pairing-oversight");
  try {
    const o = await api("GET", "/api/v1/pairings/oversight");
    const unpaired = o.unpaired.map((c) => el("li", { text: `${c.county_name}（${c.county}）` }));
    const behind = o.behind.flatMap((c) => c.pairings.filter((p) => p.behind.length).map((p) => el("li", { text: `${c.county_name}：${p.org_name} 落后 behind ${p.behind_label}` })));
    box.replaceChildren(
      el("p", { class: "note", text: `${o.today} · 重点帮扶县 key counties: ${o.key_counties}. ${o.unpaired_rule}；${o.behind_rule}` }),
      el("h3", { text: `无人结对 Unpaired (${unpaired.length})` }),
      el("ul", { id: "oversight-unpaired" }, ...(unpaired.length ? unpaired : [el("li", { text: "无 none" })])),
      el("h3", { text: `进度落后 Behind (${behind.length})` }),
      el("ul", { id: "oversight-behind" }, ...(behind.length ? behind : [el("li", { text: "无 none" })])),
    );
  } catch (exc) {
    box.replaceChildren(el("p", { text: explain(exc) }));
  }
}

export function civilPairing() {
  if (!$("pairing-oversight")) return;
  $("oversight-refresh").addEventListener("click", loadOversight);
  loadOversight();
}
