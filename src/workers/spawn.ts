/**
 * Process plumbing for worker mode: how many workers `auto` means, whether this process is a
 * worker, and log sinks that several processes can share. (The command line that starts this
 * program again is the runtime's: `Runtime.selfCommand`.)
 *
 * @module
 */

import { fstatSync } from "node:fs";
import { cpus } from "node:os";
import process from "node:process";

/** The environment variable that makes `run` a worker: its number, 1 to N. */
export const WORKER_ENV = "SWITCHYARD_WORKER";

/** The most workers `workers:` or `--workers` may ask for. */
export const MAX_WORKERS = 1024;

/** The number of cores this process may use (at least 1). */
export function coreCount(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const n = nav?.hardwareConcurrency ?? cpus().length;
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/** `auto` → one per core; a count stays as it is. */
export function resolveWorkers(workers: number | "auto"): number {
  return workers === "auto" ? Math.min(coreCount(), MAX_WORKERS) : workers;
}

/**
 * `--workers` as given on the command line: "auto" or 1 to {@link MAX_WORKERS}, or an error
 * message.
 */
export function parseWorkersFlag(text: string): { workers: number | "auto" } | { error: string } {
  if (text === "auto") return { workers: "auto" };
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    return { error: `--workers must be auto or a number from 1 to ${MAX_WORKERS} (got "${text}")` };
  }
  return { workers: n };
}

/**
 * This process's worker number when a supervisor started it (the environment variable is set
 * and an IPC channel is open), else null.
 */
export function workerIdFromEnv(): number | null {
  const v = process.env[WORKER_ENV];
  if (v === undefined || typeof process.send !== "function") return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : null;
}

/**
 * Bytes one write(2) to a pipe can carry without another process's write landing inside it
 * (Linux PIPE_BUF).
 */
const ATOMIC_WRITE = 4096;

/**
 * Wraps a log sink so that each call it makes holds whole lines and at most
 * {@link ATOMIC_WRITE} bytes (a longer line goes alone): workers share the supervisor's stdout
 * and stderr, and this keeps their lines from interleaving mid-line in a pipe. `fd`: the
 * descriptor behind the sink; a regular file needs none of this (Linux serializes writes to
 * a shared file position), so the sink is returned as it is.
 */
export function lineSafe(write: (text: string) => void, fd?: number): (text: string) => void {
  if (fd !== undefined && isRegularFile(fd)) return write;
  return (text) => {
    if (text.length * 3 <= ATOMIC_WRITE) {
      write(text);
      return;
    }
    let chunk = "";
    let bytes = 0;
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      end = end < 0 ? text.length : end + 1;
      const line = text.slice(start, end);
      start = end;
      const n = utf8Length(line);
      if (bytes > 0 && bytes + n > ATOMIC_WRITE) {
        write(chunk);
        chunk = "";
        bytes = 0;
      }
      chunk += line;
      bytes += n;
    }
    if (chunk !== "") write(chunk);
  };
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** UTF-8 length of `s` without encoding it. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 2; // a surrogate pair: 2 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}
