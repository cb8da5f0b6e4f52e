// The county's household follow-up (回访): the batches of this county with no round yet
// (open a round: the province's rate, a seed block a few blocks ahead), the county's rounds,
// and for one round the follow-up list — the sampled lines (pseudonym, item, quantity) drawn
// from the seed block's hash, each with a result form that is signed here (FollowUp). A note
// never leaves the browser: it is screened for ID and phone numbers and only its SHA-256 is
// signed. Cards, not tables, so that it works on a phone.
import { api, explain } from "./api.js";
import { submit, noteHash } from "./records.js";
import { countyName, requireWallet, signAdminTx } from "./sign.js";
import { $, el, say, busy, attempt, fieldError } from "./ui.js";
import { track } from "./track.js";

const OUTCOMES = [
  [1, "全部收到 received in full"],
  [2, "部分收到 received in part"],
  [3, "未收到 not received"],
  [4, "查无此户 household not found"],
];

// The same patterns as ledger.library.pii (which the SDK and CLI use): a mainland mobile
// number and a resident ID number, after NFKC so full-width digits count.
const MOBILE = /(?<![0-9])(?:(?:\+|00)?86[\s\-.]?)?1[3-9]\d(?:[\s\-.]?\d){8}(?![0-9])/;
const ID_NUMBER = /(?<![0-9A-Za-z])\d{6}[\s\-.]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[\s\-.]?\d{3}[\dXx](?![0-9A-Za-z])/;

export function personalInNote(text) {
  const t = (text || "").normalize("NFKC");
  if (ID_NUMBER.test(t)) return "备注含有身份证号：回访记录只写情况，不写个人信息 / the note contains an ID number: say what was found, never who";
  if (MOBILE.test(t)) return "备注含有手机号：回访记录只写情况，不写个人信息 / the note contains a phone number: say what was found, never who";
  return null;
}

let county = null;

function short(hex) {
  return hex ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : "";
}

async function loadBatches() {
  const list = $("fu-batches");
  if (!county) {
    list.replaceChildren(el("li", { class: "empty", text: "请先解锁县级密钥 unlock the county's key first" }));
    return;
  }
  try {
    const doc = await api("GET", `/api/v1/follow-up/batches?county=${county}`);
    say(
      "fu-rate",
      doc.rate_bps
        ? `省级回访比例 The province's rate: ${doc.rate_text}（${doc.rate_bps} 基点 bps）；当前区块 current block ${doc.current_block}`
        : "省级尚未设定回访比例，暂不能开启回访。 The province has not set a follow-up rate yet.",
      doc.rate_bps ? "" : "error",
    );
    const items = doc.batches.map((b) => {
      const button = el("button", { type: "button", class: "small", text: "开启回访 Open a round", "data-batch": b.batch_id, disabled: !doc.rate_bps });
      button.addEventListener("click", (e) => openRound(e.currentTarget, b));
      return el(
        "li",
        { "data-batch": b.batch_id },
        el("span", { text: `${b.org_name || b.org} · ${b.line_count} 行 lines · 抽 sample ${b.sample_size} · ${b.delivered_at} 北京时间 ` }),
        el("code", { class: "wrap", text: short(b.batch_id) }),
        button,
      );
    });
    list.replaceChildren(...items);
    if (!items.length) list.replaceChildren(el("li", { class: "empty", text: "没有待回访的批次 no batch to follow up" }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

function openRound(button, batch) {
  busy(button, async () => {
    try {
      // The seed block and rate are read again now: the seed must still lie ahead.
      const doc = await api("GET", `/api/v1/follow-up/batches?county=${county}`);
      const acc = await submit(
        "follow_up_round",
        { batchId: batch.batch_id, county, seedBlock: doc.seed_block, rateBps: doc.rate_bps },
        {
          heading: "开启回访 Open a follow-up round",
          note: `${countyName(county)} 对 ${batch.org_name || batch.org} 的交付批次（${batch.line_count} 行）回访：按 ${doc.rate_text} 抽样 ${batch.sample_size} 户，样本由第 ${doc.seed_block} 号区块的哈希决定。 Follow up ${batch.sample_size} of ${batch.line_count} lines, drawn from block ${doc.seed_block}'s hash.`,
        },
      );
      say("fu-open-message", `回访轮次已提交，样本将在第 ${doc.seed_block} 号区块产生后确定。 Round submitted; the sample is drawn once block ${doc.seed_block} is mined.`, "ok");
      track(acc.record_id, "回访轮次 follow-up round", acc.status);
      button.disabled = true;
    } catch (exc) {
      say("fu-open-message", explain(exc), "error");
    }
  });
}

async function loadRounds() {
  const list = $("fu-rounds");
  if (!county) return;
  try {
    const rounds = await api("GET", `/api/v1/follow-up/rounds?county=${county}`);
    list.replaceChildren(
      ...rounds.map((r) => {
        const res = r.results;
        const button = el("button", { type: "button", class: "small", text: "回访名单 Follow-up list", "data-round": r.round_id });
        button.addEventListener("click", () => showRound(r.round_id));
        return el(
          "li",
          { "data-round": r.round_id },
          el("span", {
            text: `${r.org_name || r.org} · 抽样 sample ${r.sample_size}/${r.line_count} · 已回访 done ${res.followed_up} · 未收到 not received ${res.not_received} · ${r.opened_at} 北京时间 `,
          }),
          button,
        );
      }),
    );
    if (!rounds.length) list.replaceChildren(el("li", { class: "empty", text: "暂无回访轮次 no round yet" }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

function resultForm(round, line) {
  const name = `fu-o-${line.line_index}`;
  const qId = `fu-q-${line.line_index}`;
  const nId = `fu-n-${line.line_index}`;
  const mId = `fu-m-${line.line_index}`;
  const choices = OUTCOMES.map(([value, text]) =>
    el("p", { class: "choice" }, el("input", { type: "radio", name, id: `${name}-${value}`, value: String(value) }), " ", el("label", { for: `${name}-${value}`, text })),
  );
  const quantity = el("div", { class: "field", hidden: true }, el("label", { for: qId, text: `收到的数量（少于 ${line.quantity_text}） Quantity received (less than ${line.quantity_text})` }), el("input", { id: qId, inputmode: "numeric", autocomplete: "off" }));
  const note = el("div", { class: "field" }, el("label", { for: nId, text: "备注（只以哈希上链，不写个人信息） Note (only its hash goes on chain; no personal data)" }), el("input", { id: nId, maxlength: "500", autocomplete: "off" }));
  const message = el("p", { id: mId, class: "message", role: "status", "aria-live": "polite" });
  const button = el("button", { type: "submit", text: "签名提交回访结果 Sign the result" });
  const form = el("form", { class: "fu-result", novalidate: true, "data-line": String(line.line_index) }, el("fieldset", { class: "field" }, el("legend", { text: "回访结果 Result" }), ...choices), quantity, note, button, message);
  form.addEventListener("change", () => {
    const picked = form.querySelector(`input[name="${name}"]:checked`);
    quantity.hidden = !picked || picked.value !== "2";
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const picked = form.querySelector(`input[name="${name}"]:checked`);
    if (!picked) return say(message, "请选择回访结果 / choose the result", "error");
    const outcome = Number(picked.value);
    let qty = 0;
    if (outcome === 2) {
      const text = $(qId).value.trim();
      qty = /^\d{1,15}$/.test(text) ? Number(text) : 0;
      if (!qty || qty >= line.quantity) return say(message, `部分收到的数量须为 1 到 ${line.quantity - 1} / received in part: a whole number from 1 to ${line.quantity - 1}`, "error");
    }
    const noteText = $(nId).value;
    const bad = personalInNote(noteText);
    if (bad) return say(message, bad, "error");
    busy(button, async () => {
      try {
        const words = OUTCOMES.find(([v]) => v === outcome)[1];
        const acc = await submit(
          "follow_up",
          { roundId: round.round_id, lineIndex: line.line_index, lineHash: line.line_hash, outcome, quantity: qty, noteHash: noteHash(noteText) },
          {
            heading: "回访结果 Follow-up result",
            note: `第 ${line.line_index} 行 line ${line.line_index}：${line.item} ${line.quantity_text}，假名 pseudonym ${short(line.pseudonym)}。结果 result：${words}${outcome === 2 ? `，收到 received ${qty}` : ""}。`,
          },
        );
        say(message, `已提交 submitted: ${words}`, "ok");
        track(acc.record_id, "回访结果 follow-up", acc.status);
        form.querySelectorAll("input, button").forEach((n) => (n.disabled = true));
        form.closest("li").dataset.done = "1";
      } catch (exc) {
        say(message, explain(exc), "error");
      }
    });
  });
  return form;
}

function lineCard(round, line) {
  const facts = line.held
    ? [
        el("strong", { text: `#${line.line_index} ${line.item} · ${line.quantity_text}` }),
        el("br"),
        el("span", { text: `假名 pseudonym ` }),
        el("code", { class: "wrap", text: short(line.pseudonym) }),
        el("span", { text: ` · 交付 delivered ${line.delivered_at} 北京时间` }),
      ]
    : [el("strong", { text: `#${line.line_index}` }), el("span", { text: " 本服务未保存该行 the line is not held here" })];
  const li = el("li", { "data-line": String(line.line_index), class: "fu-line" }, el("p", {}, ...facts));
  if (line.result) {
    li.dataset.done = "1";
    li.append(el("p", { class: "message", "data-kind": "ok", text: `已回访 done: ${line.result.outcome_text}${line.result.quantity_text ? ` · ${line.result.quantity_text}` : ""} · ${line.result.recorded_at} 北京时间` }));
  } else if (line.held) {
    li.append(resultForm(round, line));
  }
  return li;
}

async function showRound(roundId) {
  $("fu-round").hidden = false;
  say("fu-round-message", "正在读取 loading…", "busy");
  try {
    const r = await api("GET", `/api/v1/follow-up/rounds/${roundId}`);
    $("fu-round").dataset.round = roundId;
    $("fu-round-facts").textContent = `${r.county_name} · ${r.org_name || r.org} · ${r.line_count} 行 lines · 比例 rate ${r.rate_text} · 种子区块 seed block ${r.seed_block}`;
    if (!r.seed_known) {
      $("fu-sample").replaceChildren();
      say("fu-round-message", `种子区块尚未产生（还需约 ${r.blocks_to_seed} 个区块），样本未定。 The seed block is not mined yet (${r.blocks_to_seed} blocks to go): the sample is not drawn.`, "busy");
      return;
    }
    say("fu-round-message", `样本 ${r.sample.length} 户，由第 ${r.seed_block} 号区块的哈希抽出，任何人可复算。 ${r.sample.length} households, drawn from block ${r.seed_block}'s hash; anyone can recompute it.`, "");
    $("fu-sample").replaceChildren(...r.sample.map((line) => lineCard(r, line)));
    $("fu-round-h").focus?.();
  } catch (exc) {
    say("fu-round-message", explain(exc), "error");
  }
}

export function followUp({ onUnlock, state }) {
  if (!$("follow-up")) return;
  $("fu-refresh").addEventListener("click", () => {
    loadBatches();
    loadRounds();
  });
  loadBatches();
  onUnlock(() => {
    const mine = (state.roles || []).find((r) => r.role === "COUNTY");
    county = mine ? Number(mine.county) : null;
    loadBatches();
    loadRounds();
  });
}

// ---------------------------------------------------------------- 回访比例 (civil affairs)

/** Basis points from a percentage typed as text ("10", "12.5"), or null. */
export function bpsOf(text) {
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) return null;
  const bps = Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  return bps <= 10000 ? bps : null;
}

async function showRate() {
  try {
    const r = await api("GET", "/api/v1/follow-up/rate");
    say("fr-current", r.set ? `当前比例 current rate: ${r.rate_text}（${r.rate_bps} 基点 bps）` : "尚未设定，县级部门暂不能开启回访。 Not set yet: counties cannot open a round.");
  } catch (exc) {
    say("fr-current", explain(exc), "error");
  }
}

async function setRate(bps) {
  const w = requireWallet();
  const prepared = await api("POST", "/api/v1/follow-up/rate/prepare", { json: { admin: w.address, rate_bps: bps } });
  const rows = [
    ["操作 action", prepared.summary["操作"]],
    ["比例 rate", prepared.summary["比例"]],
  ];
  const raw = await signAdminTx(w, "回访比例交易 Follow-up rate transaction", prepared.tx, rows);
  return api("POST", "/api/v1/follow-up/rate", { json: { raw_tx: raw } });
}

export function followUpRate() {
  if (!$("follow-up-rate")) return;
  showRate();
  $("fr-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("fr-percent");
    const bps = bpsOf(input.value);
    fieldError(input, bps === null ? "请填写 0 到 100 之间的百分比，最多两位小数 / a percentage from 0 to 100, at most 2 decimals" : "");
    if (bps === null) return input.focus();
    attempt(e.submitter, "fr-message", async () => {
      const out = await setRate(bps);
      say("fr-message", `回访比例已设为 ${out.rate_text}。 The follow-up rate is now ${out.rate_text}.`, "ok");
      showRate();
    });
  });
}
