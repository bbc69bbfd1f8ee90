/**
 * Staying inside the process's file-descriptor limit. Like HAProxy deriving maxconn from
 * `ulimit -n`, the router works out at start how many fds it may spend on connections, counts
 * those it holds (accepted clients plus backend connections, dialing ones included) and
 * refuses a new client unless it and its backend connection still fit. So accept() does not
 * hit EMFILE (Bun's accept loop would spin on it without telling us) and a client admitted
 * with its backend dialed at once always gets its fd. Clients still being sniffed hold one fd
 * each, so many of those can be admitted; if they all dial at once the excess dials fail
 * like any connect error. A burst of refusals (or of accept errors the runtime does report)
 * is logged once when it starts and once when accepting is healthy again.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import type { Logger } from "../log/logger.ts";

/** fds kept free for what is not a proxied pair: health checks, admin requests, reload. */
const RESERVE = 32;

/** The soft "Max open files" of a /proc/<pid>/limits text; null when absent or unlimited. */
export function parseOpenFileLimit(limits: string): number | null {
  const m = /^Max open files\s+(\d+)/m.exec(limits);
  return m === null ? null : Number(m[1]);
}

/**
 * How many fds connections may hold: the limit less the `inUse` fds the process already has,
 * {@link RESERVE} and one per server (its health checks).
 */
export function fdBudget(limit: number, inUse: number, servers: number): number {
  return Math.max(2, limit - inUse - RESERVE - servers);
}

/** This process's budget from /proc; Infinity where /proc is not there to tell. */
export function measureBudget(servers: number): { limit: number | null; budget: number } {
  try {
    const limit = parseOpenFileLimit(readFileSync("/proc/self/limits", "utf8"));
    if (limit === null) return { limit, budget: Infinity };
    const inUse = readdirSync("/proc/self/fd").length;
    return { limit, budget: fdBudget(limit, inUse, servers) };
  } catch {
    return { limit: null, budget: Infinity };
  }
}

/**
 * Logs a burst of accept trouble once: the first refusal or error opens the burst with a
 * warning; later ones are only counted; the burst closes (one info line with the count) when
 * a connection is admitted with the fds held back under three quarters of the budget.
 */
export class AcceptBurst {
  #open = false;
  #since = 0;
  #refused = 0;
  #errors = 0;

  constructor(readonly log: Logger, readonly budget: number, readonly limit: number | null) {}

  /** Whether a new client and its backend connection fit beside the `held` fds. */
  admit(held: number): boolean {
    if (held + 2 > this.budget) {
      this.#refused++;
      this.#start("file descriptors nearly exhausted: refusing new connections", {
        fds_held: held,
        fd_budget: this.budget,
        fd_limit: this.limit,
      });
      return false;
    }
    if (this.#open && held < this.budget * 0.75) this.#end();
    return true;
  }

  /** An accept() the runtime reported as failed (EMFILE, ENFILE, ENOBUFS...). */
  error(listener: string, err: Error): void {
    this.#errors++;
    this.#start("accept failed", { listener, error: err.message, fd_limit: this.limit });
  }

  #start(msg: string, fields: Record<string, unknown>): void {
    if (this.#open) return;
    this.#open = true;
    this.#since = Date.now();
    this.log.event("warn", msg, { ...fields, note: "logged once until accepting recovers" });
  }

  #end(): void {
    this.log.event("info", "accepting again", {
      refused: this.#refused,
      accept_errors: this.#errors,
      duration_ms: Date.now() - this.#since,
    });
    this.#open = false;
    this.#refused = 0;
    this.#errors = 0;
  }
}
