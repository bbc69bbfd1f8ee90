/**
 * The flood budgets of an HTTP/2 connection (RFC 9113 section 10.5): frames that make no
 * progress (SETTINGS, PING, PRIORITY, empty DATA and CONTINUATION, frames on closed streams...)
 * and streams the peer resets or gets reset (rapid reset, CVE-2023-44487; MadeYouReset,
 * CVE-2025-8671) are counted over a window of time, and one over either budget ends the
 * connection with ENHANCE_YOUR_CALM: a hostile peer may cost no more than a busy polite one.
 *
 * @module
 */

import { ERROR } from "./frame.ts";

/** The budgets, per window of `floodWindowMs`. */
export interface FloodLimits {
  /** Frames that make no progress. */
  readonly maxControlFrames: number;
  /** Streams reset by or because of the peer; a side that never counts them has none. */
  readonly maxResets?: number;
  readonly floodWindowMs: number;
}

/** Both counters of one connection, restarted together once per window. */
export class FloodBudget {
  readonly #limits: FloodLimits;
  readonly #peer: "client" | "server";
  readonly #fail: (code: number, reason: string) => void;
  readonly #now: () => number;
  #start = 0;
  #control = 0;
  #resets = 0;

  /**
   * `peer` names the other end in the reasons; `fail` is the connection error that ends the
   * connection; `now` is the clock (milliseconds).
   */
  constructor(
    limits: FloodLimits,
    peer: "client" | "server",
    fail: (code: number, reason: string) => void,
    now: () => number = Date.now,
  ) {
    this.#limits = limits;
    this.#peer = peer;
    this.#fail = fail;
    this.#now = now;
  }

  /** Counts a frame that makes no progress; true when that one ended the connection. */
  control(): boolean {
    this.#restart();
    if (++this.#control <= this.#limits.maxControlFrames) return false;
    // A client makes progress with requests, a server with responses.
    const progress = this.#peer === "client" ? "request" : "response";
    this.#fail(
      ERROR.ENHANCE_YOUR_CALM,
      `more than ${this.#limits.maxControlFrames} frames without ${progress} progress in ${this.#limits.floodWindowMs} ms`,
    );
    return true;
  }

  /** Counts a stream reset by or because of the peer; true when that one ended the connection. */
  reset(): boolean {
    this.#restart();
    const max = this.#limits.maxResets ?? Infinity;
    if (++this.#resets <= max) return false;
    this.#fail(
      ERROR.ENHANCE_YOUR_CALM,
      `more than ${max} streams reset by or because of the ${this.#peer} in ${this.#limits.floodWindowMs} ms`,
    );
    return true;
  }

  #restart(): void {
    const now = this.#now();
    if (now - this.#start < this.#limits.floodWindowMs) return;
    this.#start = now;
    this.#control = 0;
    this.#resets = 0;
  }
}
