// The workspaces' entry point: the key panel every workspace page has (create, import,
// unlock, lock, back up, clear), sign-in by a signed challenge (SPEC14 sessions), and the
// role page's own actions (county.js, org.js, civil.js, audit.js) by <main data-page>.
import * as keys from "./keystore.js";
import { api, explain, setCsrf, missingRoute } from "./api.js";
import { confirmAndSign, loadCounties, countyName, beijing } from "./sign.js";
import { $, say, busy, attempt, fieldError, labelStackedTables } from "./ui.js";
import { county } from "./county.js";
import { org } from "./org.js";
import { civil } from "./civil.js";
import { audit } from "./audit.js";
import { orgPairing, countyPairing, civilPairing } from "./pairing.js";
import { grievances } from "./grievance.js";

const ROLE_NAMES = {
  COUNTY: "县乡村振兴部门 county office",
  ORG: "社会组织 organization",
  AUDITOR: "审计 auditor",
  ADMIN: "民政部门 civil-affairs office (admin)",
};

export const state = { roles: null, session: null };
const listeners = [];

/** Calls `fn(address)` whenever the key is unlocked (and now, if it already is). */
export function onUnlock(fn) {
  listeners.push(fn);
  const w = keys.wallet();
  if (w) fn(w.address);
}

function roleText(roles) {
  if (!roles || !roles.length) return "未注册角色 no registered role";
  return roles
    .map((r) => {
      const bits = [ROLE_NAMES[r.role] || r.role];
      if (r.county) bits.push(r.county_name ? `${r.county_name}（${r.county}）` : countyName(r.county));
      if (r.name && r.name !== r.county_name) bits.push(r.name);
      if (r.org_code) bits.push(r.org_code);
      return bits.join(" · ");
    })
    .join("；");
}

/** The roles of `address`: from the session when signed in, else the public registrations
 * (names are public facts), else unknown. */
async function lookupRoles(address) {
  if (state.session && state.session.address.toLowerCase() === address.toLowerCase()) return state.session.roles;
  try {
    const regs = await api("GET", "/api/v1/registrations");
    return regs.filter((r) => r.active !== false && r.address.toLowerCase() === address.toLowerCase());
  } catch {
    // a server without registration by name: the roles the chain's events give
  }
  try {
    return await api("GET", `/workspace/data/roles/${address}`);
  } catch {
    return null;
  }
}

async function refresh() {
  const s = await keys.stored();
  const w = keys.wallet();
  const has = Boolean(s);
  document.body.dataset.key = w ? "unlocked" : has ? "locked" : "none";
  for (const node of document.querySelectorAll("[data-when]")) {
    node.hidden = !node.dataset.when.split(" ").includes(document.body.dataset.key);
  }
  if (!has) {
    say("key-status", "本设备没有密钥：请新建或导入。 No key on this device: create or import one.");
    say("key-address", "");
    say("key-role", "");
    return;
  }
  say("key-address", s.address);
  say("key-status", w ? "已解锁（仅在本页面内存中） Unlocked (in this page's memory only)" : "已锁定：输入口令解锁。 Locked: enter the password to unlock.", w ? "ok" : "");
  if (w) {
    state.roles = await lookupRoles(w.address);
    say("key-role", state.roles === null ? "角色未知（登录后显示） role unknown (shown after sign-in)" : roleText(state.roles));
  } else {
    say("key-role", "");
  }
}

async function unlocked(address) {
  await refresh();
  for (const fn of listeners) fn(address);
}

function progressTo(id) {
  return (p) => say(id, `正在处理密钥 working on the key… ${Math.round(p * 100)}%`, "busy");
}

function wireKeys() {
  $("unlock-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const pw = $("unlock-password");
    busy(e.submitter, async () => {
      fieldError(pw, "");
      try {
        const address = await keys.unlock(pw.value, progressTo("key-message"));
        pw.value = "";
        say("key-message", "已解锁 Unlocked", "ok");
        await unlocked(address);
      } catch (exc) {
        say("key-message", "", "");
        fieldError(pw, explain(exc));
        pw.select();
      }
    });
  });
  $("create-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const pw = $("create-password");
    const again = $("create-password2");
    fieldError(again, pw.value === again.value ? "" : "两次输入的口令不一致 / the passwords differ");
    if (pw.value !== again.value) return again.focus();
    attempt(e.submitter, "key-message", async () => {
      const address = await keys.create(pw.value, progressTo("key-message"));
      pw.value = again.value = "";
      say("key-message", "已新建并加密保存。请立即下载备份。 Created and stored encrypted. Download a backup now.", "ok");
      await unlocked(address);
    });
  });
  $("import-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("import-file");
    const pw = $("import-password");
    fieldError(file, file.files.length ? "" : "请选择密钥文件 / choose a keystore file");
    if (!file.files.length) return file.focus();
    busy(e.submitter, async () => {
      fieldError(pw, "");
      try {
        const text = await file.files[0].text();
        const address = await keys.importFile(text, pw.value, progressTo("key-message"));
        pw.value = "";
        file.value = "";
        say("key-message", "已导入（仍以口令加密保存） Imported (kept encrypted with the password)", "ok");
        await unlocked(address);
      } catch (exc) {
        say("key-message", "", "");
        fieldError(exc.code === "bad_keystore" ? file : pw, explain(exc));
      }
    });
  });
  $("lock")?.addEventListener("click", async () => {
    keys.lock();
    say("key-message", "已锁定 Locked");
    await refresh();
  });
  $("backup")?.addEventListener("click", async () => {
    try {
      await keys.backup();
      say("key-message", "备份已下载：请妥善保存该文件和口令。 Backup downloaded: keep the file and the password safe.", "ok");
    } catch (exc) {
      say("key-message", explain(exc), "error");
    }
  });
  const dialog = $("clear-dialog");
  $("clear")?.addEventListener("click", () => {
    dialog.showModal();
    $("clear-cancel").focus();
  });
  $("clear-cancel")?.addEventListener("click", () => dialog.close());
  $("clear-ok")?.addEventListener("click", async () => {
    dialog.close();
    await keys.clear();
    say("key-message", "密钥已从本设备清除 The key was removed from this device");
    await refresh();
  });
}

async function showSession() {
  try {
    state.session = await api("GET", "/api/v1/session");
    if (state.session.csrf_token) setCsrf(state.session.csrf_token);
    say("session-status", `已登录 Signed in: ${state.session.address}，有效至 until ${beijing(Date.parse(state.session.expires_at) / 1000)}`, "ok");
    if ($("sign-out")) $("sign-out").hidden = false;
  } catch (exc) {
    state.session = null;
    if ($("sign-out")) $("sign-out").hidden = true;
    say("session-status", missingRoute(exc) ? "此服务器尚未提供登录 / sign-in is not offered by this server yet" : "未登录 Not signed in");
  }
}

function wireSession() {
  $("sign-in")?.addEventListener("click", (e) =>
    busy(e.currentTarget, async () => {
      try {
        const w = keys.wallet();
        if (!w) throw Object.assign(new Error("请先解锁密钥 / unlock your key first"), { code: "locked" });
        const challenge = await api("GET", `/api/v1/session/challenge?address=${w.address}`);
        const [signature] = await confirmAndSign("登录 Sign in", [challenge.typed_data], {
          note: "登录只用于读取您的收件箱和草稿；每次写入仍需单独签名。 Signing in only lets you read your inbox and drafts; every write is still signed on its own.",
        });
        state.session = await api("POST", "/api/v1/session", { json: { message: challenge.message, signature } });
        setCsrf(state.session.csrf_token);
        say("session-status", `已登录 Signed in: ${state.session.address}`, "ok");
        $("sign-out").hidden = false;
        await refresh();
      } catch (exc) {
        say("session-status", explain(exc), "error");
      }
    }),
  );
  $("sign-out")?.addEventListener("click", async () => {
    try {
      await api("DELETE", "/api/v1/session");
    } catch (exc) {
      say("session-status", explain(exc), "error");
      return;
    }
    state.session = null;
    setCsrf(null);
    $("sign-out").hidden = true;
    say("session-status", "已退出 Signed out");
  });
}

const PAGES = { county, org, civil, audit };
// programs (issue 18): each program's part of a role page, after the page's own
const PROGRAMS = { org: [orgPairing], county: [countyPairing], civil: [civilPairing] };

async function start() {
  labelStackedTables();
  await loadCounties();
  wireKeys();
  wireSession();
  await showSession();
  await refresh();
  const page = document.querySelector("main [data-page]")?.dataset.page;
  if (PAGES[page]) PAGES[page]({ onUnlock, state });
  for (const part of PROGRAMS[page] || []) part({ onUnlock, state });
  if (page === "county") grievances({ onUnlock, state });
  document.body.dataset.ready = "1";
}

start();
