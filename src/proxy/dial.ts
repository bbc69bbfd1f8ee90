/**
 * Connecting to a backend: pick a server, connect, and on failure retry on a server not
 * tried yet, up to the backend's `retries`.
 *
 * @module
 */

import type { Conn, Runtime } from "../runtime/types.ts";
import type { Balancer, ServerState } from "./balancer.ts";

/** A connected server, or why none could be reached. */
export type DialResult =
  | { readonly ok: true; readonly conn: Conn; readonly server: ServerState }
  | { readonly ok: false; readonly reason: string; readonly server: ServerState | null };

/** Connects to one of `balancer`'s servers; counts the chosen server's connection as active. */
export async function dial(
  rt: Runtime,
  balancer: Balancer,
  clientBytes: Uint8Array | null,
): Promise<DialResult> {
  const { retries, connectTimeoutMs } = balancer.config;
  let tried: Set<ServerState> | null = null;
  let last: ServerState | null = null;
  let reason = `backend "${balancer.config.name}" has no server up`;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const server = balancer.pick(clientBytes, tried);
    if (server === null) break;
    last = server;
    const { host, port } = server.config.address;
    try {
      const conn = await rt.connect({ host, port, timeoutMs: connectTimeoutMs });
      server.failures = 0;
      server.active++;
      server.total++;
      return { ok: true, conn, server };
    } catch (err) {
      server.failures++;
      reason = `connect to ${server.config.name}: ${(err as Error).message}`;
      (tried ??= new Set()).add(server);
    }
  }
  return { ok: false, reason, server: last };
}
