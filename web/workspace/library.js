// Library writes signed in the browser, mirroring ledger/sdk/library.py: the draft's
// LibraryProject message is built here from the content (THE canonical JSON: NFC strings,
// sorted keys, no whitespace, integers only; SHA-256 of it), and whatever the server then
// asks to sign is checked against what the user confirmed before it is signed.
import { sha256, toUtf8Bytes, hexlify, randomBytes } from "ethers";
import { api } from "./api.js";
import { CATEGORIES, confirmAndSign, signConfirmed, requireWallet, section } from "./sign.js";

const UNITS = { funds: "fen", service: "hour" };

function nfc(v) {
  if (typeof v === "string") return v.normalize("NFC");
  if (Array.isArray(v)) return v.map(nfc);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[nfc(k)] = nfc(v[k]);
    return out;
  }
  return v;
}

function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = sorted(v[k]);
    return out;
  }
  if (typeof v === "number" && !Number.isInteger(v)) throw new Error("numbers must be integers");
  return v;
}

/** THE canonical JSON (ledger.library.content.canonical_json). Python sorts keys by code
 * point; JS sorts by UTF-16 unit, the same for every key the documents hold (ASCII). */
export function canonicalJson(doc) {
  return JSON.stringify(sorted(nfc(doc)));
}

export function contentHash(text) {
  return sha256(toUtf8Bytes(text));
}

export function newNonce() {
  return hexlify(randomBytes(32));
}

/** A fresh id scoped to `address`: its 20 bytes then 12 random bytes (ledger.core.lines). */
export function scopedId(address) {
  return (address.toLowerCase() + hexlify(randomBytes(12)).slice(2)).toLowerCase();
}

function normalizedResources(items) {
  return items.map((r) => ({
    kind: r.kind,
    quantity: r.quantity,
    unit: UNITS[r.kind] || r.unit || "件",
    item: r.item || "",
  }));
}

const categoryNumber = (name) => CATEGORIES.findIndex((c) => c[0] === name) + 1;

/** The need's content with every field the server's model fills in (pydantic defaults). */
export function needContent(c) {
  return nfc({
    county: Number(c.county),
    village: c.village || "",
    title: c.title,
    description: c.description || "",
    category: c.category,
    mode: c.mode,
    beneficiaries: Number(c.beneficiaries),
    budget_fen: Number(c.budget_fen),
    resources: c.resources.map((r) => ({ kind: r.kind, quantity: Number(r.quantity), unit: r.unit || "", item: r.item || "" })),
    deadline: c.deadline,
    contact_role: c.contact_role,
  });
}

export function supplyContent(c) {
  const cats = [...new Set(c.categories)].sort((a, b) => categoryNumber(a) - categoryNumber(b));
  return nfc({
    title: c.title,
    description: c.description || "",
    categories: cats,
    regions: [...new Set(c.regions.map(Number))].sort((a, b) => a - b),
    capacity: c.capacity.map((r) => ({ kind: r.kind, quantity: Number(r.quantity), unit: r.unit || "", item: r.item || "" })),
    period_start: c.period_start,
    period_end: c.period_end,
  });
}

function documentOf(kind, projectId, content, status, orgCode) {
  const body = { ...content };
  const key = kind === "need" ? "resources" : "capacity";
  body[key] = normalizedResources(content[key]);
  const doc = { format: "bangfu-project/1", project_id: projectId, kind, status, ...body };
  if (orgCode) doc.org_code = orgCode;
  return doc;
}

const dateNumber = (iso) => Number(String(iso).slice(0, 10).replaceAll("-", ""));

/** The draft's LibraryProject message (ledger.library.content.project_message). */
export function draftMessage(kind, projectId, content, orgCode, lifetime = 600) {
  const doc = documentOf(kind, projectId, content, "published", orgCode);
  const need = kind === "need";
  return {
    action: "draft",
    projectId: projectId.toLowerCase(),
    projectKind: need ? 1 : 2,
    county: need ? content.county : 0,
    orgCode: orgCode || "",
    title: content.title,
    category: categoryNumber(need ? content.category : content.categories[0]),
    budget: need ? content.budget_fen : content.capacity.filter((r) => r.kind === "funds").reduce((a, r) => a + r.quantity, 0),
    endDate: dateNumber(need ? content.deadline : content.period_end),
    status: "published",
    version: 1,
    contentHash: contentHash(canonicalJson(doc)),
    nonce: newNonce(),
    expiry: Math.floor(Date.now() / 1000) + lifetime,
  };
}

export const LIBRARY_PROJECT_TYPES = {
  LibraryProject: [
    { name: "action", type: "string" },
    { name: "projectId", type: "bytes32" },
    { name: "projectKind", type: "uint8" },
    { name: "county", type: "uint32" },
    { name: "orgCode", type: "string" },
    { name: "title", type: "string" },
    { name: "category", type: "uint8" },
    { name: "budget", type: "uint128" },
    { name: "endDate", type: "uint32" },
    { name: "status", type: "string" },
    { name: "version", type: "uint32" },
    { name: "contentHash", type: "bytes32" },
    { name: "nonce", type: "bytes32" },
    { name: "expiry", type: "uint64" },
  ],
};

export class MismatchError extends Error {
  constructor() {
    super("服务器给出的待签数据与您确认的内容不符，未签名 / what the server asks to sign does not match what you confirmed; not signing");
    this.code = "to_sign_mismatch";
  }
}

function sameDomain(a, b) {
  return a.name === b.name && a.version === b.version && Number(a.chainId) === Number(b.chainId) && a.verifyingContract.toLowerCase() === b.verifyingContract.toLowerCase();
}

/** Checks the server's to-sign (publish request + ProjectAnchor) against the confirmed draft
 * message, then signs both: the user's one confirmation covered exactly these fields. */
async function signPublish(toSign, draft, domain) {
  const req = toSign.request_typed_data;
  const anchor = toSign.typed_data;
  const m = req.message;
  const a = anchor.message;
  const digest = contentHash(toSign.content_json);
  const fixed = ["projectId", "projectKind", "county", "orgCode", "title", "category", "budget", "endDate", "status", "version", "contentHash"];
  const ok =
    m.action === "publish" &&
    fixed.every((k) => String(m[k]).toLowerCase() === String(draft[k]).toLowerCase()) &&
    digest === draft.contentHash &&
    String(a.contentHash).toLowerCase() === digest &&
    String(a.projectId).toLowerCase() === draft.projectId &&
    a.title === draft.title &&
    Number(a.county) === Number(draft.county) &&
    String(a.budget) === String(draft.budget) &&
    Number(a.endDate) === Number(draft.endDate) &&
    Number(a.version) === 1 &&
    sameDomain(req.domain, domain) &&
    sameDomain(anchor.domain, domain);
  if (!ok) throw new MismatchError();
  return { message: m, signature: await signConfirmed(req), anchor_signature: await signConfirmed(anchor) };
}

function publishNote() {
  return "确认后将签名三项：草稿、发布请求、上链锚定（同一内容哈希）。 Confirming signs three things: the draft, the publish request and the on-chain anchor (the same content hash).";
}

/** Creates and publishes projects of `kind` after ONE confirmation listing them all.
 * Returns [{project_id, anchor_id, record_status}] in order; stops at the first refusal. */
export async function publishAll(kind, contents, { domain, orgCode, onEach } = {}) {
  const w = requireWallet();
  const drafts = contents.map((content) => {
    const pid = scopedId(w.address);
    return { content, message: draftMessage(kind, pid, content, orgCode) };
  });
  const typed = drafts.map((d) => ({ domain, types: LIBRARY_PROJECT_TYPES, primaryType: "LibraryProject", message: d.message }));
  const heading = kind === "need" ? `发布 ${drafts.length} 个需求 Publish ${drafts.length} need(s)` : "发布供给项目 Publish a supply project";
  const sigs = await confirmAndSign(heading, typed, { note: publishNote() });
  const out = [];
  for (let i = 0; i < drafts.length; i++) {
    const d = drafts[i];
    const path = kind === "need" ? "/api/v1/library/needs" : "/api/v1/library/supply";
    const toSign = await api("POST", path, { json: { content: d.content, message: d.message, signature: sigs[i] } });
    const body = await signPublish(toSign, d.message, domain);
    const done = await api("POST", `/api/v1/library/projects/${d.message.projectId}/publish`, { json: body });
    out.push({ ...done, title: d.content.title });
    if (onEach) onEach(i, done);
  }
  return out;
}

const sameResources = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** 点单 (county, direction "order", with supplyId) or 接单 (organization, "take", with
 * orgCode): the server's proposal is checked as the SDK checks it, shown, then signed. */
export async function propose({ direction, needId, supplyId, orgCode, note = "" }) {
  const w = requireWallet();
  const q = new URLSearchParams({ direction, need_id: needId, proposer: w.address, note });
  if (supplyId) q.set("supply_id", supplyId);
  if (orgCode) q.set("org_code", orgCode);
  const prepared = await api("GET", `/api/v1/library/matches/to-sign?${q}`);
  const msg = prepared.message;
  const need = await api("GET", `/api/v1/library/projects/${needId}`);
  const asked = need.content.resources.map((r) => ({ kind: String(r.kind), quantity: Number(r.quantity), unit: String(r.unit || ""), item: String(r.item || "") }));
  const mine = msg.resources.map((r) => ({ kind: r.kind, quantity: Number(r.quantity), unit: r.unit, item: r.item }));
  if (
    msg.action !== "propose" ||
    msg.direction !== direction ||
    msg.needId !== needId.toLowerCase() ||
    msg.needTitle !== need.content.title ||
    !sameResources(mine, asked) ||
    msg.note !== note ||
    msg.matchId.slice(2, 42) !== w.address.slice(2).toLowerCase() ||
    (orgCode && msg.orgCode !== orgCode)
  ) {
    throw new MismatchError();
  }
  const heading = direction === "order" ? "点单 Order a supply project" : "接单 Take a need";
  const [sig] = await confirmAndSign(heading, [prepared.typed_data]);
  return api("POST", "/api/v1/library/matches", { json: { message: msg, signature: sig } });
}

/** Accepts or declines match `matchId`, signing the proposal's own fields. */
export async function answer(matchId, action) {
  const detail = await api("GET", `/api/v1/library/matches/${matchId}`);
  const typed = detail[`${action}_typed_data`];
  if (!typed) {
    const e = new Error("该对接已不能答复 / this match is no longer open for an answer");
    e.code = "match_closed";
    throw e;
  }
  const msg = typed.message;
  const proposal = detail.match.proposal_message;
  const fixed = Object.keys(msg).filter((k) => !["action", "nonce", "expiry"].includes(k));
  if (msg.action !== action || fixed.some((k) => JSON.stringify(msg[k]) !== JSON.stringify(proposal[k]))) {
    throw new MismatchError();
  }
  const heading = action === "accept" ? "接受对接 Accept the match" : "拒绝对接 Decline the match";
  const [sig] = await confirmAndSign(heading, [typed]);
  return api("POST", `/api/v1/library/matches/${matchId}/respond`, { json: { message: msg, signature: sig } });
}

export { section };
