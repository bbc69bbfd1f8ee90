/**
 * Lock files in the storage folder, so that of several instances sharing it (worker
 * processes, or machines on a network filesystem or a Kubernetes volume) one orders a
 * certificate while the others wait and then load the result. Files, not an in-memory lock,
 * because only the storage is shared, and they need only exclusive create (O_EXCL), rename
 * and unlink, which NFS (v3 and later) and SMB provide.
 *
 * `locks/<name>.lock` holds `{ owner, pid, host, token, expires }`. The holder refreshes the
 * expiry while a long order runs; once it has passed (the holder crashed or hung) anyone may
 * take the lock over. Expiry is wall-clock time, so machines sharing a storage need clocks in
 * step (NTP) to well within the ttl. A file that is not such JSON (a crash between creating and
 * writing it) expires `ttl` after its modification time.
 *
 * Taking over must not let two contenders both win, nor remove a lock someone has just taken:
 * a contender that finds an expired lock first creates `<name>.lock.break-<id>` exclusively,
 * where `<id>` names that one expired file (its token, or inode and mtime); only the one that
 * creates it removes the file, after checking that it is still that file and still expired,
 * and then competes for the lock by exclusive create like everyone else. (Renaming the expired
 * file aside and retrying is not enough: a contender that saw it expired would rename away the
 * lock another contender has just created in its place.) The holder neither refreshes nor
 * removes its lock once expired, so from then on only the claim's creator touches it. Only a
 * crash in the middle of that (leaving a claim that goes stale after 10 s) together with two
 * contenders breaking the same stale claim at once could still let two win.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import { mkdir, open, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { writeFileAtomic } from "./storage.ts";

/** Who holds a lock, and until when. */
export interface LockInfo {
  readonly owner: string;
  readonly pid: number;
  readonly host: string;
  readonly expires: Date;
}

/** A contender found the lock held; `holder` is null when its file cannot be read as a lock. */
export interface LockHeld {
  readonly held: true;
  readonly holder: LockInfo | null;
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o700;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,199}$/;
const TOKEN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A break claim older than this was left by a crash (breaking takes a few file operations). */
const CLAIM_STALE_MS = 10_000;

/** A lock this process holds. */
export class Lock {
  readonly #token: string;
  readonly #ttlMs: number;
  #expires: Date;

  /** Use `tryLock`. */
  constructor(
    readonly path: string,
    readonly owner: string,
    token: string,
    ttlMs: number,
    expires: Date,
  ) {
    this.#token = token;
    this.#ttlMs = ttlMs;
    this.#expires = expires;
  }

  /** When the lock expires unless refreshed. */
  get expires(): Date {
    return this.#expires;
  }

  /**
   * Moves the expiry to `ttlMs` from now (by default the ttl it was taken with). False when
   * the lock is no longer ours (expired, taken over or removed): stop, and save nothing.
   */
  async refresh(ttlMs: number = this.#ttlMs): Promise<boolean> {
    checkTtl(ttlMs);
    if (!await this.#ours()) return false;
    const expires = new Date(Date.now() + ttlMs);
    await writeFileAtomic(this.path, lockText(this.owner, this.#token, expires), FILE_MODE);
    this.#expires = expires;
    return true;
  }

  /**
   * Removes the lock file if it is still ours and not expired; true when it did. An expired
   * one is left to whoever may be taking it over (they find it expired at once).
   */
  async release(): Promise<boolean> {
    if (!await this.#ours()) return false;
    try {
      await unlink(this.path);
      return true;
    } catch (err) {
      if (code(err) === "ENOENT") return false;
      throw new Error(`cannot remove lock "${this.path}": ${(err as Error).message}`);
    }
  }

  async #ours(): Promise<boolean> {
    const state = await inspect(this.path, this.#ttlMs);
    return state.kind === "held" && state.token === this.#token;
  }
}

/**
 * Takes `locks/<name>.lock` in `storage` for `ttlMs` (refresh it for longer), or tells who
 * holds it. `owner` says who takes it (e.g. "order app.example.com"), for the others' logs.
 * A lock whose expiry has passed is taken over. `name` is a file name: letters, digits,
 * `._@-` (storage.ts's `certificateLockName` and `accountLockName` make them).
 */
export async function tryLock(
  storage: string,
  name: string,
  ttlMs: number,
  owner: string,
): Promise<Lock | LockHeld> {
  checkTtl(ttlMs);
  const path = await lockPath(storage, name);
  for (;;) {
    const token = randomUUID();
    const expires = new Date(Date.now() + ttlMs);
    if (await createLock(path, lockText(owner, token, expires))) {
      return new Lock(path, owner, token, ttlMs, expires);
    }
    const state = await inspect(path, ttlMs);
    // Gone since: compete again. Expired and broken by us: compete again.
    if (state.kind === "absent") continue;
    if (state.kind === "held") return { held: true, holder: state.holder };
    if (!await breakStale(path, state.id, ttlMs)) return { held: true, holder: state.holder };
  }
}

/** How `waitForUnlock` polls. */
export interface WaitOptions {
  /** Between two looks at the lock file (a network filesystem has no change events). */
  readonly pollMs: number;
  /** Stops the wait: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * Resolves once `locks/<name>.lock` is gone or expired (a file that is no lock: `ttlMs` after
 * its modification time). Then load what the holder stored, and `tryLock` if it stored nothing.
 */
export async function waitForUnlock(
  storage: string,
  name: string,
  ttlMs: number,
  options: WaitOptions,
): Promise<void> {
  checkTtl(ttlMs);
  const path = await lockPath(storage, name);
  for (;;) {
    options.signal?.throwIfAborted();
    const state = await inspect(path, ttlMs);
    if (state.kind === "absent") return;
    // An expired lock that another contender is breaking is as good as held meanwhile.
    if (state.kind === "expired" && !await claimed(`${path}.break-${state.id}`)) return;
    await sleep(options.pollMs, options.signal);
  }
}

/** What a lock file says. `id` names one expired file, for its break claim. */
type LockState =
  | { readonly kind: "absent" }
  | { readonly kind: "held"; readonly holder: LockInfo | null; readonly token: string | null }
  | { readonly kind: "expired"; readonly holder: LockInfo | null; readonly id: string };

/** Reads the lock file at `path`; a file that is no lock expires `ttlMs` after its mtime. */
async function inspect(path: string, ttlMs: number): Promise<LockState> {
  let text: string | null = null;
  let ino: number;
  let mtimeMs: number;
  try {
    // One open file for both, so the contents and the inode belong together.
    const file = await open(path, "r");
    try {
      ({ ino, mtimeMs } = await file.stat());
      text = await file.readFile({ encoding: "utf8" }).catch(() => null);
    } finally {
      await file.close();
    }
  } catch (err) {
    if (code(err) === "ENOENT") return { kind: "absent" };
    // Unreadable: judged by its mtime like any other file that is no lock.
    try {
      ({ ino, mtimeMs } = await stat(path));
    } catch (err2) {
      if (code(err2) === "ENOENT") return { kind: "absent" };
      throw new Error(`cannot read lock "${path}": ${(err2 as Error).message}`);
    }
  }
  const parsed = text === null ? null : parseLock(text);
  const now = Date.now();
  if (parsed !== null) {
    const { token, ...holder } = parsed;
    return holder.expires.getTime() > now
      ? { kind: "held", holder, token }
      : { kind: "expired", holder, id: `t-${token}` };
  }
  return mtimeMs + ttlMs > now
    ? { kind: "held", holder: null, token: null }
    // Whole milliseconds: runtimes differ below that, and every contender must name it alike.
    : { kind: "expired", holder: null, id: `g-${ino}-${Math.floor(mtimeMs)}` };
}

/**
 * Removes the expired lock file `id` at `path` if this contender is the one to do it (it
 * creates the break claim); false when another contender is breaking it.
 */
async function breakStale(path: string, id: string, ttlMs: number): Promise<boolean> {
  const claim = `${path}.break-${id}`;
  if (!await createClaim(claim)) return false;
  try {
    // The claim is for that one file; only its expired holder could still remove it meanwhile.
    const state = await inspect(path, ttlMs);
    if (state.kind === "expired" && state.id === id) await unlinkIfThere(path);
  } finally {
    await unlinkIfThere(claim);
  }
  return true;
}

/** Whether a break claim exists that is not stale. */
async function claimed(claim: string): Promise<boolean> {
  try {
    return (await stat(claim)).mtimeMs + CLAIM_STALE_MS > Date.now();
  } catch (err) {
    if (code(err) === "ENOENT") return false;
    throw err;
  }
}

/** Creates the break claim; a claim left by a crashed contender is replaced once. */
async function createClaim(claim: string): Promise<boolean> {
  if (await createLock(claim, `${process.pid}@${hostname()}\n`)) return true;
  if (await claimed(claim)) return false;
  await unlinkIfThere(claim);
  return await createLock(claim, `${process.pid}@${hostname()}\n`);
}

/** Creates `path` holding `text` unless it exists (false then). */
async function createLock(path: string, text: string): Promise<boolean> {
  let file;
  try {
    file = await open(path, "wx", FILE_MODE);
  } catch (err) {
    if (code(err) === "EEXIST") return false;
    throw new Error(`cannot create lock "${path}": ${(err as Error).message}`);
  }
  try {
    await file.writeFile(text);
  } catch (err) {
    // An empty lock would hold everyone off for a ttl.
    await file.close();
    await unlinkIfThere(path);
    throw new Error(`cannot write lock "${path}": ${(err as Error).message}`);
  }
  await file.close();
  return true;
}

function lockText(owner: string, token: string, expires: Date): string {
  const info = { owner, pid: process.pid, host: hostname(), token, expires: expires.toISOString() };
  return JSON.stringify(info) + "\n";
}

/** A lock file's fields; null when it is not one. */
function parseLock(text: string): (LockInfo & { token: string }) | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const { owner, pid, host, token } = v;
  const expires = typeof v.expires === "string" ? new Date(v.expires) : null;
  if (
    typeof owner !== "string" || typeof pid !== "number" || typeof host !== "string" ||
    typeof token !== "string" || !TOKEN.test(token) || expires === null ||
    Number.isNaN(expires.getTime())
  ) return null;
  return { owner, pid, host, token, expires };
}

async function lockPath(storage: string, name: string): Promise<string> {
  if (!NAME.test(name)) throw new Error(`lock name "${name}" is not a plain file name`);
  const dir = join(storage, "locks");
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new Error(`cannot create "${dir}": ${(err as Error).message}`);
  }
  return join(dir, `${name}.lock`);
}

function checkTtl(ttlMs: number): void {
  if (!(ttlMs > 0 && Number.isFinite(ttlMs))) {
    throw new Error(`a lock's ttl must be a positive number of ms, not ${ttlMs}`);
  }
}

async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (code(err) !== "ENOENT") throw err;
  }
}

function code(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    };
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", abort, { once: true });
  });
}
