/**
 * `auth: { basic: ... }` on an http route: HTTP Basic authentication (RFC 7617) against
 * bcrypt hashes, checked with bcryptjs (pure JavaScript: the same code on Deno, on Bun and in
 * the compiled binary, no native addon).
 *
 * - bcrypt runs asynchronously (bcryptjs works in slices and yields between them), so a
 *   check does not hold the event loop for the whole ~250 ms a cost-12 hash takes.
 * - A wrong password costs what a right one costs (bcrypt's work does not depend on the
 *   password), and an unknown user costs what a known one costs: the password is checked
 *   against a dummy hash of the users' cost, so timing does not tell which users exist.
 * - Successful checks are cached by the exact Authorization value, in a bounded LRU map, so a
 *   browser repeating the same header costs a map lookup instead of a bcrypt each request.
 *   Failures are not cached (an attacker cannot fill the cache), and checks of the same value
 *   already under way are shared rather than repeated.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import bcrypt from "bcryptjs";
import type { BasicAuth } from "../../config/types.ts";

/** How many successful Authorization values a checker remembers. */
export const CACHE_ENTRIES = 1000;

/**
 * The WWW-Authenticate value of a 401 for `realm`: `Basic realm="...", charset="UTF-8"`
 * (RFC 7617 section 2.1: the charset tells clients to send UTF-8, which is how the password
 * is read). Quotes and backslashes in the realm are escaped (a quoted-string).
 */
export function challenge(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, "\\$&")}", charset="UTF-8"`;
}

/** The user and password of a Basic Authorization value, or null when it is not one. */
export function parseBasic(authorization: string): { user: string; password: string } | null {
  // Scheme names are case-insensitive (RFC 9110 section 11.1); one or more spaces follow.
  if (authorization.length < 6 || authorization.slice(0, 5).toLowerCase() !== "basic") {
    return null;
  }
  let i = 5;
  if (authorization.charCodeAt(i) !== 0x20) return null;
  while (authorization.charCodeAt(i) === 0x20) i++;
  const token = authorization.slice(i).trimEnd();
  // Buffer's base64 decoding skips what is not base64; strict text keeps one header value
  // from having several spellings that decode alike.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length % 4 !== 0) return null;
  let text: string;
  try {
    text = UTF8.decode(Buffer.from(token, "base64"));
  } catch {
    return null; // not UTF-8
  }
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** One route's Basic authentication: checks Authorization values against its users. */
export class BasicAuthChecker {
  /** The WWW-Authenticate value for this route's 401 ({@link challenge} of its realm). */
  readonly challenge: string;
  readonly #users: ReadonlyMap<string, string>;
  /** A hash no password matches, at the users' cost, for unknown users. */
  readonly #dummy: string;
  /** Authorization value → user, successful checks only, in order of last use. */
  readonly #cache = new Map<string, string>();
  /** Checks under way, by Authorization value. */
  readonly #pending = new Map<string, Promise<string | null>>();
  readonly #cacheEntries: number;

  /**
   * @param auth the route's `auth.basic` (users → bcrypt hashes).
   * @param cacheEntries how many successful values to remember.
   */
  constructor(auth: BasicAuth, cacheEntries: number = CACHE_ENTRIES) {
    this.#users = auth.users;
    this.challenge = challenge(auth.realm);
    this.#cacheEntries = Math.max(1, cacheEntries);
    // bcrypt's cost is in the hash ("$2b$12$..."): the dummy uses the highest so an unknown
    // user never answers faster than a known one. It is not a hash of anything: comparing runs
    // the full bcrypt with its salt and finds no match, and building it costs nothing.
    let cost = 0;
    for (const hash of auth.users.values()) {
      const m = /^\$2[aby]\$(\d\d)\$/.exec(hash);
      if (m !== null) cost = Math.max(cost, Number(m[1]));
    }
    if (cost < 4) cost = 10; // no valid hash (the loader refuses those): bcrypt's default
    this.#dummy = `$2b$${String(cost).padStart(2, "0")}$${".".repeat(53)}`;
  }

  /** Whether `authorization` (the header value, null when absent) names a user and password. */
  async check(authorization: string | null): Promise<boolean> {
    return (await this.authenticate(authorization)) !== null;
  }

  /** The user `authorization` authenticates, or null (for the access log). */
  authenticate(authorization: string | null): Promise<string | null> {
    if (authorization === null) return Promise.resolve(null);
    const cached = this.#cache.get(authorization);
    if (cached !== undefined) {
      // Re-inserted at the end: the Map's order is the order of last use.
      this.#cache.delete(authorization);
      this.#cache.set(authorization, cached);
      return Promise.resolve(cached);
    }
    let pending = this.#pending.get(authorization);
    if (pending === undefined) {
      // Removed once settled: `finally` runs as a later microtask, so after the set below even
      // when the value is refused without awaiting anything.
      pending = this.#verify(authorization).finally(() => this.#pending.delete(authorization));
      this.#pending.set(authorization, pending);
    }
    return pending;
  }

  async #verify(authorization: string): Promise<string | null> {
    const creds = parseBasic(authorization);
    if (creds === null) return null;
    const hash = this.#users.get(creds.user);
    let ok: boolean;
    try {
      ok = await bcrypt.compare(creds.password, hash ?? this.#dummy);
    } catch {
      ok = false; // a malformed hash in the config (the loader refuses those)
    }
    if (!ok || hash === undefined) return null;
    if (this.#cache.size >= this.#cacheEntries) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#cache.set(authorization, creds.user);
    return creds.user;
  }
}
