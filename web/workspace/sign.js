// Signing with consent: before any signature the user sees, in words, every field of what is
// signed (title, county by name, amounts in 元, dates in Beijing time, resource kinds), and
// confirms or cancels in a modal <dialog> that works by keyboard (Tab, Enter, Esc). Only then
// does ethers sign (`wallet.signTypedData`, or `signTransaction` for the admin's calls).
import { toUtf8String, getBytes, Transaction } from "ethers";
import { wallet } from "./keystore.js";

export const CATEGORIES = [
  ["产业发展", "industry development"],
  ["人才培育", "talent cultivation"],
  ["特殊群体关爱", "care for special groups"],
  ["乡村治理", "rural governance"],
  ["科技助农", "technology for farming"],
  ["文化体育", "culture and sport"],
  ["环保生态", "environment and ecology"],
  ["卫生健康", "health"],
  ["社会治理", "social governance"],
  ["民生保障", "livelihood security"],
];

const KINDS = { 1: "资金 funds", 2: "物资 goods", 3: "服务 service", funds: "资金 funds", goods: "物资 goods", service: "服务 service" };
const FLAG_REASONS = {
  1: "证据不符 evidence mismatch",
  2: "逾期交付 late delivery",
  3: "签收不足 receipt shortfall",
  4: "受益人重复 duplicate beneficiary",
  5: "数据篡改 data tampering",
  65535: "其他 other",
};
const ACTIONS = {
  draft: "新建草稿（随后发布）create the draft (then publish)",
  publish: "发布 publish",
  edit: "修改 edit",
  transition: "状态变更 status change",
  propose: "提议 propose",
  accept: "接受 accept",
  decline: "拒绝 decline",
};

const STATUS = {
  published: "已发布 published",
  matched: "已对接 matched",
  in_progress: "实施中 in progress",
  completed: "已完成 completed",
  closed: "已关闭 closed",
};

// What a person checks first comes first; ids, hashes and nonces after.
const FIRST = ["action", "direction", "title", "needTitle", "supplyTitle", "county", "counties", "orgCode", "category", "budget", "resources", "resourceKind", "quantity", "confirmedQuantity", "unit", "dueDate", "deliveredAt", "startDate", "endDate", "categories", "fundsTarget", "projectsTarget", "hoursTarget", "designated", "deadline", "reasonCode", "note", "status", "version"];

let counties = null;

/** County names by code, from the page's server (GB/T 2260 data it ships). */
export async function loadCounties() {
  if (counties) return counties;
  try {
    const res = await fetch("/workspace/data/counties.json", { credentials: "same-origin" });
    counties = res.ok ? await res.json() : {};
  } catch {
    counties = {};
  }
  return counties;
}

export function countyName(code) {
  const name = counties && counties[String(code)];
  return name ? `${name}（${code}）` : String(code);
}

const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** fen → "¥1,234.56 元" (integer arithmetic: fen may exceed 2**53 in uint128 fields). */
export function yuan(fen) {
  const v = BigInt(fen);
  const sign = v < 0n ? "-" : "";
  const a = v < 0n ? -v : v;
  return `${sign}¥${group((a / 100n).toString())}.${(a % 100n).toString().padStart(2, "0")} 元`;
}

export function number(n) {
  return group(BigInt(n).toString());
}

/** Unix seconds → "2026-12-01 18:00 北京时间 Beijing time". */
export function beijing(seconds) {
  const d = new Date(Number(seconds) * 1000 + 8 * 3600 * 1000);
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} 北京时间 Beijing time`;
}

/** YYYYMMDD → "2030-12-31" (0: none). */
export function ymd(n) {
  const s = String(n);
  if (s === "0") return "无 none";
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

export function text32(hex) {
  try {
    return toUtf8String(getBytes(hex)).replace(/\0+$/, "");
  } catch {
    return hex;
  }
}

const LABELS = {
  action: "操作 action",
  title: "标题 title",
  needTitle: "需求标题 need title",
  supplyTitle: "供给标题 supply title",
  county: "县 county",
  orgCode: "统一社会信用代码 org credit code",
  projectKind: "项目类型 project kind",
  category: "领域 category",
  budget: "金额 amount",
  endDate: "截止日期 end date",
  deadline: "截止日期 deadline",
  status: "状态 status",
  version: "版本 version",
  direction: "方式 direction",
  note: "留言 note",
  resources: "资源 resources",
  resourceKind: "资源类型 resource kind",
  quantity: "数量 quantity",
  confirmedQuantity: "签收数量 confirmed quantity",
  unit: "单位 unit",
  dueDate: "承诺完成日期 due date",
  deliveredAt: "交付时间 delivered at",
  beneficiaryCount: "受益人数 beneficiaries",
  reasonCode: "原因 reason",
  expiry: "签名有效至 valid until",
  issuedAt: "签发时间 issued at",
  origin: "网站 origin",
  address: "地址 address",
  reader: "读取者 reader",
  mediaType: "文件类型 media type",
  size: "文件大小 size",
  public: "公开 public",
  sha256: "文件 SHA-256 file hash",
  evidenceHash: "证据哈希 evidence hash",
  contentHash: "内容哈希 content hash",
  needId: "需求编号 need id",
  supplyId: "供给编号 supply id",
  matchId: "对接编号 match id",
  projectId: "项目编号 project id",
  commitmentId: "承诺编号 commitment id",
  deliveryId: "交付编号 delivery id",
  recordId: "被标记记录 flagged record",
  id: "记录编号 record id",
  source: "来源 source",
  counties: "县 counties",
  termsHash: "条款哈希 terms hash",
  noteHash: "备注哈希 note hash",
  beneficiaryRoot: "受益人根 beneficiary root",
  needVersion: "需求版本 need version",
  needContentHash: "需求内容哈希 need content hash",
  nonce: "随机数 nonce",
  limit: "数量上限 limit",
  // programs (issue 18): pairing
  startDate: "开始日期 start date",
  categories: "帮扶领域 focus categories",
  fundsTarget: "资金目标 funds target",
  projectsTarget: "项目目标 projects target",
  hoursTarget: "服务时长目标（小时） service hours target",
  designated: "定点帮扶 designated assistance",
  pairingId: "结对编号 pairing id",
  grievanceHash: "申诉哈希 grievance hash",
  filedAt: "申诉提交时间 filed at",
  grievanceId: "申诉登记编号 grievance registration",
  answerHash: "答复全文哈希 answer text hash",
  outcome: "结果 outcome",
};

/** The rows [label, text] that show one typed-data message in words. */
export function describe(primaryType, message) {
  const rows = [];
  const funds = Number(message.resourceKind) === 1;
  const unit = message.unit ? text32(message.unit) : "";
  for (const [name, value] of Object.entries(message)) {
    const label = primaryType === "Grievance" && name === "recordId" ? "相关记录（0 为无） record (0: none)" : LABELS[name] || name;
    let text;
    switch (name) {
      case "county":
        text = Number(value) === 0 ? "无 none" : countyName(value);
        break;
      case "counties":
        text = value.map(countyName).join("、");
        break;
      case "budget":
        text = yuan(value);
        break;
      case "quantity":
      case "confirmedQuantity":
        text = funds ? yuan(value) : `${number(value)} ${unit}`.trim();
        break;
      case "unit":
        text = unit;
        break;
      case "endDate":
      case "deadline":
      case "startDate":
        text = ymd(value);
        break;
      case "categories": // programs (issue 18): a pairing's focus, bit (c-1) for category c
        text = CATEGORIES.filter((_, i) => (Number(value) >> i) & 1).map(([zh, en]) => `${zh} ${en}`).join("、");
        break;
      case "fundsTarget":
        text = yuan(value);
        break;
      case "designated":
        text = value ? "是 yes" : "否 no";
        break;
      case "dueDate":
      case "deliveredAt":
      case "filedAt":
      case "expiry":
      case "issuedAt":
        text = beijing(value);
        break;
      case "resourceKind":
        text = KINDS[value] || String(value);
        break;
      case "projectKind":
        text = Number(value) === 1 ? "需求 need" : "供给 supply";
        break;
      case "category": {
        const c = CATEGORIES[Number(value) - 1];
        text = c ? `${c[0]} ${c[1]}` : String(value);
        break;
      }
      case "direction":
        text = value === "order" ? "点单 order (county orders a supply project)" : "接单 take (organization takes the need)";
        break;
      case "action":
        text = ACTIONS[value] || value;
        break;
      case "reasonCode":
        text = FLAG_REASONS[value] || String(value);
        break;
      case "resources":
        text = value
          .map((r) => `${KINDS[r.kind] || r.kind}: ${r.kind === "funds" ? yuan(r.quantity) : `${number(r.quantity)} ${r.unit}`} ${r.item}`.trim())
          .join("；");
        break;
      case "status":
        text = STATUS[value] || value;
        break;
      case "orgCode":
        text = value || "无 none";
        break;
      case "public":
        text = value ? "是 yes" : "否 no";
        break;
      case "size":
        text = `${number(value)} 字节 bytes`;
        break;
      case "outcome":
        text = primaryType === "GrievanceAnswer" ? { 1: "成立 upheld", 2: "部分成立 partly upheld", 3: "不成立 not upheld" }[value] || String(value) : String(value);
        break;
      default:
        text = typeof value === "object" ? JSON.stringify(value) : String(value);
    }
    rows.push([label, text, name]);
  }
  const rank = (r) => (FIRST.includes(r[2]) ? FIRST.indexOf(r[2]) : FIRST.length);
  return rows.map((r, i) => [r, i]).sort((x, y) => rank(x[0]) - rank(y[0]) || x[1] - y[1]).map(([r]) => r);
}

const TYPE_NAMES = {
  LibraryProject: "项目（需求/供给）library project",
  ProjectAnchor: "项目上链锚定 project anchor (on chain)",
  LibraryMatch: "点单/接单 match",
  Commitment: "承诺 commitment",
  Delivery: "交付 delivery",
  Receipt: "签收 receipt",
  Flag: "审计标记 flag",
  EvidenceUpload: "证据文件 evidence upload",
  SignIn: "登录 sign-in",
  KeyCountyList: "重点帮扶县名单 key-county list",
  LibraryRead: "读取草稿 read a draft",
  Pairing: "结对帮扶 pairing (on chain)",
  PairingAcceptance: "接受结对 pairing acceptance (on chain)",
  CommitmentSource: "承诺来源 commitment source (on chain)",
  Grievance: "申诉登记 grievance registration",
  GrievanceAnswer: "申诉答复 grievance answer",
};

/** Shows `sections` ([{heading, rows: [[label, text]]}]) in the dialog; resolves true on
 * 确认 Confirm, false on 取消 Cancel or Esc. */
export function consent(heading, sections, note = "") {
  const dialog = document.getElementById("sign-dialog");
  const body = document.getElementById("sign-body");
  document.getElementById("sign-title").textContent = heading;
  document.getElementById("sign-note").textContent = note;
  body.replaceChildren(
    ...sections.map((s) => {
      const sec = document.createElement("section");
      const h = document.createElement("h3");
      h.textContent = s.heading;
      const dl = document.createElement("dl");
      dl.className = "facts";
      for (const [label, text, name] of s.rows) {
        const dt = document.createElement("dt");
        dt.textContent = label;
        const dd = document.createElement("dd");
        dd.textContent = text;
        if (name) dd.dataset.field = name;
        if (/^0x[0-9a-f]{40,}$/i.test(text)) dd.className = "wrap";
        dl.append(dt, dd);
      }
      sec.append(h, dl);
      return sec;
    }),
  );
  return new Promise((resolve) => {
    const ok = document.getElementById("sign-ok");
    const cancel = document.getElementById("sign-cancel");
    const done = (answer) => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onCancel = (e) => {
      e.preventDefault();
      done(false);
    };
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    // each opening is numbered, so that a reader (or a test) can tell one request from the next
    dialog.dataset.seq = String(Number(dialog.dataset.seq || 0) + 1);
    dialog.showModal();
    ok.focus();
  });
}

export class Cancelled extends Error {
  constructor() {
    super("已取消，未签名 / cancelled; nothing was signed");
    this.code = "cancelled";
  }
}

export function requireWallet() {
  const w = wallet();
  if (!w) {
    const e = new Error("请先解锁密钥 / unlock your key first");
    e.code = "locked";
    throw e;
  }
  return w;
}

function section(typed, heading) {
  return {
    heading: heading || TYPE_NAMES[typed.primaryType] || typed.primaryType,
    rows: describe(typed.primaryType, typed.message),
  };
}

function bare(types) {
  const out = { ...types };
  delete out.EIP712Domain;
  return out;
}

/** Signs typed data after nothing more than the caller's own consent (used only for
 * messages the user has already confirmed in words, e.g. the publish of a confirmed need). */
export async function signConfirmed(typed) {
  const w = requireWallet();
  return w.signTypedData(typed.domain, bare(typed.types), typed.message);
}

/** The signing-domain section every confirmation ends with: which ledger, chain and
 * contract the signature is bound to, and by whom. */
export function domainSection(domain, signer) {
  return {
    heading: "签名域 signing domain",
    rows: [
      ["账本 ledger", `${domain.name} ${domain.version}`],
      ["链 chain id", String(domain.chainId)],
      ["合约 contract", domain.verifyingContract],
      ["签名者 signer", signer],
    ],
  };
}

/** One confirmation for a list of typed-data documents; then all are signed, in order.
 * `lead` lists sections shown first (what the record is about, in words); `extra` further
 * sections shown after (e.g. what will be signed after the server answers). */
export async function confirmAndSign(heading, typedList, { note = "", lead = [], extra = [] } = {}) {
  const w = requireWallet();
  const domain = typedList[0] && typedList[0].domain;
  const sections = [...lead, ...typedList.map((t) => section(t)), ...extra];
  if (domain) sections.push(domainSection(domain, w.address));
  if (!(await consent(heading, sections, note))) throw new Cancelled();
  const out = [];
  for (const t of typedList) out.push(await w.signTypedData(t.domain, bare(t.types), t.message));
  return out;
}

/** An admin transaction the server prepared (a registration, the follow-up rate: `tx` as
 * ledger.evm.admin_tx gives it), signed after the admin confirms `rows` — what it does, in
 * words — and the contract, chain, nonce and signer. Returns the raw signed transaction. */
export async function signAdminTx(w, heading, tx, rows) {
  const all = [...rows, ["合约 contract", tx.to], ["链 chain id", String(tx.chainId)], ["交易序号 nonce", String(tx.nonce)], ["签名者 signer", w.address]];
  if (!(await consent(heading, [{ heading: "交易内容 what the transaction does", rows: all }], "确认后用管理员密钥签名此交易。 Confirming signs this transaction with the admin key."))) {
    throw new Cancelled();
  }
  // SPEC14 names the limit `gas` (JSON-RPC's word); ethers calls it gasLimit
  return w.signTransaction(
    Transaction.from({
      type: 2,
      to: tx.to,
      data: tx.data,
      nonce: Number(tx.nonce),
      gasLimit: BigInt(tx.gas),
      chainId: BigInt(tx.chainId),
      maxFeePerGas: BigInt(tx.maxFeePerGas),
      maxPriorityFeePerGas: BigInt(tx.maxPriorityFeePerGas),
      value: 0n,
    }),
  );
}

export { section };
