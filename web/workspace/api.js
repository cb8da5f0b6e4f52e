// Talking to the ledger's API: JSON in and out, problem documents turned into one bilingual
// message with its code, the CSRF header on every write once a session exists (SPEC14: a
// cookie-authenticated write without it is refused), record status polling.
export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
    this.body = body;
  }
}

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

function csrf() {
  if (csrfToken) return csrfToken;
  const m = document.cookie.match(/(?:^|;\s*)bangfu_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

export async function api(method, path, { json, form, headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  let body;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (method !== "GET" && method !== "HEAD") {
    const token = csrf();
    if (token) h["X-CSRF-Token"] = token;
  }
  const res = await fetch(path, { method, headers: h, body, credentials: "same-origin" });
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const code = data && typeof data === "object" ? data.code : null;
    const detail = data && typeof data === "object" ? data.detail : null;
    throw new ApiError(res.status, code, typeof detail === "string" ? detail : null, data);
  }
  return data;
}

/** True when the server has no such endpoint at all (an older server, or a part of the
 * ledger that is not deployed): the app answers `not_found` "没有此地址 / nothing at …". */
export function missingRoute(exc) {
  return exc instanceof ApiError && exc.status === 404 && exc.code === "not_found" && /^没有此地址/.test(exc.message);
}

/** An error as a person reads it: the message (Chinese first where the server gives it)
 * and its stable code. */
export function explain(exc) {
  if (missingRoute(exc)) {
    return `此服务器尚未提供该功能 / this server does not offer this yet (${exc.code})`;
  }
  const msg = exc && exc.message ? exc.message : String(exc);
  return exc && exc.code ? `${msg} [${exc.code}]` : msg;
}

export async function eip712() {
  return api("GET", "/api/v1/eip712");
}

const STATUS_WORDS = {
  queued: "排队中 queued",
  sent: "已发送 sent",
  confirmed: "已上链确认 confirmed",
  failed: "失败 failed",
  conflict: "冲突 conflict",
  unknown: "未知 unknown",
};

export function statusWords(s) {
  return STATUS_WORDS[s] || s;
}

/** Polls the status of record `id` into the element `el` until it is final. */
export async function follow(id, el, { every = 1000, limit = 600 } = {}) {
  for (let i = 0; i < limit; i++) {
    let row;
    try {
      [row] = await api("GET", `/api/v1/records/status?ids=${encodeURIComponent(id)}`);
    } catch (exc) {
      el.textContent = explain(exc);
      return null;
    }
    el.dataset.status = row.status;
    el.textContent = `${statusWords(row.status)}${row.error_code ? ` [${row.error_code}] ${row.error || ""}` : ""}`;
    if (["confirmed", "failed", "conflict"].includes(row.status)) return row;
    await new Promise((r) => setTimeout(r, every));
  }
  return null;
}
