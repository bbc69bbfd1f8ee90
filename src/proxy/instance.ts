/**
 * A running router: binds every listener of a config, builds the per-listener contexts and
 * backend balancers, and hands each accepted connection to a session.
 *
 * @module
 */

import type { Config, ListenerConfig } from "../config/types.ts";
import { hostPort } from "../net/endpoint.ts";
import { compileRouter } from "../route/router.ts";
import type { Conn, Listener } from "../runtime/types.ts";
import { Balancer } from "./balancer.ts";
import { type ListenerContext, newCounters, type Services } from "./context.ts";
import { HttpSession } from "./http_session.ts";
import { StreamSession } from "./stream_session.ts";

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
      this.services.log.access({
        listener: l.name,
        client: hostPort(conn.remote.host, conn.remote.port),
        route: null,
        backend: null,
        server: null,
        bytes_in: 0,
        bytes_out: 0,
        duration_ms: 0,
        outcome: this.#draining ? "draining" : "over_limit",
        reason: this.#draining
          ? "the listener is shutting down"
          : `max_connections ${l.maxConnections} reached`,
      });
      return;
    }
    if (l.protocol === "http") new HttpSession(ctx, conn).start();
    else new StreamSession(ctx, conn).start();
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
