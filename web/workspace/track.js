// "My records": each record this page submitted, followed queued → sent → confirmed by
// polling GET /api/v1/records/status.
import { follow, statusWords } from "./api.js";
import { $, el } from "./ui.js";

export function track(recordId, label, status = "queued") {
  const list = $("records");
  if (!list) return;
  const state = el("span", { class: "status", "data-status": status, text: statusWords(status) });
  const li = el(
    "li",
    { "data-record": recordId },
    el("span", { text: `${label} ` }),
    el("code", { class: "wrap", text: recordId }),
    el("span", { text: " — " }),
    state,
  );
  list.prepend(li);
  $("records-empty")?.remove();
  follow(recordId, state);
}
