/**
 * Connect timeouts shared by the adapters.
 *
 * @module
 */

import type { Conn, ConnectOptions } from "./types.ts";

/** The error a connect that took too long rejects with. */
export function timeoutError(opts: ConnectOptions): Error {
  const e = new Error(`connect to ${opts.host}:${opts.port} timed out after ${opts.timeoutMs} ms`);
  e.name = "TimeoutError";
  return e;
}

/**
 * Races `pending` against `opts.timeoutMs`. On timeout `abort` cancels the attempt, and a
 * connection that still completes later is closed so that it cannot leak.
 */
export function connectWithTimeout(
  pending: Promise<Conn>,
  opts: ConnectOptions,
  abort: () => void,
): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      abort();
      reject(timeoutError(opts));
    }, opts.timeoutMs);
    pending.then((c) => {
      clearTimeout(timer);
      if (done) c.close();
      else resolve(c);
    }, (err) => {
      clearTimeout(timer);
      if (!done) reject(err);
    });
  });
}
