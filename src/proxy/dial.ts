/**
 * Connecting to a backend: pick a server, connect, and on failure retry on a server not
 * tried yet, up to the backend's `retries`. When every server has been tried and the last one
 * refused the connection (ECONNREFUSED: nothing listening, the mark of a server restarting),
 * the next retry waits a turn-around of min(connect_timeout, 1 s) and starts over, as HAProxy
 * retries the same server: a lone server that restarts is back by then, and only the
 * connections it had in flight are lost. Other failures (a reset, a timeout) are not waited
 * on: the client hears at once.
 *
 * @module
 */

import type { Addr, Runtime } from "../runtime/types.ts";
import { encodeProxyV1, encodeProxyV2 } from "../proxy_protocol/encode.ts";
import { originateTls } from "../tls/originate.ts";
import { takeIdle } from "./idle_pool.ts";
import { Lease } from "./lease.ts";

export { Lease };
import type { Balancer, ServerState } from "./balancer.ts";
import { dialFrom, sourceRoute } from "./transparent.ts";

/** HAProxy's turn-around before retrying a server that already failed. */
const TURN_AROUND_MS = 1000;

/** Who the connection is for, for a backend with `proxy_protocol`. */
export interface OnBehalfOf {
  /** The client (from the socket, or from the PROXY header it came with). */
  readonly client: Addr;
  /** The address the client connected to. */
  readonly local: Addr;
  /** The TLS server name, when known (v2 AUTHORITY TLV). */
  readonly authority?: string | null;
  /** The negotiated ALPN protocol, when the router terminated TLS (v2 ALPN TLV). */
  readonly alpn?: string | null;
  /** The HTTP request's host: the SNI for a backend with `tls: { sni: host }`. */
  readonly host?: string | null;
  /** The connection will speak HTTP/2 (an `http2: true` backend): over TLS, ALPN h2. */
  readonly http2?: boolean;
  /** An idle connection to the server picked may be taken from the shared pool (idle_pool.ts). */
  readonly reuse?: boolean;
  /** The server {@link pickIdle} picked (it had no idle connection): the first one tried. */
  readonly picked?: ServerState;
}

/**
 * The reuse path without a promise, for a backend whose connections are shared (idle_pool.ts):
 * the server the balancer picks now, as a lease on an idle connection to it when the pool has
 * one, else the server itself, for dial() as `who.picked` so that the pick is made once. Null:
 * no server is up (dial() says so).
 */
export function pickIdle(
  balancer: Balancer,
  clientBytes: Uint8Array | null,
): Lease | ServerState | null {
  const server = balancer.pick(clientBytes, null);
  if (server === null) return null;
  return takeIdle(server) ?? server;
}

/** The PROXY header announcing `who` in the version `v`. */
export function proxyHeaderFor(v: "v1" | "v2", who: OnBehalfOf): Uint8Array {
  const source = { family: who.client.family, address: who.client.host, port: who.client.port };
  const destination = { family: who.local.family, address: who.local.host, port: who.local.port };
  if (v === "v1") return encodeProxyV1({ source, destination });
  return encodeProxyV2({
    command: "proxy",
    source,
    destination,
    authority: who.authority ?? undefined,
    alpn: who.alpn ?? undefined,
  });
}

/** Why no server could be reached, or that the owner stopped waiting (`gone`). */
export interface DialFailure {
  readonly ok: false;
  readonly reason: string;
  readonly server: ServerState | null;
  /** The owner's client left while connecting: nothing is to be answered or logged. */
  readonly gone?: true;
}

/** A connected server, or why none could be reached. */
export type DialResult = Lease | DialFailure;

/**
 * Connects to one of `balancer`'s servers and leases it (see {@link Lease}). With
 * `proxy_protocol` on the backend, the PROXY header for `who` is the first thing written.
 * `isAlive` is asked once the attempt settled: when the owner is gone by then, a connection
 * made is closed and released here, and the result says `gone`.
 */
export async function dial(
  rt: Runtime,
  balancer: Balancer,
  clientBytes: Uint8Array | null,
  who?: OnBehalfOf,
  isAlive: () => boolean = () => true,
): Promise<DialResult> {
  const r = await connectAny(rt, balancer, clientBytes, who);
  if (isAlive()) return r;
  if (r.ok) {
    r.conn.close();
    r.release();
  }
  return { ok: false, reason: "the client left while connecting", server: r.server, gone: true };
}

/** dial() without the owner check. */
async function connectAny(
  rt: Runtime,
  balancer: Balancer,
  clientBytes: Uint8Array | null,
  who?: OnBehalfOf,
): Promise<DialResult> {
  const { retries, connectTimeoutMs } = balancer.config;
  let tried: Set<ServerState> | null = null;
  let last: ServerState | null = null;
  /** The last attempt was refused (both runtimes report `code: "ECONNREFUSED"`). */
  let refused = false;
  // A transparent `source:` binds the client's address, so only a server of its family can be
  // reached from it.
  const route = sourceRoute(balancer.config.source, who?.client);
  let reason = `backend "${balancer.config.name}" has no ${
    route === null ? "" : `IPv${route.family} `
  }server up`;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const picked = attempt === 0 ? who?.picked ?? null : null;
    let server = picked ?? balancer.pick(clientBytes, tried, route?.family ?? null);
    if (server === null && tried !== null && refused) {
      tried = null;
      await new Promise((r) => setTimeout(r, Math.min(connectTimeoutMs, TURN_AROUND_MS)));
      // Health checks may have marked servers down meanwhile: pick again.
      server = balancer.pick(clientBytes, null, route?.family ?? null);
    }
    if (server === null) break;
    last = server;
    // A server pickIdle() gave has no idle connection: it just looked.
    const idle = who?.reuse && server !== picked ? takeIdle(server) : null;
    if (idle !== null) return idle;
    const { host, port } = server.config.address;
    // Counted from the attempt on: the socket holds an fd (see fd_budget.ts) and leastconn
    // should see connections still being made.
    server.active++;
    try {
      let conn = route === null
        ? await rt.connect({ host, port, timeoutMs: connectTimeoutMs })
        : await dialFrom(rt, route, host, port, connectTimeoutMs);
      const pp = balancer.config.proxyProtocol;
      if (pp !== null && who !== undefined) conn.write(proxyHeaderFor(pp, who));
      const tlsCfg = balancer.config.tls;
      if (tlsCfg !== null) {
        const name = tlsCfg.sni === "host" ? who?.host ?? who?.authority ?? host : tlsCfg.sni;
        try {
          const alpn = who?.http2 ? "h2" : "http/1.1";
          conn = await originateTls(rt, conn, tlsCfg, name, connectTimeoutMs, alpn);
        } catch (err) {
          server.active--;
          // A certificate or handshake failure is not the server being down: no retry.
          return { ok: false, reason: (err as Error).message, server };
        }
      }
      server.failures = 0;
      server.total++;
      return new Lease(conn, server);
    } catch (err) {
      server.active--;
      server.failures++;
      const { code, message } = err as Error & { code?: string };
      refused = code === "ECONNREFUSED";
      // Bun says only "Failed to connect": the code tells refused from unreachable.
      const why = code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
      reason = `connect to ${server.config.name}: ${why}`;
      balancer.onFailure?.(server, reason);
      (tried ??= new Set()).add(server);
    }
  }
  return { ok: false, reason, server: last };
}
