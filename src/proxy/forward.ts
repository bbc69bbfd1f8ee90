/**
 * Forwarding a connection whole: an HTTP/1 connection after a 101 (upgrade), and every tcp, tls
 * and auto connection once routed (an auto listener's HTTP/1 client by its first request; h2c
 * is not forwarded whole but served per stream by an H2Session). One place hands the client and
 * its leased backend connection to a Pipe and gives the server's slot back when the pipe is done.
 *
 * @module
 */

import type { Conn } from "../runtime/types.ts";
import type { ListenerContext } from "./context.ts";
import type { Lease } from "./dial.ts";
import { Pipe, type PipeDone } from "./pipe.ts";

/**
 * Pipes `client` and `lease.conn` (after writing `first`, bytes already read from the client,
 * to the backend) until both sides closed; the lease is released before `done` runs.
 */
export function forwardWhole(
  ctx: ListenerContext,
  client: Conn,
  lease: Lease,
  first: Uint8Array | null,
  done: PipeDone,
): Pipe {
  return new Pipe(
    client,
    lease.conn,
    first,
    ctx.counters,
    ctx.listener.idleTimeoutMs,
    (outcome, err, pipe) => {
      lease.release();
      done(outcome, err, pipe);
    },
  );
}
