/**
 * What the admin endpoint reports on, as plain data: the config, the bound addresses, the
 * listener counters, the servers' state and the certificates. A single process reads it straight off its
 * {@link Instance}; a supervisor builds it from its own health checker and the sum of its
 * workers' snapshots (see `src/workers/snapshot.ts`). /status and /metrics render only this.
 *
 * @module
 */

import type { BackendConfig, Config, ServerConfig } from "../config/types.ts";
import { hostPort } from "../net/endpoint.ts";
import type { ListenerCounters } from "../proxy/context.ts";
import type { Instance } from "../proxy/instance.ts";
import type { AcmeOrderResult, CertificateView } from "../tls/certificates.ts";

/** One server as reported (a `ServerState` fits). */
export interface ServerView {
  readonly config: ServerConfig;
  /** Takes new connections (health). */
  readonly up: boolean;
  /** Connections open to it now. */
  readonly active: number;
  /** Connections made to it. */
  readonly total: number;
  /** Why the last health check failed. */
  readonly lastFailure: string | null;
}

/** One backend as reported (a `Balancer` fits). */
export interface BackendView {
  readonly config: BackendConfig;
  readonly servers: readonly ServerView[];
}

/** A bound listening address. */
export interface BindView {
  readonly listener: string;
  /** host:port as bound (the real port for a port 0 bind). */
  readonly addr: string;
}

/** Everything /status and /metrics report, for one process or a whole supervised instance. */
export interface InstanceView {
  readonly config: Config;
  readonly binds: readonly BindView[];
  /** By listener name; kept across reloads (a removed listener's counters stay). */
  readonly counters: ReadonlyMap<string, ListenerCounters>;
  readonly backends: ReadonlyMap<string, BackendView>;
  readonly reloads: { readonly ok: number; readonly failed: number };
  /** Every certificate TLS termination can serve (or is waiting for). */
  readonly certificates: readonly CertificateView[];
  readonly acmeOrders: Readonly<Record<AcmeOrderResult, number>>;
}

/** The view of one process's instance. */
export function instanceView(
  instance: Instance,
  reloads: { ok: number; failed: number },
): InstanceView {
  const gen = instance.generation;
  return {
    config: gen.config,
    binds: instance.sockets.map((s) => ({
      listener: s.listener,
      addr: hostPort(s.socket.addr.host, s.socket.addr.port),
    })),
    counters: instance.counters,
    backends: gen.backends,
    reloads,
    certificates: instance.certificates.list(),
    acmeOrders: instance.certificates.acmeOrders,
  };
}
