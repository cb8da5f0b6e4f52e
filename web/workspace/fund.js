// 专项基金 Special funds in the organization's workspace (ledger.workspace.funds,
// docs/programs.md): open a fund (a Fund signed here; the sponsor's name and a salt made
// here stay off chain, only SHA-256(salt ‖ name) is signed), record money the fund received
// (FundContribution), and the "draw on a fund" block of the commitment form: the commitment
// and its CommitmentSource are shown together, signed together and sent in one submission,
// so a draw past the pledge refuses both (fund_over_committed).
import { chosenPairing, sourceId } from "./pairing.js";
import { concat, getBytes, keccak256, randomBytes, sha256, toUtf8Bytes, hexlify, ZeroHash } from "ethers";
import { api, eip712, explain } from "./api.js";
import { consent, describe, domainSection, requireWallet, yuan, Cancelled } from "./sign.js";
import { scopedId } from "./library.js";
import { fileHash, subject } from "./records.js";
import { $, el, say, validate, attempt, fenOf, positiveAmount, HEX32 } from "./ui.js";
import { track } from "./track.js";

const KINDS = { 1: "企业 company", 2: "个人 individual" };

let typesCache = null;
async function types() {
  if (!typesCache) typesCache = await eip712();
  return typesCache;
}

function typedOf(t, kind, message) {
  const primaryType = t.kinds[kind];
  return { domain: t.domain, types: { [primaryType]: t.types[primaryType] }, primaryType, message };
}

/** SHA-256(salt ‖ UTF-8 of the NFC name), as ledger.workspace.funds.sponsor_hash. */
export function sponsorHash(salt, name) {
  return sha256(concat([getBytes(salt), toUtf8Bytes(name.normalize("NFC"))]));
}

/** SHA-256 of the purpose text's UTF-8, as ledger.workspace.funds.purpose_hash. */
export function purposeHash(text) {
  return sha256(toUtf8Bytes(text));
}

function lengthPrefixed(bytes) {
  const n = new Uint8Array(4);
  new DataView(n.buffer).setUint32(0, bytes.length);
  return concat([n, bytes]);
}

/** The CommitmentSource id derived from its commitment: one derivation, in pairing.js. */
export { sourceId };

async function fileHashOrZero(input) {
  const file = input && input.files && input.files[0];
  return file ? fileHash(file) : ZeroHash;
}

function ymd(n) {
  const s = String(n);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

async function signAll(w, typedList) {
  const out = [];
  for (const t of typedList) out.push(await w.signTypedData(t.domain, t.types, t.message));
  return out;
}

// ---------------------------------------------------------------- my funds

let mine = [];

/** Fills the fund menus (draw block, contribution form) with this key's funds. */
export async function loadFunds() {
  let w;
  try {
    w = requireWallet();
    const all = (await api("GET", "/api/v1/funds")).funds;
    mine = all.filter((f) => f.org.toLowerCase() === w.address.toLowerCase());
  } catch (exc) {
    say("fund-list-message", explain(exc), "error");
    return;
  }
  for (const id of ["c-fund", "fc-fund"]) {
    const sel = $(id);
    if (!sel) continue;
    const keep = sel.value;
    const first = id === "c-fund" ? [el("option", { value: "", text: "不动用基金 no fund" })] : [];
    sel.replaceChildren(
      ...first,
      ...mine.map((f) => el("option", { value: f.fund_id, text: `${f.name} · 可用 available ${yuan(BigInt(f.totals.pledged.fen) - BigInt(f.totals.committed.fen))}` })),
    );
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }
  const list = $("fund-list");
  if (list) {
    list.replaceChildren(
      ...mine.map((f) => el("li", { "data-fund": f.fund_id }, el("a", { href: `/funds/${f.fund_id}`, text: f.name }), el("span", { text: ` 认捐 pledged ${f.totals.pledged.yuan} · 已承诺 committed ${f.totals.committed.yuan}` }))),
    );
    if (!mine.length) list.replaceChildren(el("li", { text: "本组织尚无已上链的专项基金 no fund of yours on chain yet" }));
  }
}

// ---------------------------------------------------------------- open a fund

function wireOpen() {
  $("fund-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("fo-name").value.trim();
    const sponsor = $("fo-sponsor").value.trim();
    const ok = validate({
      "fo-name": (v) => (!v ? "请填写基金名称 / name the fund" : new TextEncoder().encode(v).length > 200 ? "最多 200 字节 / at most 200 bytes" : null),
      "fo-sponsor": (v) => (!v ? "请填写出资方名称（不上链） / the sponsor's name (kept off chain)" : v.length > 200 ? "最多 200 字 / at most 200 characters" : null),
      "fo-pledged": (v) => positiveAmount(true, v),
      "fo-purpose": (v) => (v.length > 4000 ? "最多 4000 字 / at most 4000 characters" : null),
      "fo-public": (v) => {
        if (v || !sponsor) return null;
        const plain = (s) => s.normalize("NFKC").replace(/\s+/g, "").toLowerCase();
        const text = plain(name) + "\n" + plain($("fo-purpose").value);
        return text.includes(plain(sponsor)) ? "出资方未同意公开名称：基金名称和用途中不得出现其名称 / without consent the sponsor's name must not appear in the name or purpose" : null;
      },
    });
    if (!ok) {
      say("fund-message", "请先改正标出的字段，未发送任何内容。 Fix the marked fields first; nothing was sent.", "error");
      return;
    }
    attempt(e.submitter, "fund-message", async () => {
      const w = requireWallet();
      const t = await types();
      const salt = hexlify(randomBytes(32));
      const purpose = $("fo-purpose").value.trim();
      const kind = Number($("fo-kind").value);
      const isPublic = $("fo-public").checked;
      const message = {
        id: scopedId(w.address),
        name,
        sponsorKind: kind,
        sponsorHash: sponsorHash(salt, sponsor),
        sponsorPublic: isPublic,
        pledged: fenOf($("fo-pledged").value),
        purposeHash: purposeHash(purpose),
      };
      const typed = typedOf(t, "fund", message);
      const confirmed = await consent("开设专项基金 Open a special fund", [
        {
          heading: "专项基金（上链） special fund (on chain)",
          rows: [
            ["基金名称 name", message.name, "name"],
            ["出资方类型 sponsor kind", KINDS[kind], "sponsorKind"],
            ["认捐金额 pledged", yuan(message.pledged), "pledged"],
            ["同意公开出资方名称 sponsor consents to be named", isPublic ? "是 yes" : "否 no", "sponsorPublic"],
            ["出资方哈希 sponsor hash", message.sponsorHash, "sponsorHash"],
            ["用途哈希 purpose hash", message.purposeHash, "purposeHash"],
            ["记录编号 record id", message.id, "id"],
          ],
        },
        {
          heading: "不上链，交本服务器保存 kept off chain by this server",
          rows: [
            ["出资方名称 sponsor's name", `${sponsor}${isPublic ? "（公开 shown）" : "（不公开 never shown）"}`],
            ["用途说明（公开） purpose (public)", purpose || "无 none"],
          ],
        },
        domainSection(t.domain, w.address),
      ]);
      if (!confirmed) throw new Cancelled();
      const [signature] = await signAll(w, [typed]);
      const out = await api("POST", "/api/v1/funds", {
        json: { record: { kind: "fund", record: message, signature, signer: w.address }, sponsor_name: sponsor, sponsor_salt: salt, purpose },
      });
      say("fund-message", `专项基金已提交 Fund submitted: ${out.fund_id}`, "ok");
      $("fund-message").after(el("p", { id: "fund-page" }, el("a", { href: `/funds/${out.fund_id}`, text: "查看基金页面 See the fund's page" })));
      track(out.fund_id, "专项基金 fund", out.accepted.status);
    });
  });
}

// ---------------------------------------------------------------- a contribution

function wireContribution() {
  $("fc-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "fc-fund": (v) => (HEX32.test(v) ? null : "请选择基金 / choose a fund (刷新 refresh the list)"),
      "fc-amount": (v) => positiveAmount(true, v),
      "fc-date": (v) => (!v ? "请选择到账日期 / choose the date received" : null),
    });
    if (!ok) return;
    attempt(e.submitter, "fc-message", async () => {
      const w = requireWallet();
      const t = await types();
      const evidence = await fileHashOrZero($("fc-file"));
      const message = {
        id: scopedId(w.address),
        fundId: $("fc-fund").value,
        amount: fenOf($("fc-amount").value),
        receivedDate: Number($("fc-date").value.replaceAll("-", "")),
        evidenceHash: evidence,
      };
      const fund = mine.find((f) => f.fund_id === message.fundId);
      const confirmed = await consent("记录到账 Record money received", [
        {
          heading: "基金到账（上链） fund contribution (on chain)",
          rows: [
            ["基金 fund", fund ? fund.name : message.fundId, "fundId"],
            ["到账金额 amount", yuan(message.amount), "amount"],
            ["到账日期 received", ymd(message.receivedDate), "receivedDate"],
            ["凭证哈希 evidence hash", message.evidenceHash, "evidenceHash"],
            ["记录编号 record id", message.id, "id"],
          ],
        },
        domainSection(t.domain, w.address),
      ]);
      if (!confirmed) throw new Cancelled();
      const [signature] = await signAll(w, [typedOf(t, "fund_contribution", message)]);
      const answer = await api("POST", "/api/v1/records", { json: { records: [{ kind: "fund_contribution", record: message, signature, signer: w.address }] } });
      const acc = answer.accepted[0];
      say("fc-message", `到账已提交 Contribution submitted: ${acc.record_id}`, "ok");
      track(acc.record_id, "基金到账 contribution", acc.status);
    });
  });
}

// ---------------------------------------------------------------- the draw block of the commitment form

/** The checks of the commitment form's "draw on a fund" block, for validate(). */
export function drawChecks() {
  return {
    "c-fund-amount": (v) => {
      if (!$("c-fund") || !$("c-fund").value) return null;
      const err = positiveAmount(true, v);
      if (err) return err;
      const fund = mine.find((f) => f.fund_id === $("c-fund").value);
      if (fund && BigInt(fenOf(v)) > BigInt(fund.totals.pledged.fen) - BigInt(fund.totals.committed.fen)) {
        return `超过基金可用额 ${yuan(BigInt(fund.totals.pledged.fen) - BigInt(fund.totals.committed.fen))} / more than the fund has left`;
      }
      if ($("c-kind").value === "funds" && fenOf(v) > fenOf($("c-quantity").value)) return "动用金额不能超过承诺金额 / no more than the commitment's amount";
      return null;
    },
  };
}

/** Signs and submits a commitment `record` (no id yet); with a fund chosen in the draw block,
 * its CommitmentSource too, both in one confirmation and one submission. */
export async function submitCommitment(record, { heading } = {}) {
  const w = requireWallet();
  const t = await types();
  const commitment = { id: scopedId(w.address), ...record };
  const typed = [typedOf(t, "commitment", commitment)];
  const sections = [...(await subject("commitment", commitment)), { heading: heading || "承诺 commitment", rows: describe("Commitment", commitment) }];
  const fundId = $("c-fund") ? $("c-fund").value : "";
  const pairing = chosenPairing();
  let source = null;
  if (fundId || pairing) {
    // The commitment's one source (the contract takes one per commitment): the fund drawn on
    // (this block) and the pairing served (the pairing block, pairing.js), signed together.
    source = {
      id: sourceId(commitment.id),
      commitmentId: commitment.id,
      pairingId: pairing ? pairing.id : ZeroHash,
      fundId: fundId || ZeroHash,
      fundAmount: fundId ? fenOf($("c-fund-amount").value) : 0,
    };
    const fund = mine.find((f) => f.fund_id === fundId);
    typed.push(typedOf(t, "commitment_source", source));
    const rows = [];
    if (pairing) rows.push(["归入结对 pairing", pairing.label, "pairingId"]);
    if (fundId) {
      rows.push(["基金 fund", fund ? fund.name : fundId, "fundId"]);
      rows.push(["动用金额 drawn", yuan(source.fundAmount), "fundAmount"]);
    }
    rows.push(["承诺编号 commitment id", commitment.id, "commitmentId"], ["记录编号 record id", source.id, "id"]);
    sections.push({ heading: fundId ? "动用专项基金 draw on a special fund" : "承诺归入结对 cite the pairing", rows });
  }
  sections.push(domainSection(t.domain, w.address));
  if (!(await consent(heading || "承诺 Commit", sections))) throw new Cancelled();
  const sigs = await signAll(w, typed);
  const records = [{ kind: "commitment", record: commitment, signature: sigs[0], signer: w.address }];
  if (source) records.push({ kind: "commitment_source", record: source, signature: sigs[1], signer: w.address });
  const answer = await api("POST", "/api/v1/records", { json: { records } });
  if (source) track(answer.accepted[1].record_id, "承诺来源 commitment source", answer.accepted[1].status);
  return answer.accepted[0];
}

export function wireFunds() {
  wireOpen();
  wireContribution();
  $("funds-refresh").addEventListener("click", () => loadFunds());
  $("fc-date").value = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}
