// A delivery batch from a CSV file (ledger/batches/files.py's columns), in the browser: every
// line is checked and its problems shown at its row before anything is signed; the lines
// become DeliveryLine bytes (ledger.core.lines), their RFC 9162 root and per-commitment totals
// make the DeliveryBatch record, which is shown and signed here; then the lines are streamed
// (length u32 ‖ line bytes) to the upload with a progress bar, resuming from the held count.
import { sha256, keccak256, toUtf8Bytes, getBytes, concat, hexlify, toBeArray, zeroPadValue } from "ethers";
import { api, explain, ApiError } from "./api.js";
import { confirmAndSign, requireWallet } from "./sign.js";
import { eip712 } from "./api.js";
import { $, el, say, busy } from "./ui.js";
import { track } from "./track.js";

const COLUMNS = {
  commitment_id: "承诺编号",
  item: "物品或服务",
  quantity: "数量",
  unit: "单位",
  delivered_at: "交付日期",
  beneficiary: "受益人假名",
  id_number: "身份证号",
  evidence_hash: "凭证哈希",
};
const REQUIRED = ["commitment_id", "item", "quantity", "unit", "delivered_at"];
const ALIASES = Object.fromEntries(Object.entries(COLUMNS).flatMap(([k, zh]) => [[k, k], [zh, k]]));
const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const EARLIEST = Date.UTC(2015, 0, 1) / 1000;
const MAX_QUANTITY = 10 ** 12;

function columnKey(cell) {
  for (const token of cell.trim().replace(/^\ufeff/, "").split(/[\s/|()（）]+/)) {
    const key = ALIASES[token] || ALIASES[token.toLowerCase()];
    if (key) return key;
  }
  return null;
}

/** RFC 4180 rows (quotes, doubled quotes, CRLF); each row with its 1-based line number. */
export function csvRows(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === "\n") line++;
        cell += ch;
      }
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push({ line: start, cells: row });
      row = [];
      cell = "";
      line++;
      start = line;
    } else cell += ch;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push({ line: start, cells: row });
  }
  return rows.filter((r) => r.cells.some((c) => c.trim() !== ""));
}

class Bad extends Error {
  constructor(column, code, message) {
    super(message);
    this.column = column;
    this.code = code;
  }
}

function parseTime(text) {
  let ts;
  if (/^\d+$/.test(text)) ts = Number(text);
  else if (/^\d{4}-\d{2}-\d{2}$/.test(text)) ts = Date.parse(`${text}T00:00:00+08:00`) / 1000;
  else ts = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}+08:00`) / 1000;
  if (!Number.isFinite(ts)) throw new Bad("delivered_at", "bad_date", `交付日期格式错误 / delivered_at "${text}" is not YYYY-MM-DD or Unix seconds`);
  if (ts < EARLIEST || ts > Date.now() / 1000 + 86_400) throw new Bad("delivered_at", "absurd_date", `交付日期早于 2015 年或在将来 / delivered_at "${text}" is before 2015 or in the future`);
  return Math.floor(ts);
}

function lineOf(row) {
  for (const key of REQUIRED) if (!row[key]) throw new Bad(key, "missing_value", `${COLUMNS[key]} 为空 / ${key} is empty`);
  if (!HEX32.test(row.commitment_id)) throw new Bad("commitment_id", "bad_hex", "承诺编号应为 0x 加 64 位十六进制 / commitment_id must be 0x and 64 hex digits");
  if (row.item.length > 100) throw new Bad("item", "too_long", "物品名称超过 100 字 / item is longer than 100 characters");
  if (!/^-?\d+$/.test(row.quantity)) throw new Bad("quantity", "bad_type", `数量不是整数 / quantity "${row.quantity}" is not a whole number`);
  const quantity = Number(row.quantity);
  if (quantity <= 0) throw new Bad("quantity", "not_positive", "数量须为正数 / quantity must be positive");
  if (quantity > MAX_QUANTITY) throw new Bad("quantity", "absurd_quantity", "数量过大 / quantity is over 1,000,000,000,000");
  if (toUtf8Bytes(row.unit).length > 32) throw new Bad("unit", "too_long", "单位超过 32 字节 / unit is longer than 32 UTF-8 bytes");
  const deliveredAt = parseTime(row.delivered_at);
  if (row.id_number) throw new Bad("id_number", "county_key_needed", "身份证号须在本机用县密钥转为假名（bangfu batch）；此处请填受益人假名 / id_number needs the county key: give the beneficiary pseudonym here");
  if (!row.beneficiary) throw new Bad("beneficiary", "missing_value", "请填写受益人假名 / give the beneficiary pseudonym");
  if (!HEX32.test(row.beneficiary)) throw new Bad("beneficiary", "bad_hex", "受益人假名应为 0x 加 64 位十六进制 / beneficiary must be 0x and 64 hex digits");
  if (row.evidence_hash && !HEX32.test(row.evidence_hash)) throw new Bad("evidence_hash", "bad_hex", "凭证哈希应为 0x 加 64 位十六进制 / evidence_hash must be 0x and 64 hex digits");
  return {
    commitmentId: row.commitment_id.toLowerCase(),
    item: row.item,
    quantity,
    unit: row.unit,
    deliveredAt,
    beneficiary: row.beneficiary.toLowerCase(),
    evidenceHash: (row.evidence_hash || `0x${"00".repeat(32)}`).toLowerCase(),
  };
}

/** {lines, problems: [{line, column, code, message}]} of a CSV text. */
export function parseCsv(text) {
  const rows = csvRows(text.replace(/^\ufeff/, ""));
  const problems = [];
  const lines = [];
  if (!rows.length) return { lines, problems: [{ line: 1, column: null, code: "empty_file", message: "文件为空 / the file is empty" }] };
  const keys = rows[0].cells.map(columnKey);
  const missing = REQUIRED.filter((k) => !keys.includes(k));
  if (missing.length) {
    return { lines, problems: [{ line: 1, column: missing.join(", "), code: "missing_column", message: `缺少列 / missing column(s): ${missing.join(", ")}` }] };
  }
  for (const r of rows.slice(1)) {
    const row = {};
    keys.forEach((k, i) => {
      if (k) row[k] = (r.cells[i] || "").trim();
    });
    try {
      lines.push(lineOf(row));
    } catch (exc) {
      if (!(exc instanceof Bad)) throw exc;
      problems.push({ line: r.line, column: exc.column, code: exc.code, message: exc.message });
    }
  }
  return { lines, problems };
}

const u = (n, size) => zeroPadValue(toBeArray(BigInt(n)), size);
const u16 = (n) => new Uint8Array([(n >> 8) & 0xff, n & 0xff]);

/** DeliveryLine bytes, version 1 (ledger.core.lines.DeliveryLine.line_bytes). */
export function lineBytes(l) {
  const item = toUtf8Bytes(l.item);
  const unit = toUtf8Bytes(l.unit);
  return getBytes(concat([new Uint8Array([1]), l.commitmentId, u(l.quantity, 16), u(l.deliveredAt, 8), l.beneficiary, l.evidenceHash, u16(item.length), item, u16(unit.length), unit]));
}

const leafHash = (bytes) => sha256(concat([new Uint8Array([0]), bytes]));
const nodeHash = (a, b) => sha256(concat([new Uint8Array([1]), a, b]));

/** The RFC 9162 root over leaf hashes. */
export function root(leaves) {
  const mth = (lo, hi) => {
    const n = hi - lo;
    if (n === 1) return leaves[lo];
    let k = 1;
    while (k * 2 < n) k *= 2;
    return nodeHash(mth(lo, lo + k), mth(lo + k, hi));
  };
  return mth(0, leaves.length);
}

function lenPrefixed(parts) {
  return concat(parts.flatMap((p) => [u(getBytes(p).length, 4), p]));
}

/** The DeliveryBatch record of `lines` for `signer` (ledger.batches.build.build_batch). */
export function batchRecord(lines, signer, evidenceHash = `0x${"00".repeat(32)}`) {
  const batchRoot = root(lines.map((l) => leafHash(lineBytes(l))));
  const totals = new Map();
  for (const l of lines) totals.set(l.commitmentId, (totals.get(l.commitmentId) || 0n) + BigInt(l.quantity));
  const ids = [...totals.keys()].sort();
  const digest = keccak256(lenPrefixed([toUtf8Bytes("DeliveryBatch"), signer.toLowerCase(), batchRoot, evidenceHash]));
  return {
    id: (signer.toLowerCase() + digest.slice(2, 26)).toLowerCase(),
    commitmentIds: ids,
    quantities: ids.map((c) => totals.get(c).toString()),
    lineCount: lines.length,
    batchRoot,
    evidenceHash,
  };
}

function frames(lines) {
  return getBytes(concat(lines.flatMap((b) => [u(b.length, 4), b])));
}

function showProblems(problems) {
  const table = $("batch-errors");
  table.querySelector("tbody").replaceChildren(
    ...problems.map((p) => el("tr", { "data-line": p.line, "data-column": p.column || "" }, el("td", { text: String(p.line) }), el("td", { text: p.column ? `${COLUMNS[p.column] || ""} ${p.column}`.trim() : "" }), el("td", { text: `${p.message} [${p.code}]` }))),
  );
  table.hidden = !problems.length;
}

export function wireBatch() {
  let parsed = null;
  const send = $("batch-send");
  $("batch-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("batch-file").files[0];
    if (!file) return say("batch-message", "请选择 CSV 文件 / choose a CSV file", "error");
    busy(e.submitter, async () => {
      parsed = parseCsv(await file.text());
      showProblems(parsed.problems);
      send.disabled = Boolean(parsed.problems.length) || !parsed.lines.length;
      say(
        "batch-message",
        parsed.problems.length
          ? `${parsed.problems.length} 行有错误：改正后重新检查，改正前不能签名。 ${parsed.problems.length} line(s) with errors: fix and check again; signing stays blocked until then.`
          : `${parsed.lines.length} 行全部通过检查。 All ${parsed.lines.length} lines pass the checks.`,
        parsed.problems.length ? "error" : "ok",
      );
    });
  });
  send.addEventListener("click", (e) =>
    busy(e.currentTarget, async () => {
      if (!parsed || parsed.problems.length) return;
      try {
        const w = requireWallet();
        const t = await eip712();
        const record = batchRecord(parsed.lines, w.address);
        const typed = { domain: t.domain, types: { DeliveryBatch: t.types.DeliveryBatch }, primaryType: "DeliveryBatch", message: record };
        const [signature] = await confirmAndSign("批量交付 Delivery batch", [typed], {
          note: `${record.lineCount} 行明细；链上只记录其默克尔根和每个承诺的合计。 ${record.lineCount} lines; only their Merkle root and each commitment's total go on chain.`,
        });
        const wire = parsed.lines.map(lineBytes);
        let info = await api("POST", "/api/v1/batches", { json: { kind: "delivery_batch", record, signature } });
        const bar = $("batch-progress");
        const step = Math.max(1, Math.ceil(wire.length / 20));
        for (let attempt = 0; info.status === "receiving" && attempt < wire.length + 20; attempt++) {
          bar.max = wire.length;
          bar.value = info.lines_received;
          say("batch-progress-text", `${info.lines_received} / ${wire.length}`);
          if (info.lines_received >= info.line_count) {
            info = await api("POST", `/api/v1/batches/uploads/${info.upload_id}/finish`);
            continue;
          }
          const start = info.lines_received;
          const chunk = frames(wire.slice(start, start + step));
          try {
            info = await api("PUT", `/api/v1/batches/uploads/${info.upload_id}/lines?start=${start}`, {
              form: new Blob([chunk], { type: "application/vnd.bangfu.lines" }),
              headers: { "Content-Type": "application/vnd.bangfu.lines" },
            });
          } catch (exc) {
            if (!(exc instanceof ApiError) || !["busy", "upload_gap", "upload_incomplete"].includes(exc.code)) throw exc;
            info = await api("GET", `/api/v1/batches/uploads/${info.upload_id}`);
          }
        }
        bar.value = info.lines_received;
        say("batch-progress-text", `${info.lines_received} / ${wire.length}`);
        if (info.status !== "accepted") throw Object.assign(new Error(info.error || `上传结束于 the upload ended ${info.status}`), { code: info.error_code || "upload_refused" });
        say("batch-message", `批量交付已提交 Batch submitted: ${info.batch_id}`, "ok");
        track(info.batch_id, "批量交付 batch", "queued");
        send.disabled = true;
      } catch (exc) {
        say("batch-message", explain(exc), "error");
      }
    }),
  );
}
