/**
 * Connect timeouts shared by the adapters.
 *
 * @module
 */

import { after } from "./clock.ts";
import type { Conn, ConnectOptions } from "./types.ts";

/** The error a connect that took too long rejects with. */
export function timeoutError(opts: ConnectOptions): Error {
  const e = new Error(`connect to ${opts.host}:${opts.port} timed out after ${opts.timeoutMs} ms`);
  e.name = "TimeoutError";
  return e;
}

/**
 * Races `pending` against `opts.timeoutMs` (on the coarse clock: up to its tick late). On
 * timeout `abort` cancels the attempt, and a connection that still completes later is closed
 * so that it cannot leak.
 */
export function connectWithTimeout(
  pending: Promise<Conn>,
  opts: ConnectOptions,
  abort: () => void,
): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let done = false;
    const deadline = after(opts.timeoutMs, () => {
      done = true;
      abort();
      reject(timeoutError(opts));
    });
    pending.then((c) => {
      deadline.cancel();
      if (done) c.close();
      else resolve(c);
    }, (err) => {
      deadline.cancel();
      if (!done) reject(err);
    });
  });
}
