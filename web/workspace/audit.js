// The auditor's workspace (审计): flag a record (a Flag record signed here), and the latest
// signed checkpoint with its witnesses, read from the public checkpoint endpoints.
import { api, explain } from "./api.js";
import { submit, noteHash } from "./records.js";
import { $, el, say, validate, busy, HEX32 } from "./ui.js";
import { track } from "./track.js";

async function loadCheckpoints() {
  const list = $("checkpoints");
  try {
    const rows = await api("GET", "/api/v1/checkpoints?limit=5");
    list.replaceChildren(
      ...rows.map((c) => el("li", { text: Object.entries(c).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(" · ") })),
    );
    if (!rows.length) list.replaceChildren(el("li", { text: "尚无检查点 no checkpoint yet" }));
  } catch (exc) {
    list.replaceChildren(el("li", { text: explain(exc) }));
  }
}

export function audit() {
  $("flag-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ok = validate({
      "f-record": (v) => (HEX32.test(v) ? null : "记录编号为 0x 加 64 位十六进制 / a record id is 0x and 64 hex digits"),
      "f-note": (v) => ($("f-reason").value === "65535" && !v ? "选择“其他”时请写明原因 / explain the reason when it is “other”" : null),
    });
    if (!ok) return;
    busy(e.submitter, async () => {
      try {
        const acc = await submit(
          "flag",
          { recordId: $("f-record").value.trim().toLowerCase(), reasonCode: Number($("f-reason").value), noteHash: noteHash($("f-note").value) },
          { heading: "审计标记 Flag a record", note: "备注只以哈希上链；请另行保存备注原文。 Only the note's hash goes on chain; keep the note itself." },
        );
        say("flag-message", `标记已提交 Flag submitted: ${acc.record_id}`, "ok");
        track(acc.record_id, "标记 flag", acc.status);
      } catch (exc) {
        say("flag-message", explain(exc), "error");
      }
    });
  });
  loadCheckpoints();
}
