/**
 * The ACME state on disk, under the `storage` folder, so that a restart (or a crash loop)
 * orders nothing while a stored certificate is valid: losing it is what has locked other
 * routers' users out of Let's Encrypt for a week.
 *
 * ```text
 * <storage>/                                        folders mode 0700
 *   acme/<directory>/account.key                    the account's private key (PEM, 0600)
 *   acme/<directory>/account.json                   { directory, url, contact, created }
 *   certificates/<directory>/<first-name>/<n>/      one folder per certificate obtained: 1, 2, …
 *     cert.pem                                      full chain, leaf first
 *     key.pem                                       its private key (0600)
 *     meta.json                                     { names, directory, not_before, not_after, issued }
 *   certificates/<directory>/<first-name>/backoff.json   after failed orders: { names, failures,
 *                                                         next_attempt, last_error }
 *   locks/<name>.lock                               see lock.ts
 * ```
 *
 * `<directory>` names the ACME directory by host, port and path
 * (`acme-v02.api.letsencrypt.org-directory`), so a staging account or certificate is never
 * taken for a production one.
 *
 * Every file is written to a temporary file in its folder (created with its final mode),
 * fsynced and renamed into place, so a crash never leaves half a file and a reader sees the
 * old file or the new one. A certificate and its key must also change together: each
 * certificate is written into a temporary folder that is renamed to the next number only once
 * all three files are complete, and the highest number is the current one. Keys and
 * certificates are never replaced or deleted (only the small records account.json and
 * backoff.json are rewritten whole, and backoff.json removed after a successful order): earlier
 * certificates stay, like certbot's archive (a few KB each), and a damaged file stays for
 * whoever looks into it; loading reports it, naming the file, and the next certificate saved
 * simply gets the next number.
 *
 * All of it is asynchronous I/O: a network filesystem that hangs must not stop the event loop
 * that serves traffic.
 *
 * @module
 */

import { createHash, createPrivateKey, randomUUID, X509Certificate } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** What loading found: the thing, nothing to load (and why), or a damaged file. */
export type Loaded<T> =
  | { readonly ok: T }
  | { readonly missing: true; readonly reason: string }
  | { readonly error: string };

/** An ACME account as stored for one directory. */
export interface Account {
  /** The account's private key, PEM; created once and used for every order. */
  readonly keyPem: string;
  /** The account URL; null when it was never registered (the key alone was saved). */
  readonly url: string | null;
  readonly contact: readonly string[];
}

/** A certificate as stored. */
export interface StoredCertificate {
  /** The full chain, leaf first. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The names asked for (the certificate's SAN DNS names are exactly these). */
  readonly names: readonly string[];
  /** Validity, in ms since the epoch (numbers, so the record crosses worker IPC as it is). */
  readonly notBefore: number;
  readonly notAfter: number;
  /** When it was saved (ms). */
  readonly issued: number;
  /** The folder holding its files; "" for one obtained that could not be stored. */
  readonly folder: string;
}

const KEY_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const DIR_MODE = 0o700;
// Lower-case DNS names as the config normalizes them; checked here because they become paths.
const DNS_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * The folder name of an ACME directory URL: host, `_port` when one is given, and the path's
 * segments joined with `-` (Caddy's naming), in file-name-safe characters.
 */
export function directoryKey(directory: string): string {
  let url: URL;
  try {
    url = new URL(directory);
  } catch {
    throw new Error(`ACME directory "${directory}" is not a URL`);
  }
  const host = url.port === "" ? url.hostname : `${url.hostname}_${url.port}`;
  const key = [host, ...url.pathname.split("/").filter((s) => s !== "")].join("-");
  return key.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** The lock to hold while creating the account of `directory` (see lock.ts). */
export function accountLockName(directory: string): string {
  return lockName(`_account@${directoryKey(directory)}`);
}

/** The lock to hold while ordering the certificate for `names` from `directory`. */
export function certificateLockName(directory: string, names: readonly string[]): string {
  return lockName(`${firstName(names)}@${directoryKey(directory)}`);
}

/** `name`, shortened with a hash when long, so the lock's files stay within 255 bytes. */
function lockName(name: string): string {
  if (name.length <= 200) return name;
  return `${name.slice(0, 180)}-${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
}

/**
 * Writes `data` to `path` whole or not at all: a temporary file in the same folder, created
 * with `mode`, fsynced, then renamed over `path`. Creates the folder (0700) if needed.
 */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const dir = dirname(path);
  await makeDir(dir);
  const tmp = join(dir, `.${basename(path)}.tmp-${randomUUID()}`);
  try {
    await writeNew(tmp, data, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`cannot write "${path}": ${(err as Error).message}`);
  }
  await syncDir(dir);
}

/**
 * The account for `directory`: its key, and its URL once registered. `missing` when no key
 * was saved yet; an unreadable or damaged file (or an account.json whose key is gone) is an
 * error naming it, and nothing is changed.
 */
export async function loadAccount(storage: string, directory: string): Promise<Loaded<Account>> {
  const dir = accountDir(storage, directory);
  const keyPath = join(dir, "account.key");
  const jsonPath = join(dir, "account.json");
  const keyPem = await readText(keyPath);
  const json = await readText(jsonPath);
  if (typeof keyPem === "object") return keyPem;
  if (typeof json === "object") return json;
  if (keyPem === undefined) {
    if (json === undefined) return { missing: true, reason: `no account key in "${dir}"` };
    return {
      error: `"${jsonPath}" is there but its key "${keyPath}" is missing; ` +
        `move "${jsonPath}" away to register a new account`,
    };
  }
  const bad = badKey(keyPem, keyPath);
  if (bad !== null) return { error: bad };
  if (json === undefined) return { ok: { keyPem, url: null, contact: [] } };
  const meta = parseAccountJson(json);
  if (typeof meta === "string") return { error: `"${jsonPath}" is not account data: ${meta}` };
  return { ok: { keyPem, ...meta } };
}

/**
 * Saves the account for `directory`. The key is written only the first time and never
 * replaced: a different key already stored is an error. Save the key before its first use
 * (with `url: null`), so an account registered just before a crash is found again with it,
 * then again with the URL. Hold the lock `accountLockName(directory)` meanwhile: two instances
 * starting together would otherwise each create a key.
 */
export async function saveAccount(
  storage: string,
  directory: string,
  account: {
    readonly keyPem: string;
    readonly url: string | null;
    readonly contact?: readonly string[];
  },
): Promise<void> {
  const dir = accountDir(storage, directory);
  const keyPath = join(dir, "account.key");
  const bad = badKey(account.keyPem, "the account key to save");
  if (bad !== null) throw new Error(bad);
  const stored = await readText(keyPath);
  if (typeof stored === "object") throw new Error(stored.error);
  if (stored === undefined) await writeFileAtomic(keyPath, account.keyPem, KEY_MODE);
  else if (stored !== account.keyPem) {
    throw new Error(`"${keyPath}" holds another account key; it is never replaced`);
  }
  const jsonPath = join(dir, "account.json");
  const old = await readText(jsonPath);
  const created = typeof old === "string" ? createdOf(old) : null;
  const record = {
    directory,
    url: account.url,
    contact: account.contact ?? [],
    created: created ?? new Date().toISOString(),
  };
  await writeFileAtomic(jsonPath, JSON.stringify(record, null, 2) + "\n", PUBLIC_MODE);
}

/**
 * The newest certificate stored for `names` (in this order: the first names the folder) from
 * `directory`. `missing` when none is stored or when it is for other names (the config
 * changed: a new order is due); an error naming the file when one is unreadable or damaged, or
 * when the key does not belong to the certificate. Nothing is changed either way.
 */
export async function loadCertificate(
  storage: string,
  directory: string,
  names: readonly string[],
): Promise<Loaded<StoredCertificate>> {
  const parent = certificatesDir(storage, directory, names);
  const n = await newestNumber(parent);
  if (typeof n === "object") return n;
  if (n === 0) return { missing: true, reason: `no certificate stored in "${parent}"` };
  const folder = join(parent, String(n));
  const texts = await Promise.all(
    ["cert.pem", "key.pem", "meta.json"].map(async (f) => {
      const path = join(folder, f);
      const text = await readText(path);
      return text === undefined ? { error: `"${path}" is missing` } : text;
    }),
  );
  for (const t of texts) if (typeof t === "object") return t;
  const [certPem, keyPem, metaJson] = texts as string[];
  const pair = checkPair(certPem, keyPem, join(folder, "cert.pem"), join(folder, "key.pem"));
  if (typeof pair === "string") return { error: pair };
  const issued = issuedOf(metaJson);
  if (typeof issued === "string") {
    return { error: `"${join(folder, "meta.json")}" is not certificate metadata: ${issued}` };
  }
  if (!sameNames(pair.names, names)) {
    return {
      missing: true,
      reason: `the certificate in "${folder}" is for ${pair.names.join(", ")}, ` +
        `not ${names.join(", ")}`,
    };
  }
  return {
    ok: {
      certPem,
      keyPem,
      names,
      notBefore: pair.notBefore,
      notAfter: pair.notAfter,
      issued,
      folder,
    },
  };
}

/**
 * Stores a certificate just obtained for `names` from `directory` as the newest one, after
 * checking that it parses, that `keyPem` is its key and that it is for exactly `names`
 * (otherwise nothing is written and this throws). Hold the lock
 * `certificateLockName(directory, names)` meanwhile.
 */
export async function saveCertificate(
  storage: string,
  directory: string,
  names: readonly string[],
  pems: { readonly certPem: string; readonly keyPem: string },
  now: number = Date.now(),
): Promise<StoredCertificate> {
  const parent = certificatesDir(storage, directory, names);
  const pair = checkCertificate(names, pems);
  if (typeof pair === "string") throw new Error(pair);
  const meta = {
    names,
    directory,
    not_before: new Date(pair.notBefore).toISOString(),
    not_after: new Date(pair.notAfter).toISOString(),
    issued: new Date(now).toISOString(),
  };
  await makeDir(parent);
  const tmp = join(parent, `.tmp-${randomUUID()}`);
  let folder: string;
  try {
    await mkdir(tmp, { mode: DIR_MODE });
    await writeNew(join(tmp, "cert.pem"), pems.certPem, PUBLIC_MODE);
    await writeNew(join(tmp, "key.pem"), pems.keyPem, KEY_MODE);
    await writeNew(join(tmp, "meta.json"), JSON.stringify(meta, null, 2) + "\n", PUBLIC_MODE);
    await syncDir(tmp);
    folder = await publish(tmp, parent);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`cannot save a certificate in "${parent}": ${(err as Error).message}`);
  }
  await syncDir(parent);
  return {
    ...pems,
    names,
    notBefore: pair.notBefore,
    notAfter: pair.notAfter,
    issued: now,
    folder,
  };
}

/**
 * The validity of a certificate just obtained for `names`, once it is seen to parse, `keyPem`
 * to be its key and its names to be exactly `names`; otherwise what is wrong, and it must
 * neither be saved nor served.
 */
export function checkCertificate(
  names: readonly string[],
  pems: { readonly certPem: string; readonly keyPem: string },
): { readonly notBefore: number; readonly notAfter: number } | string {
  const pair = checkPair(pems.certPem, pems.keyPem, "the certificate obtained", "its key");
  if (typeof pair === "string") return pair;
  if (!sameNames(pair.names, names)) {
    return `the certificate obtained is for ${pair.names.join(", ")}, not ${names.join(", ")}`;
  }
  return { notBefore: pair.notBefore, notAfter: pair.notAfter };
}

/** The schedule after failed orders, kept so that a process restarting in a loop does not order in a loop. */
export interface Backoff {
  /** Failed orders in a row. */
  readonly failures: number;
  /** When the next order may start (ms since the epoch). */
  readonly nextAttempt: number;
  /** Why the last order failed. */
  readonly lastError: string;
}

/**
 * The backoff after failed orders for `names` from `directory`: `missing` when none is
 * recorded (no order failed since the last success) or it was for other names; an error
 * naming the file when it is damaged.
 */
export async function loadBackoff(
  storage: string,
  directory: string,
  names: readonly string[],
): Promise<Loaded<Backoff>> {
  const path = join(certificatesDir(storage, directory, names), "backoff.json");
  const text = await readText(path);
  if (text === undefined) return { missing: true, reason: `no failed order recorded in "${path}"` };
  if (typeof text === "object") return text;
  const r = parseBackoff(text);
  if (typeof r === "string") return { error: `"${path}" is not a backoff record: ${r}` };
  if (!sameNames(r.names, names)) {
    return {
      missing: true,
      reason: `"${path}" is for ${r.names.join(", ")}, not ${names.join(", ")}`,
    };
  }
  return { ok: r.backoff };
}

/** Records the backoff after a failed order for `names`; null clears it after a success. */
export async function saveBackoff(
  storage: string,
  directory: string,
  names: readonly string[],
  backoff: Backoff | null,
): Promise<void> {
  const path = join(certificatesDir(storage, directory, names), "backoff.json");
  if (backoff === null) {
    try {
      await rm(path, { force: true });
    } catch (err) {
      throw new Error(`cannot remove "${path}": ${(err as Error).message}`);
    }
    return;
  }
  const record = {
    names,
    failures: backoff.failures,
    next_attempt: new Date(backoff.nextAttempt).toISOString(),
    last_error: backoff.lastError,
  };
  await writeFileAtomic(path, JSON.stringify(record, null, 2) + "\n", PUBLIC_MODE);
}

/** backoff.json's fields, or what is wrong with it. */
function parseBackoff(text: string): { names: string[]; backoff: Backoff } | string {
  const o = parseObject(text);
  if (typeof o === "string") return o;
  if (!Array.isArray(o.names) || !o.names.every((n) => typeof n === "string")) {
    return "names is not a list of strings";
  }
  if (!Number.isSafeInteger(o.failures) || (o.failures as number) < 1) {
    return "failures is not a positive whole number";
  }
  const nextAttempt = timeOf(o.next_attempt);
  if (nextAttempt === null) return "next_attempt is not a time";
  if (typeof o.last_error !== "string") return "last_error is not a string";
  return {
    names: o.names,
    backoff: { failures: o.failures as number, nextAttempt, lastError: o.last_error },
  };
}

/** Renames the complete folder `tmp` to the next free number in `parent`; returns its path. */
async function publish(tmp: string, parent: string): Promise<string> {
  for (;;) {
    const n = await newestNumber(parent);
    if (typeof n === "object") throw new Error(n.error);
    const folder = join(parent, String(n + 1));
    try {
      // Fails when the folder exists and is not empty: someone saved that number meanwhile.
      await rename(tmp, folder);
      return folder;
    } catch (err) {
      const code = errno(err);
      if (code !== "EEXIST" && code !== "ENOTEMPTY") throw err;
    }
  }
}

/** The highest certificate number in `parent`; 0 when there is none (or no folder). */
async function newestNumber(parent: string): Promise<number | { error: string }> {
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch (err) {
    if (errno(err) === "ENOENT") return 0;
    return { error: `cannot read "${parent}": ${(err as Error).message}` };
  }
  let max = 0;
  for (const e of entries) if (/^[1-9][0-9]*$/.test(e)) max = Math.max(max, Number(e));
  return max;
}

interface Pair {
  readonly names: readonly string[];
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The chain's leaf facts, or why `certPem`/`keyPem` (named `certName`/`keyName`) cannot serve. */
function checkPair(
  certPem: string,
  keyPem: string,
  certName: string,
  keyName: string,
): Pair | string {
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  let chain: X509Certificate[];
  try {
    if (blocks.length === 0) throw new Error("no certificate in it");
    // A block cut short (a truncated file) has no END line and would otherwise go unseen.
    if (certPem.split("-----BEGIN").length - 1 !== blocks.length) {
      throw new Error("a certificate in it is cut short");
    }
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return `"${certName}" is not a PEM certificate chain: ${(err as Error).message}`;
  }
  const bad = badKey(keyPem, keyName);
  if (bad !== null) return bad;
  if (!chain[0].checkPrivateKey(createPrivateKey(keyPem))) {
    return `key "${keyName}" does not belong to certificate "${certName}"`;
  }
  const names = (chain[0].subjectAltName ?? "").split(",").map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4).toLowerCase());
  const notBefore = Date.parse(chain[0].validFrom);
  return { names, notBefore, notAfter: Date.parse(chain[0].validTo) };
}

/** Why `pem` (named `name`) is not a private key, or null. */
function badKey(pem: string, name: string): string | null {
  try {
    createPrivateKey(pem);
    return null;
  } catch (err) {
    return `"${name}" is not a PEM private key: ${(err as Error).message}`;
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((n) => set.has(n));
}

/** account.json's fields, or what is wrong with it. */
function parseAccountJson(text: string): { url: string | null; contact: string[] } | string {
  const o = parseObject(text);
  if (typeof o === "string") return o;
  if (o.url !== null && typeof o.url !== "string") return "url is not a string";
  if (!Array.isArray(o.contact) || !o.contact.every((c) => typeof c === "string")) {
    return "contact is not a list of strings";
  }
  return { url: o.url as string | null, contact: o.contact as string[] };
}

/** account.json's `created`, kept across saves; null when it has none. */
function createdOf(text: string): string | null {
  const o = parseObject(text);
  return typeof o === "object" && typeof o.created === "string" ? o.created : null;
}

/** meta.json's issue time, or what is wrong with it. */
function issuedOf(text: string): number | string {
  const o = parseObject(text);
  if (typeof o === "string") return o;
  return timeOf(o.issued) ?? "issued is not a time";
}

/** An ISO time string as ms; null when it is not one. */
function timeOf(v: unknown): number | null {
  const ms = typeof v === "string" ? Date.parse(v) : NaN;
  return Number.isNaN(ms) ? null : ms;
}

function parseObject(text: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : "not a JSON object";
}

/** The error code of a failed system call ("ENOENT"), if any. */
function errno(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** The file's text; undefined when it does not exist; an error naming it when unreadable. */
async function readText(path: string): Promise<string | undefined | { error: string }> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    return { error: `cannot read "${path}": ${(err as Error).message}` };
  }
}

function accountDir(storage: string, directory: string): string {
  return join(storage, "acme", directoryKey(directory));
}

function certificatesDir(storage: string, directory: string, names: readonly string[]): string {
  return join(storage, "certificates", directoryKey(directory), firstName(names));
}

/** The first of `names`, which names the certificate's folder; each must be a DNS name. */
function firstName(names: readonly string[]): string {
  if (names.length === 0) throw new Error("a certificate needs at least one name");
  for (const n of names) {
    if (!DNS_NAME.test(n)) throw new Error(`"${n}" is not a lower-case DNS name`);
  }
  return names[0];
}

async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new Error(`cannot create "${dir}": ${(err as Error).message}`);
  }
}

/** Creates `path` (it must not exist) with `mode`, writes `data` and fsyncs it. */
async function writeNew(path: string, data: string, mode: number): Promise<void> {
  const file = await open(path, "wx", mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** fsyncs a folder, so that the renames into it survive a power loss. */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (err) {
    throw new Error(`cannot sync folder "${dir}": ${(err as Error).message}`);
  }
}
