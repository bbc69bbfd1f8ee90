/**
 * Idle keep-alive connections to backend servers, shared by every client connection of the
 * process (HAProxy's `http-reuse safe`): an exchange that ended cleanly leaves its connection
 * here, and the next request to that server takes it instead of connecting. Only connections
 * that speak for no one in particular are shared: none with a PROXY header or a transparent
 * `source:` (they name one client), and none re-encrypted with the request's host as SNI.
 *
 * An idle connection counts in `ServerState.idle` (it holds an fd, see fd_budget.ts) but not in
 * `active` (leastconn must not see it as load). Anything it does while idle (bytes, a FIN, an
 * error) ends it.
 *
 * @module
 */

import type { BackendConfig } from "../config/types.ts";
import type { Conn } from "../runtime/types.ts";
import type { ServerState } from "./balancer.ts";
import { Lease } from "./lease.ts";

/** Idle connections kept per server; more are closed. */
const MAX_IDLE_PER_SERVER = 256;

const pools = new WeakMap<ServerState, Conn[]>();

/** Whether connections of `config` may be shared between clients. */
export function shareable(config: BackendConfig): boolean {
  return config.proxyProtocol === null && config.source === null &&
    (config.tls === null || config.tls.sni !== "host");
}

/**
 * Keeps `lease`'s connection for reuse and releases the lease; false when the server's pool is
 * full (the lease is untouched: the caller closes and releases it).
 */
export function putIdle(lease: Lease): boolean {
  const { conn, server } = lease;
  const pool = pools.get(server) ?? [];
  if (pool.length >= MAX_IDLE_PER_SERVER) return false;
  pool.push(conn);
  pools.set(server, pool);
  server.idle++;
  lease.release();
  const drop = () => {
    const at = pool.indexOf(conn);
    if (at < 0) return;
    pool.splice(at, 1);
    server.idle--;
    conn.close();
  };
  conn.start({ data: drop, end: drop, drain: () => {}, error: drop });
  return true;
}

/** An idle connection to `server`, leased again (most recently used first), or null. */
export function takeIdle(server: ServerState): Lease | null {
  const conn = pools.get(server)?.pop();
  if (conn === undefined) return null;
  server.idle--;
  server.active++;
  return new Lease(conn, server);
}
