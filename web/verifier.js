// Bangfu Ledger proof-bundle verifier for the browser: RFC 9162 inclusion (SHA-256), the
// author's EIP-712 signature (keccak-256 + secp256k1 recovery) and, optionally, logRoot()
// read from the chain over JSON-RPC. It trusts nothing the portal's server says: every
// check is recomputed from the record bytes and the proof hashes.
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";

export const FORMAT = "bangfu-proof/1";

// EIP-712 type strings per record kind; tests/portal checks they equal ledger/records.py.
export const TYPE_STRINGS = {
  1: "ProjectAnchor(bytes32 id,bytes32 projectId,uint8 projectKind,uint32 county,uint8 category,string title,uint128 budget,uint32 endDate,bytes32 contentHash,uint32 version)",
  2: "Commitment(bytes32 id,bytes32 needId,bytes32 matchId,uint8 resourceKind,uint128 quantity,bytes32 unit,uint64 dueDate,bytes32 termsHash)",
  3: "Delivery(bytes32 id,bytes32 commitmentId,uint128 quantity,uint64 deliveredAt,bytes32 evidenceHash,uint32 beneficiaryCount,bytes32 beneficiaryRoot)",
  4: "Receipt(bytes32 id,bytes32 deliveryId,uint128 confirmedQuantity,bytes32 noteHash)",
  5: "Flag(bytes32 id,bytes32 recordId,uint16 reasonCode,bytes32 noteHash)",
  6: "DeliveryBatch(bytes32 id,bytes32[] commitmentIds,uint128[] quantities,uint32 lineCount,bytes32 batchRoot,bytes32 evidenceHash)",
};

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const enc = new TextEncoder();

export class VerifyError extends Error {}

export function fromHex(value, what, size) {
  if (typeof value !== "string") throw new VerifyError(`${what} must be a hex string`);
  const text = value.startsWith("0x") || value.startsWith("0X") ? value.slice(2) : value;
  if (text.length % 2 || /[^0-9a-fA-F]/.test(text)) throw new VerifyError(`${what} is not valid hex`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  if (size !== undefined && out.length !== size)
    throw new VerifyError(`${what} must be ${size} bytes, got ${out.length}`);
  return out;
}

export function toHex(bytes) {
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

/** RFC 9162 §2.1.3.2: the root an inclusion proof implies for a leaf at index in size. */
export function rootFromInclusion(leaf, index, size, proof) {
  if (!(size > 0) || index < 0 || index >= size)
    throw new VerifyError(`leaf index ${index} is outside a tree of size ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError("the inclusion proof is too long");
    if (fn & 1n || fn === sn) {
      r = nodeHash(p, r);
      while (fn !== 0n && !(fn & 1n)) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError("the inclusion proof is too short");
  return r;
}

function fieldsOf(typeString) {
  const inner = typeString.slice(typeString.indexOf("(") + 1, -1);
  return inner.split(",").map((f) => {
    const [type, name] = f.split(" ");
    return { type, name };
  });
}

function word(body, pos) {
  if (pos + 32 > body.length) throw new VerifyError("record fields are truncated");
  return body.slice(pos, pos + 32);
}

function wordInt(body, pos) {
  return BigInt(toHex(word(body, pos)));
}

/** Parses canonical record bytes: version ‖ kind ‖ chainId ‖ contract ‖ signer ‖ abi ‖ r ‖ s ‖ v. */
export function parseRecord(bytes) {
  if (bytes.length < 74 + 65 + 32) throw new VerifyError("record bytes are too short");
  if (bytes[0] !== 1) throw new VerifyError(`unknown record format version ${bytes[0]}`);
  const kind = bytes[1];
  const typeString = TYPE_STRINGS[kind];
  if (!typeString) throw new VerifyError(`unknown record kind ${kind}`);
  const chainId = BigInt(toHex(bytes.slice(2, 34)));
  const contract = bytes.slice(34, 54);
  const signer = bytes.slice(54, 74);
  const body = bytes.slice(74, bytes.length - 65);
  const sig = bytes.slice(bytes.length - 65);
  const fields = fieldsOf(typeString);
  const dynamic = fields.some((f) => f.type.endsWith("[]") || f.type === "string");
  // abi.encode of a struct with dynamic members starts with the offset (0x20) of the tuple
  const base = dynamic ? 32 : 0;
  if (dynamic && wordInt(body, 0) !== 32n) throw new VerifyError("record fields do not decode");
  const encoded = [];
  const values = {};
  fields.forEach((f, i) => {
    const head = word(body, base + 32 * i);
    if (f.type === "string") {
      const offset = Number(BigInt(toHex(head)));
      const length = Number(wordInt(body, base + offset));
      if (length > 200) throw new VerifyError(`${f.name} is too long`);
      const start = base + offset + 32;
      if (start + length > body.length) throw new VerifyError("record fields are truncated");
      const raw = body.slice(start, start + length);
      encoded.push(keccak_256(raw));
      try {
        values[f.name] = new TextDecoder("utf-8", { fatal: true }).decode(raw);
      } catch {
        throw new VerifyError(`${f.name} is not UTF-8`);
      }
    } else if (f.type.endsWith("[]")) {
      const offset = Number(BigInt(toHex(head)));
      const length = Number(wordInt(body, base + offset));
      if (length > 256) throw new VerifyError(`${f.name} is too long`);
      const items = [];
      for (let k = 0; k < length; k++) items.push(word(body, base + offset + 32 + 32 * k));
      encoded.push(keccak_256(concat(...items)));
      values[f.name] = items.map((w) => (f.type.startsWith("bytes32") ? toHex(w) : BigInt(toHex(w)).toString()));
    } else {
      encoded.push(head);
      values[f.name] = f.type === "bytes32" ? toHex(head) : BigInt(toHex(head)).toString();
    }
  });
  const structHash = keccak_256(concat(keccak_256(enc.encode(typeString)), ...encoded));
  return { kind, typeString, chainId, contract, signer, structHash, sig, values };
}

function domainSeparator(chainId, contract) {
  const typehash = keccak_256(
    enc.encode("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
  );
  return keccak_256(
    concat(
      typehash,
      keccak_256(enc.encode("BangfuLedger")),
      keccak_256(enc.encode("1")),
      fromHex(chainId.toString(16).padStart(64, "0"), "chain id", 32),
      new Uint8Array(12),
      contract,
    ),
  );
}

/** The address (20 bytes) whose key made `sig` (r ‖ s ‖ v) over `digest`. */
export function recoverAddress(digest, sig) {
  const v = sig[64];
  const s = BigInt(toHex(sig.slice(32, 64)));
  if ((v !== 27 && v !== 28) || s === 0n || s > HALF_N)
    throw new VerifyError("the signature is malformed or malleable (v must be 27/28, low s)");
  const signature = secp256k1.Signature.fromBytes(sig.slice(0, 64), "compact").addRecoveryBit(v - 27);
  const point = signature.recoverPublicKey(digest);
  const pub = point.toBytes(false);
  return keccak_256(pub.slice(1)).slice(12);
}

export function checksum(address) {
  const hex = toHex(address).slice(2);
  const hash = toHex(keccak_256(enc.encode(hex))).slice(2);
  return "0x" + [...hex].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("");
}

/** Verifies a bundle offline; returns {checks: [{name, ok, detail}], record, root, size}. */
export function verifyBundle(bundle) {
  const checks = [];
  const check = (name, fn) => {
    try {
      const detail = fn();
      checks.push({ name, ok: true, detail: detail || "" });
      return true;
    } catch (e) {
      checks.push({ name, ok: false, detail: e instanceof Error ? e.message : String(e) });
      return false;
    }
  };
  if (!bundle || bundle.format !== FORMAT) {
    checks.push({ name: "format", ok: false, detail: `not a ${FORMAT} bundle` });
    return { checks };
  }
  let bytes, leaf, parsed, root, size;
  check("leaf", () => {
    bytes = fromHex(bundle.record.bytes, "record.bytes");
    leaf = leafHash(bytes);
    const claimed = fromHex(bundle.record.leaf_hash, "record.leaf_hash", 32);
    if (!equal(leaf, claimed))
      throw new VerifyError(`SHA-256(0x00 ‖ bytes) is ${toHex(leaf)}, the bundle says ${toHex(claimed)}`);
    return toHex(leaf);
  });
  check("inclusion", () => {
    if (!leaf) throw new VerifyError("no leaf to prove");
    size = Number(bundle.log.size);
    root = fromHex(bundle.log.root, "log.root", 32);
    const proof = (bundle.log.inclusion || []).map((h, i) => fromHex(h, `log.inclusion[${i}]`, 32));
    const computed = rootFromInclusion(leaf, Number(bundle.record.index), size, proof);
    if (!equal(computed, root))
      throw new VerifyError(`the proof leads to root ${toHex(computed)}, not ${toHex(root)}`);
    return `leaf ${bundle.record.index} of ${size}, root ${toHex(root)}`;
  });
  if (bundle.batch) {
    check("batch", () => {
      const b = bundle.batch;
      const line = leafHash(fromHex(b.line_bytes, "batch.line_bytes"));
      const batchRoot = fromHex(b.batch_root, "batch.batch_root", 32);
      const proof = (b.inclusion || []).map((h, i) => fromHex(h, `batch.inclusion[${i}]`, 32));
      const computed = rootFromInclusion(line, Number(b.line_index), Number(b.line_count), proof);
      if (!equal(computed, batchRoot)) throw new VerifyError("the line does not prove into the batch root");
      const hexBytes = toHex(bytes).slice(2);
      if (!hexBytes.includes(toHex(batchRoot).slice(2))) throw new VerifyError("the batch root is not in the record");
      return `line ${b.line_index} of ${b.line_count}`;
    });
  }
  check("signature", () => {
    if (!bytes) throw new VerifyError("no record bytes");
    parsed = parseRecord(bytes);
    const digest = keccak_256(
      concat(Uint8Array.of(0x19, 0x01), domainSeparator(parsed.chainId, parsed.contract), parsed.structHash),
    );
    const recovered = recoverAddress(digest, parsed.sig);
    if (!equal(recovered, parsed.signer))
      throw new VerifyError(`signed by ${checksum(recovered)}, not by the stated ${checksum(parsed.signer)}`);
    return `${parsed.typeString.split("(")[0]} ${checksum(recovered)}`;
  });
  return { checks, parsed, root, size };
}

const SELECTOR = (sig) => toHex(keccak_256(enc.encode(sig)).slice(0, 4));

async function rpc(rpcUrl, method, params) {
  const res = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new VerifyError(body.error.message || `${method} failed`);
  return body.result;
}

const ethCall = (rpcUrl, to, data, block) => rpc(rpcUrl, "eth_call", [{ to, data }, block]);

/** Reads logSize() and logRoot() of the record's own contract at a block (or latest). */
export async function chainRoot(rpcUrl, contract, block) {
  const tag = block === undefined || block === null ? "latest" : "0x" + Number(block).toString(16);
  const to = checksum(contract);
  const size = BigInt(await ethCall(rpcUrl, to, SELECTOR("logSize()"), tag));
  const root = await ethCall(rpcUrl, to, SELECTOR("logRoot()"), tag);
  return { size: Number(size), root: fromHex(root, "logRoot()", 32), tag };
}

/** Compares the bundle's root with the chain's, at the bundle's block, else at latest. */
export async function checkAgainstChain(rpcUrl, result, bundle) {
  if (!result.parsed || !result.root) throw new VerifyError("verify the bundle first");
  // the record names its chain; a node of another chain cannot vouch for it
  const chainId = BigInt(await rpc(rpcUrl, "eth_chainId", []));
  if (chainId !== result.parsed.chainId)
    throw new VerifyError(`the node is chain ${chainId}, the record was signed for chain ${result.parsed.chainId}`);
  let onChain;
  try {
    onChain = await chainRoot(rpcUrl, result.parsed.contract, bundle.chain && bundle.chain.block);
  } catch (e) {
    onChain = await chainRoot(rpcUrl, result.parsed.contract, null);
  }
  if (onChain.size !== result.size)
    throw new VerifyError(
      `the chain's log has ${onChain.size} leaves at ${onChain.tag}, the bundle's ${result.size}; fetch a fresh bundle`,
    );
  if (!equal(onChain.root, result.root))
    throw new VerifyError(`the chain's logRoot() is ${toHex(onChain.root)}, not the bundle's ${toHex(result.root)}`);
  return `logRoot() at ${onChain.tag} = ${toHex(onChain.root)}`;
}
