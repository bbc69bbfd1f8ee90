/**
 * What every session of one listener shares: its config, compiled router, counters, the
 * backends it can reach and the process-wide services. Built once per config load.
 *
 * @module
 */

import type { Challenges } from "../acme/challenges.ts";
import type { Config, ListenerConfig } from "../config/types.ts";
import type { CidrSet } from "../net/cidr.ts";
import type { Certificates } from "../tls/certificates.ts";
import type { Logger } from "../log/logger.ts";
import type { Router } from "../route/router.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Balancer } from "./balancer.ts";
import type { ByteCounters } from "./pipe.ts";

/** Per-listener counters, read by /metrics. */
export interface ListenerCounters extends ByteCounters {
  /** Connections open now. */
  active: number;
  /** Connections accepted. */
  accepted: number;
  /** Connections closed at accept because max_connections was reached. */
  overLimit: number;
  /** Connections routed, by backend name. */
  routed: Map<string, number>;
  /** Connections refused while sniffing, by reason class. */
  sniffFailures: Map<string, number>;
  /** HTTP requests answered, by "backend\tstatus". */
  httpRequests: Map<string, number>;
  /** HTTP requests refused by a route's rate_limit, by route index. */
  rateLimited: Map<string, number>;
}

/** Creates zeroed counters. */
export function newCounters(): ListenerCounters {
  return {
    bytesIn: 0,
    bytesOut: 0,
    active: 0,
    accepted: 0,
    overLimit: 0,
    routed: new Map(),
    sniffFailures: new Map(),
    httpRequests: new Map(),
    rateLimited: new Map(),
  };
}

/** Adds one to `key` in `m`. */
export function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** Process-wide services. */
export interface Services {
  readonly rt: Runtime;
  readonly log: Logger;
  /** Is this address (normalized text) one of this host's own? */
  isLocal(host: string): boolean;
  /** True once SIGTERM/SIGINT started draining: idle keep-alive connections close. */
  isDraining(): boolean;
  /** ACME challenges pending in this process, answered before routing. */
  readonly challenges: Challenges;
}

/** One listener's shared state under one config generation. */
export interface ListenerContext {
  readonly config: Config;
  readonly listener: ListenerConfig;
  readonly router: Router;
  readonly backends: ReadonlyMap<string, Balancer>;
  readonly counters: ListenerCounters;
  readonly services: Services;
  /** Who may (and then must) send a PROXY header; null without accept_proxy. */
  readonly proxyFrom: CidrSet | null;
  /** tls listeners with `terminate:`: the http listener and certificates to decrypt with. */
  readonly terminate: TerminateTarget | null;
}

/** Where a tls listener sends what it decrypts. */
export interface TerminateTarget {
  readonly http: ListenerContext;
  /** The process's certificates, which change without a new generation (file renewals, ACME). */
  readonly certs: Certificates;
}
