/**
 * What /proc says about a process (memory, fds), for tests that bound resource use. /proc has
 * no events, so waiting on it means polling.
 */

import { readdirSync, readFileSync } from "node:fs";

/** Resident memory of a process, in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]);
}

/** Open file descriptors of a process. */
export function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resolves once `cond()` holds, checking every `ms`; rejects after `timeoutMs`. */
export async function poll(
  cond: () => boolean,
  what: string,
  timeoutMs: number,
  ms = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, ms));
  }
}
