// The key on this device: one keystore v3 JSON (encrypted with the user's password by ethers'
// scrypt + AES) and its address, kept in IndexedDB. The decrypted wallet lives only in this
// page's memory until the page is closed or locked; neither the key nor the password is ever
// sent anywhere (no function here touches the network).
import { Wallet } from "ethers";

const DB = "bangfu-workspace";
const STORE = "keys";
const SLOT = "current";

let unlocked = null;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      let result;
      req.onsuccess = () => {
        result = req.result;
      };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** {address, json, saved} of the stored key, or null. */
export async function stored() {
  return (await withStore("readonly", (s) => s.get(SLOT))) || null;
}

async function save(address, json) {
  await withStore("readwrite", (s) => s.put({ address, json, saved: Date.now() }, SLOT));
}

export class KeyError extends Error {
  constructor(zh, en, code) {
    super(`${zh} / ${en}`);
    this.code = code;
  }
}

const WRONG = () => new KeyError("口令错误，密钥未解锁", "wrong password; the key stays locked", "wrong_password");

function checkPassword(password) {
  if (!password || password.length < 8) {
    throw new KeyError("口令至少 8 个字符", "the password needs at least 8 characters", "weak_password");
  }
}

/** A new random key, encrypted with `password` and stored; the page holds it unlocked. */
export async function create(password, progress) {
  checkPassword(password);
  if (await stored()) {
    throw new KeyError("本设备已有密钥，请先备份并清除", "this device already holds a key; back it up and clear it first", "key_exists");
  }
  const wallet = Wallet.createRandom();
  const json = await wallet.encrypt(password, progress);
  await save(wallet.address, json);
  unlocked = new Wallet(wallet.privateKey);
  return wallet.address;
}

/** The keystore with its `cipherparams.iv` left-padded to 16 bytes (32 hex digits). */
function fullIv(doc) {
  const crypto = doc.crypto || doc.Crypto;
  const iv = crypto && crypto.cipherparams && crypto.cipherparams.iv;
  if (typeof iv === "string" && /^[0-9a-fA-F]{1,31}$/.test(iv)) {
    crypto.cipherparams.iv = iv.padStart(32, "0");
  }
  return doc;
}

/** Imports a keystore v3 file (what `bangfu keygen` writes): it must open with `password`;
 * the file itself, still encrypted, is what is stored. */
export async function importFile(text, password, progress) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyError("不是密钥文件（JSON）", "not a keystore file (JSON)", "bad_keystore");
  }
  if (!doc || doc.version !== 3 || !(doc.crypto || doc.Crypto)) {
    throw new KeyError("不是 keystore v3 密钥文件", "not a keystore v3 file", "bad_keystore");
  }
  if (await stored()) {
    throw new KeyError("本设备已有密钥，请先备份并清除", "this device already holds a key; back it up and clear it first", "key_exists");
  }
  // files written by older eth-keyfile drop a leading zero byte of the AES-CTR iv (one in
  // 256 has 15 bytes), which ethers refuses: the iv is restored to its 16 bytes
  text = JSON.stringify(fullIv(doc));
  let wallet;
  try {
    wallet = await Wallet.fromEncryptedJson(text, password, progress);
  } catch (exc) {
    if (/password/i.test(String(exc && exc.message))) throw WRONG();
    // the reason (an unsupported cipher or KDF, a damaged field) helps the holder, and
    // never contains the password or the key
    const why = String((exc && (exc.shortMessage || exc.message)) || exc).slice(0, 120);
    throw new KeyError("密钥文件无法打开", `the keystore file cannot be opened (${why})`, "bad_keystore");
  }
  await save(wallet.address, text);
  unlocked = wallet;
  return wallet.address;
}

/** Opens the stored key with `password` for this page; a wrong password changes nothing. */
export async function unlock(password, progress) {
  const s = await stored();
  if (!s) throw new KeyError("本设备没有密钥", "no key on this device", "no_key");
  try {
    unlocked = await Wallet.fromEncryptedJson(s.json, password, progress);
  } catch {
    throw WRONG();
  }
  return unlocked.address;
}

export function lock() {
  unlocked = null;
}

/** The unlocked wallet, or null. */
export function wallet() {
  return unlocked;
}

/** Removes the key from this device (the caller has asked the user to confirm). */
export async function clear() {
  unlocked = null;
  await withStore("readwrite", (s) => s.delete(SLOT));
}

/** The stored keystore JSON as a file download (still encrypted with the password). */
export async function backup() {
  const s = await stored();
  if (!s) throw new KeyError("本设备没有密钥", "no key on this device", "no_key");
  const blob = new Blob([s.json], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `bangfu-key-${s.address.slice(2, 10).toLowerCase()}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
