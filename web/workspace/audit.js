// The auditor's workspace (审计): run the independent audit (a signed AuditRun, shown in the
// signing dialog first), follow its progress and read the latest audit's findings, each linked
// to its record's portal page; flag a record (a Flag record signed here); the latest signed
// checkpoints with their witnesses, read from the public checkpoint endpoints.
import { api, explain } from "./api.js";
import { submit, noteHash, domain } from "./records.js";
import { newNonce } from "./library.js";
import { consent, section, domainSection, requireWallet, signConfirmed, Cancelled, beijing, number } from "./sign.js";
import { $, el, say, validate, busy, attempt, hex32Check } from "./ui.js";
import { track } from "./track.js";

const AUDIT_TYPES = {
  AuditRun: [
    { name: "nonce", type: "string" },
    { name: "expiry", type: "uint64" },
  ],
};

const PHASES = {
  bytecode: "合约代码 contract code",
  events: "读取链上事件 reading the chain's events (blocks)",
  records: "核验记录 checking records",
  totals: "核对合计 checking totals",
  database: "比对数据库 diffing the database",
  evidence: "核对证据文件 checking evidence files",
};

const CHECKS = {
  bytecode: "合约代码",
  signatures: "签名",
  roles_and_rules: "角色与规则",
  log_root: "日志根",
  historical_roots: "历史日志根",
  commitment_totals: "承诺合计",
  database: "数据库",
  batch_lines: "批量交付明细",
  checkpoints: "检查点",
  outbox: "发件队列",
  match_rule: "撮合规则",
  library: "项目库",
  evidence: "证据文件",
  duplicate_beneficiary: "重复受益人",
  anomalies: "异常",
};

const SEVERITY = {
  integrity: "完整性问题 integrity finding",
  anomaly: "异常 anomaly",
};

const STATUS = {
  running: "运行中 running",
  done: "已完成 finished",
  failed: "未能完成 could not finish",
};

/** ISO time → Beijing time in words. */
function when(iso) {
  return iso ? beijing(Math.floor(Date.parse(iso) / 1000)) : "—";
}

function progressOf(run) {
  const box = $("audit-progress-box");
  const bar = $("audit-progress");
  if (run.status !== "running") {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const p = run.progress;
  if (p && p.total) {
    bar.max = p.total;
    bar.value = Math.min(p.done, p.total);
  } else {
    bar.removeAttribute("value");
  }
  const phase = p ? PHASES[p.phase] || p.phase : "准备中 starting";
  say("audit-phase", p ? `${phase}：${number(p.done)}${p.total ? ` / ${number(p.total)}` : ""}` : phase);
}

function findingItem(f) {
  const li = el("li", { "data-code": f.code, "data-severity": f.severity });
  li.append(
    el("strong", { text: `${f.words.zh} ` }),
    el("span", { lang: "en", text: `${f.words.en} ` }),
    el("span", { class: "badge", text: ` ${SEVERITY[f.severity] || f.severity} ` }),
    el("br"),
    el("code", { text: f.code }),
  );
  const ids = f.record_ids && f.record_ids.length ? f.record_ids : f.record_id ? [f.record_id] : [];
  for (const id of ids) {
    li.append(" · ", el("a", { href: `/verify?id=${encodeURIComponent(id)}`, class: "wrap", text: `记录 record ${id}` }));
  }
  li.append(el("div", { class: "note", text: f.message }));
  return li;
}

function renderRun(run) {
  const box = $("audit-latest");
  progressOf(run);
  const facts = el("dl", { class: "facts" });
  const fact = (label, text, name) =>
    facts.append(el("dt", { text: label }), el("dd", { text, "data-field": name, class: /^0x[0-9a-f]{40,}$/i.test(text) ? "wrap" : null }));
  let verdict;
  if (run.status === "done") verdict = run.passed ? "通过 passed" : "未通过 failed";
  else if (run.status === "failed") verdict = "未能完成 could not finish";
  else verdict = "运行中 running";
  fact("结论 Verdict", verdict, "verdict");
  fact("状态 Status", STATUS[run.status] || run.status, "status");
  fact("开始 Started", when(run.started_at), "started");
  fact("结束 Finished", when(run.finished_at), "finished");
  fact("发起人 Requested by", run.requested_by, "requested_by");
  if (run.blocks) fact("区块 Blocks", `${number(run.blocks.from)} – ${number(run.blocks.to)}`, "blocks");
  if (run.counts) {
    fact("完整性问题 Integrity findings", number(run.counts.integrity), "integrity");
    fact("异常 Anomalies", number(run.counts.anomaly), "anomaly");
  }
  if (run.error) fact("原因 Reason", `${run.error.message} [${run.error.code}]`, "error");
  const parts = [el("p", { class: "message", "data-kind": run.status === "done" ? (run.passed ? "ok" : "error") : run.status === "failed" ? "error" : "busy", id: "audit-verdict", text: verdict }), facts];
  if (run.checks) {
    const checks = el("ul", { class: "plain", id: "audit-checks" });
    for (const [name, result] of Object.entries(run.checks)) checks.append(el("li", { "data-check": name, text: `${CHECKS[name] ? `${CHECKS[name]} ` : ""}${name}: ${result}` }));
    parts.push(el("h4", { text: "各项检查 Checks" }), checks);
  }
  if (run.status === "done") {
    const list = el("ul", { class: "plain", id: "audit-findings" });
    if (!run.findings.length) list.append(el("li", { class: "empty", text: "没有发现问题 no findings" }));
    for (const f of run.findings) list.append(findingItem(f));
    parts.push(el("h4", { text: `发现 Findings（${number(run.findings.length)}）` }), list);
  }
  box.replaceChildren(...parts);
  box.dataset.status = run.status;
  box.dataset.passed = String(run.passed);
}

async function loadLatest() {
  try {
    const run = await api("GET", "/api/v1/audits/latest");
    renderRun(run);
    return run;
  } catch (exc) {
    if (exc.code !== "audit_not_found") say("audit-message", explain(exc), "error");
    return null;
  }
}

async function follow(id) {
  for (;;) {
    const run = await api("GET", `/api/v1/audits/${id}`);
    renderRun(run);
    if (run.status !== "running") return run;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function runAudit() {
  const w = requireWallet();
  const typed = {
    domain: await domain(),
    types: AUDIT_TYPES,
    primaryType: "AuditRun",
    message: { nonce: newNonce(), expiry: Math.floor(Date.now() / 1000) + 600 },
  };
  const d = typed.domain;
  const sections = [
    section(typed, "运行审计 Run an audit (AuditRun)"),
    domainSection(d, w.address),
  ];
  const note = "审计只读取链上数据、数据库和证据文件，不改动任何记录；一次只运行一个审计。 The audit only reads the chain, the database and the evidence files and changes no record; one audit runs at a time.";
  if (!(await consent("运行审计 Run an audit", sections, note))) throw new Cancelled();
  const signature = await signConfirmed(typed);
  const started = await api("POST", "/api/v1/audits", { json: { message: typed.message, signature } });
  say("audit-message", started.started ? `审计已开始 Audit started (#${started.id})` : `已有审计在运行，显示其进度 An audit is already running; showing it (#${started.id})`, "busy");
  const run = await follow(started.id);
  if (run.status === "done") say("audit-message", `审计完成 Audit finished：${run.passed ? "通过 passed" : "未通过 failed"}（#${run.id}）`, run.passed ? "ok" : "error");
  else say("audit-message", `审计未能完成 The audit could not finish: ${run.error ? `${run.error.message} [${run.error.code}]` : ""}`, "error");
}

function checkpointItem(c) {
  const witnesses = c.witnesses && c.witnesses.length ? `${c.witnesses.length} 个见证 witnesses: ${c.witnesses.join("、")}` : "尚无见证联署 no witness cosignature yet";
  return el(
    "li",
    {},
    el("strong", { text: `检查点 Checkpoint #${c.id}` }),
    ` · 记录数 size ${number(c.size)} · 区块 block ${number(c.block)} · ${witnesses}`,
    el("br"),
    el("code", { class: "wrap", text: `root ${c.root}` }),
  );
}

async function loadCheckpoints() {
  const list = $("checkpoints");
  try {
    const rows = await api("GET", "/api/v1/checkpoints?limit=5");
    list.replaceChildren(...rows.map(checkpointItem));
    if (!rows.length) list.replaceChildren(el("li", { text: "尚无检查点 no checkpoint yet" }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

export function audit() {
  $("audit-run").addEventListener("click", (e) => {
    attempt(e.currentTarget, "audit-message", async () => {
      await runAudit();
    });
  });
  $("flag-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "f-record": hex32Check("记录编号", "a record id"),
      "f-note": (v) => ($("f-reason").value === "65535" && !v ? "选择“其他”时请写明原因 / explain the reason when it is “other”" : null),
    });
    if (!ok) return;
    attempt(e.submitter, "flag-message", async () => {
      const acc = await submit(
        "flag",
        { recordId: $("f-record").value.trim().toLowerCase(), reasonCode: Number($("f-reason").value), noteHash: noteHash($("f-note").value) },
        { heading: "审计标记 Flag a record", note: "备注只以哈希上链；请另行保存备注原文。 Only the note's hash goes on chain; keep the note itself." },
      );
      say("flag-message", `标记已提交 Flag submitted: ${acc.record_id}`, "ok");
      track(acc.record_id, "标记 flag", acc.status);
    });
  });
  loadCheckpoints();
  loadLatest().then((run) => {
    if (run && run.status === "running") follow(run.id).catch((exc) => say("audit-message", explain(exc), "error"));
  });
}
