// The organization's workspace (社会组织): its public profile (机构简介, a signed OrgProfile),
// publish a supply project, 接单 on a need, commit
// funds / goods / service hours with a due date, log a delivery with an evidence file
// (hashed here, uploaded signed), and follow every record queued → sent → confirmed.
import { api, explain, ApiError } from "./api.js";
import { publishAll, propose, answer, supplyContent, newNonce } from "./library.js";
import { submit, text32, noteHash, uploadEvidence, domain } from "./records.js";
import { countyName, CATEGORIES, yuan, number, consent, domainSection, signConfirmed, requireWallet, beijing, Cancelled } from "./sign.js";
import { $, el, say, validate, busy, attempt, listPublished, fenOf, positiveAmount, HEX32, hex32Check, ORG_CODE, endOfDayBeijing, beijingSeconds } from "./ui.js";
import { track } from "./track.js";
import { inbox } from "./inbox.js";
import { ZeroHash } from "ethers";
import { wireBatch } from "./batch.js";
import { wireFunds, loadFunds, drawChecks, submitCommitment } from "./fund.js";

const KIND_NUMBER = { funds: 1, goods: 2, service: 3 };
const UNIT = { funds: "fen", service: "hour" };

const amount = (kindId, v) => positiveAmount($(kindId).value === "funds", v);

const quantityOf = (kindId, v) => ($(kindId).value === "funds" ? fenOf(v) : Number(v));

function wireSupply() {
  const box = $("s-categories");
  CATEGORIES.forEach(([zh, en], i) => {
    const id = `s-cat-${i + 1}`;
    box.append(el("span", { class: "check" }, el("input", { type: "checkbox", id, value: zh }), el("label", { for: id, text: `${zh} ${en}` })));
  });
  $("supply-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const cats = [...box.querySelectorAll("input:checked")].map((i) => i.value);
    const regions = $("s-regions").value.split(/[\s,，、]+/).filter(Boolean);
    const ok = validate({
      "s-org": (v) => (ORG_CODE.test(v) ? null : "统一社会信用代码为 18 位 / the credit code has 18 characters"),
      "s-title": (v) => (v && v.length <= 100 ? null : "请填写标题（最多 100 字） / a title of at most 100 characters"),
      "s-cat-1": () => (cats.length ? null : "至少选择一个领域 / choose at least one category"),
      "s-regions": () => (regions.length && regions.every((r) => /^\d{2}$|^\d{6}$/.test(r)) ? null : "填写省（2 位）或县（6 位）代码，用逗号分隔 / province (2-digit) or county (6-digit) codes, comma separated"),
      "s-quantity": (v) => amount("s-kind", v),
      "s-unit": (v) => ($("s-kind").value === "goods" && !v ? "物资请填写单位 / goods need a unit" : null),
      "s-start": (v) => (v ? null : "请选择开始日期 / choose a start date"),
      "s-end": (v) => (!v ? "请选择结束日期 / choose an end date" : v < $("s-start").value ? "结束日期早于开始日期 / the end is before the start" : null),
    });
    if (!ok) {
      say("supply-message", "请先改正标出的字段，未发送任何内容。 Fix the marked fields first; nothing was sent.", "error");
      return;
    }
    attempt(e.submitter, "supply-message", async () => {
      const kind = $("s-kind").value;
      const content = supplyContent({
        title: $("s-title").value.trim(),
        description: $("s-desc").value.trim(),
        categories: cats,
        regions,
        capacity: [{ kind, quantity: quantityOf("s-kind", $("s-quantity").value.trim()), unit: $("s-unit").value.trim(), item: $("s-item").value.trim() }],
        period_start: $("s-start").value,
        period_end: $("s-end").value,
      });
      const [p] = await publishAll("supply", [content], { domain: await domain(), orgCode: $("s-org").value.trim() });
      say("supply-message", `供给项目已发布 Supply project published: ${p.project_id}`, "ok");
      track(p.anchor_id, "供给上链 supply anchor", p.record_status);
    });
  });
}

// ---------------------------------------------------------------- 机构简介 profile

// A mainland mobile number (also with spaces, dashes or +86), after NFKC so full-width digits
// count; the server screens the same way (ledger.library.pii) and has the last word.
const MOBILE = /(?<![0-9])(?:(?:\+|00)?86[\s\-.]?)?1[3-9]\d(?:[\s\-.]?\d){8}(?![0-9])/;
const ID_NUMBER = /(?<![0-9A-Za-z])\d{6}[\s\-.]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[\s\-.]?\d{3}[\dXx](?![0-9A-Za-z])/;

function personal(v) {
  const t = v.normalize("NFKC");
  if (MOBILE.test(t)) return "不要填写个人手机号：简介是公开的，请写部门或岗位（如 项目部） / no personal phone numbers: the profile is public; give a department or post (e.g. 项目部)";
  if (ID_NUMBER.test(t)) return "不要填写身份证号：简介是公开的 / no ID numbers: the profile is public";
  return null;
}

function httpsUrl(v) {
  if (!v) return null;
  try {
    const u = new URL(v);
    if (u.protocol === "https:" && u.hostname.includes(".") && !u.username && !u.password && !/\s/.test(v)) return null;
  } catch {
    // not a URL at all
  }
  return "网站须为 https:// 开头的网址（或留空） / the website must be an https:// URL (or empty)";
}

const profilePath = (code) => `/api/v1/orgs/${encodeURIComponent(code)}/profile`;

async function loadProfile() {
  const code = $("p-org").value.trim();
  if (!ORG_CODE.test(code)) {
    validate({ "p-org": () => "统一社会信用代码为 18 位 / the credit code has 18 characters" });
    return;
  }
  try {
    const shown = await api("GET", profilePath(code));
    const p = shown.profile;
    $("p-desc").value = p ? p.description : "";
    $("p-contact").value = p ? p.contact_role : "";
    $("p-website").value = p ? p.website : "";
    say("profile-message", p ? `${shown.name}：当前为第 ${p.version} 版 current version ${p.version}` : `${shown.name}：尚无简介 no profile yet`, "ok");
  } catch (exc) {
    say("profile-message", explain(exc), "error");
  }
}

function wireProfile() {
  $("profile-load").addEventListener("click", loadProfile);
  $("profile-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "p-org": (v) => (ORG_CODE.test(v) ? null : "统一社会信用代码为 18 位 / the credit code has 18 characters"),
      "p-desc": (v) => (!v ? "请填写机构简介 / describe what the organization does" : v.length > 2000 ? "最多 2000 字 / at most 2000 characters" : personal(v)),
      "p-contact": (v) => (v.length > 64 ? "最多 64 字 / at most 64 characters" : personal(v)),
      "p-website": (v) => httpsUrl(v),
    });
    if (!ok) {
      say("profile-message", "请先改正标出的字段，未发送任何内容。 Fix the marked fields first; nothing was sent.", "error");
      return;
    }
    say("profile-message", "");
    busy(e.submitter, async () => {
      try {
        const w = requireWallet();
        const code = $("p-org").value.trim();
        // only the next version number comes from the server; the rest is made here
        const offered = await api("GET", `${profilePath(code)}/to-sign`);
        const message = {
          orgCode: code,
          description: $("p-desc").value.trim(),
          contactRole: $("p-contact").value.trim(),
          website: $("p-website").value.trim(),
          version: Number(offered.message.version),
          nonce: newNonce(),
          expiry: Math.floor(Date.now() / 1000) + 600,
        };
        const typed = { ...offered.typed_data, message };
        const d = typed.domain;
        const confirmed = await consent("机构简介 Organization profile", [
          {
            heading: "机构简介（公开） organization profile (public)",
            rows: [
              ["统一社会信用代码 org credit code", message.orgCode, "orgCode"],
              ["机构简介 description", message.description, "description"],
              ["联系角色 contact role", message.contactRole || "无 none", "contactRole"],
              ["网站 website", message.website || "无 none", "website"],
              ["版本 version", String(message.version), "version"],
              ["签名有效至 valid until", beijing(message.expiry), "expiry"],
              ["随机数 nonce", message.nonce, "nonce"],
            ],
          },
          domainSection(d, w.address),
        ]);
        if (!confirmed) throw new Cancelled();
        const signature = await signConfirmed(typed);
        const stored = await api("PUT", profilePath(code), { json: { message, signature } });
        const link = $("profile-page");
        say("profile-message", `简介已签名并更新：第 ${stored.version} 版。 Profile signed and updated: version ${stored.version}.`, "ok");
        if (link) link.remove();
        $("profile-message").after(el("p", { id: "profile-page" }, el("a", { href: `/orgs/${code}`, text: "查看门户页面 See the public page" })));
      } catch (exc) {
        if (exc instanceof ApiError && exc.body && exc.body.field) {
          const input = { description: "p-desc", contactRole: "p-contact", website: "p-website" }[exc.body.field];
          if (input) validate({ [input]: () => explain(exc) });
        }
        say("profile-message", explain(exc), "error");
      }
    });
  });
}

function needText(p) {
  const c = p.content;
  const res = (c.resources || []).map((r) => (r.kind === "funds" ? yuan(r.quantity) : `${number(r.quantity)} ${r.unit} ${r.item || ""}`.trim())).join("、");
  return `${c.title} · ${countyName(c.county)} · ${res} · 截止 until ${c.deadline}`;
}

function loadNeeds() {
  return listPublished("need-list", "need", "暂无已发布的需求 no published needs yet", (p) => {
    const b = el("button", { type: "button", class: "small", text: "接单 Take", "data-need": p.project_id });
    b.addEventListener("click", () => {
      $("t-need").value = p.project_id;
      $("c-need").value = p.project_id;
      $("t-note").focus();
    });
    return el("li", { "data-need": p.project_id }, el("span", { text: needText(p) + " " }), b);
  });
}

function wireTake() {
  $("needs-refresh").addEventListener("click", loadNeeds);
  $("take-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "t-need": hex32Check("需求编号", "a need id"),
      "s-org": (v) => (ORG_CODE.test(v) ? null : "请在上方填写本组织的统一社会信用代码 / enter your credit code above"),
    });
    if (!ok) return;
    attempt(e.submitter, "take-message", async () => {
      const m = await propose({ direction: "take", needId: $("t-need").value.trim(), orgCode: $("s-org").value.trim(), note: $("t-note").value.trim() });
      say("take-message", `接单已发出，等待县里答复。 Taken; waiting for the county. 对接编号 match ${m.match_id}`, "ok");
      $("c-match").value = m.match_id;
      $("c-need").value = m.need_id;
    });
  });
}

function wireCommit() {
  $("c-kind").addEventListener("change", () => {
    const k = $("c-kind").value;
    $("c-quantity-label").textContent = k === "funds" ? "金额（元） Amount (元)" : k === "service" ? "服务时长（小时） Service hours" : "数量 Quantity";
    $("c-unit").disabled = k !== "goods";
  });
  $("commit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "c-need": hex32Check("需求编号", "a need id"),
      "c-match": (v) => (HEX32.test(v) ? null : "对接编号为 0x 加 64 位十六进制（须已被接受） / a match id (accepted) is 0x and 64 hex digits"),
      "c-quantity": (v) => amount("c-kind", v),
      "c-unit": (v) => ($("c-kind").value === "goods" && !v ? "物资请填写单位 / goods need a unit" : null),
      "c-due": (v) => (!v ? "请选择完成日期 / choose a due date" : endOfDayBeijing(v) < Date.now() / 1000 ? "完成日期已过 / the due date is in the past" : null),
      ...drawChecks(), // 专项基金 the "draw on a fund" block (fund.js)
    });
    if (!ok) return;
    busy(e.submitter, async () => {
      const kind = $("c-kind").value;
      try {
        // with a fund chosen, the commitment and its CommitmentSource go together (fund.js)
        const acc = await submitCommitment(
          {
            needId: $("c-need").value.trim().toLowerCase(),
            matchId: $("c-match").value.trim().toLowerCase(),
            resourceKind: KIND_NUMBER[kind],
            quantity: quantityOf("c-kind", $("c-quantity").value.trim()),
            unit: text32(UNIT[kind] || $("c-unit").value.trim()),
            dueDate: endOfDayBeijing($("c-due").value),
            termsHash: noteHash($("c-terms").value),
          },
          { heading: "承诺 Commit" },
        );
        say("commit-message", `承诺已提交 Commitment submitted: ${acc.record_id}`, "ok");
        $("d-commitment").value = acc.record_id;
        $("d-kind").value = kind === "funds" ? "funds" : "other";
        track(acc.record_id, "承诺 commitment", acc.status);
      } catch (exc) {
        say("commit-message", explain(exc), "error");
      }
    });
  });
}

function wireDelivery() {
  $("delivery-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const funds = $("d-kind").value === "funds";
    const ok = validate({
      "d-commitment": hex32Check("承诺编号", "a commitment id"),
      "d-quantity": (v) => positiveAmount(funds, v),
      "d-at": (v) => (!v ? "请填写交付时间 / enter when it was delivered" : beijingSeconds(v) > Date.now() / 1000 + 300 ? "交付时间不能在将来 / the delivery time cannot be in the future" : null),
      "d-beneficiaries": (v) => (/^\d{1,9}$/.test(v) ? null : "受益人数为整数 / a whole number"),
    });
    if (!ok) return;
    attempt(e.submitter, "delivery-message", async () => {
      const file = $("d-file").files[0];
      let evidence = ZeroHash;
      if (file) {
        say("delivery-message", "正在计算文件 SHA-256… computing the file's SHA-256…", "busy");
        const up = await uploadEvidence(file, $("d-public").checked);
        evidence = up.sha256;
        $("d-hash").textContent = `SHA-256 ${up.sha256}${up.stored ? "" : "（此服务器尚不保存文件，仅记录哈希 this server does not store files yet: only the hash is recorded）"}`;
      }
      const q = $("d-quantity").value.trim();
      const acc = await submit(
        "delivery",
        {
          commitmentId: $("d-commitment").value.trim().toLowerCase(),
          quantity: funds ? fenOf(q) : Number(q),
          deliveredAt: beijingSeconds($("d-at").value),
          evidenceHash: evidence,
          beneficiaryCount: Number($("d-beneficiaries").value.trim()),
          beneficiaryRoot: ZeroHash,
        },
        { heading: "交付 Delivery", note: funds ? "数量以分计：100 分 = 1 元。 The quantity is in fen: 100 fen = 1 元." : "" },
      );
      say("delivery-message", `交付已提交 Delivery submitted: ${acc.record_id}`, "ok");
      track(acc.record_id, "交付 delivery", acc.status);
    });
  });
}

export function org({ onUnlock, state }) {
  wireProfile();
  wireSupply();
  wireTake();
  wireCommit();
  wireDelivery();
  wireBatch();
  wireFunds();
  loadNeeds();
  const now = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 16);
  $("d-at").value = now;
  inbox({ answer, receipt: () => {} });
  onUnlock(() => {
    const mine = (state.roles || []).find((r) => r.role === "ORG");
    if (mine && mine.org_code && !$("s-org").value) $("s-org").value = mine.org_code;
    loadFunds();
    if (mine && mine.org_code && !$("p-org").value) {
      $("p-org").value = mine.org_code;
      loadProfile();
    }
  });
}
