/**
 * A running router: binds every listener of a config, builds the per-listener contexts and
 * backend balancers (one "generation" per config), and hands each accepted connection to a
 * session of the current generation.
 *
 * Reload builds a new generation. Sockets whose bind is unchanged are kept (no connection is
 * refused during a reload); sessions already running keep the generation they started with;
 * removed binds stop accepting. Counters and server health carry over by name. Certificates
 * are not part of a generation: every generation terminates with the process's one
 * {@link Certificates}, which changes on its own (renewed files, ACME).
 *
 * @module
 */

import type { Config, ListenerConfig } from "../config/types.ts";
import { CidrSet } from "../net/cidr.ts";
import { hostPort } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import { compileRouter } from "../route/router.ts";
import type { Certificates } from "../tls/certificates.ts";
import type { Conn, Listener } from "../runtime/types.ts";
import { Balancer } from "./balancer.ts";
import {
  bump,
  type ListenerContext,
  type ListenerCounters,
  newCounters,
  type Services,
} from "./context.ts";
import { AcceptBurst, measureBudget } from "./fd_budget.ts";
import { guardUntrusted, readProxyHeader } from "./proxy_accept.ts";
import { HttpSession } from "./http_session.ts";
import { StreamSession } from "./stream_session.ts";
import { checkTransparent, withTransparent } from "./transparent.ts";
import { accessRecord, type Outcome } from "../log/access.ts";

/** The PROXY header step waits at most this long, whatever inspect_timeout says. */
const PROXY_HEADER_TIMEOUT_MS = 3000;

/** Everything built from one config. */
export interface Generation {
  readonly config: Config;
  readonly contexts: ReadonlyMap<string, ListenerContext>;
  readonly backends: ReadonlyMap<string, Balancer>;
}

/** A bound socket and the listener it currently serves. */
interface Bound {
  readonly key: string;
  readonly socket: Listener;
  /** Mutable: a reload may give the same bind to a listener of another name. */
  listener: string;
}

/**
 * What identifies a socket across reloads: its address, or for port 0 (a fresh port each time,
 * so several may share "host:0") the listener and the bind's position in its list.
 */
export function bindKey(host: string, port: number, listener: string, index: number): string {
  return port === 0 ? `${hostPort(host, 0)} ${listener}#${index}` : hostPort(host, port);
}

// --- workers: how a worker process binds -------------------------------------------
/** How binds are made; the defaults suit a single process. */
export interface BindOptions {
  /**
   * SO_REUSEPORT on every bind, so that several worker processes share each port and the
   * kernel spreads new connections across them. Transparent (FFI-made) sockets need it too.
   */
  readonly reusePort?: boolean;
  /**
   * The port for a port-0 bind, by its {@link bindKey}: every worker must bind the port the
   * first one got. undefined: let the kernel pick.
   */
  readonly portFor?: (key: string) => number | undefined;
}
// --- end workers --------------------------------------------------------------------------------

/** Every listener of the current config, bound and serving. */
export class Instance {
  #gen: Generation;
  #bound = new Map<string, Bound>();
  #counters = new Map<string, ListenerCounters>();
  /**
   * Listeners a completed reload removed, whose counters go once idle. Not "every name the
   * current config lacks": a reload still binding has made counters for its new names.
   */
  #retired = new Set<string>();
  #draining = false;
  /** Set by start(), once the listening sockets hold their fds. */
  #burst: AcceptBurst | null = null;

  constructor(
    readonly services: Services,
    config: Config,
    /** What `terminate:` listeners decrypt with (its owner sets the config's files on it). */
    readonly certificates: Certificates,
    readonly bindOptions: BindOptions = {},
  ) {
    this.#gen = this.#build(config, null);
  }

  /** The generation new connections get. */
  get generation(): Generation {
    return this.#gen;
  }

  /** Bound sockets, for the listening event and /status; `key`: see {@link bindKey}. */
  get sockets(): { key: string; listener: string; socket: Listener }[] {
    return [...this.#bound.values()].map((b) => ({
      key: b.key,
      listener: b.listener,
      socket: b.socket,
    }));
  }

  /** Whether SIGTERM/SIGINT started draining. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Counters per listener name, for /metrics: kept across reloads while the listener is
   * configured, and for a listener a reload removed until its last connection has ended.
   */
  get counters(): ReadonlyMap<string, ListenerCounters> {
    for (const name of this.#retired) {
      if ((this.#counters.get(name)?.active ?? 0) > 0) continue;
      this.#counters.delete(name);
      this.#retired.delete(name);
    }
    return this.#counters;
  }

  #build(config: Config, previous: Generation | null): Generation {
    const backends = new Map<string, Balancer>();
    for (const [name, b] of config.backends) {
      backends.set(name, new Balancer(b, previous?.backends.get(name)));
    }
    const contexts = new Map<string, ListenerContext>();
    const make = (l: ListenerConfig): ListenerContext => {
      let counters = this.#counters.get(l.name);
      if (counters === undefined) this.#counters.set(l.name, counters = newCounters());
      this.#retired.delete(l.name);
      const target = l.terminate === undefined ? undefined : config.listeners.get(l.terminate);
      const ctx: ListenerContext = {
        config,
        listener: l,
        router: compileRouter(l),
        backends,
        counters,
        services: this.services,
        proxyFrom: l.acceptProxy === null ? null : new CidrSet(l.acceptProxy.from),
        terminate: target === undefined
          ? null
          : { http: contexts.get(target.name) ?? make(target), certs: this.certificates },
      };
      contexts.set(l.name, ctx);
      return ctx;
    };
    for (const l of config.listeners.values()) {
      if (!contexts.has(l.name)) contexts.set(l.name, make(l));
    }
    return { config, contexts, backends };
  }

  /** Binds every listener; rejects with a message naming the address on the first failure. */
  async start(): Promise<void> {
    const fresh = await this.#bindAll(this.#gen.config, new Map());
    this.#bound = fresh;
    let servers = 0;
    for (const b of this.#gen.config.backends.values()) servers += b.servers.length;
    const { limit, budget } = measureBudget(servers);
    this.#burst = new AcceptBurst(this.services.log, budget, limit);
  }

  /** How many fds this process's limit leaves for connections (Infinity: unknown). */
  get fdBudget(): number {
    return this.#burst?.budget ?? Infinity;
  }

  /** fds held by connections: accepted clients, and backend connections open or dialing. */
  #fdsHeld(): number {
    let n = this.active;
    for (const b of this.#gen.backends.values()) {
      for (const s of b.servers) n += s.active + s.idle;
    }
    return n;
  }

  /**
   * Switches to `config`: binds what is new (keeping unchanged sockets), then makes the new
   * generation current and closes sockets no longer configured. On a bind failure nothing
   * changes and the error is thrown.
   */
  async reload(config: Config): Promise<void> {
    const next = this.#build(config, this.#gen);
    let bound: Map<string, Bound>;
    try {
      bound = await this.#bindAll(config, this.#bound);
    } catch (err) {
      // The counters #build made for the refused config's new listeners go.
      this.#retire(config, this.#gen.config);
      throw err;
    }
    for (const [key, b] of this.#bound) if (!bound.has(key)) b.socket.close();
    this.#bound = bound;
    this.#retire(this.#gen.config, config);
    this.#gen = next;
  }

  /** The counters of `from`'s listeners that `to` lacks go once their connections have. */
  #retire(from: Config, to: Config): void {
    for (const name of from.listeners.keys()) if (!to.listeners.has(name)) this.#retired.add(name);
  }

  /** Binds `config`'s endpoints, reusing sockets from `old`; all or nothing. */
  async #bindAll(config: Config, old: ReadonlyMap<string, Bound>): Promise<Map<string, Bound>> {
    // Without CAP_NET_ADMIN `source: usesrc` cannot work at all: a start-up error, not a
    // failure per connection.
    checkTransparent(config);
    const out = new Map<string, Bound>();
    const opened: Listener[] = [];
    // A kept socket may serve a renamed listener; applied only once everything is bound.
    const renames: [Bound, string][] = [];
    try {
      for (const l of config.listeners.values()) {
        for (const [i, b] of l.bind.entries()) {
          const key = bindKey(b.host, b.port, l.name, i);
          const kept = old.get(key);
          if (kept !== undefined) {
            renames.push([kept, l.name]);
            out.set(key, kept);
            continue;
          }
          const entry = { key, listener: l.name } as Bound;
          // Deno.listen and Bun.listen throw synchronously: .then makes that a rejection too.
          const socket = await Promise.resolve().then(() =>
            this.services.rt.listen(
              // `transparent: true` adopts an IP_TRANSPARENT socket (the runtimes cannot set it).
              withTransparent(l, {
                host: b.host,
                // Port 0 with workers: every worker binds the port the first one got, so the instance
                // has one port.
                port: b.port === 0 ? this.bindOptions.portFor?.(key) ?? 0 : b.port,
                reusePort: this.bindOptions.reusePort,
              }),
              (conn) => this.#accept(entry, conn),
              (err) => this.#burst?.error(entry.listener, err),
            )
          ).catch((err: Error) => {
            throw new Error(`listener "${l.name}": cannot bind ${b.text}: ${err.message}`);
          });
          opened.push(socket);
          out.set(key, Object.assign(entry, { socket }));
        }
      }
    } catch (err) {
      for (const s of opened) s.close();
      throw err;
    }
    for (const [b, name] of renames) b.listener = name;
    return out;
  }

  #accept(bound: Bound, conn: Conn): void {
    const ctx = this.#gen.contexts.get(bound.listener);
    if (ctx === undefined) {
      conn.close();
      return;
    }
    const l: ListenerConfig = ctx.listener;
    const refusal = this.#draining
      ? "the listener is shutting down"
      : ctx.counters.active >= l.maxConnections
      ? `max_connections ${l.maxConnections} reached`
      : this.#burst?.admit(this.#fdsHeld()) === false
      ? `${this.#burst.budget} fds for connections (fd limit ${this.#burst.limit}) are in use`
      : null;
    if (refusal !== null) {
      // Closing at once (rather than leaving it in the backlog) tells the client right away.
      ctx.counters.overLimit++;
      // FIN first, so the client sees an orderly close rather than a reset.
      conn.end();
      conn.close();
      this.#refused(ctx, conn, this.#draining ? "draining" : "over_limit", refusal);
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
  #refused(ctx: ListenerContext, conn: Conn, outcome: Outcome, reason: string): void {
    bump(ctx.counters.sniffFailures, outcome);
    this.services.log.access(accessRecord(ctx.listener.name, conn, outcome, {
      route: null,
      backend: null,
      server: null,
      bytes_in: 0,
      bytes_out: 0,
      duration_ms: 0,
      reason,
    }));
  }

  /** Connections open now, across listeners and generations. */
  get active(): number {
    let n = 0;
    for (const c of this.#counters.values()) n += c.active;
    return n;
  }

  /** Stops accepting (draining); live connections continue. */
  close(): void {
    this.#draining = true;
    for (const b of this.#bound.values()) b.socket.close();
    this.#bound.clear();
  }
}
