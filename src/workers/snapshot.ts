/**
 * Worker snapshots and their sum: what a worker reports to its supervisor (counters per
 * listener, live and total connections per server), how the supervisor adds the workers up,
 * and the {@link InstanceView} /status and /metrics render from the sum.
 *
 * Counters and gauges are summed. Server health is not in a snapshot: the supervisor's own
 * health checker is the one source of truth, and workers only receive it. When a worker dies
 * its last snapshot is kept, gauges zeroed (its connections died with it), so counters stay
 * monotonic across restarts; what it counted after its last snapshot is lost.
 *
 * @module
 */

import type { BackendView, BindView, InstanceView } from "../admin/view.ts";
import type { Config } from "../config/types.ts";
import type { Balancer } from "../proxy/balancer.ts";
import { type ListenerCounters, newCounters } from "../proxy/context.ts";
import type { Instance } from "../proxy/instance.ts";
import type { Certificates } from "../tls/certificates.ts";

/** {@link ListenerCounters} as JSON (Maps as entry lists). */
export interface CountersData {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly active: number;
  readonly accepted: number;
  readonly overLimit: number;
  readonly routed: readonly [string, number][];
  readonly sniffFailures: readonly [string, number][];
  readonly httpRequests: readonly [string, number][];
  readonly rateLimited: readonly [string, number][];
}

/** One server's connection counts in one worker. */
export interface ServerData {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  /** Open now (a gauge). */
  readonly active: number;
  /** Made so far (a counter). */
  readonly total: number;
}

/** What a worker reports. */
export interface WorkerSnapshot {
  readonly listeners: readonly (readonly [string, CountersData])[];
  readonly servers: readonly ServerData[];
}

/** A snapshot with nothing counted. */
export const EMPTY_SNAPSHOT: WorkerSnapshot = { listeners: [], servers: [] };

function countersData(c: ListenerCounters): CountersData {
  return {
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    active: c.active,
    accepted: c.accepted,
    overLimit: c.overLimit,
    routed: [...c.routed],
    sniffFailures: [...c.sniffFailures],
    httpRequests: [...c.httpRequests],
    rateLimited: [...c.rateLimited],
  };
}

/** The snapshot of one worker's instance (empty before it has one). */
export function takeSnapshot(instance: Instance | null): WorkerSnapshot {
  if (instance === null) return EMPTY_SNAPSHOT;
  const servers: ServerData[] = [];
  for (const [backend, b] of instance.generation.backends) {
    for (const s of b.servers) {
      servers.push({
        backend,
        server: s.config.name,
        address: s.config.address.text,
        active: s.active,
        total: s.total,
      });
    }
  }
  return {
    listeners: [...instance.counters].map(([name, c]) => [name, countersData(c)] as const),
    servers,
  };
}

/** The key that matches a server across workers and reloads. */
export function serverKey(backend: string, server: string, address: string): string {
  return `${backend}\t${server}\t${address}`;
}

function addInto(into: Map<string, number>, entries: Iterable<readonly [string, number]>): void {
  for (const [k, n] of entries) into.set(k, (into.get(k) ?? 0) + n);
}

/** Sums snapshots: counters and gauges alike. */
export function sumSnapshots(snaps: readonly WorkerSnapshot[]): WorkerSnapshot {
  const listeners = new Map<string, ListenerCounters>();
  const servers = new Map<string, ServerData>();
  for (const snap of snaps) {
    for (const [name, d] of snap.listeners) {
      let c = listeners.get(name);
      if (c === undefined) listeners.set(name, c = newCounters());
      c.bytesIn += d.bytesIn;
      c.bytesOut += d.bytesOut;
      c.active += d.active;
      c.accepted += d.accepted;
      c.overLimit += d.overLimit;
      addInto(c.routed, d.routed);
      addInto(c.sniffFailures, d.sniffFailures);
      addInto(c.httpRequests, d.httpRequests);
      addInto(c.rateLimited, d.rateLimited);
    }
    for (const s of snap.servers) {
      const key = serverKey(s.backend, s.server, s.address);
      const had = servers.get(key);
      servers.set(
        key,
        had === undefined
          ? s
          : { ...had, active: had.active + s.active, total: had.total + s.total },
      );
    }
  }
  return {
    listeners: [...listeners].map(([name, c]) => [name, countersData(c)] as const),
    servers: [...servers.values()],
  };
}

/** What a dead worker leaves behind: its counters; its gauges (open connections) are zero. */
export function retire(snap: WorkerSnapshot): WorkerSnapshot {
  return {
    listeners: snap.listeners.map(([name, d]) => [name, { ...d, active: 0 }] as const),
    servers: snap.servers.map((s) => ({ ...s, active: 0 })),
  };
}

/** Listener counters of a (summed) snapshot, as /metrics and /status read them. */
export function countersOf(snap: WorkerSnapshot): Map<string, ListenerCounters> {
  const out = new Map<string, ListenerCounters>();
  for (const [name, d] of snap.listeners) {
    out.set(name, {
      bytesIn: d.bytesIn,
      bytesOut: d.bytesOut,
      active: d.active,
      accepted: d.accepted,
      overLimit: d.overLimit,
      routed: new Map(d.routed),
      sniffFailures: new Map(d.sniffFailures),
      httpRequests: new Map(d.httpRequests),
      rateLimited: new Map(d.rateLimited),
    });
  }
  return out;
}

/**
 * The whole instance as /status and /metrics show it: the supervisor's config, binds and
 * health (its `balancers`, which its health checker keeps), with the workers' summed counts,
 * and the certificates of the supervisor's own store (none listed without one).
 */
export function supervisedView(
  config: Config,
  binds: readonly BindView[],
  total: WorkerSnapshot,
  balancers: ReadonlyMap<string, Balancer>,
  reloads: { ok: number; failed: number },
  certificates: Pick<Certificates, "list" | "acmeOrders"> | null = null,
): InstanceView {
  const servers = new Map(
    total.servers.map((s) => [serverKey(s.backend, s.server, s.address), s] as const),
  );
  const backends = new Map<string, BackendView>();
  for (const [name, b] of balancers) {
    backends.set(name, {
      config: b.config,
      servers: b.servers.map((s) => {
        const counted = servers.get(serverKey(name, s.config.name, s.config.address.text));
        return {
          config: s.config,
          up: s.up,
          lastFailure: s.lastFailure,
          active: counted?.active ?? 0,
          total: counted?.total ?? 0,
        };
      }),
    });
  }
  return {
    config,
    binds,
    counters: countersOf(total),
    backends,
    reloads,
    certificates: certificates?.list() ?? [],
    acmeOrders: certificates?.acmeOrders ?? { ok: 0, failed: 0, rate_limited: 0 },
  };
}
