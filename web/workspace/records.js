// On-chain records signed in the browser (ledger.core.records): Commitment, Delivery,
// Receipt, Flag, with the types GET /api/v1/eip712 gives for this deployment; each is shown
// in words, signed, POSTed to /api/v1/records and followed queued → sent → confirmed.
// Evidence files are hashed here (SHA-256 over their bytes) and uploaded with a signed
// EvidenceUpload (SPEC14 sessions) before the Delivery that names the hash.
import { sha256, toUtf8Bytes, zeroPadBytes, ZeroHash } from "ethers";
import { api, eip712, missingRoute } from "./api.js";
import { confirmAndSign, countyName, describe, requireWallet } from "./sign.js";
import { newNonce, scopedId } from "./library.js";

let cached = null;

async function types() {
  if (!cached) cached = await eip712();
  return cached;
}

/** A short text (a unit: 斤, kg) left-aligned in 32 bytes, as ledger.core.fields.text32. */
export function text32(text) {
  const raw = toUtf8Bytes(text);
  if (raw.length > 32) {
    const e = new Error(`单位过长 / "${text}" is longer than 32 UTF-8 bytes`);
    e.code = "text_too_long";
    throw e;
  }
  return zeroPadBytes(raw, 32);
}

/** SHA-256 of a note's text, or zero when there is none. */
export function noteHash(text) {
  return text && text.trim() ? sha256(toUtf8Bytes(text.trim())) : ZeroHash;
}

const KIND_WORDS = {
  commitment: "承诺 commitment",
  delivery: "交付 delivery",
  receipt: "签收 receipt",
  flag: "审计标记 flag",
  need: "需求上链 need anchor",
};

/** The rows naming a need: its title and county. */
async function needRows(needId) {
  const p = await api("GET", `/api/v1/library/projects/${needId}`);
  return [
    ["需求 need", (p.content && p.content.title) || needId],
    ["县 county", countyName(p.county)],
  ];
}

/** `quantity` in the commitment's kind and unit, in words (元 for funds). */
function amountOf(commitment, quantity) {
  const rows = describe("Commitment", { resourceKind: commitment.resourceKind, quantity, unit: commitment.unit });
  return rows.find((r) => r[2] === "quantity")[1];
}

/** The rows naming an indexed record in words (its kind, the need behind it, its amount). */
async function recordRows(id) {
  const r = await api("GET", `/api/v1/public/record/${id}`);
  const rows = [["类型 kind", KIND_WORDS[r.kind] || r.kind]];
  let rec = r.record;
  if (r.kind === "receipt" || r.kind === "delivery") {
    const amount = r.kind === "delivery" ? "quantity" : "confirmedQuantity";
    const c = r.kind === "delivery" ? rec.commitmentId : (await api("GET", `/api/v1/public/record/${rec.deliveryId}`)).record.commitmentId;
    const commitment = (await api("GET", `/api/v1/public/record/${c}`)).record;
    rows.push([r.kind === "delivery" ? "交付数量 delivered" : "签收数量 confirmed", amountOf(commitment, rec[amount])]);
    rec = commitment;
  }
  if (rec.needId) {
    if (r.kind === "commitment") {
      rows.push(["承诺数量 committed", amountOf(rec, rec.quantity)]);
    }
    rows.push(...(await needRows(rec.needId)));
  }
  return rows;
}

/** What a record is about, in words, for its confirmation (names, not hex): the need a
 * commitment is for, the commitment a delivery fills, the delivery a receipt confirms, the
 * record a flag marks. A look-up that fails says so; the signer still sees every field. */
export async function subject(kind, record) {
  const about = {
    commitment: ["所承诺的需求 the need committed to", () => needRows(record.needId)],
    delivery: ["所交付的承诺 the commitment delivered against", () => recordRows(record.commitmentId)],
    receipt: ["所签收的交付 the delivery received", () => recordRows(record.deliveryId)],
    flag: ["被标记的记录 the record flagged", () => recordRows(record.recordId)],
  }[kind];
  if (!about) return [];
  try {
    return [{ heading: about[0], rows: await about[1]() }];
  } catch {
    return [{ heading: about[0], rows: [["查询 look-up", "未能查到（可能尚未上链或编号有误）。请核对编号。 Not found (not on chain yet, or a wrong id): check the id."]] }];
  }
}

/** Builds, shows, signs and submits one record of `kind` ("commitment", …). `record` lacks
 * its id, which is scoped to the signer here. Returns {record_id, status}. */
export async function submit(kind, record, { heading, note } = {}) {
  const w = requireWallet();
  const t = await types();
  const primaryType = t.kinds[kind];
  const message = { id: scopedId(w.address), ...record };
  const typed = { domain: t.domain, types: { [primaryType]: t.types[primaryType] }, primaryType, message };
  const lead = await subject(kind, record);
  const [signature] = await confirmAndSign(heading || primaryType, [typed], { note, lead });
  const answer = await api("POST", "/api/v1/records", {
    json: { records: [{ kind, record: message, signature, signer: w.address }] },
  });
  return answer.accepted[0];
}

export async function domain() {
  return (await types()).domain;
}

export const EVIDENCE_TYPES = {
  EvidenceUpload: [
    { name: "sha256", type: "bytes32" },
    { name: "size", type: "uint64" },
    { name: "mediaType", type: "string" },
    { name: "public", type: "bool" },
    { name: "nonce", type: "string" },
    { name: "expiry", type: "uint64" },
  ],
};

/** SHA-256 (0x-hex) of a File's bytes, computed in this browser. */
export async function fileHash(file) {
  return sha256(new Uint8Array(await file.arrayBuffer()));
}

/** Uploads `file` with a signed EvidenceUpload; returns {sha256, url|null, stored}. When this
 * server has no evidence store (404), the hash alone goes into the Delivery. */
export async function uploadEvidence(file, isPublic) {
  const hash = await fileHash(file);
  const message = {
    sha256: hash,
    size: file.size,
    mediaType: file.type || "application/octet-stream",
    public: Boolean(isPublic),
    nonce: newNonce(),
    expiry: Math.floor(Date.now() / 1000) + 600,
  };
  const typed = { domain: await domain(), types: EVIDENCE_TYPES, primaryType: "EvidenceUpload", message };
  const [signature] = await confirmAndSign("上传证据文件 Upload an evidence file", [typed], {
    note: `文件 file: ${file.name}`,
  });
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("message", JSON.stringify(message));
  form.append("signature", signature);
  try {
    const out = await api("POST", "/api/v1/evidence", { form });
    return { sha256: hash, url: out.url, stored: true };
  } catch (exc) {
    if (missingRoute(exc)) return { sha256: hash, url: null, stored: false };
    throw exc;
  }
}
