/**
 * A running router: binds every listener of a config, builds the per-listener contexts and
 * backend balancers, and hands each accepted connection to a session.
 *
 * @module
 */

import type { Config, ListenerConfig } from "../config/types.ts";
import { CidrSet } from "../net/cidr.ts";
import { hostPort } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import { compileRouter } from "../route/router.ts";
import type { Conn, Listener } from "../runtime/types.ts";
import { Balancer } from "./balancer.ts";
import { bump, type ListenerContext, newCounters, type Services } from "./context.ts";
import { guardUntrusted, readProxyHeader } from "./proxy_accept.ts";
import { HttpSession } from "./http_session.ts";
import { StreamSession } from "./stream_session.ts";

/** The PROXY header step waits at most this long, whatever inspect_timeout says. */
const PROXY_HEADER_TIMEOUT_MS = 3000;

/** Builds balancers for every backend of `config`. */
function balancers(config: Config): Map<string, Balancer> {
  const m = new Map<string, Balancer>();
  for (const [name, b] of config.backends) m.set(name, new Balancer(b));
  return m;
}

/** Every listener of one config, bound and serving. */
export class Instance {
  readonly contexts = new Map<string, ListenerContext>();
  readonly sockets: { listener: string; socket: Listener }[] = [];
  #draining = false;

  constructor(readonly services: Services, readonly config: Config) {
    const backends = balancers(config);
    for (const l of config.listeners.values()) {
      this.contexts.set(l.name, {
        config,
        listener: l,
        router: compileRouter(l),
        backends,
        counters: newCounters(),
        services,
        proxyFrom: l.acceptProxy === null ? null : new CidrSet(l.acceptProxy.from),
      });
    }
  }

  /** Binds every listener; rejects with a message naming the address on the first failure. */
  async start(): Promise<void> {
    for (const l of this.config.listeners.values()) {
      for (const b of l.bind) {
        try {
          const socket = await this.services.rt.listen(
            { host: b.host, port: b.port },
            (conn) => this.#accept(l, conn),
            (err) =>
              this.services.log.event("error", "accept failed", {
                listener: l.name,
                error: err.message,
              }),
          );
          this.sockets.push({ listener: l.name, socket });
        } catch (err) {
          this.close();
          throw new Error(`listener "${l.name}": cannot bind ${b.text}: ${(err as Error).message}`);
        }
      }
    }
  }

  #accept(l: ListenerConfig, conn: Conn): void {
    const ctx = this.contexts.get(l.name)!;
    if (this.#draining || ctx.counters.active >= l.maxConnections) {
      // Closing at once (rather than leaving it in the backlog) tells the client right away.
      ctx.counters.overLimit++;
      // FIN first, so the client sees an orderly close rather than a reset.
      conn.end();
      conn.close();
      this.#refused(
        ctx,
        conn,
        this.#draining ? "draining" : "over_limit",
        this.#draining
          ? "the listener is shutting down"
          : `max_connections ${l.maxConnections} reached`,
      );
      return;
    }
    if (ctx.proxyFrom === null) {
      this.#session(ctx, conn);
      return;
    }
    const ip = parseIp(conn.remote.host);
    if (ip === null || !ctx.proxyFrom.has(ip)) {
      this.#session(
        ctx,
        guardUntrusted(conn, (r) => this.#refused(ctx, conn, r.outcome, r.reason)),
      );
      return;
    }
    // The header step counts as a live connection (max_connections, draining).
    ctx.counters.active++;
    readProxyHeader(conn, Math.min(l.inspectTimeoutMs, PROXY_HEADER_TIMEOUT_MS), (r) => {
      ctx.counters.active--;
      if ("outcome" in r) this.#refused(ctx, conn, r.outcome, r.reason);
      else this.#session(ctx, r.conn);
    });
  }

  #session(ctx: ListenerContext, conn: Conn): void {
    if (ctx.listener.protocol === "http") new HttpSession(ctx, conn).start();
    else new StreamSession(ctx, conn).start();
  }

  /** Counts and logs a connection refused before any session took it. */
  #refused(ctx: ListenerContext, conn: Conn, outcome: string, reason: string): void {
    bump(ctx.counters.sniffFailures, outcome);
    this.services.log.access({
      listener: ctx.listener.name,
      client: hostPort(conn.remote.host, conn.remote.port),
      route: null,
      backend: null,
      server: null,
      bytes_in: 0,
      bytes_out: 0,
      duration_ms: 0,
      outcome,
      reason,
    });
  }

  /** Connections open now, across listeners. */
  get active(): number {
    let n = 0;
    for (const c of this.contexts.values()) n += c.counters.active;
    return n;
  }

  /** Stops accepting; live connections continue. */
  close(): void {
    this.#draining = true;
    for (const s of this.sockets) s.socket.close();
    this.sockets.length = 0;
  }
}
