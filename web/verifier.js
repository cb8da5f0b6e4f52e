// Bangfu Ledger proof-bundle verifier for the browser: RFC 9162 inclusion (SHA-256), the
// author's EIP-712 signature (keccak-256 + secp256k1 recovery) and, optionally, logRoot()
// read from the chain over JSON-RPC. It trusts nothing the portal's server says: every
// check is recomputed from the record bytes and the proof hashes.
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";

export const FORMAT = "bangfu-proof/1";

// EIP-712 type strings per record kind; tests/portal checks they equal ledger/core/aid_kinds.py and program_kinds.py.
export const TYPE_STRINGS = {
  1: "ProjectAnchor(bytes32 id,bytes32 projectId,uint8 projectKind,uint32 county,uint8 category,string title,uint128 budget,uint32 endDate,bytes32 contentHash,uint32 version)",
  2: "Commitment(bytes32 id,bytes32 needId,bytes32 matchId,uint8 resourceKind,uint128 quantity,bytes32 unit,uint64 dueDate,bytes32 termsHash)",
  3: "Delivery(bytes32 id,bytes32 commitmentId,uint128 quantity,uint64 deliveredAt,bytes32 evidenceHash,uint32 beneficiaryCount,bytes32 beneficiaryRoot)",
  4: "Receipt(bytes32 id,bytes32 deliveryId,uint128 confirmedQuantity,bytes32 noteHash)",
  5: "Flag(bytes32 id,bytes32 recordId,uint16 reasonCode,bytes32 noteHash)",
  6: "DeliveryBatch(bytes32 id,bytes32[] commitmentIds,uint128[] quantities,uint32 lineCount,bytes32 batchRoot,bytes32 evidenceHash)",
  7: "Pairing(bytes32 id,uint32 county,uint32 startDate,uint32 endDate,uint16 categories,uint128 fundsTarget,uint32 projectsTarget,uint32 hoursTarget,bool designated,bytes32 termsHash)",
  8: "PairingAcceptance(bytes32 id,bytes32 pairingId,uint32 county)",
  9: "Fund(bytes32 id,string name,uint8 sponsorKind,bytes32 sponsorHash,bool sponsorPublic,uint128 pledged,bytes32 purposeHash)",
  10: "FundContribution(bytes32 id,bytes32 fundId,uint128 amount,uint32 receivedDate,bytes32 evidenceHash)",
  11: "CommitmentSource(bytes32 id,bytes32 commitmentId,bytes32 pairingId,bytes32 fundId,uint128 fundAmount)",
  12: "FollowUpRound(bytes32 id,bytes32 batchId,uint32 county,uint64 seedBlock,uint16 rateBps)",
  13: "FollowUp(bytes32 id,bytes32 roundId,uint32 lineIndex,bytes32 lineHash,uint8 outcome,uint128 quantity,bytes32 noteHash)",
  14: "Grievance(bytes32 id,bytes32 projectId,bytes32 recordId,bytes32 grievanceHash,uint64 filedAt)",
  15: "GrievanceAnswer(bytes32 id,bytes32 grievanceId,uint8 outcome,bytes32 answerHash)",
};

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const enc = new TextEncoder();

/**
 * A failed check; `code` names it, the same codes as ledger/tools/proofcheck.py. `message` is
 * the English detail, `zh` the Chinese one (both are shown, Chinese first).
 */
export class VerifyError extends Error {
  constructor(message, code = "bad_bundle", zh = "") {
    super(message);
    this.code = code;
    this.zh = zh;
  }
}

/** Chinese names of the failure codes (details are shown Chinese first, English beside). */
export const CODE_ZH = {
  bad_bundle: "证明包格式错误",
  bad_format: "不是 bangfu-proof/1 证明包",
  bad_leaf_hash: "叶子哈希与记录不符",
  bad_record: "记录字节无法解析",
  bad_inclusion: "包含证明不成立",
  wrong_kind: "记录类型不符（批量行只能属于批量交付记录）",
  line_count_mismatch: "行数与记录的 lineCount 不符",
  batch_root_mismatch: "批量根与记录的 batchRoot 不符",
  bad_line_proof: "批量行证明不成立",
  bad_consistency: "一致性证明不成立",
  bad_signature: "作者签名无效",
  root_mismatch: "日志根与信任锚不符",
  wrong_chain: "节点不是记录所属的链",
  chain_unreachable: "无法读取链上数据",
  signer_not_authorized: "签名者在链上没有相应角色",
};

/** "中文 / English" for an error: the name of its code and its detail, in both languages. */
export function describeError(e) {
  const code = (e && e.code) || "bad_bundle";
  const en = e instanceof Error ? e.message : String(e);
  const zh = e && e.zh ? `：${e.zh}` : "";
  return `${CODE_ZH[code] || "验证失败"}${zh} / ${en}`;
}

export function fromHex(value, what, size) {
  if (typeof value !== "string") throw new VerifyError(`${what} must be a hex string`, "bad_bundle", `${what} 应为十六进制字符串`);
  const text = value.startsWith("0x") || value.startsWith("0X") ? value.slice(2) : value;
  if (text.length % 2 || /[^0-9a-fA-F]/.test(text)) throw new VerifyError(`${what} is not valid hex`, "bad_bundle", `${what} 不是有效的十六进制`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  if (size !== undefined && out.length !== size)
    throw new VerifyError(`${what} must be ${size} bytes, got ${out.length}`, "bad_bundle", `${what} 应为 ${size} 字节，实为 ${out.length} 字节`);
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

/**
 * The walk up the tree that RFC 9162's inclusion (§2.1.3.2) and consistency (§2.1.4.2) checks
 * share (as ledger/core/merkle.py's _walk), from node fn of a tree whose last node is sn: each
 * hash of path, and whether it is a left sibling (hashed in front of the running value) rather
 * than a right one. Calls tooLong() or tooShort(), which throw, when the path does not end at
 * the root.
 */
function* walk(fn, sn, path, tooLong, tooShort) {
  for (const p of path) {
    if (sn === 0n) tooLong();
    const left = Boolean(fn & 1n) || fn === sn;
    yield [p, left];
    if (left) {
      while (fn !== 0n && !(fn & 1n)) {
        fn >>= 1n;
        sn >>= 1n;
      }
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) tooShort();
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof implies for a leaf at index in size. */
export function rootFromInclusion(leaf, index, size, proof, code = "bad_inclusion") {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || !(size > 0) || index < 0 || index >= size)
    throw new VerifyError(`leaf index ${index} is outside a tree of size ${size}`, code, `叶子序号 ${index} 不在大小为 ${size} 的树内`);
  const tooLong = () => {
    throw new VerifyError("the inclusion proof is too long", code, "包含证明的哈希过多");
  };
  const tooShort = () => {
    throw new VerifyError("the inclusion proof is too short", code, "包含证明的哈希过少");
  };
  let r = leaf;
  for (const [p, left] of walk(BigInt(index), BigInt(size - 1), proof, tooLong, tooShort))
    r = left ? nodeHash(p, r) : nodeHash(r, p);
  return r;
}

/** RFC 9162 §2.1.4.2: throws unless the tree (oldSize, oldRoot) is a prefix of (newSize, newRoot). */
export function checkConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  const fail = (m, zh) => {
    throw new VerifyError(m, "bad_consistency", zh);
  };
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || newSize < oldSize)
    fail(`a log cannot shrink from ${oldSize} to ${newSize} leaves`, `日志不能从 ${oldSize} 项缩小到 ${newSize} 项`);
  if (oldSize === 0 || oldSize === newSize) {
    if (proof.length) fail(`the proof from size ${oldSize} to ${newSize} must be empty`, `从 ${oldSize} 到 ${newSize} 的证明应为空`);
    if (oldSize === newSize && !equal(oldRoot, newRoot))
      fail(`two different roots for the same size ${oldSize}`, `同一大小 ${oldSize} 有两个不同的根`);
    return;
  }
  if (!proof.length) fail("the consistency proof is empty", "一致性证明为空");
  const path = (oldSize & (oldSize - 1)) === 0 ? [oldRoot, ...proof] : [...proof];
  let fn = BigInt(oldSize - 1);
  let sn = BigInt(newSize - 1);
  while (fn & 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  const tooLong = () => fail("the consistency proof has too many hashes", "一致性证明的哈希过多");
  const tooShort = () => fail("the consistency proof has too few hashes", "一致性证明的哈希过少");
  for (const [c, left] of walk(fn, sn, path.slice(1), tooLong, tooShort)) {
    if (left) fr = nodeHash(c, fr);
    sr = left ? nodeHash(c, sr) : nodeHash(sr, c);
  }
  if (!equal(fr, oldRoot))
    fail(`the consistency proof does not match the root at size ${oldSize}`, `一致性证明与大小 ${oldSize} 时的根不符`);
  if (!equal(sr, newRoot))
    fail(`the consistency proof does not match the root at size ${newSize}`, `一致性证明与大小 ${newSize} 时的根不符`);
}

function fieldsOf(typeString) {
  const inner = typeString.slice(typeString.indexOf("(") + 1, -1);
  return inner.split(",").map((f) => {
    const [type, name] = f.split(" ");
    return { type, name };
  });
}

function word(body, pos) {
  if (pos + 32 > body.length) throw new VerifyError("record fields are truncated", "bad_record", "记录字段不完整");
  return body.slice(pos, pos + 32);
}

function wordInt(body, pos) {
  return BigInt(toHex(word(body, pos)));
}

/** Parses canonical record bytes: version ‖ kind ‖ chainId ‖ contract ‖ signer ‖ abi ‖ r ‖ s ‖ v. */
export function parseRecord(bytes) {
  if (bytes.length < 74 + 65 + 32) throw new VerifyError("record bytes are too short", "bad_record", "记录字节过短");
  if (bytes[0] !== 1) throw new VerifyError(`unknown record format version ${bytes[0]}`, "bad_record", `未知的记录格式版本 ${bytes[0]}`);
  const kind = bytes[1];
  const typeString = TYPE_STRINGS[kind];
  if (!typeString) throw new VerifyError(`unknown record kind ${kind}`, "bad_record", `未知的记录类型 ${kind}`);
  const chainId = BigInt(toHex(bytes.slice(2, 34)));
  const contract = bytes.slice(34, 54);
  const signer = bytes.slice(54, 74);
  const body = bytes.slice(74, bytes.length - 65);
  const sig = bytes.slice(bytes.length - 65);
  const fields = fieldsOf(typeString);
  const dynamic = fields.some((f) => f.type.endsWith("[]") || f.type === "string");
  // abi.encode of a struct with dynamic members starts with the offset (0x20) of the tuple
  const base = dynamic ? 32 : 0;
  if (dynamic && wordInt(body, 0) !== 32n) throw new VerifyError("record fields do not decode", "bad_record", "记录字段无法解码");
  const encoded = [];
  const values = {};
  fields.forEach((f, i) => {
    const head = word(body, base + 32 * i);
    if (f.type === "string") {
      const offset = Number(BigInt(toHex(head)));
      const length = Number(wordInt(body, base + offset));
      if (length > 200) throw new VerifyError(`${f.name} is too long`, "bad_bundle", `${f.name} 过长`);
      const start = base + offset + 32;
      if (start + length > body.length) throw new VerifyError("record fields are truncated", "bad_bundle", "记录字段不完整");
      const raw = body.slice(start, start + length);
      encoded.push(keccak_256(raw));
      try {
        values[f.name] = new TextDecoder("utf-8", { fatal: true }).decode(raw);
      } catch {
        throw new VerifyError(`${f.name} is not UTF-8`, "bad_bundle", `${f.name} 不是 UTF-8 文本`);
      }
    } else if (f.type.endsWith("[]")) {
      const offset = Number(BigInt(toHex(head)));
      const length = Number(wordInt(body, base + offset));
      if (length > 256) throw new VerifyError(`${f.name} is too long`, "bad_record", `${f.name} 过长`);
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
  return { kind, typeString, chainId, contract, signer, structHash, sig, values, body };
}

export const KIND_DELIVERY_BATCH = 6;

/**
 * Binds a batch line proof to its record, field by field (never by searching bytes): the
 * record must be a canonically encoded DeliveryBatch whose signed batchRoot is the line tree's
 * root and whose lineCount is the size of the tree the line is proven in.
 */
export function bindBatch(parsed, lineCount, batchRoot) {
  if (parsed.kind !== KIND_DELIVERY_BATCH) {
    const name = TYPE_STRINGS[parsed.kind].split("(")[0];
    throw new VerifyError(
      `the record is a ${name} (kind ${parsed.kind}), not a DeliveryBatch: a batch line can only be proven under a DeliveryBatch`,
      "wrong_kind",
      `该记录是 ${name}（类型 ${parsed.kind}），不是批量交付记录：批量行只能在 DeliveryBatch 之下证明`,
    );
  }
  const v = parsed.values;
  const n = v.commitmentIds.length;
  const canonical =
    parsed.body.length === 32 + 6 * 32 + 64 + 64 * n &&
    wordInt(parsed.body, 64) === 192n &&
    wordInt(parsed.body, 96) === BigInt(192 + 32 + 32 * n) &&
    v.quantities.length === n;
  if (!canonical) throw new VerifyError("the DeliveryBatch arrays are not canonically encoded", "bad_record", "批量交付记录的数组不是规范编码");
  if (BigInt(v.lineCount) !== BigInt(lineCount))
    throw new VerifyError(
      `the record's lineCount is ${v.lineCount}, but the line is proven in a tree of ${lineCount} lines`,
      "line_count_mismatch",
      `记录的 lineCount 为 ${v.lineCount}，但该行所在的树有 ${lineCount} 行`,
    );
  if (v.batchRoot !== toHex(batchRoot))
    throw new VerifyError(
      `the record's batchRoot is ${v.batchRoot}, not the line tree's root ${toHex(batchRoot)}`,
      "batch_root_mismatch",
      `记录的 batchRoot 为 ${v.batchRoot}，不是行树的根 ${toHex(batchRoot)}`,
    );
  return v;
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
    throw new VerifyError(
      "the signature is malformed or malleable (v must be 27/28, low s)",
      "bad_signature",
      "签名格式错误或可延展（v 须为 27/28，s 须取低值）",
    );
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

function intOf(value, what) {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new VerifyError(`${what} must be a non-negative integer`, "bad_bundle", `${what} 应为非负整数`);
  return value;
}

function hashesOf(value, what) {
  if (!Array.isArray(value)) throw new VerifyError(`${what} must be a list of hex hashes`, "bad_bundle", `${what} 应为十六进制哈希的列表`);
  return value.map((h, i) => fromHex(h, `${what}[${i}]`, 32));
}

function objOf(value, what) {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new VerifyError(`${what} must be a JSON object`, "bad_bundle", `${what} 应为 JSON 对象`);
  return value;
}

/**
 * Verifies a bundle's structure offline, in the order of ledger/proofcheck.py: format, leaf
 * hash, record, inclusion, batch line (bound to the record's fields), consistency, and the
 * author's signature. Stops at the first failure. Returns {checks: [{name, ok, detail, code}],
 * ok, code, parsed, root, size, index, consistency}. `ok` says only that the structure holds:
 * without a trust anchor (see checkAgainstChain and verdict) nothing says the tree is the
 * ledger's.
 */
export function verifyBundle(bundle) {
  const checks = [];
  const out = { checks, ok: false, code: null };
  const step = (name, fn) => {
    try {
      checks.push({ name, ok: true, detail: fn() || "", code: null });
      return true;
    } catch (e) {
      const code = (e && e.code) || "bad_bundle";
      checks.push({ name, ok: false, detail: describeError(e), code });
      if (!out.code) out.code = code;
      return false;
    }
  };
  if (!bundle || typeof bundle !== "object" || bundle.format !== FORMAT) {
    step("format", () => {
      throw new VerifyError(`not a ${FORMAT} bundle`, "bad_format", `format 字段不是 ${FORMAT}`);
    });
    return out;
  }
  let bytes, leaf;
  // Each check runs when what it needs is there, so the page shows every finding; `code` is
  // the first failure in this order, the same as the stdlib verifier's.
  const leafOk = step("leaf", () => {
    const record = objOf(bundle.record, "record");
    bytes = fromHex(record.bytes, "record.bytes");
    const claimed = fromHex(record.leaf_hash, "record.leaf_hash", 32);
    leaf = leafHash(bytes);
    if (!equal(leaf, claimed))
      throw new VerifyError(
        `SHA-256(0x00 ‖ bytes) is ${toHex(leaf)}, the bundle says ${toHex(claimed)}`,
        "bad_leaf_hash",
        `记录字节的哈希为 ${toHex(leaf)}，证明包却写作 ${toHex(claimed)}：记录内容被改动过`,
      );
    return `叶子哈希与记录字节一致 ${toHex(leaf)} / the leaf hash matches the record bytes`;
  });
  const recordOk =
    !!bytes &&
    step("record", () => {
      out.parsed = parseRecord(bytes);
      const name = out.parsed.typeString.split("(")[0];
      const zh = (KIND_WORDS[out.parsed.kind] || UNKNOWN)[0];
      const contract = checksum(out.parsed.contract);
      return `${zh}，链 ${out.parsed.chainId}，合约 ${contract} / ${name}, chain ${out.parsed.chainId}, contract ${contract}`;
    });
  const inclusionOk =
    leafOk &&
    step("inclusion", () => {
      const log = objOf(bundle.log, "log");
      out.size = intOf(log.size, "log.size");
      out.root = fromHex(log.root, "log.root", 32);
      out.index = intOf(bundle.record.index, "record.index");
      const computed = rootFromInclusion(leaf, out.index, out.size, hashesOf(log.inclusion, "log.inclusion"));
      if (!equal(computed, out.root))
        throw new VerifyError(
          `the proof leads to root ${toHex(computed)}, not ${toHex(out.root)}`,
          "bad_inclusion",
          `证明得出的根是 ${toHex(computed)}，不是 ${toHex(out.root)}`,
        );
      return `第 ${out.index} 项，共 ${out.size} 项 / leaf ${out.index} of ${out.size}, root ${toHex(out.root)}`;
    });
  const batchOk =
    bundle.batch === null ||
    bundle.batch === undefined ||
    (recordOk &&
      step("batch", () => {
        const b = objOf(bundle.batch, "batch");
        const lineBytes = fromHex(b.line_bytes, "batch.line_bytes");
        const lineIndex = intOf(b.line_index, "batch.line_index");
        const lineCount = intOf(b.line_count, "batch.line_count");
        const batchRoot = fromHex(b.batch_root, "batch.batch_root", 32);
        const fields = bindBatch(out.parsed, lineCount, batchRoot);
        const proof = hashesOf(b.inclusion, "batch.inclusion");
        const computed = rootFromInclusion(leafHash(lineBytes), lineIndex, lineCount, proof, "bad_line_proof");
        if (!equal(computed, batchRoot)) throw new VerifyError("the line does not prove into the batch root", "bad_line_proof", "该行无法证明属于批量根");
        return `第 ${lineIndex} 行，共 ${lineCount} 行，批量 ${fields.id} / line ${lineIndex} of ${lineCount}, under the batchRoot and lineCount of DeliveryBatch ${fields.id}`;
      }));
  const consistencyOk =
    bundle.consistency === null ||
    bundle.consistency === undefined ||
    (inclusionOk &&
      step("consistency", () => {
        const c = objOf(bundle.consistency, "consistency");
        const cons = {
          oldSize: intOf(c.old_size, "consistency.old_size"),
          newSize: intOf(c.new_size, "consistency.new_size"),
          oldRoot: fromHex(c.old_root, "consistency.old_root", 32),
          newRoot: fromHex(c.new_root, "consistency.new_root", 32),
        };
        const startsAtLog = cons.oldSize === out.size && equal(cons.oldRoot, out.root);
        const endsAtLog = cons.newSize === out.size && equal(cons.newRoot, out.root);
        if (!startsAtLog && !endsAtLog)
          throw new VerifyError(
            "neither end of the consistency proof is the log (log.size, log.root)",
            "bad_consistency",
            "一致性证明的两端都不是本日志（log.size, log.root）",
          );
        checkConsistency(cons.oldSize, cons.newSize, cons.oldRoot, cons.newRoot, hashesOf(c.proof, "consistency.proof"));
        out.consistency = cons;
        return `日志从 ${cons.oldSize} 项到 ${cons.newSize} 项只增未改 / the log of ${cons.oldSize} leaves is a prefix of the log of ${cons.newSize}`;
      }));
  const signatureOk =
    recordOk &&
    step("signature", () => {
      const parsed = out.parsed;
      const digest = keccak_256(
        concat(Uint8Array.of(0x19, 0x01), domainSeparator(parsed.chainId, parsed.contract), parsed.structHash),
      );
      const recovered = recoverAddress(digest, parsed.sig);
      if (!equal(recovered, parsed.signer))
        throw new VerifyError(
          `signed by ${checksum(recovered)}, not by the stated ${checksum(parsed.signer)}`,
          "bad_signature",
          `签名出自 ${checksum(recovered)}，不是记录所称的 ${checksum(parsed.signer)}`,
        );
      const who = checksum(recovered);
      return `由 ${who} 签名 / ${parsed.typeString.split("(")[0]} signed by ${who}`;
    });
  out.ok = leafOk && recordOk && inclusionOk && batchOk && consistencyOk && signatureOk;
  return out;
}

/**
 * Whether a trusted (size, root) — read from the chain — covers the bundle's leaf: it is the
 * log itself, or the newer end of the bundle's consistency proof from the log, or its older
 * end when the leaf lies inside that older tree. Throws "root_mismatch" otherwise.
 */
export function anchorTo(result, trustedSize, trustedRoot) {
  const c = result.consistency;
  if (trustedSize === result.size && equal(trustedRoot, result.root)) return "log.root";
  if (c) {
    if (c.oldSize === result.size && equal(c.oldRoot, result.root) && c.newSize === trustedSize && equal(c.newRoot, trustedRoot))
      return "consistency.new_root";
    if (c.newSize === result.size && equal(c.newRoot, result.root) && c.oldSize === trustedSize && equal(c.oldRoot, trustedRoot) && result.index < trustedSize)
      return "consistency.old_root";
  }
  throw new VerifyError(
    `the trusted root ${toHex(trustedRoot)} (size ${trustedSize}) is neither the bundle's log root (size ${result.size}) nor a root proven consistent with it; fetch a fresh bundle`,
    "root_mismatch",
    `链上的日志根 ${toHex(trustedRoot)}（大小 ${trustedSize}）既不是证明包的日志根（大小 ${result.size}），也没有与之一致的证明：此证明包不在链上的日志中，或已过时，请重新获取`,
  );
}

/**
 * The verdict on a verification: "fail" if any check failed; "ok" only when the structure
 * holds AND the chain check (the trust anchor) passed; otherwise "unanchored" — never OK.
 * Returns {status, zh, en, checked, notChecked}.
 */
export function verdict(result, chainCheck) {
  const checks = [...result.checks, ...(chainCheck ? [chainCheck] : [])];
  const failed = checks.find((c) => !c.ok && !c.skip);
  if (failed)
    return {
      status: "fail",
      code: failed.code,
      zh: "✘ 验证失败：此证明包被拒绝。",
      en: "✘ Verification failed: this proof bundle is rejected.",
    };
  const anchored = !!(chainCheck && chainCheck.ok && !chainCheck.skip);
  if (anchored)
    return {
      status: "ok",
      code: null,
      zh: "✔ 验证通过：记录由所述作者签名，在链上的日志中（日志根与链上 logRoot() 一致，签名者持有相应角色）。",
      en: "✔ Verified: the record is signed by its stated author and is in the ledger's log on chain (the log root equals logRoot() on chain and the signer holds its role).",
    };
  return {
    status: "unanchored",
    code: "not_anchored",
    zh: "⚠ 未核验：证明结构与签名成立，但未对照链上 logRoot()（未提供信任锚），任何人都能伪造自洽的证明包。请填写节点地址后重新验证。",
    en: "⚠ Not verified: the proofs and the signature are well formed, but nothing was compared with logRoot() on chain (no trust anchor) — anyone can make a self-consistent bundle. Give a node URL and verify again.",
  };
}

const SELECTOR = (sig) => toHex(keccak_256(enc.encode(sig)).slice(0, 4));

async function rpc(rpcUrl, method, params) {
  const res = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error)
    throw new VerifyError(body.error.message || `${method} failed`, "chain_unreachable", `节点拒绝了 ${method}：${body.error.message || ""}`);
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

const ROLE_IDS = {
  COUNTY: toHex(keccak_256(enc.encode("COUNTY"))),
  ORG: toHex(keccak_256(enc.encode("ORG"))),
  AUDITOR: toHex(keccak_256(enc.encode("AUDITOR"))),
};
const ROLE_ZH = { COUNTY: "县级乡村振兴部门", ORG: "社会组织", AUDITOR: "审计员" };
/** The roles one of which a signer of each kind must hold (a project: county or organization). */
export const KIND_ROLES = {
  1: ["COUNTY", "ORG"],
  2: ["ORG"],
  3: ["ORG"],
  4: ["COUNTY"],
  5: ["AUDITOR"],
  6: ["ORG"],
  7: ["ORG"],
  8: ["COUNTY"],
  9: ["ORG"],
  10: ["ORG"],
  11: ["ORG"],
  12: ["COUNTY"],
  13: ["COUNTY"],
  14: ["COUNTY"],
  15: ["COUNTY"],
};

/** The roles of KIND_ROLES[kind] that `signer` holds on the contract at `tag`. */
export async function signerRoles(rpcUrl, contract, signer, kind, tag) {
  const to = checksum(contract);
  const held = [];
  for (const name of KIND_ROLES[kind] || []) {
    const data = SELECTOR("hasRole(bytes32,address)") + ROLE_IDS[name].slice(2) + toHex(signer).slice(2).padStart(64, "0");
    if (BigInt(await ethCall(rpcUrl, to, data, tag)) !== 0n) held.push(name);
  }
  return held;
}

/**
 * The trust anchor: reads eth_chainId, logSize() and logRoot() of the record's own contract at
 * the bundle's block (else latest), requires them to cover the bundle's leaf (anchorTo), and
 * requires the signer to hold its kind's role there. Returns a "中文 / English" detail.
 */
export async function checkAgainstChain(rpcUrl, result, bundle) {
  if (!result.ok || !result.parsed || !result.root) throw new VerifyError("verify the bundle first", "bad_bundle", "请先验证证明包");
  let chainId;
  try {
    chainId = BigInt(await rpc(rpcUrl, "eth_chainId", []));
  } catch (e) {
    throw new VerifyError(
      `cannot read eth_chainId from ${rpcUrl}: ${e.message || e}`,
      "chain_unreachable",
      `无法从 ${rpcUrl} 读取 eth_chainId（地址错误、节点未运行，或节点不允许浏览器跨域访问）`,
    );
  }
  // the record names its chain; a node of another chain cannot vouch for it
  if (chainId !== result.parsed.chainId)
    throw new VerifyError(
      `the node is chain ${chainId}, the record was signed for chain ${result.parsed.chainId}`,
      "wrong_chain",
      `该节点属于链 ${chainId}，而记录是为链 ${result.parsed.chainId} 签名的`,
    );
  let onChain = null;
  const block = bundle.chain && bundle.chain.block;
  try {
    if (block !== undefined && block !== null) onChain = await chainRoot(rpcUrl, result.parsed.contract, block);
  } catch (e) {
    onChain = null; // a node that no longer keeps that block's state
  }
  try {
    if (!onChain || onChain.size !== result.size) onChain = await chainRoot(rpcUrl, result.parsed.contract, null);
  } catch (e) {
    throw new VerifyError(
      `cannot read logRoot() from ${rpcUrl}: ${e.message || e}`,
      "chain_unreachable",
      `无法从 ${rpcUrl} 读取合约的 logRoot()（该地址上可能没有本账本的合约）`,
    );
  }
  const how = anchorTo(result, onChain.size, onChain.root);
  const roles = await signerRoles(rpcUrl, result.parsed.contract, result.parsed.signer, result.parsed.kind, onChain.tag);
  if (!roles.length)
    throw new VerifyError(
      `the signer ${checksum(result.parsed.signer)} holds none of ${KIND_ROLES[result.parsed.kind].join(", ")} on chain at ${onChain.tag}`,
      "signer_not_authorized",
      `签名者 ${checksum(result.parsed.signer)} 在链上（${onChain.tag}）不持有 ${KIND_ROLES[result.parsed.kind].join("、")} 中任何角色`,
    );
  const zh = roles.map((r) => `${ROLE_ZH[r] || r}（${r}）`).join("、");
  return `链上 logRoot() 与证明一致，签名者持有${zh}角色 / logRoot() at ${onChain.tag} (size ${onChain.size}) = ${toHex(onChain.root)} covers the leaf (${how}); the signer holds ${roles.join("/")}`;
}

// ---------------------------------------------------------------- the record in words
// The same words as ledger/core/words.py (tests/portal/test_verify_words.py compares them),
// computed here from the record bytes this page has just checked. Names (a signer's registered
// name, a project's title, the unit of a delivery's commitment) are not in the bytes: they come
// from the bundle's `display` section, which the server fills, and are shown as such.

const TZ_LABEL = "北京时间";
const NONE = "—";
const KIND_WORDS = {
  1: ["项目登记", "project record"],
  2: ["承诺", "commitment"],
  3: ["交付", "delivery"],
  4: ["签收", "receipt"],
  5: ["审计标记", "audit flag"],
  6: ["批量交付", "delivery batch"],
  7: ["结对帮扶", "pairing"],
  8: ["结对接受", "pairing accepted"],
  9: ["专项基金", "special fund"],
  10: ["基金到账", "fund contribution"],
  11: ["承诺来源", "commitment source"],
  12: ["回访轮次", "follow-up round"],
  13: ["回访结果", "follow-up result"],
  14: ["申诉登记", "grievance registered"],
  15: ["申诉答复", "grievance answer"],
};
const RESOURCE_WORDS = { 1: ["资金", "funds"], 2: ["物资", "goods"], 3: ["服务", "services"] };
const PROJECT_KIND_WORDS = { 1: ["需求项目", "need"], 2: ["供给项目", "supply offer"] };
const CATEGORIES = [
  ["产业发展", "industry development"],
  ["人才培育", "talent cultivation"],
  ["特殊群体关爱", "care for special groups"],
  ["乡村治理", "village governance"],
  ["科技助农", "science and technology for agriculture"],
  ["文化体育", "culture and sports"],
  ["环保生态", "environment and ecology"],
  ["卫生健康", "health"],
  ["社会治理", "social governance"],
  ["民生保障", "livelihood security"],
];
const FLAG_REASONS = {
  1: ["证据与记录不符", "evidence does not match the record"],
  2: ["逾期交付", "late delivery"],
  3: ["签收数量不足", "receipt short of the delivery"],
  4: ["受益人重复", "duplicate beneficiary"],
  5: ["数据篡改", "data tampering"],
  65535: ["其他（见说明）", "other (see the note)"],
};
const UNKNOWN = ["未知", "unknown"];
const FOLLOW_UP_OUTCOMES = {
  1: ["全部收到", "received in full"],
  2: ["部分收到", "received in part"],
  3: ["未收到", "not received"],
  4: ["查无此户", "household not found"],
};
const GRIEVANCE_OUTCOMES = { 1: ["申诉成立", "upheld"], 2: ["部分成立", "partly upheld"], 3: ["申诉不成立", "not upheld"] };
const SPONSOR_WORDS = { 1: ["企业", "company"], 2: ["个人", "individual"] };

/** A pairing's focus categories (bit c-1 for category c), as ledger/core/program_words.py says them. */
function focusWords(mask) {
  const m = BigInt(mask);
  if (m === 0n || m >> 10n) return UNKNOWN;
  const picked = CATEGORIES.filter((_, i) => (m >> BigInt(i)) & 1n);
  return [picked.map((c) => c[0]).join("、"), picked.map((c) => c[1]).join(", ")];
}

function period(start, end) {
  return [`${endDateText(start)} 至 ${endDateText(end)}`, `${endDateText(start)} to ${endDateText(end)}`];
}

/** Basis points as a percentage: 1000 → 10.00%. */
function rateWords(bps) {
  const b = BigInt(bps);
  return `${b / 100n}.${(b % 100n).toString().padStart(2, "0")}%`;
}

/** An integer (BigInt or decimal text) with thousands separators: 1,234,567. */
export function group(n) {
  const v = BigInt(n);
  const sign = v < 0n ? "-" : "";
  const digits = (v < 0n ? -v : v).toString();
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Fen as yuan, exact, with separators: ¥470,000.00 (display.yuan). */
export function yuan(fen) {
  const v = BigInt(fen);
  const sign = v < 0n ? "-" : "";
  const a = v < 0n ? -v : v;
  return `${sign}¥${group(a / 100n)}.${(a % 100n).toString().padStart(2, "0")}`;
}

/** A quantity as a reader sees it: funds in ¥, services in hours, goods with their unit. */
export function amount(quantity, resourceKind, unit = "") {
  const kind = Number(resourceKind);
  if (kind === 1) return yuan(quantity);
  const u = kind === 3 ? "小时" : unit;
  return `${group(quantity)} ${u}`.trim();
}

function beijingIso(ts) {
  return new Date((Number(ts) + 8 * 3600) * 1000).toISOString();
}

/** Unix seconds as a Beijing calendar date, YYYY-MM-DD (display.beijing_date). */
export function beijingDate(ts) {
  return !ts || ts === "0" ? NONE : beijingIso(ts).slice(0, 10);
}

/** Unix seconds as Beijing time, YYYY-MM-DD HH:MM[:SS] (display.beijing_time). */
export function beijingTime(ts, seconds = false) {
  return !ts || ts === "0" ? NONE : beijingIso(ts).slice(0, seconds ? 19 : 16).replace("T", " ");
}

function endDateText(code) {
  const c = Number(code);
  if (!c) return NONE;
  const p = (n, w) => String(n).padStart(w, "0");
  return `${p(Math.floor(c / 10000), 4)}-${p(Math.floor(c / 100) % 100, 2)}-${p(c % 100, 2)}`;
}

function text32(hex) {
  const bytes = fromHex(hex, "unit", 32);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return new TextDecoder("utf-8").decode(bytes.slice(0, end));
}

/**
 * The fields this browser decodes itself from the record (key → {label_zh, label_en, zh, en}),
 * and the values it can check a server's field against (key → the decoded raw value).
 */
export function decodedWords(parsed) {
  const v = parsed.values;
  const own = new Map();
  const raw = new Map();
  const add = (key, zh, en, text) => {
    const [tzh, ten] = Array.isArray(text) ? text : [text, text];
    own.set(key, { label_zh: zh, label_en: en, zh: tzh, en: ten });
  };
  add("kind", "记录类型", "Record", KIND_WORDS[parsed.kind] || UNKNOWN);
  raw.set("signer", checksum(parsed.signer));
  switch (parsed.kind) {
    case 1:
      add("project", "项目", "Project", v.title);
      add("project_kind", "项目类型", "Project type", PROJECT_KIND_WORDS[v.projectKind] || UNKNOWN);
      add("category", "类别", "Category", CATEGORIES[Number(v.category) - 1] || UNKNOWN);
      add("budget", "预算", "Budget", yuan(v.budget));
      add("end_date", "截止日期", "End date", endDateText(v.endDate));
      add("version", "版本", "Version", String(v.version));
      raw.set("county", String(v.county));
      break;
    case 2: {
      add("resource_kind", "资源类型", "Resource", RESOURCE_WORDS[v.resourceKind] || UNKNOWN);
      add("quantity", "数量", "Amount", amount(v.quantity, v.resourceKind, text32(v.unit)));
      const due = beijingDate(v.dueDate);
      add("due_date", "截止日期", "Due date", [`${due}（${TZ_LABEL}）`, `${due} (Beijing)`]);
      raw.set("need", v.needId);
      break;
    }
    case 3: {
      const at = beijingTime(v.deliveredAt);
      add("delivered_at", "交付时间", "Delivered at", [`${at}（${TZ_LABEL}）`, `${at} (Beijing time)`]);
      const n = group(v.beneficiaryCount);
      add("beneficiaries", "受益人数", "Beneficiaries", [`${n} 人`, n]);
      raw.set("commitment", v.commitmentId);
      raw.set("quantity", v.quantity);
      break;
    }
    case 4:
      raw.set("delivery", v.deliveryId);
      raw.set("confirmed", v.confirmedQuantity);
      break;
    case 5:
      add("reason", "原因", "Reason", FLAG_REASONS[v.reasonCode] || [`原因代码 ${v.reasonCode}`, "unknown"]);
      raw.set("flagged", v.recordId);
      break;
    case 6: {
      const lines = group(v.lineCount);
      add("line_count", "交付行数", "Lines", [`${lines} 行`, lines]);
      v.quantities.forEach((q, i) => raw.set(`share_${i}`, q));
      break;
    }
    case 7: {
      raw.set("county", String(v.county));
      add("period", "结对期限", "Period", period(v.startDate, v.endDate));
      add("focus", "重点领域", "Focus", focusWords(v.categories));
      add("funds_target", "资金目标", "Funds target", yuan(v.fundsTarget));
      const p = group(v.projectsTarget);
      add("projects_target", "项目目标", "Projects target", [`${p} 个`, p]);
      const h = group(v.hoursTarget);
      add("hours_target", "服务时长目标", "Service hours target", [`${h} 小时`, `${h} hours`]);
      add("designated", "定点帮扶", "Designated", v.designated === "1" ? ["是", "yes"] : ["否", "no"]);
      break;
    }
    case 8:
      raw.set("pairing", v.pairingId);
      raw.set("county", String(v.county));
      break;
    case 9:
      add("fund", "基金名称", "Fund", v.name);
      add("sponsor_kind", "出资方", "Sponsor", SPONSOR_WORDS[v.sponsorKind] || UNKNOWN);
      add("sponsor_public", "出资方名称", "Sponsor's name", v.sponsorPublic === "1" ? ["公开", "public"] : ["不公开", "not public"]);
      add("pledged", "认捐金额", "Pledged", yuan(v.pledged));
      break;
    case 10:
      raw.set("fund", v.fundId);
      add("amount", "到账金额", "Received", yuan(v.amount));
      add("received_date", "到账日期", "Received on", endDateText(v.receivedDate));
      break;
    case 11:
      raw.set("commitment", v.commitmentId);
      if (BigInt(v.pairingId) !== 0n) raw.set("pairing", v.pairingId);
      if (BigInt(v.fundId) !== 0n) {
        raw.set("fund", v.fundId);
        add("fund_amount", "动用金额", "Amount drawn", yuan(v.fundAmount));
      }
      break;
    case 12: {
      raw.set("batch", v.batchId);
      raw.set("county", String(v.county));
      const seed = group(v.seedBlock);
      add("seed_block", "抽样种子区块", "Seed block", [`第 ${seed} 块`, `block ${seed}`]);
      add("rate", "抽样比例", "Sample rate", rateWords(v.rateBps));
      break;
    }
    case 13: {
      raw.set("round", v.roundId);
      const line = group(BigInt(v.lineIndex) + 1n);
      add("line", "批次行", "Line", [`第 ${line} 行`, `line ${line}`]);
      add("outcome", "回访结果", "Finding", FOLLOW_UP_OUTCOMES[v.outcome] || UNKNOWN);
      if (BigInt(v.quantity) !== 0n) add("quantity", "实收数量", "Received", group(v.quantity));
      break;
    }
    case 14: {
      raw.set("project", v.projectId);
      if (BigInt(v.recordId) !== 0n) raw.set("record", v.recordId);
      const at = beijingTime(v.filedAt);
      add("filed_at", "提交时间", "Filed at", [`${at}（${TZ_LABEL}）`, `${at} (Beijing time)`]);
      break;
    }
    case 15:
      raw.set("grievance", v.grievanceId);
      add("outcome", "答复结论", "Answer", GRIEVANCE_OUTCOMES[v.outcome] || UNKNOWN);
      break;
  }
  // a quantity whose unit only the server knows: the number alone, when no name came with it
  if (parsed.kind === 3) own.set("quantity", { label_zh: "交付数量", label_en: "Delivered", zh: group(v.quantity), en: group(v.quantity), fallback: true });
  if (parsed.kind === 4)
    own.set("confirmed", { label_zh: "确认数量", label_en: "Confirmed", zh: group(v.confirmedQuantity), en: group(v.confirmedQuantity), fallback: true });
  return { own, raw };
}

const str = (x) => (typeof x === "string" ? x : x === null || x === undefined ? "" : String(x));
/** Only a path inside this site may become a link (never javascript: or another host). */
const safeLink = (x) => (typeof x === "string" && /^\/(?!\/)/.test(x) ? x : null);

/**
 * The record in words: each field with its source. "record" fields were decoded here from the
 * bytes just verified; "server" fields (names, titles, units of another record) come from the
 * bundle's `display` section and are not verified — `mismatch` marks one whose value as signed
 * (`raw`) is not what the record says. `differs` marks a field where the server's words are not
 * the words of the record (the server described something else).
 */
export function recordWords(parsed, display) {
  const { own, raw } = decodedWords(parsed);
  const out = [];
  const seen = new Set();
  const server = display && Array.isArray(display.fields) ? display.fields : [];
  for (const f of server) {
    if (!f || typeof f.key !== "string" || seen.has(f.key)) continue;
    const mine = own.get(f.key);
    if (mine && !(mine.fallback && f.signed === false)) {
      seen.add(f.key);
      out.push({ key: f.key, ...mine, source: "record", differs: str(f.zh) !== mine.zh || str(f.en) !== mine.en });
      continue;
    }
    seen.add(f.key);
    const decoded = raw.get(f.key);
    const mismatch = decoded !== undefined && str(f.raw).toLowerCase() !== String(decoded).toLowerCase();
    out.push({
      key: f.key,
      label_zh: str(f.label_zh),
      label_en: str(f.label_en),
      zh: str(f.zh),
      en: str(f.en),
      link: safeLink(f.link),
      source: "server",
      mismatch,
    });
  }
  for (const [key, mine] of own) if (!seen.has(key)) out.push({ key, ...mine, source: "record" });
  if (!seen.has("signer")) {
    const a = checksum(parsed.signer);
    out.splice(1, 0, { key: "signer", label_zh: "签名者", label_en: "Signed by", zh: a, en: a, source: "record" });
  }
  return out;
}
