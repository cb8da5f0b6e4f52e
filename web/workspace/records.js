// On-chain records signed in the browser (ledger.core.records): Commitment, Delivery,
// Receipt, Flag, with the types GET /api/v1/eip712 gives for this deployment; each is shown
// in words, signed, POSTed to /api/v1/records and followed queued → sent → confirmed.
// Evidence files are hashed here (SHA-256 over their bytes) and uploaded with a signed
// EvidenceUpload (SPEC14 sessions) before the Delivery that names the hash.
import { sha256, toUtf8Bytes, zeroPadBytes, ZeroHash } from "ethers";
import { api, eip712, missingRoute } from "./api.js";
import { confirmAndSign, requireWallet } from "./sign.js";
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

/** Builds, shows, signs and submits one record of `kind` ("commitment", …). `record` lacks
 * its id, which is scoped to the signer here. Returns {record_id, status}. */
export async function submit(kind, record, { heading, note } = {}) {
  const w = requireWallet();
  const t = await types();
  const primaryType = t.kinds[kind];
  const message = { id: scopedId(w.address), ...record };
  const typed = { domain: t.domain, types: { [primaryType]: t.types[primaryType] }, primaryType, message };
  const [signature] = await confirmAndSign(heading || primaryType, [typed], { note });
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
