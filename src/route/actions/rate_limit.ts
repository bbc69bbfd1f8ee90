/**
 * `rate_limit:` on an http route: a token bucket per client address, refilled at `requests`
 * per `per`, holding at most `burst` tokens; a request takes one token or is refused (429)
 * with how long until the next one (Retry-After). An IPv6 client is keyed by its /64, the
 * block one subscriber usually gets, so rotating addresses within it gains nothing.
 *
 * Memory is bounded without timers. The table is a Map kept in order of last use (a bucket is
 * re-inserted when used), so its first entry is the least recently used: each request looks
 * at the first two and drops those that are full again (a new bucket starts full, so a full
 * one is the same as none), and when the table holds `maxEntries` a new client's bucket
 * replaces the least recently used one. Every request is O(1).
 *
 * The buckets live in this process: with `workers:` each worker limits on its own.
 *
 * @module
 */

import type { RateLimit } from "../../config/types.ts";
import type { IpBytes } from "../../net/cidr.ts";
import { isIpv4Mapped } from "../../net/ip.ts";

interface Bucket {
  /** Tokens at `last` (fractional: refill is continuous). */
  tokens: number;
  /** When `tokens` was computed, in the caller's milliseconds. */
  last: number;
}

// Idle buckets dropped per request: more than one, so dropping outpaces new clients arriving.
const SWEEP_PER_TAKE = 2;

/** One route's rate limit: buckets per client address. */
export class RateLimiter {
  readonly #burst: number;
  /** Tokens per millisecond. */
  readonly #rate: number;
  readonly #maxEntries: number;
  /** Key → bucket, in order of last use. Keys: a number (IPv4), a string (an IPv6 /64). */
  readonly #buckets = new Map<number | string, Bucket>();

  /**
   * @param limit the route's `rate_limit` (`requests` per `perMs`, `burst` ≥ 1).
   * @param maxEntries the most client buckets kept (memory: about 100 bytes each).
   */
  constructor(limit: RateLimit, maxEntries = 100_000) {
    this.#burst = limit.burst;
    this.#rate = limit.requests / limit.perMs;
    this.#maxEntries = Math.max(1, maxEntries);
  }

  /** How many client buckets are held (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes a token for a request from `ip` at `now` (milliseconds on a clock that does not go
   * back, e.g. performance.now()).
   * @returns 0 when the request may pass, else the whole seconds until it would (≥ 1), for
   * Retry-After.
   */
  take(ip: IpBytes, now: number): number {
    const key = keyOf(ip);
    const buckets = this.#buckets;
    let b = buckets.get(key);
    if (b === undefined) {
      if (buckets.size >= this.#maxEntries) {
        // Full table: the least recently used client starts over with a full bucket if it
        // comes back; all that eviction can give is a burst, never more than the rate.
        buckets.delete(buckets.keys().next().value!);
      }
      b = { tokens: this.#burst, last: now };
    } else {
      buckets.delete(key);
      this.#refill(b, now);
    }
    // Re-inserted at the end: the Map's order stays the order of last use.
    buckets.set(key, b);
    let wait = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else wait = Math.max(1, Math.ceil((1 - b.tokens) / this.#rate / 1000));
    this.#sweep(now);
    return wait;
  }

  #refill(b: Bucket, now: number): void {
    // max(0, ...): a clock that stepped back must not take tokens away.
    const elapsed = Math.max(0, now - b.last);
    b.tokens = Math.min(this.#burst, b.tokens + elapsed * this.#rate);
    b.last = now;
  }

  /** Drops up to SWEEP_PER_TAKE least recently used buckets that are full again. */
  #sweep(now: number): void {
    const buckets = this.#buckets;
    for (let k = 0; k < SWEEP_PER_TAKE; k++) {
      const first = buckets.entries().next();
      if (first.done) return;
      const [key, b] = first.value;
      const elapsed = Math.max(0, now - b.last);
      if (b.tokens + elapsed * this.#rate < this.#burst) return;
      buckets.delete(key);
    }
  }
}

/**
 * The bucket key of a client: the IPv4 address as a number, or the first 64 bits of an IPv6
 * address as a string (a mapped IPv4 address counts as the IPv4 address).
 */
function keyOf(ip: IpBytes): number | string {
  const b = ip.bytes;
  if (ip.family === 4) return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  if (isIpv4Mapped(b)) return ((b[12] << 24) | (b[13] << 16) | (b[14] << 8) | b[15]) >>> 0;
  const hi = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const lo = ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0;
  return `${hi}/${lo}`;
}
